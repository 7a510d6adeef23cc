//! The 办理 side of a turn: offering a 一件事 bundle, filling its (or an item's) form in the
//! chat a field or two at a time (边聊边办), and answering progress queries by tracking number.
//!
//! The form lives in the dialogue state between turns; each turn streams a [`FormView`] the
//! page renders inline (values with their sources, errors next to their fields, the materials
//! with 免提交 marks). Submitting is the server's job: it re-checks every value against the live
//! guides before anything is stored.

use banshi_knowledge::bundle::Bundle;
use banshi_knowledge::form::FieldKind;
use banshi_knowledge::{Document, Guide};
use banshi_models::{GenEvent, GenParams, Message};
use serde::{Deserialize, Serialize};

use crate::engine::{emit, Events};
use crate::forms::extract;
use crate::forms::fill::{FormProgress, ValueSource};
use crate::forms::prefill::{prefill, ELicence, Profile};
use crate::forms::{FormSpec, Target};
use crate::handoff::HandoffReason;
use crate::records::{describe, ApplicationView};
use crate::turn::{ProgressAsk, Turn};
use crate::{AnswerEvent, Assistant, AssistantError, DialogueState, ItemRef, Outcome, OutcomeKind};

/// A button under an answer that sends `text` as the citizen's next message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuickReply {
    pub label: String,
    pub text: String,
}

/// A bundle's card: its items, the de-duplicated materials, and what merging saves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BundleCard {
    pub code: String,
    pub name: String,
    pub summary: String,
    pub department: String,
    /// `(name, note, optional)` of every item.
    pub items: Vec<(String, Option<String>, bool)>,
    pub materials: Vec<MaterialView>,
    pub promised_time_limit: Option<String>,
    pub visits: Option<u32>,
    pub separate_fields: usize,
    pub asked_fields: usize,
    pub separate_materials: usize,
    pub sample: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaterialView {
    pub name: String,
    pub required: bool,
    /// Why it need not be submitted (免提交), when so.
    pub exempt: Option<String>,
    /// May be submitted later under commitment (容缺).
    pub tolerance: bool,
    /// Names of the items that need it.
    pub needed_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldView {
    pub key: String,
    pub label: String,
    /// `text`, `id_card`, `uscc`, `phone`, `date`, `enum`, `address`, `number`, `yes_no`.
    pub kind: String,
    pub required: bool,
    pub options: Vec<String>,
    pub help: Option<String>,
    pub value: Option<String>,
    /// Where the value came from (个人档案, 电子证照·居民身份证, 对话中提到 …).
    pub source: Option<String>,
    pub error: Option<String>,
    /// Filled by this item's result; not asked.
    pub produced_by: Option<String>,
}

/// The form as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormView {
    pub target: Target,
    pub title: String,
    pub fields: Vec<FieldView>,
    pub materials: Vec<MaterialView>,
    pub asking: Vec<String>,
    pub complete: bool,
    pub separate_fields: usize,
    pub separate_materials: usize,
}

fn kind_str(k: FieldKind) -> String {
    serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

impl FormView {
    pub fn of(p: &FormProgress) -> FormView {
        let item_name = |code: &str| {
            p.spec
                .materials
                .iter()
                .flat_map(|m| &m.needed_by)
                .find(|n| n.0 == code)
                .map(|n| n.1.clone())
                .unwrap_or_else(|| code.to_string())
        };
        FormView {
            target: p.spec.target.clone(),
            title: p.spec.title.clone(),
            fields: p
                .spec
                .fields
                .iter()
                .map(|f| FieldView {
                    key: f.key.clone(),
                    label: f.label.clone(),
                    kind: kind_str(f.kind),
                    required: f.required,
                    options: f.options.clone(),
                    help: f.help.clone(),
                    value: p.values.get(&f.key).map(|v| v.value.clone()),
                    source: p.values.get(&f.key).map(|v| v.source.label()),
                    error: p.errors.get(&f.key).cloned(),
                    produced_by: f.produced_by.as_deref().map(item_name),
                })
                .collect(),
            materials: materials_view(&p.spec, &p.exempt),
            asking: p.asking.clone(),
            complete: p.complete(),
            separate_fields: p.spec.separate_fields,
            separate_materials: p.spec.separate_materials,
        }
    }
}

/// The 免提交 reason of a material that is the application form filled in online.
pub const ONLINE_FORM_EXEMPT: &str = "在线填写：即本次在线填写的申请表，提交申请时自动生成，无需上传";

/// The materials of `spec` as the page shows them, with the 免提交 reasons in `exempt`; a
/// material that is the online form itself is always 免提交 (the form filled here is it), so
/// no one is asked to photograph it.
pub fn materials_view(spec: &FormSpec, exempt: &std::collections::BTreeMap<String, String>) -> Vec<MaterialView> {
    spec.materials
        .iter()
        .map(|m| MaterialView {
            name: m.name.clone(),
            required: m.required,
            exempt: exempt.get(&m.name).cloned().or_else(|| m.online_form.then(|| ONLINE_FORM_EXEMPT.to_string())),
            tolerance: m.tolerance,
            needed_by: m.needed_by.iter().map(|n| n.1.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
        })
        .collect()
}

impl Assistant {
    /// The live guides of a bundle's items.
    async fn items_of(&self, b: &Bundle) -> Result<Vec<Guide>, AssistantError> {
        let mut out = Vec::new();
        for i in &b.items {
            if let Some(g) = self.kb.guide(&i.code).await? {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// The form spec for an item or bundle code.
    pub async fn form_spec(&self, code: &str) -> Result<Option<FormSpec>, AssistantError> {
        match self.kb.document(code).await? {
            Some(Document::Bundle(b)) => {
                let guides = self.items_of(&b).await?;
                FormSpec::for_bundle(&b, &guides).map(Some).map_err(AssistantError::Train)
            }
            Some(Document::Guide(g)) => Ok(FormSpec::for_guide(&g)),
            None => Ok(None),
        }
    }

    /// Answer about a bundle: its card, a short summary, and the offer to apply.
    pub(crate) async fn answer_bundle(
        &self,
        state: &mut DialogueState,
        b: Bundle,
        confidence: Option<f32>,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        let guides = self.items_of(&b).await?;
        let spec = FormSpec::for_bundle(&b, &guides).map_err(AssistantError::Train)?;
        let item = ItemRef { code: b.code.clone(), name: b.name.clone() };
        state.item = Some(item.clone());
        state.last_item = Some(item.clone());
        let card = BundleCard {
            code: b.code.clone(),
            name: b.name.clone(),
            summary: b.summary.clone(),
            department: b.department.clone(),
            items: b
                .items
                .iter()
                .map(|i| {
                    (
                        guides.iter().find(|g| g.code == i.code).map(|g| g.name.clone()).unwrap_or_else(|| i.code.clone()),
                        i.note.clone(),
                        i.optional,
                    )
                })
                .collect(),
            materials: materials_view(&spec, &Default::default()),
            promised_time_limit: b.promised_time_limit.as_ref().map(|t| t.display()),
            visits: b.visits,
            separate_fields: spec.separate_fields,
            asked_fields: spec.fields.iter().filter(|f| f.produced_by.is_none()).count(),
            separate_materials: spec.separate_materials,
            sample: b.source.kind == banshi_knowledge::guide::SourceKind::Sample,
        };
        emit(events, AnswerEvent::Bundle { card: card.clone() }).await?;
        let names: Vec<&str> = card.items.iter().map(|i| i.0.as_str()).collect();
        let text = format!(
            "您需要办理的是“{}”，包括{}，共 {} 个事项。一次申请、一表填报：原本 {} 个表单字段合并为 {} 个，{} 份材料去重后为 {} 份。需要现在开始办理吗？",
            b.name,
            names.join("、"),
            names.len(),
            card.separate_fields,
            card.asked_fields,
            card.separate_materials,
            card.materials.len()
        );
        emit(events, AnswerEvent::Token { text: text.clone() }).await?;
        emit(
            events,
            AnswerEvent::Actions {
                actions: vec![QuickReply { label: "开始办理（一表填报）".into(), text: "开始办理".into() }]
            },
        )
        .await?;
        Ok(Outcome { confidence, item: Some(item), ..Outcome::plain(OutcomeKind::Bundle, text) })
    }

    /// "我要办理" with nothing under discussion: offer the 一件事 bundles, or ask what to do.
    pub(crate) async fn offer_bundles(&self, events: &Events) -> Result<Outcome, AssistantError> {
        let bundles = self.kb.bundles.all_live().await?;
        let text = if bundles.is_empty() {
            "请问您要办理什么事项？可以直接告诉我事项名称，例如“换领身份证”。".to_string()
        } else {
            "请问您要办理什么事项？可以直接说事项名称，或选择下面的“一件事”（多个事项一次申请、一表填报）：".to_string()
        };
        emit(events, AnswerEvent::Token { text: text.clone() }).await?;
        if !bundles.is_empty() {
            let actions = bundles.iter().map(|b| QuickReply { label: b.name.clone(), text: format!("我要办{}", b.name) }).collect();
            emit(events, AnswerEvent::Actions { actions }).await?;
        }
        Ok(Outcome::plain(OutcomeKind::Bundle, text))
    }

    /// Start filling the form of `item`: pre-fill from every source, then ask for what is missing.
    pub(crate) async fn start_form(&self, state: &mut DialogueState, item: &ItemRef, events: &Events) -> Result<Outcome, AssistantError> {
        let Some(spec) = self.form_spec(&item.code).await? else {
            let text = format!("“{}”没有在线申请表，请按办事指南准备材料到窗口办理。", item.name);
            emit(events, AnswerEvent::Token { text: text.clone() }).await?;
            return Ok(Outcome::plain(OutcomeKind::FormStep, text));
        };
        // Acting for someone (亲友代办): only within what they authorised.
        if let Some(a) = state.acting_for.as_ref().filter(|a| !a.scope.contains(&item.code)) {
            let text = format!(
                "您正在代{}办理，授权范围不包括“{}”。请{}本人办理，或请其补充授权。",
                a.principal_name, item.name, a.principal_name
            );
            emit(events, AnswerEvent::Token { text: text.clone() }).await?;
            return Ok(Outcome::plain(OutcomeKind::FormStep, text));
        }
        let mut p = FormProgress::new(spec);
        let (profile, licences) = self.citizen_sources(state).await;
        prefill(&mut p, profile.as_ref(), &licences, &[], &state.said);
        if self.has_generator() && !p.complete() && state.said.iter().map(|s| s.chars().count()).sum::<usize>() > 20 {
            let conversation = state.said.join("\n");
            self.model_fill(&mut p, &conversation).await;
        }
        let filled = p.values.len();
        let intro = format!(
            "好的，开始办理“{}”。{}",
            item.name,
            if filled > 0 { format!("已为您预填 {filled} 项（来源见表单标注），请核对。") } else { String::new() }
        );
        self.ask_next(state, p, &intro, events).await
    }

    /// A message while a form is open. `None`: it was not about the form (route it normally).
    pub(crate) async fn continue_form(
        &self,
        state: &mut DialogueState,
        turn: &Turn<'_>,
        events: &Events,
    ) -> Result<Option<Outcome>, AssistantError> {
        let Some(mut p) = state.form.take().map(|b| *b) else { return Ok(None) };
        let msg = turn.text.as_str();
        if turn.cancels {
            let text = format!("已取消“{}”的办理，已填写的信息不会保存。", p.spec.target.name());
            emit(events, AnswerEvent::Token { text: text.clone() }).await?;
            return Ok(Some(Outcome::plain(OutcomeKind::FormStep, text)));
        }
        let asked: Vec<_> = p.asking.iter().filter_map(|k| p.spec.field(k)).cloned().collect();
        let asked_refs: Vec<_> = asked.iter().collect();
        let mut found = extract::from_answer(&asked_refs, msg);
        let missing: Vec<_> = p.missing().into_iter().filter(|f| !found.iter().any(|(k, _)| k == &f.key)).cloned().collect();
        let missing_refs: Vec<_> = missing.iter().collect();
        found.extend(extract::from_conversation(&missing_refs, msg));
        if found.is_empty() && msg.chars().count() > 15 && self.has_generator() {
            let before = p.values.len();
            self.model_fill(&mut p, msg).await;
            if p.values.len() > before {
                return self.ask_next(state, p, "已从您的描述中识别并填写，请核对。", events).await.map(Some);
            }
        }
        if found.is_empty() && turn.question_like {
            // A question in the middle of the form: answer it, keep the form for later.
            state.form = Some(Box::new(p));
            return Ok(None);
        }
        let mut problems = Vec::new();
        for (k, v) in &found {
            if let Err(e) = p.offer(k, v, ValueSource::Conversation) {
                problems.push(e);
            }
        }
        if found.is_empty() {
            for k in p.asking.clone() {
                let label = p.spec.field(&k).map(|f| f.label.clone()).unwrap_or_default();
                p.errors.insert(k.clone(), format!("没有识别出“{label}”，请直接回复该项内容"));
                *p.failures.entry(k).or_default() += 1;
            }
        }
        if p.worst_failures() >= 2 {
            let name = p.spec.target.name().to_string();
            let o = self.hand_off_form(state, &name, turn, events).await?;
            state.form = Some(Box::new(p));
            return Ok(Some(o));
        }
        let intro = if problems.is_empty() { String::new() } else { format!("{}。", problems.join("；")) };
        self.ask_next(state, p, &intro, events).await.map(Some)
    }

    /// Stream the form and ask for the next fields (or say it is ready to submit).
    async fn ask_next(
        &self,
        state: &mut DialogueState,
        mut p: FormProgress,
        intro: &str,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        let next = p.next_questions();
        let text = if next.is_empty() {
            format!("{intro}信息已填写完整。请核对表单中的每一项（可直接修改），确认无误后点击“提交申请”。")
        } else {
            format!("{intro}{}", FormProgress::question(&next))
        };
        emit(events, AnswerEvent::Form { form: Box::new(FormView::of(&p)) }).await?;
        emit(events, AnswerEvent::Token { text: text.clone() }).await?;
        state.form = Some(Box::new(p));
        Ok(Outcome::plain(OutcomeKind::FormStep, text))
    }

    async fn hand_off_form(
        &self,
        state: &mut DialogueState,
        name: &str,
        turn: &Turn<'_>,
        events: &Events,
    ) -> Result<Outcome, AssistantError> {
        let mut o = self.hand_off(state, HandoffReason::FormFailed, turn, events).await?;
        o.text = format!("“{name}”的表单多次未能通过校验，{}", o.text);
        Ok(o)
    }

    /// Profile and e-licences of the signed-in citizen (empty when not signed in).
    /// The records that pre-fill forms: the principal's when acting for someone (the caller has
    /// checked the scope), else the signed-in citizen's.
    async fn citizen_sources(&self, state: &DialogueState) -> (Option<Profile>, Vec<ELicence>) {
        let whose = state.acting_for.as_ref().map(|a| a.principal_id).or(state.citizen_id);
        let (Some(id), Some(records)) = (whose, &self.records) else { return (None, Vec::new()) };
        let profile = records.profile(id).await.unwrap_or_else(|e| {
            tracing::warn!("reading a citizen profile: {e}");
            None
        });
        let holder = profile.as_ref().and_then(|p| p.get("id_number").or_else(|| p.get("uscc"))).cloned();
        let licences = match (&self.elicences, holder) {
            (Some(store), Some(h)) => store.licences_for(&h).await.unwrap_or_else(|e| {
                tracing::warn!("reading e-licences: {e}");
                Vec::new()
            }),
            _ => Vec::new(),
        };
        (profile, licences)
    }

    /// Ask the model for missing values as JSON (the answer is forced to open with `{`);
    /// every value is validated before it is kept.
    pub async fn model_fill(&self, p: &mut FormProgress, conversation: &str) {
        let Some(chat) = &self.chat else { return };
        let missing: Vec<_> = p.missing().into_iter().cloned().collect();
        if missing.is_empty() {
            return;
        }
        let refs: Vec<_> = missing.iter().collect();
        let params = GenParams { max_tokens: 120, temperature: 0.0, ..self.gen };
        // Busy or no model: the form is filled from what the citizen types instead.
        let Ok(mut stream) = chat.chat(extraction_messages(extract::model_prompt(&refs, conversation)), params).await else { return };
        let mut text = String::from("{");
        while let Some(ev) = stream.next().await {
            match ev {
                GenEvent::Text(t) => {
                    text.push_str(&t);
                    if t.contains('}') {
                        break; // one object is all we asked for
                    }
                }
                GenEvent::Done(_) | GenEvent::Error(_) => break,
            }
        }
        for (k, v) in extract::parse_model_json(&text, &refs) {
            let grounded = refs.iter().find(|f| f.key == k).is_some_and(|f| extract::grounded(f, &v, conversation));
            if grounded {
                p.prefill(&k, &v, ValueSource::Model);
            } else {
                tracing::debug!(field = %k, "model value not found in the conversation: dropped");
            }
        }
    }

    /// Progress query (进度查询): by tracking number, or — signed in, or after submitting in
    /// this conversation — the citizen's own applications without one. A number is answered
    /// only for its owner (submitted in this conversation or by the signed-in citizen), so
    /// guessing numbers in the chat reveals nothing.
    pub(crate) async fn progress(&self, state: &DialogueState, ask: &ProgressAsk, events: &Events) -> Result<Outcome, AssistantError> {
        let number = match ask {
            ProgressAsk::Number(no) => Some(no.clone()),
            ProgressAsk::Mine => None,
        };
        let Some(records) = &self.records else {
            let text = format!("当前渠道暂不支持进度查询，请通过网页客服或拨打{}查询。", self.deployment.city.hotline);
            emit(events, AnswerEvent::Token { text: text.clone() }).await?;
            return Ok(Outcome::plain(OutcomeKind::Progress, text));
        };
        let today = chrono::Local::now().date_naive();
        let mut own: Vec<ApplicationView> = match state.citizen_id {
            Some(c) => records.citizen_applications(c).await.map_err(AssistantError::Train)?,
            None => Vec::new(),
        };
        for no in &state.submitted {
            if !own.iter().any(|a| &a.tracking_no == no) {
                if let Some(a) = records.application(no).await.map_err(AssistantError::Train)? {
                    own.push(a);
                }
            }
        }
        let text = match number {
            Some(no) => match own.iter().find(|a| a.tracking_no == no) {
                Some(a) => describe(a, today),
                None => match records.application(&no).await.map_err(AssistantError::Train)? {
                    Some(_) => format!(
                        "受理编号 {no} 不是在本次对话中提交的。为保护申请人信息，请登录提交时使用的账号后再查询，或在进度查询页面输入编号和申请时预留手机号的后4位。"
                    ),
                    None => format!("没有查到受理编号 {no} 的申请，请核对编号是否正确。"),
                },
            },
            None if own.is_empty() => "请提供受理编号（提交申请后获得，以 BS 开头的 16 位编号），我来为您查询办理进度；登录后可直接查看您提交的申请。".to_string(),
            None => {
                own.sort_by(|a, b| b.submitted_on.cmp(&a.submitted_on).then(b.tracking_no.cmp(&a.tracking_no)));
                let mut t = if own.len() == 1 { String::new() } else { format!("您有 {} 件申请（最近的在前）：\n", own.len()) };
                t.push_str(&own.iter().take(5).map(|a| describe(a, today)).collect::<Vec<_>>().join("\n"));
                t
            }
        };
        emit(events, AnswerEvent::Token { text: text.clone() }).await?;
        Ok(Outcome::plain(OutcomeKind::Progress, text))
    }
}

/// The conversation asking the model for field values as JSON: the answer is forced to open
/// with `{` (a final assistant message the model continues).
fn extraction_messages(request: String) -> Vec<Message> {
    vec![Message::system("你是信息提取程序，只输出JSON。"), Message::user(request), Message::assistant("{")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_renders_the_extraction_prompt_the_assistant_wrote_before() {
        let request = "从对话中提取：姓名、手机号\n对话：我叫张三".to_string();
        let rendered = banshi_models::port::chatml_prompt(&extraction_messages(request.clone()));
        let before = format!("<|im_start|>system\n你是信息提取程序，只输出JSON。<|im_end|>\n<|im_start|>user\n{request}<|im_end|>\n<|im_start|>assistant\n{{");
        assert_eq!(rendered, before);
    }
}
