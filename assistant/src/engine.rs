//! One citizen turn: the message is classified (see [`crate::appeal`]); a request for a person,
//! a complaint, or anger hands the conversation off; a suggestion is acknowledged; otherwise a
//! follow-up or retrieval leads to a grounded answer, or a clarifying question and, if still
//! unsure, a handoff.
//!
//! Events stream to the caller as they happen: a status while searching, the sources card
//! (straight from the guide, before any model text), the model's tokens, and the verified
//! citations — or a replacement by the extractive answer when verification fails. The
//! [`DialogueState`] carries what a follow-up needs (the item under discussion, a pending
//! clarification); the caller persists it between turns.

use std::sync::Arc;

use banshi_knowledge::chunk::{section_title, Chunk};
use banshi_knowledge::{Guide, KnowledgeBase, SearchParams, SearchResult};
use banshi_models::{ChatModel, ComputeHandle, GenEvent, GenParams, GenStats, Message, ModelError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::appeal::{Appeal, AppealModel, AppealType};
use crate::apply::wants_to_apply;
use crate::card::SourcesCard;
use crate::citations::{cited_sources, complete_sentences, settle, verify, Settled};
use crate::deployment::{Deployment, Elsewhere};
use crate::extractive;
use crate::forms::fill::FormProgress;
use crate::forms::prefill::ELicenceStore;
use crate::handoff::{Handoff, HandoffReason};
use crate::intent::{self, Aspect};
pub use crate::outcome::{AnswerEvent, Outcome, OutcomeKind};
use crate::prompt::{self, answer_messages};
use crate::records::Records;
use crate::relevance::{answers_aspect, answers_the_point, look_up_only, matching_faq, says_nothing, unasked_logistics};
use crate::AssistantError;

/// Retrieval confidence at or above which the top item is answered directly.
pub const ANSWER_THRESHOLD: f32 = 0.5;

/// When the classifier's word decides a turn. A complaint, suggestion or off-topic message
/// that retrieval also answers confidently is answered unless the classifier is `sure`; one
/// retrieval does not answer goes by `likely`. Anger alone hands off at `angry`. Chosen on
/// MSGABench's dev split and the gov_qa questions (citizens' questions, none of them
/// complaints): see `banshi eval appeal`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub likely: f32,
    pub sure: f32,
    pub angry: f32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { likely: 0.6, sure: 0.85, angry: 0.9 }
    }
}

/// Said before handing off a question the knowledge base does not cover.
const NOT_COVERED: &str = "抱歉，知识库中暂未收录能回答您问题的办事指南，我不能给出可能不准确的答复。";

/// What the model says when the sources do not answer.
pub const MODEL_DECLINE: &str = "知识库中没有相关信息";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemRef {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Clarifying {
    /// The question that was too vague.
    pub question: String,
    pub options: Vec<ItemRef>,
}

/// Conversation memory the engine needs between turns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DialogueState {
    /// The item under discussion, for follow-ups.
    pub item: Option<ItemRef>,
    /// A clarifying question waiting for its answer.
    pub clarifying: Option<Clarifying>,
    /// Consecutive turns without a confident match (2 means: hand off).
    pub low_confidence: u32,
    /// The signed-in citizen (their profile and e-licences pre-fill forms).
    #[serde(default)]
    pub citizen_id: Option<i64>,
    /// When the citizen signed in (RFC 3339): the server ends sign-ins that are too old or idle.
    #[serde(default)]
    pub citizen_signed_in_at: Option<String>,
    /// The form being filled in the chat.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub form: Option<Box<FormProgress>>,
    /// The citizen's recent messages, for pre-filling from what they said.
    #[serde(default)]
    pub said: Vec<String>,
    /// The item the conversation was last about, kept when a follow-up no longer applies (a
    /// declined answer): a handoff is routed to its department.
    #[serde(default)]
    pub last_item: Option<ItemRef>,
    /// Tracking numbers of applications submitted in this conversation (their progress is
    /// answered here without signing in).
    #[serde(default)]
    pub submitted: Vec<String>,
}

/// Messages kept in [`DialogueState::said`].
const SAID_KEPT: usize = 12;

pub struct Assistant {
    pub kb: Arc<KnowledgeBase>,
    /// The in-process models (classifier, OCR, queue depth).
    pub compute: Option<ComputeHandle>,
    /// Who writes answers: the in-process generator by default, any [`ChatModel`] otherwise.
    pub chat: Option<Arc<dyn ChatModel>>,
    pub gen: GenParams,
    pub appeal: Arc<AppealModel>,
    pub policy: Policy,
    /// Profiles and applications (the server's store); absent in the terminal.
    pub records: Option<Arc<dyn Records>>,
    /// E-licences (电子证照) for pre-fill and 免提交.
    pub elicences: Option<Arc<dyn ELicenceStore>>,
    /// The city's facts and where questions it does not handle are sent.
    pub deployment: Arc<Deployment>,
}

pub(crate) type Events = mpsc::Sender<AnswerEvent>;

pub(crate) async fn emit(events: &Events, e: AnswerEvent) -> Result<(), AssistantError> {
    events.send(e).await.map_err(|_| AssistantError::Cancelled)
}

impl Assistant {
    pub fn new(kb: Arc<KnowledgeBase>, compute: Option<ComputeHandle>) -> Self {
        Assistant {
            kb,
            chat: compute.clone().map(|c| Arc::new(c) as Arc<dyn ChatModel>),
            compute,
            gen: GenParams { max_tokens: 200, ..GenParams::default() },
            appeal: Arc::new(AppealModel::seed()),
            policy: Policy::default(),
            records: None,
            elicences: None,
            deployment: Arc::new(Deployment::bundled()),
        }
    }

    /// Use a city's own deployment file (default: the bundled sample city).
    pub fn with_deployment(mut self, deployment: Deployment) -> Self {
        self.deployment = Arc::new(deployment);
        self
    }

    /// Look up profiles and applications in `records`, e-licences in `elicences`.
    pub fn with_records(mut self, records: Arc<dyn Records>, elicences: Arc<dyn ELicenceStore>) -> Self {
        self.records = Some(records);
        self.elicences = Some(elicences);
        self
    }

    /// Use `model` to classify messages (default: the shipped seed model).
    pub fn with_appeal_model(mut self, model: AppealModel) -> Self {
        self.appeal = Arc::new(model);
        self
    }

    /// Whether answers can be generated (else they are extractive).
    pub fn has_generator(&self) -> bool {
        self.chat.as_ref().is_some_and(|c| c.available())
    }

    /// Prefill the fixed system prompt so the first question does not pay for it.
    pub fn warm(&self) {
        if let Some(c) = &self.chat {
            c.warm(&prompt::system_turn());
        }
    }

    /// Answer one message, streaming events; updates `state` for the next turn.
    pub async fn respond(&self, state: &mut DialogueState, message: &str, events: &Events) -> Result<Outcome, AssistantError> {
        let msg = message.trim();
        if msg.is_empty() {
            return Err(AssistantError::EmptyMessage);
        }
        if let Some(reply) = small_talk(msg) {
            emit(events, AnswerEvent::Token { text: reply.into() }).await?;
            return Ok(Outcome::plain(OutcomeKind::SmallTalk, reply.into()));
        }
        state.said.push(msg.chars().take(300).collect());
        let excess = state.said.len().saturating_sub(SAID_KEPT);
        state.said.drain(..excess);
        let appeal = crate::appeal::encoder::classify(&self.appeal, self.compute.as_ref(), msg).await;
        let mut outcome = self.route(state, msg, &appeal, events).await?;
        outcome.appeal = Some(appeal);
        Ok(outcome)
    }

    /// Decide what a classified message gets: a person, an acknowledgement, or an answer.
    async fn route(&self, state: &mut DialogueState, msg: &str, appeal: &Appeal, events: &Events) -> Result<Outcome, AssistantError> {
        if appeal.asks_human {
            return self.hand_off(state, HandoffReason::AskedHuman, msg, appeal, events).await;
        }
        if let Some(o) = self.progress(state, msg, events).await? {
            return Ok(o);
        }
        if let Some(o) = self.continue_form(state, msg, events).await? {
            return Ok(o);
        }
        if let Some((c, score)) = self.kb.curated.find(msg) {
            emit(events, AnswerEvent::Curated { id: c.id, question: c.question.clone(), source: c.source.clone() }).await?;
            emit(events, AnswerEvent::Token { text: c.answer.clone() }).await?;
            state.clarifying = None;
            state.low_confidence = 0;
            return Ok(Outcome { confidence: Some(score), ..Outcome::plain(OutcomeKind::Curated, c.answer) });
        }
        if wants_to_apply(msg) {
            return match state.item.clone() {
                Some(item) => self.start_form(state, &item, events).await,
                None => self.offer_bundles(events).await,
            };
        }
        if let Some(c) = state.clarifying.take() {
            if let Some(item) = pick_option(msg, &c.options) {
                state.low_confidence = 0;
                let question = format!("{}（{}）", c.question, item.name);
                return self.answer_item(state, &item.code, &question, None, Some(1.0), events).await;
            }
        }
        if let Some(item) = state.item.clone() {
            if intent::is_follow_up(msg) {
                let question = format!("关于“{}”：{msg}", item.name);
                return self.answer_item(state, &item.code, &question, None, None, events).await;
            }
        }
        emit(events, AnswerEvent::Status { message: "正在检索办事指南…".into() }).await?;
        let found = self.kb.search(msg, SearchParams::default()).await?;
        let answerable = found.confidence >= ANSWER_THRESHOLD && !found.items.is_empty();
        let p = self.policy;
        let decisive = appeal.confidence >= p.sure || (appeal.confidence >= p.likely && !answerable);
        match appeal.kind {
            AppealType::ComplaintHelp if decisive => return self.hand_off(state, HandoffReason::Complaint, msg, appeal, events).await,
            AppealType::Suggestion if decisive => return self.acknowledge_suggestion(appeal, events).await,
            AppealType::OutOfScope if decisive && !found.named => return self.out_of_scope(state, msg, events).await,
            _ => {}
        }
        if appeal.angry >= p.angry {
            return self.hand_off(state, HandoffReason::Angry, msg, appeal, events).await;
        }
        // A matter no city department handles (a lawsuit, a train ticket) is sent where it is
        // handled, even when some item looks similar — unless the citizen named the item.
        if let Some(topic) = self.deployment.topic_of(msg).filter(|_| !found.named) {
            return self.refer(state, Elsewhere::Topic(topic), events).await;
        }
        match found.items.first() {
            // A look-up service found for a question that asks to do something else.
            Some(top) if answerable && look_up_only(&top.name, msg) => self.low_confidence(state, msg, &found, appeal, events).await,
            Some(top) if answerable => {
                let code = top.code.clone();
                let o = self.answer_item(state, &code, msg, Some(&found), Some(found.confidence), events).await?;
                if o.kind == OutcomeKind::Declined {
                    // The model read the item's sections and found no answer in them: that is
                    // as unsure as a low retrieval score, so ask back and then decline. What it
                    // streamed is taken back first.
                    if !o.text.trim().is_empty() {
                        emit(
                            events,
                            AnswerEvent::Withdraw {
                                reason: "模型未能在该事项的办事指南中找到答案，已撤回生成的内容".into()
                            },
                        )
                        .await?;
                    }
                    state.item = None;
                    return self.low_confidence(state, msg, &found, appeal, events).await;
                }
                state.low_confidence = 0;
                Ok(o)
            }
            _ => self.low_confidence(state, msg, &found, appeal, events).await,
        }
    }

    /// Hand the conversation to a person: the caller (the server) opens the ticket.
    pub(crate) async fn hand_off(
        &self,
        state: &mut DialogueState,
        reason: HandoffReason,
        msg: &str,
        appeal: &Appeal,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        state.clarifying = None;
        state.low_confidence = 0;
        // The conversation's item routes the ticket to its own department (a bundle's lead
        // department); the classifier's domain only when no item was discussed.
        let item = state.item.clone().or_else(|| state.last_item.clone());
        let item_department = match &item {
            Some(i) => match self.kb.guide(&i.code).await? {
                Some(g) => Some(g.department),
                None => self.kb.bundle(&i.code).await?.map(|b| b.department),
            },
            None => None,
        };
        let message = format!("已为您转接人工客服（{}）。请稍候，客服人员将在这里回复您。", reason.label());
        emit(events, AnswerEvent::Handoff { reason, message: message.clone() }).await?;
        let handoff = Handoff { reason, question: msg.to_string(), appeal: Some(appeal.clone()), item: item.clone(), item_department };
        Ok(Outcome { item, handoff: Some(handoff), ..Outcome::plain(OutcomeKind::Handoff, message) })
    }

    async fn acknowledge_suggestion(&self, appeal: &Appeal, events: &Events) -> Result<Outcome, AssistantError> {
        let to = appeal.domain.as_deref().map(|d| self.deployment.department_for(d)).unwrap_or("相关部门");
        let hotline = &self.deployment.city.hotline;
        let text =
            format!("感谢您的建议！我们已记录您的建言，并将转交{to}研究办理。如需了解办理情况，可拨打{hotline}政务服务便民热线查询。");
        emit(events, AnswerEvent::Token { text: text.clone() }).await?;
        Ok(Outcome::plain(OutcomeKind::Suggestion, text))
    }

    /// Ask once which item is meant; the second time, hand off to a person. A question about
    /// another region or a matter handled elsewhere is referred at once, one the model calls no
    /// government matter gets the out-of-scope reply at once, and one the classifier calls out
    /// of scope gets it the second time: none of them takes a place in the agent queue.
    async fn low_confidence(
        &self,
        state: &mut DialogueState,
        msg: &str,
        found: &SearchResult,
        appeal: &Appeal,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        if let Some(to) = self.deployment.elsewhere(msg).filter(|_| !found.named) {
            return self.refer(state, to, events).await;
        }
        if state.low_confidence >= 1 && appeal.kind == AppealType::OutOfScope {
            return self.out_of_scope(state, msg, events).await;
        }
        // Asked the first time only (a reply to the clarifying question, “都不是”, is no
        // question of its own), and only when retrieval found nothing: a question about an
        // item the guides do not answer is still about that item.
        let found_nothing = found.confidence < ANSWER_THRESHOLD;
        if state.low_confidence == 0 && found_nothing && self.outside_government(msg).await {
            return self.out_of_scope(state, msg, events).await;
        }
        state.low_confidence += 1;
        if state.low_confidence == 1 {
            let options: Vec<ItemRef> =
                found.items.iter().take(3).map(|i| ItemRef { code: i.code.clone(), name: i.name.clone() }).collect();
            let question = if options.is_empty() {
                "抱歉，我没有找到与您问题对应的事项。请说明您要办理的具体事项名称，例如“居民身份证换领”。".to_string()
            } else {
                "为了准确回答，请问您要咨询的是以下哪一项？".to_string()
            };
            let names: Vec<String> = options.iter().map(|o| o.name.clone()).collect();
            emit(events, AnswerEvent::Clarify { question: question.clone(), options: names.clone() }).await?;
            state.clarifying = Some(Clarifying { question: msg.to_string(), options });
            let mut text = question;
            for (i, n) in names.iter().enumerate() {
                text.push_str(&format!("\n{}. {n}", i + 1));
            }
            return Ok(Outcome { confidence: Some(found.confidence), ..Outcome::plain(OutcomeKind::Clarified, text) });
        }
        emit(events, AnswerEvent::Decline { message: NOT_COVERED.into(), offer_human: true }).await?;
        let mut o = self.hand_off(state, HandoffReason::LowConfidence, msg, appeal, events).await?;
        o.text = format!("{NOT_COVERED}\n{}", o.text);
        o.confidence = Some(found.confidence);
        Ok(o)
    }

    /// Answer `question` about item `code`: card, then generated (verified) or extractive text.
    async fn answer_item(
        &self,
        state: &mut DialogueState,
        code: &str,
        question: &str,
        found: Option<&SearchResult>,
        confidence: Option<f32>,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        if code.starts_with("BUNDLE-") {
            return self.answer_bundle(state, code, confidence, events).await;
        }
        let guide = self.kb.guide(code).await?.ok_or_else(|| AssistantError::NotFound(code.to_string()))?;
        let item = ItemRef { code: guide.code.clone(), name: guide.name.clone() };
        state.item = Some(item.clone());
        state.last_item = Some(item.clone());
        emit(events, AnswerEvent::Sources { card: SourcesCard::from_guide(&guide) }).await?;
        // An FAQ entry that asks this very question answers it, whatever its keywords suggest.
        let faq = matching_faq(question, &guide.name, &guide.faq).and_then(|s| extractive::section_chunk(&guide, &s));
        let aspect = if faq.is_some() { Aspect::General } else { intent::aspect(question) };
        let mut retrieved: Vec<Chunk> = found
            .and_then(|f| f.items.iter().find(|i| i.code == code))
            .map(|i| i.chunks.iter().map(|h| h.chunk.clone()).collect())
            .unwrap_or_default();
        if let Some(f) = faq {
            retrieved.retain(|c| c.section != f.section);
            retrieved.insert(0, f);
        }
        let base = Outcome { confidence, item: Some(item), ..Outcome::plain(OutcomeKind::Extractive, String::new()) };

        let stated = aspect == Aspect::General || extractive::aspect_answer(&guide, aspect, 1).is_some();
        if !stated || !self.has_generator() {
            return self.send_extractive(&guide, aspect, retrieved.first(), None, base, events).await;
        }
        let sources = prompt::item_context(&guide, aspect, &retrieved);
        emit(events, AnswerEvent::Status { message: "正在生成回答…".into() }).await?;
        let (text, stats) = match self.generate(answer_messages(question, &sources), events).await {
            Ok(r) => r,
            // Busy or failed model: the guide's own words still answer.
            Err(AssistantError::Model(e)) => {
                tracing::warn!("answering from the guide, the model did not: {e}");
                let why = model_trouble(&e).to_string();
                return self.send_extractive(&guide, aspect, retrieved.first(), Some(why), base, events).await;
            }
            Err(e) => return Err(e),
        };
        // The token budget ran out mid-sentence: only complete sentences can be checked and shown.
        let streamed = text;
        let text = if stats.stopped_by_eos { streamed.clone() } else { complete_sentences(&streamed).to_string() };
        let verification = verify(&text, &sources);
        let settled = settle(&text, &sources);
        let base = Outcome { generation: Some(stats), ..base };
        // Retrieval chose this item for the question, but the model found no answer in its
        // sections (a named item too: “古生物为什么会消失” names an exhibition), or all it quoted only
        // names things or says when / how much / where unasked, or the fallback for a general
        // question would quote such a section or one that says nothing (“无受理条件”): as unsure
        // as a low score, so the caller asks back.
        let fallback_beside =
            retrieved.first().is_some_and(|c| unasked_logistics([c.section.as_str()], question) || says_nothing(&c.text, &c.title));
        let beside_the_point = !text.trim().is_empty()
            && (text.contains(MODEL_DECLINE)
                || !answers_the_point(&verification, &sources, question)
                || (settled.is_none() && aspect == Aspect::General && fallback_beside));
        if found.is_some() && beside_the_point {
            return Ok(Outcome { kind: OutcomeKind::Declined, text, verification: Some(verification), ..base });
        }
        // The guide's own words replace an answer it does not back; the model's is kept for review.
        let failed = || Outcome { verification: Some(verification.clone()), ..base.clone() };
        if text.contains(MODEL_DECLINE) || text.trim().is_empty() {
            let why = "模型未能依据资料作答".to_string();
            return self.send_extractive(&guide, aspect, retrieved.first(), Some(why), failed(), events).await;
        }
        let Some(settled) = settled else {
            let why = verification.sentences.iter().find_map(|s| s.reason.clone()).unwrap_or_else(|| "引用不存在".into());
            let why = format!("生成的回答未通过核验（{why}）");
            return self.send_extractive(&guide, aspect, retrieved.first(), Some(why), failed(), events).await;
        };
        if !answers_aspect(&settled.verification, &sources, aspect) {
            let why = format!("生成的回答未依据所问的“{}”作答", section_title(aspect.section()));
            return self.send_extractive(&guide, aspect, retrieved.first(), Some(why), failed(), events).await;
        }
        let Settled { text, verification, removed } = settled;
        // 出处 lists what the shown answer cites, not every section the model was given.
        let sources = cited_sources(&text, sources);
        if text != streamed {
            emit(
                events,
                AnswerEvent::Settled {
                    text: text.clone(),
                    removed: removed.clone(),
                    sources: sources.clone(),
                    verification: verification.clone(),
                },
            )
            .await?;
        } else {
            emit(events, AnswerEvent::Citations { sources: sources.clone(), verification: verification.clone() }).await?;
        }
        Ok(Outcome { kind: OutcomeKind::Generated, text, sources, removed, verification: Some(verification), ..base })
    }

    /// Stream tokens from the model; returns the full text.
    /// Fails with the model's error kind: busy, unavailable, or failed mid-answer.
    async fn generate(&self, messages: Vec<Message>, events: &Events) -> Result<(String, GenStats), AssistantError> {
        let chat = self.chat.as_ref().ok_or_else(|| ModelError::Unavailable("no chat model configured".into()))?;
        let mut stream = chat.chat(messages, self.gen).await?;
        let mut text = String::new();
        while let Some(ev) = stream.next().await {
            match ev {
                GenEvent::Text(t) => {
                    text.push_str(&t);
                    // A closed client stream drops `rx` on return, which stops the model.
                    emit(events, AnswerEvent::Token { text: t }).await?;
                }
                GenEvent::Done(stats) => return Ok((text, stats)),
                GenEvent::Error(e) => return Err(AssistantError::Model(e)),
            }
        }
        Err(AssistantError::Model(ModelError::Unavailable("the model stopped mid-answer".into())))
    }

    async fn send_extractive(
        &self,
        g: &Guide,
        aspect: Aspect,
        best: Option<&Chunk>,
        replaced_because: Option<String>,
        base: Outcome,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        let (text, sources) = extractive::answer(g, aspect, best);
        let verification = verify(&text, &sources);
        match &replaced_because {
            Some(reason) => {
                emit(events, AnswerEvent::Replace { text: text.clone(), reason: reason.clone(), sources: sources.clone() }).await?;
            }
            None => {
                if !self.has_generator() {
                    emit(events, AnswerEvent::Status { message: "未加载语言模型，以下为办事指南原文摘录".into() }).await?;
                }
                emit(events, AnswerEvent::Token { text: text.clone() }).await?;
                emit(events, AnswerEvent::Citations { sources: sources.clone(), verification: verification.clone() }).await?;
            }
        }
        let kept_verification = base.verification.clone().or(Some(verification));
        Ok(Outcome { kind: OutcomeKind::Extractive, text, sources, replaced_because, verification: kept_verification, ..base })
    }
}

/// Why the guide's words stand in for a model answer, in the citizen's words.
fn model_trouble(e: &ModelError) -> &'static str {
    match e {
        ModelError::Busy => "语言模型繁忙",
        ModelError::Unavailable(_) | ModelError::Missing(_) => "语言模型暂不可用",
        _ => "语言模型生成出错",
    }
}

/// Which clarification option a reply picks: its number, its name, or a distinctive part.
fn pick_option<'a>(reply: &str, options: &'a [ItemRef]) -> Option<&'a ItemRef> {
    let r = reply.trim().trim_end_matches(['。', '.', '！']);
    let ordinal =
        ["1", "2", "3"].iter().zip(["第一", "第二", "第三"]).position(|(d, w)| r == *d || r.starts_with(w) || r == format!("{d}."));
    if let Some(i) = ordinal {
        return options.get(i);
    }
    options.iter().find(|o| r.contains(&o.name) || (r.chars().count() >= 2 && o.name.contains(r)))
}

/// Greetings and thanks get a short reply without retrieval.
fn small_talk(msg: &str) -> Option<&'static str> {
    let m = msg.trim_end_matches(['！', '!', '。', '~', '～']);
    match m {
        "你好" | "您好" | "在吗" | "hi" | "hello" | "你好啊" => Some("您好！我是政务服务智能客服，请问您要办理或咨询什么事项？"),
        "谢谢" | "谢谢你" | "好的谢谢" | "多谢" | "感谢" => Some("不客气！还有其他问题可以随时问我。"),
        "再见" | "拜拜" => Some("再见，祝您办事顺利！"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Vec<ItemRef> {
        ["居民身份证换领", "临时居民身份证申领", "居民身份证首次申领"]
            .iter()
            .map(|n| ItemRef { code: n.to_string(), name: n.to_string() })
            .collect()
    }

    #[test]
    fn clarification_replies_pick_an_option() {
        let o = opts();
        assert_eq!(pick_option("2", &o).unwrap().name, "临时居民身份证申领");
        assert_eq!(pick_option("第三个", &o).unwrap().name, "居民身份证首次申领");
        assert_eq!(pick_option("临时居民身份证", &o).unwrap().name, "临时居民身份证申领");
        assert!(pick_option("我想办护照", &o).is_none());
    }

    #[test]
    fn small_talk_is_recognised() {
        assert!(small_talk("你好！").is_some());
        assert!(small_talk("你好，我想换身份证").is_none());
    }
}
