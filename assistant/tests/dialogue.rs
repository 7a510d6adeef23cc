//! The dialogue engine over a real knowledge base (SQLite + qdrant-edge, the bundled sample
//! guides): extractive answers without a model, follow-ups, clarification and decline; and
//! one grounded answer from the real model when the models dir has it.

use std::sync::Arc;

use banshi_assistant::handoff::HandoffReason;
use banshi_assistant::{AnswerEvent, Assistant, DialogueState, OutcomeKind};
use banshi_knowledge::db::open_sqlite;
use banshi_knowledge::import::load_path;
use banshi_knowledge::KnowledgeBase;
use tokio::sync::mpsc;

async fn kb(dir: &std::path::Path, compute: Option<banshi_models::ComputeHandle>) -> Arc<KnowledgeBase> {
    let embedder = compute.map(|c| Arc::new(c) as Arc<dyn banshi_models::Embed>);
    let kb = KnowledgeBase::open(dir, open_sqlite(&dir.join("banshi.db")).await.unwrap(), embedder).await.unwrap();
    let guides = load_path(&banshi_knowledge::bundled_guides_dir().join("sample")).unwrap().guides;
    kb.import(&guides, "test", &|_, _| {}).await.unwrap();
    Arc::new(kb)
}

async fn ask(a: &Assistant, state: &mut DialogueState, q: &str) -> (banshi_assistant::Outcome, Vec<AnswerEvent>) {
    let (tx, mut rx) = mpsc::channel(256);
    let outcome = a.respond(state, q, &tx).await.unwrap();
    drop(tx);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (outcome, events)
}

#[tokio::test]
async fn extractive_answers_follow_ups_clarification_and_decline() {
    let dir = tempfile::tempdir().unwrap();
    let a = Assistant::new(kb(dir.path(), None).await, None);
    let mut state = DialogueState::default();

    let (o, events) = ask(&a, &mut state, "身份证过期了换证要交多少钱").await;
    assert_eq!(o.kind, OutcomeKind::Extractive);
    assert_eq!(o.item.as_ref().unwrap().code, "SAMPLE-GA-001");
    assert!(o.text.contains("工本费20元"), "{}", o.text);
    let card_at = events.iter().position(|e| matches!(e, AnswerEvent::Sources { .. })).expect("a sources card");
    let text_at = events.iter().position(|e| matches!(e, AnswerEvent::Token { .. })).expect("answer text");
    assert!(card_at < text_at, "the card comes before any answer text");
    assert!(
        events.iter().any(|e| matches!(e, AnswerEvent::Status { message } if message.contains("未加载语言模型"))),
        "extractive mode is labelled"
    );
    assert!(o.verification.as_ref().unwrap().passed);

    // A follow-up resolves against the item under discussion.
    let (o, _) = ask(&a, &mut state, "那要多久？").await;
    assert_eq!(o.item.as_ref().unwrap().code, "SAMPLE-GA-001");
    assert!(o.text.contains("60日") && o.text.contains("15个工作日"), "{}", o.text);
    let (o, _) = ask(&a, &mut state, "在哪里办？").await;
    assert!(o.text.contains("示例市政务服务中心"), "{}", o.text);

    // A short question naming another item is a new question, and follow-ups move with it.
    let (o, _) = ask(&a, &mut state, "出国的护照怎么办？").await;
    let passport = o.item.as_ref().unwrap().code.clone();
    assert_ne!(passport, "SAMPLE-GA-001", "{}", o.text);
    let (o, _) = ask(&a, &mut state, "那要多久？").await;
    assert_eq!(o.item.as_ref().unwrap().code, passport);

    // A city matter the guides do not cover: one clarifying question, then the knowledge base
    // says it does not cover it and hands off to a person.
    let mut state = DialogueState::default();
    let (o, events) = ask(&a, &mut state, "城市道路挖掘许可怎么申请").await;
    assert_eq!(o.kind, OutcomeKind::Clarified, "{}", o.text);
    assert!(events.iter().any(|e| matches!(e, AnswerEvent::Clarify { .. })));
    let (o, events) = ask(&a, &mut state, "就是挖开道路施工的那个许可").await;
    assert_eq!(o.kind, OutcomeKind::Handoff, "{}", o.text);
    assert_eq!(o.handoff.as_ref().unwrap().reason, HandoffReason::LowConfidence);
    assert!(events.iter().any(|e| matches!(e, AnswerEvent::Decline { offer_human: true, .. })));
    assert!(events.iter().any(|e| matches!(e, AnswerEvent::Handoff { reason: HandoffReason::LowConfidence, .. })));
    assert!(!o.text.contains("元") && !o.text.contains("工作日"), "a decline invents no fee or time limit");
    assert_eq!(state.low_confidence, 0, "the count starts again after a handoff");

    // Complaints and requests for a person go to people at once.
    let mut state = DialogueState::default();
    let (o, _) = ask(&a, &mut state, "我要人工客服").await;
    assert_eq!(o.handoff.unwrap().reason, HandoffReason::AskedHuman);
    let (o, _) = ask(&a, &mut state, "隔壁工地半夜还在施工，噪音太大了，打电话也没人管，请相关部门处理！").await;
    assert_eq!(o.handoff.map(|h| h.reason), Some(HandoffReason::Complaint), "{}", o.text);
    assert_eq!(o.appeal.unwrap().kind, banshi_assistant::appeal::AppealType::ComplaintHelp);
}

/// Matters no city department handles are told where to go (from the deployment file), never
/// queued for an agent; questions about this city's own items are not.
#[tokio::test]
async fn matters_handled_elsewhere_are_referred_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let a = Assistant::new(kb(dir.path(), None).await, None);
    for (q, says) in
        [("我想起诉开发商延期交房", "人民法院"), ("去冰岛旅游的签证好办吗", "驻华使领馆"), ("杭州的人才落户要什么条件", "杭州的办事规定")]
    {
        let mut state = DialogueState::default();
        let (o, events) = ask(&a, &mut state, q).await;
        assert_eq!(o.kind, OutcomeKind::OutOfScope, "{q}: {}", o.text);
        assert!(o.text.contains(says) && o.handoff.is_none(), "{q}: {}", o.text);
        assert!(!events.iter().any(|e| matches!(e, AnswerEvent::Handoff { .. } | AnswerEvent::Clarify { .. })), "{q}");
    }
    // A move into this city, and a trip from it, are this city's matters.
    let mut state = DialogueState::default();
    let (o, _) = ask(&a, &mut state, "从杭州迁户口过来要什么材料").await;
    assert_ne!(o.kind, OutcomeKind::OutOfScope, "{}", o.text);
    // A city's own deployment file is used as given.
    let mut own = banshi_assistant::deployment::Deployment::bundled();
    own.referrals.retain(|r| r.topic != "诉讼");
    let a = a.with_deployment(own);
    let (o, _) = ask(&a, &mut DialogueState::default(), "我想起诉开发商延期交房").await;
    assert!(!o.text.contains("人民法院"), "{}", o.text);
}

#[tokio::test]
async fn a_question_the_guides_faq_asks_gets_the_faqs_answer() {
    let dir = tempfile::tempdir().unwrap();
    let a = Assistant::new(kb(dir.path(), None).await, None);
    // “窗口” points at the place section, but the guide's FAQ asks this very question.
    let (o, _) = ask(&a, &mut DialogueState::default(), "异地就医备案一定要去窗口吗？").await;
    assert_eq!(o.kind, OutcomeKind::Extractive);
    assert!(o.text.starts_with("不用") && o.text.contains("线上"), "{}", o.text);
    assert!(o.sources[0].section.is_faq(), "{:?}", o.sources);
    // Without such an FAQ entry the keywords still choose the section.
    let (o, _) = ask(&a, &mut DialogueState::default(), "异地就医备案在哪里办？").await;
    assert_eq!(o.sources[0].section, banshi_knowledge::section::Section::Place, "{}", o.text);
}

/// A look-up service (“…查询”) named in a question that asks to do something else is asked
/// back, not answered with its address; the same service asked where to look up is answered.
#[tokio::test]
async fn a_look_up_service_does_not_answer_another_act() {
    let dir = tempfile::tempdir().unwrap();
    let kb = kb(dir.path(), None).await;
    let guide: banshi_knowledge::guide::Guide = serde_json::from_value(serde_json::json!({
        "code": "TEST-PTH-001", "name": "普通话水平测试成绩查询", "kind": "公共服务", "department": "示例省语言文字工作委员会",
        "region": "示例省", "places": [{"name": "办理窗口", "address": "示例市中山大道69号"}], "consult_phone": "020-89338633",
        "conditions": ["参加普通话水平测试的人员可查询"], "source": {"kind": "sample"}
    }))
    .unwrap();
    kb.import(&[guide], "test", &|_, _| {}).await.unwrap();
    let a = Assistant::new(kb, None);
    let (o, _) = ask(&a, &mut DialogueState::default(), "普通话水平测试成绩查询在哪里办").await;
    assert_eq!(o.kind, OutcomeKind::Extractive, "{}", o.text);
    assert!(o.text.contains("中山大道69号"), "{}", o.text);
    let (o, _) = ask(&a, &mut DialogueState::default(), "普通话水平测试成绩查询那里怎么报名").await;
    assert_eq!(o.kind, OutcomeKind::Clarified, "{}", o.text);
}

#[tokio::test]
async fn a_clarification_answered_by_number_answers_that_item() {
    let dir = tempfile::tempdir().unwrap();
    let a = Assistant::new(kb(dir.path(), None).await, None);
    let mut state = DialogueState::default();
    let (o, _) = ask(&a, &mut state, "证件").await;
    if o.kind != OutcomeKind::Clarified {
        // The corpus answered directly; nothing to clarify in this corpus for this word.
        return;
    }
    let options = state.clarifying.clone().unwrap().options;
    let (o, _) = ask(&a, &mut state, "1").await;
    assert_eq!(o.item.unwrap().code, options[0].code);
}

#[tokio::test]
async fn real_model_answers_with_verified_citations() {
    let dir = banshi_models::default_models_dir();
    let paths = [banshi_models::files::GENERATOR_FILE, banshi_models::files::GENERATOR_TOKENIZER_FILE, banshi_models::files::EMBEDDER_FILE];
    if paths.iter().any(|p| !dir.join(p).exists()) {
        eprintln!("SKIPPED: models not found in {} (run `banshi models fetch`)", dir.display());
        return;
    }
    let generator = banshi_models::Generator::from_files(&dir.join(paths[0]), &dir.join(paths[1])).unwrap();
    let embedder = banshi_models::Embedder::from_file(&dir.join(paths[2])).unwrap();
    let compute = banshi_models::ComputeHandle::spawn(
        banshi_models::Models { embedder: Some(embedder), generator: Some(generator), ..banshi_models::Models::default() },
        8,
    );
    let tmp = tempfile::tempdir().unwrap();
    // Sparse retrieval keeps the set-up fast (no corpus embedding); the answer is the model's.
    let a = Assistant::new(kb(tmp.path(), None).await, Some(compute));
    let mut state = DialogueState::default();
    let (o, events) = ask(&a, &mut state, "身份证过期了换证要交多少钱").await;
    eprintln!("{:?}: {}", o.kind, o.text);
    assert!(matches!(o.kind, OutcomeKind::Generated | OutcomeKind::Extractive));
    assert!(o.text.contains("20"), "the fee comes from the guide: {}", o.text);
    assert!(o.verification.as_ref().unwrap().passed || o.replaced_because.is_some());
    if o.kind == OutcomeKind::Generated {
        assert!(events.iter().any(|e| matches!(e, AnswerEvent::Token { .. })));
        // The shown answer cites, for every claim, the section that backs it.
        assert_eq!(o.verification.as_ref().unwrap().citation_validity(), Some(1.0), "{:?}", o.verification);
        assert!(events.iter().any(
            |e| matches!(e, AnswerEvent::Citations { verification, .. } | AnswerEvent::Settled { verification, .. } if verification.passed)
        ));
    }

    // The item is named, but its guide does not say: the model finds no answer in the
    // sections, so the assistant asks back instead of quoting an unrelated section.
    let mut state = DialogueState::default();
    let (o, events) = ask(&a, &mut state, "换身份证的大厅里可以抽烟吗").await;
    eprintln!("{:?}: {}", o.kind, o.text);
    assert_eq!(o.kind, OutcomeKind::Clarified, "{}", o.text);
    assert!(events.iter().any(|e| matches!(e, AnswerEvent::Clarify { .. })));
    let said: String = events.iter().filter_map(|e| if let AnswerEvent::Token { text } = e { Some(text.as_str()) } else { None }).collect();
    assert!(said.contains(banshi_assistant::MODEL_DECLINE), "the model read the sections first: {said}");
    let withdrawn = events.iter().position(|e| matches!(e, AnswerEvent::Withdraw { .. })).expect("what the model streamed is withdrawn");
    assert!(withdrawn < events.iter().position(|e| matches!(e, AnswerEvent::Clarify { .. })).unwrap(), "before the clarification");
    assert!(!events.iter().any(|e| matches!(e, AnswerEvent::Replace { .. } | AnswerEvent::Citations { .. } | AnswerEvent::Settled { .. })));

    // Pre-fill by the model: constrained JSON for fields the rules cannot read, each value
    // validated before it is kept and tagged as read by the model.
    let spec = a.form_spec("SAMPLE-RS-001").await.unwrap().expect("社会保障卡申领 has a form");
    let mut p = banshi_assistant::forms::fill::FormProgress::new(spec);
    a.model_fill(&mut p, "我想办社保卡，卡想办在建设银行，办好了寄到家里就行。我的手机是一三九零五九一零零零零").await;
    eprintln!("model pre-fill: {:?}", p.plain_values());
    let bank = p.values.get("bank_name").expect("the bank is read from the conversation");
    assert!(bank.value.contains("建设银行"), "{}", bank.value);
    assert_eq!(bank.source, banshi_assistant::forms::fill::ValueSource::Model);
    assert!(p.values.get("delivery").is_none_or(|v| v.value == "邮寄送达"), "{:?}", p.values.get("delivery"));
    assert!(
        !p.values.contains_key("name") && !p.values.contains_key("birth_date"),
        "nothing the citizen did not say: {:?}",
        p.plain_values()
    );
    assert!(p.errors.is_empty(), "nothing invalid is kept: {:?}", p.errors);
}

/// A handoff goes to the department of the item the conversation was about, even after the
/// model found no answer in it: not to whatever domain the classifier guesses. The tiny model's
/// words all read “知识库中没有相关信息N”, so whatever it writes is the model declining; the
/// engine withdraws that text and asks back.
#[tokio::test]
async fn a_handoff_is_routed_to_the_discussed_items_department() {
    use banshi_models::testing::{tiny_generator_with, tiny_qwen_tokenizer_with};
    use banshi_models::{ComputeHandle, Models};
    let dir = tempfile::tempdir().unwrap();
    let declining = tiny_generator_with(tiny_qwen_tokenizer_with(|i| format!("{}{i}", banshi_assistant::MODEL_DECLINE)));
    let compute = ComputeHandle::spawn(Models { generator: Some(declining), ..Models::default() }, 16);
    let a = Assistant::new(kb(dir.path(), None).await, Some(compute));
    let mut state = DialogueState::default();
    let (o, events) = ask(&a, &mut state, "新生儿出生登记要带什么材料").await;
    assert_eq!(o.kind, OutcomeKind::Clarified, "{}\n{events:?}", o.text);
    let w = events.iter().position(|e| matches!(e, AnswerEvent::Withdraw { .. })).expect("the streamed text is withdrawn");
    assert!(w < events.iter().position(|e| matches!(e, AnswerEvent::Clarify { .. })).unwrap());
    assert!(state.item.is_none(), "no follow-up on an item that did not answer");
    let (o, _) = ask(&a, &mut state, "我要人工客服").await;
    let h = o.handoff.expect("a handoff");
    assert_eq!(h.item.as_ref().map(|i| i.code.as_str()), Some("SAMPLE-GA-002"), "{h:?}");
    assert_eq!(h.department(&a.deployment).as_deref(), Some("示例市公安局"));
}
