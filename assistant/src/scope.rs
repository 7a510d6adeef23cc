//! Whether a question the guides do not answer is a matter for a city department at all.
//!
//! A question the knowledge base has no item for is either a city matter with no guide (a
//! person on the hotline can help: hand off) or something no department handles — advice,
//! shopping, entertainment, technology — where a place in the agent queue is wasted and the
//! citizen should be told what this service does (or, from the deployment file, where to go). Word lists cannot tell “老房子要做房屋安全
//! 鉴定找哪里” from “平板电脑充不进电怎么办”; the language model can, in one token (A or B).

use banshi_models::{ChatModel, GenEvent, GenParams, Message};

use crate::deployment::Elsewhere;
use crate::engine::{emit, DialogueState, Events};
use crate::outcome::{AnswerEvent, Outcome, OutcomeKind};
use crate::turn::Turn;
use crate::{Assistant, AssistantError};

/// The question put to the model: two classes, answered with one letter (a yes/no question
/// got “是” for nearly everything from the 1.5B model; checked on the dev split of
/// `eval/data/out_of_kb.jsonl`).
const SCOPE_PROMPT: &str = "把市民的问题分成两类。\
A：需要政府部门或公共服务机构办理、审批、登记、发放、处理的事项（证件、户籍、社保、医保、公积金、税务、婚姻、企业登记、市政设施、城市管理等）。\
B：其他问题（学习、技术、电脑手机、娱乐、游戏、美食、健康、情感、购物、理财、商业公司的服务、闲聊）。\
只回答A或B。";

/// Worked examples shown before the question (a small model follows examples better than
/// rules); none is from an evaluation set.
const EXAMPLES: [(&str, &str); 8] = [
    ("护照过期了去哪里换新的", "A"),
    ("手机屏幕摔碎了在哪修便宜", "B"),
    ("小区门口的路灯不亮了找哪个部门", "A"),
    ("戚风蛋糕怎么做不塌", "B"),
    ("Java和Go哪个好学", "B"),
    ("孩子上小学要办什么手续", "A"),
    ("新买的耳机连不上蓝牙", "B"),
    ("开餐馆要办哪些证", "A"),
];

/// `Some(true)` when the model says `msg` is a government matter, `Some(false)` when it says it
/// is not, `None` when it cannot say (no model, busy, failed, an answer that is neither): the
/// caller then keeps to its usual path.
pub(crate) async fn government_matter(chat: &dyn ChatModel, msg: &str) -> Option<bool> {
    if !chat.available() {
        return None;
    }
    let mut messages = vec![Message::system(SCOPE_PROMPT)];
    for (q, a) in EXAMPLES {
        messages.push(Message::user(format!("问题：{q}")));
        messages.push(Message::assistant(a));
    }
    messages.push(Message::user(format!("问题：{msg}")));
    // An open assistant turn would be continued, not answered: end on the user's turn.
    let params = GenParams { max_tokens: 2, temperature: 0.0, draft: 0, ..GenParams::default() };
    let mut stream = chat.chat(messages, params).await.ok()?;
    let mut text = String::new();
    while let Some(ev) = stream.next().await {
        match ev {
            GenEvent::Text(t) => text.push_str(&t),
            GenEvent::Done(_) => break,
            GenEvent::Error(_) => return None,
        }
    }
    tracing::debug!(question = msg, answer = %text, "government matter?");
    verdict(&text)
}

/// The replies to questions outside what the city's departments handle.
impl Assistant {
    /// A question outside government services: where to go instead when the deployment knows,
    /// else what this service answers.
    pub(crate) async fn out_of_scope(
        &self,
        state: &mut DialogueState,
        turn: &Turn<'_>,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        if let Some(to) = turn.elsewhere.clone() {
            return self.refer(state, to, events).await;
        }
        state.clarifying = None;
        state.low_confidence = 0;
        let text = self.deployment.out_of_scope_reply();
        emit(events, AnswerEvent::Token { text: text.clone() }).await?;
        Ok(Outcome::plain(OutcomeKind::OutOfScope, text))
    }

    /// Whether the model says `msg` is no government matter at all (false when it cannot say).
    pub(crate) async fn outside_government(&self, msg: &str) -> bool {
        match &self.chat {
            Some(chat) => government_matter(chat.as_ref(), msg).await == Some(false),
            None => false,
        }
    }

    /// Send the citizen where the matter is handled (not to the agent queue: no city
    /// department can do it).
    pub(crate) async fn refer(&self, state: &mut DialogueState, to: Elsewhere<'_>, events: &Events) -> Result<Outcome, AssistantError> {
        state.clarifying = None;
        state.low_confidence = 0;
        let text = self.deployment.referral_reply(&to);
        emit(events, AnswerEvent::Token { text: text.clone() }).await?;
        Ok(Outcome::plain(OutcomeKind::OutOfScope, text))
    }
}

/// A (government matter) or B (anything else) at the start of the model's answer.
fn verdict(text: &str) -> Option<bool> {
    let t = text.trim_start();
    if t.starts_with('A') || t.starts_with('是') {
        Some(true)
    } else if t.starts_with('B') || t.starts_with('否') || t.starts_with("不是") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_clear_answer_counts() {
        assert_eq!(verdict("A"), Some(true));
        assert_eq!(verdict("B"), Some(false));
        assert_eq!(verdict("是"), Some(true));
        assert_eq!(verdict(" 否。"), Some(false));
        assert_eq!(verdict("不是"), Some(false));
        assert_eq!(verdict("可能"), None);
        assert_eq!(verdict(""), None);
    }
}
