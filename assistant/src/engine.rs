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

use banshi_knowledge::{KnowledgeBase, SearchParams, SearchResult};
use banshi_models::{ChatModel, ComputeHandle, GenParams};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub(crate) use crate::answer::Ask;
use crate::appeal::{Appeal, AppealModel, AppealType};
use crate::deployment::{Deployment, Elsewhere};
use crate::forms::fill::FormProgress;
use crate::forms::prefill::ELicenceStore;
use crate::handoff::{Handoff, HandoffReason};
use crate::intent::Aspect;
pub use crate::outcome::{AnswerEvent, Outcome, OutcomeKind};
use crate::prompt;
use crate::records::Records;
use crate::relevance::look_up_only;
use crate::turn::Turn;
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
    /// What it asked about (answered once an option is picked).
    #[serde(default = "general")]
    pub aspects: Vec<Aspect>,
}

fn general() -> Vec<Aspect> {
    vec![Aspect::General]
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
    /// Whom the signed-in citizen is applying for (亲友代办): within the grant's scope, forms
    /// are pre-filled from the principal's records and applications are the principal's.
    #[serde(default)]
    pub acting_for: Option<ActingFor>,
}

/// A proxy acting on a principal's grant (checked again by the server on every submission).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActingFor {
    pub grant_id: i64,
    pub principal_id: i64,
    pub principal_name: String,
    /// Item and bundle codes the grant covers.
    pub scope: Vec<String>,
}

/// What the assistant can do with a turn, in the order it is tried: the first that takes the
/// turn answers it. `Search` always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    /// The citizen asked for a person.
    AskedHuman,
    /// Progress of an application (by tracking number, or the citizen's own).
    Progress,
    /// A value for the form being filled (or leaving it).
    Form,
    /// An editor-approved answer to this very question.
    Curated,
    /// Start applying for the item under discussion (or pick a 一件事 bundle).
    Apply,
    /// The pick of a pending clarifying question.
    Clarification,
    /// A short question about the item under discussion.
    FollowUp,
    /// Retrieval, then an answer, a referral, a clarifying question or a handoff.
    Search,
}

const HANDLERS: [Handler; 8] = [
    Handler::AskedHuman,
    Handler::Progress,
    Handler::Form,
    Handler::Curated,
    Handler::Apply,
    Handler::Clarification,
    Handler::FollowUp,
    Handler::Search,
];

type HandlerResult = Result<Option<Outcome>, AssistantError>;

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

    /// Write answers with `chat` (a model server, say) instead of the in-process generator;
    /// `None`: extractive answers only.
    pub fn with_chat(mut self, chat: Option<Arc<dyn ChatModel>>) -> Self {
        self.chat = chat;
        self
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
        // A greeting needs neither the classifier nor a search.
        if let Some(reply) = self.deployment.small_talk(msg) {
            emit(events, AnswerEvent::Token { text: reply.clone() }).await?;
            return Ok(Outcome::plain(OutcomeKind::SmallTalk, reply));
        }
        state.said.push(msg.chars().take(300).collect());
        let excess = state.said.len().saturating_sub(SAID_KEPT);
        state.said.drain(..excess);
        let appeal = crate::appeal::encoder::classify(&self.appeal, self.compute.as_ref(), msg).await;
        let turn = Turn::read(msg, appeal, state.clarifying.as_ref(), &self.deployment);
        for handler in HANDLERS {
            if let Some(mut outcome) = self.try_handler(handler, state, &turn, events).await? {
                outcome.appeal = Some(turn.appeal);
                return Ok(outcome);
            }
        }
        unreachable!("the last handler, Search, always answers")
    }

    /// Let `handler` take the turn; `None` passes it to the next one.
    async fn try_handler(&self, handler: Handler, state: &mut DialogueState, turn: &Turn<'_>, events: &Events) -> HandlerResult {
        match handler {
            Handler::AskedHuman if turn.appeal.asks_human => self.hand_off(state, HandoffReason::AskedHuman, turn, events).await.map(Some),
            Handler::Progress => match &turn.progress {
                Some(ask) => self.progress(state, ask, events).await.map(Some),
                None => Ok(None),
            },
            Handler::Form => self.continue_form(state, turn, events).await,
            Handler::Curated => self.curated(state, turn, events).await,
            Handler::Apply if turn.applies => match state.item.clone() {
                Some(item) => self.start_form(state, &item, events).await.map(Some),
                None => self.offer_bundles(events).await.map(Some),
            },
            // A pending clarifying question survives a progress, form or apply turn; from here on
            // it is answered by this message or not at all.
            Handler::Clarification => {
                state.clarifying = None;
                let Some(p) = &turn.picked else { return Ok(None) };
                state.low_confidence = 0;
                // The question asked before the clarification is the one answered.
                let ask = Ask { question: format!("{}（{}）", p.question, p.item.name), aspects: &p.aspects };
                self.answer_item(state, &p.item.code, &ask, None, Some(1.0), events).await.map(Some)
            }
            // A short question that names another item (“护照怎么办？” after an answer on the
            // ID card) is a new question, not a follow-up.
            Handler::FollowUp => match state.item.clone().filter(|i| turn.follow_up && !self.names_another(&turn.text, &i.code)) {
                Some(item) => {
                    let ask = Ask { question: format!("关于“{}”：{}", item.name, turn.text), aspects: &turn.aspects };
                    self.answer_item(state, &item.code, &ask, None, None, events).await.map(Some)
                }
                None => Ok(None),
            },
            Handler::Search => self.search_and_answer(state, turn, events).await.map(Some),
            Handler::AskedHuman | Handler::Apply => Ok(None),
        }
    }

    /// Whether `text` names some item other than `code`.
    fn names_another(&self, text: &str, code: &str) -> bool {
        let named = self.kb.named_in(text);
        !named.is_empty() && !named.iter().any(|c| c == code)
    }

    /// An editor-approved answer to this very question.
    async fn curated(&self, state: &mut DialogueState, turn: &Turn<'_>, events: &Events) -> HandlerResult {
        let Some((c, score)) = self.kb.curated.find(&turn.text) else { return Ok(None) };
        emit(events, AnswerEvent::Curated { id: c.id, question: c.question.clone(), source: c.source.clone() }).await?;
        emit(events, AnswerEvent::Token { text: c.answer.clone() }).await?;
        state.clarifying = None;
        state.low_confidence = 0;
        Ok(Some(Outcome { confidence: Some(score), ..Outcome::plain(OutcomeKind::Curated, c.answer) }))
    }

    /// Search the knowledge base, then answer, hand off, acknowledge, refer or ask back.
    async fn search_and_answer(&self, state: &mut DialogueState, turn: &Turn<'_>, events: &Events) -> Result<Outcome, AssistantError> {
        emit(events, AnswerEvent::Status { message: "正在检索办事指南…".into() }).await?;
        let found = self.kb.search(&turn.text, SearchParams::default()).await?;
        let answerable = found.confidence >= ANSWER_THRESHOLD && !found.items.is_empty();
        let (p, appeal) = (self.policy, &turn.appeal);
        let decisive = appeal.confidence >= p.sure || (appeal.confidence >= p.likely && !answerable);
        match appeal.kind {
            AppealType::ComplaintHelp if decisive => return self.hand_off(state, HandoffReason::Complaint, turn, events).await,
            AppealType::Suggestion if decisive => return self.acknowledge_suggestion(appeal, events).await,
            AppealType::OutOfScope if decisive && !found.named => return self.out_of_scope(state, turn, events).await,
            _ => {}
        }
        if appeal.angry >= p.angry {
            return self.hand_off(state, HandoffReason::Angry, turn, events).await;
        }
        // A matter no city department handles (a lawsuit, a train ticket) is sent where it is
        // handled, even when some item looks similar — unless the citizen named the item.
        if let Some(topic) = turn.topic.filter(|_| !found.named) {
            return self.refer(state, Elsewhere::Topic(topic), events).await;
        }
        let ask = Ask { question: turn.text.clone(), aspects: &turn.aspects };
        match found.items.first() {
            // A look-up service found for a question that asks to do something else.
            Some(top) if answerable && look_up_only(&top.name, &turn.text) => self.low_confidence(state, turn, &found, events).await,
            Some(top) if answerable => {
                let code = top.code.clone();
                let o = self.answer_item(state, &code, &ask, Some(&found), Some(found.confidence), events).await?;
                if o.kind == OutcomeKind::Declined {
                    // The model read the item's sections and found no answer in them: that is
                    // as unsure as a low retrieval score, so ask back and then decline. What it
                    // streamed is taken back first.
                    if !o.text.trim().is_empty() {
                        let reason = "模型未能在该事项的办事指南中找到答案，已撤回生成的内容".into();
                        emit(events, AnswerEvent::Withdraw { reason }).await?;
                    }
                    state.item = None;
                    return self.low_confidence(state, turn, &found, events).await;
                }
                state.low_confidence = 0;
                Ok(o)
            }
            _ => self.low_confidence(state, turn, &found, events).await,
        }
    }

    /// Hand the conversation to a person: the caller (the server) opens the ticket.
    pub(crate) async fn hand_off(
        &self,
        state: &mut DialogueState,
        reason: HandoffReason,
        turn: &Turn<'_>,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        state.clarifying = None;
        state.low_confidence = 0;
        // The conversation's item routes the ticket to its own department (a bundle's lead
        // department); the classifier's domain only when no item was discussed.
        let item = state.item.clone().or_else(|| state.last_item.clone());
        let item_department = match &item {
            Some(i) => self.kb.document(&i.code).await?.map(|d| d.department().to_string()),
            None => None,
        };
        let message = format!("已为您转接人工客服（{}）。请稍候，客服人员将在这里回复您。", reason.label());
        emit(events, AnswerEvent::Handoff { reason, message: message.clone() }).await?;
        let handoff =
            Handoff { reason, question: turn.text.clone(), appeal: Some(turn.appeal.clone()), item: item.clone(), item_department };
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
        turn: &Turn<'_>,
        found: &SearchResult,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        if let Some(to) = turn.elsewhere.clone().filter(|_| !found.named) {
            return self.refer(state, to, events).await;
        }
        if state.low_confidence >= 1 && turn.appeal.kind == AppealType::OutOfScope {
            return self.out_of_scope(state, turn, events).await;
        }
        // Asked the first time only (a reply to the clarifying question, “都不是”, is no
        // question of its own), and only when retrieval found nothing: a question about an
        // item the guides do not answer is still about that item.
        let found_nothing = found.confidence < ANSWER_THRESHOLD;
        if state.low_confidence == 0 && found_nothing && self.outside_government(&turn.text).await {
            return self.out_of_scope(state, turn, events).await;
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
            state.clarifying = Some(Clarifying { question: turn.text.clone(), options, aspects: turn.aspects.clone() });
            let mut text = question;
            for (i, n) in names.iter().enumerate() {
                text.push_str(&format!("\n{}. {n}", i + 1));
            }
            return Ok(Outcome { confidence: Some(found.confidence), ..Outcome::plain(OutcomeKind::Clarified, text) });
        }
        emit(events, AnswerEvent::Decline { message: NOT_COVERED.into(), offer_human: true }).await?;
        let mut o = self.hand_off(state, HandoffReason::LowConfidence, turn, events).await?;
        o.text = format!("{NOT_COVERED}\n{}", o.text);
        o.confidence = Some(found.confidence);
        Ok(o)
    }
}
