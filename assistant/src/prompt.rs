//! The prompt: a fixed system prompt (its KV cache is computed once and reused by every
//! request) and a user turn holding only the numbered sections that answer the question. These
//! are chat messages; the model's port lays them out in its own template.
//!
//! Every context token costs ~12 ms of prefill on 2 cores, so the context is a budget: the
//! sections that match the question's aspect first, then the best retrieved ones, until
//! [`CONTEXT_BUDGET_CHARS`] is spent.

use banshi_knowledge::chunk::Chunk;
use banshi_knowledge::section::Section;
use banshi_knowledge::Guide;
use banshi_models::Message;

use crate::citations::Source;
use crate::extractive;
use crate::intent::Aspect;

/// Fixed for the life of the process: changing it invalidates the cached prefix.
pub const SYSTEM_PROMPT: &str = "你是政务服务智能客服，依据用户消息中的【参考资料】回答办事问题。\n\
规则：\n\
1. 只使用参考资料里的内容回答：摘录能回答问题的原句，条件、材料、步骤要完整列出，不补充参考资料以外的内容，不得编造材料、费用、时限、电话、地址；\n\
2. 每句话末尾标注该句摘自的参考资料编号，例如[1]；\n\
3. 只有参考资料与问题完全无关时，才回答“知识库中没有相关信息”；\n\
4. 用简洁的中文回答。\n\
示例：\n\
【参考资料】\n\
[1] 【某证件申领】收费标准：证件工本费10元\n\
[2] 【某证件申领】办理流程：1. 网上或窗口提交申请；2. 窗口受理并采集信息；3. 领取证件\n\
【问题】办这个证要交钱吗？怎么办？\n\
回答：证件工本费10元[1]。办理流程：1. 网上或窗口提交申请；2. 窗口受理并采集信息；3. 领取证件[2]。\n";

/// Characters of section text put in one prompt (~1.3 characters per token).
pub const CONTEXT_BUDGET_CHARS: usize = 700;

/// The turn every answer conversation starts with (what the model warms its cache with).
pub fn system_turn() -> Vec<Message> {
    vec![Message::system(SYSTEM_PROMPT)]
}

/// The conversation asking `question` over `sources`: the system turn, then one user turn.
pub fn answer_messages(question: &str, sources: &[Source]) -> Vec<Message> {
    let mut user = String::from("【参考资料】\n");
    for s in sources {
        user.push_str(&format!("[{}] {}\n", s.n, s.text));
    }
    user.push_str(&format!("【问题】{question}"));
    let mut messages = system_turn();
    messages.push(Message::user(user));
    messages
}

/// Sources for a question about item `g`: the asked aspect's section first, then the retrieved
/// chunks of the item, then its overview; within [`CONTEXT_BUDGET_CHARS`].
pub fn item_context(g: &Guide, aspect: Aspect, retrieved: &[Chunk]) -> Vec<Source> {
    let mut chunks: Vec<Chunk> = Vec::new();
    if let Some(c) = extractive::section_chunk(g, aspect.section()) {
        chunks.push(c);
    }
    for c in retrieved.iter().cloned().chain(extractive::section_chunk(g, Section::Overview)) {
        if !chunks.iter().any(|k| k.section == c.section) {
            chunks.push(c);
        }
    }
    let sources = chunks.iter().enumerate().map(|(i, c)| extractive::source(i + 1, c)).collect();
    fit_budget(sources, CONTEXT_BUDGET_CHARS)
}

/// Keep sources, in order, while they fit the budget (the first always fits, cut if needed).
pub fn fit_budget(sources: Vec<Source>, budget: usize) -> Vec<Source> {
    let mut used = 0;
    let mut out = Vec::new();
    for mut s in sources {
        let len = s.text.chars().count();
        if out.is_empty() && len > budget {
            s.text = s.text.chars().take(budget).collect();
            out.push(s);
            break;
        }
        if used + len > budget {
            break;
        }
        used += len;
        out.push(s);
    }
    for (i, s) in out.iter_mut().enumerate() {
        s.n = i + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source { n: 0, code: "C".into(), item: "I".into(), section: Section::Overview, title: "t".into(), text: text.into() }
    }

    #[test]
    fn the_model_renders_the_prompt_the_assistant_wrote_before() {
        use banshi_models::port::{chatml_prefix, chatml_prompt};
        let sources = fit_budget(vec![src("承诺办结时限15个工作日"), src("居民身份证工本费20元")], 700);
        let p = chatml_prompt(&answer_messages("要多久？", &sources));
        // Byte for byte the ChatML string this module used to build itself.
        let before = format!(
            "<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n【参考资料】\n[1] 承诺办结时限15个工作日\n[2] 居民身份证工本费20元\n【问题】要多久？<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(p, before);
        let prefix = chatml_prefix(&system_turn());
        assert_eq!(prefix, format!("<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n"));
        assert!(p.starts_with(&prefix), "the warmed prefix is the start of every answer prompt");
    }

    #[test]
    fn budget_keeps_order_and_renumbers() {
        let kept = fit_budget(vec![src(&"甲".repeat(300)), src(&"乙".repeat(300)), src(&"丙".repeat(300))], 700);
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].n, kept[1].n), (1, 2));
        let cut = fit_budget(vec![src(&"长".repeat(900))], 700);
        assert_eq!(cut[0].text.chars().count(), 700);
    }
}
