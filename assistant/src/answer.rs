//! Answering one item: the sources card straight from the guide, then the model's answer —
//! streamed, cut to complete sentences, verified against the sources and settled — or the
//! guide's own words when there is no model, the model is busy or failed, or its answer is not
//! backed. An answer beside the point is returned as `Declined` for the caller to ask back.

use banshi_knowledge::chunk::Chunk;
use banshi_knowledge::{Document, Guide, SearchResult};
use banshi_models::{GenEvent, GenStats, Message, ModelError};

use crate::card::SourcesCard;
use crate::citations::{cited_sources, complete_sentences, settle, verify, Settled};
use crate::engine::{emit, Events, ItemRef, MODEL_DECLINE};
use crate::extractive;
use crate::intent::Aspect;
use crate::outcome::{AnswerEvent, Outcome, OutcomeKind};
use crate::prompt::{self, answer_messages};
use crate::relevance::{answers_aspect, answers_the_point, matching_faq, says_nothing, unasked_logistics};
use crate::{Assistant, AssistantError, DialogueState};

/// What is asked about an item: the question as the model reads it, and its aspects as the
/// turn read them (most specific first, never empty).
pub(crate) struct Ask<'a> {
    pub question: String,
    pub aspects: &'a [Aspect],
}

impl Assistant {
    /// Answer `ask` about item or bundle `code`: a bundle's card and offer, or an item's card
    /// then generated (verified) or extractive text.
    pub(crate) async fn answer_item(
        &self,
        state: &mut DialogueState,
        code: &str,
        ask: &Ask<'_>,
        found: Option<&SearchResult>,
        confidence: Option<f32>,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        let guide = match self.kb.document(code).await? {
            Some(Document::Guide(g)) => *g,
            Some(Document::Bundle(b)) => return self.answer_bundle(state, *b, confidence, events).await,
            None => return Err(AssistantError::NotFound(code.to_string())),
        };
        let question = ask.question.as_str();
        let item = ItemRef { code: guide.code.clone(), name: guide.name.clone() };
        state.item = Some(item.clone());
        state.last_item = Some(item.clone());
        emit(events, AnswerEvent::Sources { card: SourcesCard::from_guide(&guide) }).await?;
        // An FAQ entry that asks this very question answers it, whatever its keywords suggest.
        let faq = matching_faq(question, &guide.name, &guide.faq).and_then(|s| extractive::section_chunk(&guide, s));
        let aspect = if faq.is_some() { Aspect::General } else { ask.aspects.first().copied().unwrap_or(Aspect::General) };
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
            retrieved.first().is_some_and(|c| unasked_logistics([c.section], ask.aspects) || says_nothing(&c.text, &c.title));
        let beside_the_point = !text.trim().is_empty()
            && (text.contains(MODEL_DECLINE)
                || !answers_the_point(&verification, &sources, ask.aspects)
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
            let why = format!("生成的回答未依据所问的“{}”作答", aspect.section().title());
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
