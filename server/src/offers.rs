//! 免申即享 / 主动服务 for a signed-in citizen: every live eligibility rule evaluated against
//! their profile, e-licences, applications and answers. What the city grants by itself is
//! applied for on their behalf (“已为您办理”); what needs consent waits for one tap
//! (“一键确认”); what the records cannot settle is offered only with the questions that would
//! (“可能符合，需补充信息”), and only when at least one condition held on the records.
//! Declined offers are not made again; citizens can turn offers off.
//!
//! Granting or accepting claims the offer first (one conditional update), then submits, so two
//! replicas opening one citizen's chat at once submit one application.

use std::collections::BTreeMap;

use banshi_assistant::apply::FormView;
use banshi_assistant::eligibility::{evaluate, Check, Facts, Outcome, Verdict};
use banshi_assistant::forms::fill::FormProgress;
use banshi_assistant::forms::prefill::prefill;
use banshi_assistant::forms::Target;
use banshi_knowledge::eligibility::{Ask, Grant};
use banshi_knowledge::Rule;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::records::view as app_view;
use crate::store::{Application, Citizen, NewApplication, NewMessage, OfferKind, OfferRecord, OfferStatus, Role, Session, StoreError};
use crate::App;

/// What the citizen can do with an offer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    /// Applied for on their behalf (已为您办理).
    Granted,
    /// They confirmed it (已确认申请).
    Accepted,
    /// One tap submits a pre-filled application (一键确认).
    Confirm,
    /// Answer the questions first (可能符合，需补充信息).
    Answer,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OfferView {
    pub code: String,
    pub name: String,
    /// A 一件事 bundle.
    pub bundle: bool,
    pub state: OfferState,
    pub summary: String,
    /// What applies to them (“80至89周岁：每人每月100元”), when the rule has bands.
    pub band: Option<String>,
    /// Each condition: held, failed or unknown, why, and the guide text it restates.
    pub checks: Vec<Check>,
    /// Questions that would settle the unknown conditions (answered 是 / 否).
    pub questions: Vec<Ask>,
    /// The application, once granted or accepted.
    pub tracking_no: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OfferList {
    /// False when the citizen turned offers off (then `offers` is empty).
    pub enabled: bool,
    pub offers: Vec<OfferView>,
}

/// What accepting an offer did: submitted an application, or opened its form in the chat
/// because something only the citizen can fill in is missing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub application: Option<Application>,
    pub form: Option<FormView>,
    pub message: String,
}

pub fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

/// What the city knows about `c`.
pub async fn facts(app: &App, c: &Citizen) -> Result<Facts, ApiError> {
    let licences = match c.profile.get("id_number") {
        Some(id) => app.store.licences(id).await?,
        None => Vec::new(),
    };
    let mut applications = BTreeMap::new();
    // Newest first: the first of each code is the latest.
    for a in app.store.citizen_applications(c.id).await? {
        applications.entry(a.target_code.clone()).or_insert_with(|| a.status.as_str().to_string());
    }
    Ok(Facts { profile: c.profile.clone(), licences, applications, stated: app.store.answers(c.id).await? })
}

/// How `verdict` would be offered, or `None` when it is not offered at all.
pub fn offer_kind(rule: &Rule, verdict: &Verdict) -> Option<OfferKind> {
    match verdict.outcome {
        Outcome::NotEligible => None,
        Outcome::Possible if !verdict.has_record_evidence() => None,
        Outcome::Possible => Some(OfferKind::Possible),
        Outcome::Eligible => Some(match rule.eligibility.grant {
            Grant::Auto => OfferKind::Auto,
            Grant::Consent => OfferKind::Consent,
        }),
    }
}

/// The citizen's offers now, granting what the city grants by itself. `session` is where
/// granted applications are recorded and announced.
pub async fn list(app: &App, session: &mut Session, c: &Citizen) -> Result<OfferList, ApiError> {
    if !app.store.offers_enabled(c.id).await? {
        return Ok(OfferList { enabled: false, offers: Vec::new() });
    }
    let rules = app.kb.rules().await?;
    let facts = facts(app, c).await?;
    let records: BTreeMap<String, OfferRecord> = app.store.offers_of(c.id).await?.into_iter().map(|o| (o.target_code.clone(), o)).collect();
    let mut offers = Vec::new();
    for rule in rules.iter() {
        let verdict = evaluate(&rule.eligibility, &rule.doc, &facts, today());
        match records.get(&rule.code) {
            Some(r) if r.status == OfferStatus::Declined => continue,
            Some(r) if matches!(r.status, OfferStatus::Accepted | OfferStatus::Granted) => {
                offers.push(view(rule, verdict, r));
                continue;
            }
            _ => {}
        }
        // Applied for already (a returned application may be offered again).
        if facts.applications.get(&rule.code).is_some_and(|s| s != "returned") {
            continue;
        }
        let Some(kind) = offer_kind(rule, &verdict) else { continue };
        let mut record = app.store.record_offer(c.id, &rule.code, &rule.name, rule.version, kind).await?;
        if kind == OfferKind::Auto && record.status == OfferStatus::Open {
            if let Some(granted) = grant(app, session, c, &facts, rule).await? {
                record = granted;
            }
        }
        offers.push(view(rule, verdict, &record));
    }
    Ok(OfferList { enabled: true, offers })
}

fn view(rule: &Rule, verdict: Verdict, r: &OfferRecord) -> OfferView {
    let state = match (r.status, r.kind) {
        (OfferStatus::Granted, _) => OfferState::Granted,
        (OfferStatus::Accepted, _) => OfferState::Accepted,
        (_, OfferKind::Possible) => OfferState::Answer,
        _ => OfferState::Confirm,
    };
    OfferView {
        code: rule.code.clone(),
        name: rule.name.clone(),
        bundle: rule.bundle,
        state,
        summary: rule.eligibility.summary.clone(),
        band: verdict.band,
        checks: verdict.checks,
        questions: verdict.questions,
        tracking_no: r.tracking_no.clone(),
    }
}

/// Apply for an `auto` rule on the citizen's behalf. `None` when another request claimed it
/// first, or the records cannot fill the form (it then waits for the citizen's tap).
async fn grant(app: &App, session: &mut Session, c: &Citizen, facts: &Facts, rule: &Rule) -> Result<Option<OfferRecord>, ApiError> {
    match app.store.move_offer(c.id, &rule.code, &[OfferStatus::Open], OfferStatus::Granted, None).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    match submit_claimed(app, session, c, facts, &rule.code, OfferStatus::Granted, "免申即享，已为您办理").await? {
        Ok((a, record)) => {
            tracing::info!(citizen = c.id, target = %rule.code, application = %a.tracking_no, "granted without application (免申即享)");
            Ok(Some(record))
        }
        Err(_) => Ok(None),
    }
}

/// With the offer claimed as `claimed` by this request: submit it pre-filled and record the
/// tracking number on the offer; when the records cannot fill the form (the form back) or the
/// submission fails, the offer is open again.
async fn submit_claimed(
    app: &App,
    session: &mut Session,
    c: &Citizen,
    facts: &Facts,
    code: &str,
    claimed: OfferStatus,
    how: &str,
) -> Result<Result<(Application, OfferRecord), FormProgress>, ApiError> {
    let claim = [claimed];
    let back_to_open = || app.store.move_offer(c.id, code, &claim, OfferStatus::Open, None);
    match submit_prefilled(app, session, c, facts, code, how).await {
        Ok(Ok(a)) => {
            let record = app.store.move_offer(c.id, code, &claim, claimed, Some(&a.tracking_no)).await?;
            Ok(Ok((a, record)))
        }
        Ok(Err(p)) => {
            back_to_open().await?;
            Ok(Err(p))
        }
        Err(e) => {
            if let Err(undo) = back_to_open().await {
                tracing::error!(citizen = c.id, target = %code, "reopening an offer after a failed submission: {undo}");
            }
            Err(e)
        }
    }
}

/// The citizen confirms offer `code` (一键确认): re-evaluated now, then submitted pre-filled,
/// or its form opened in the chat when the records leave required fields empty. 409 when the
/// citizen is not (or no longer) eligible, or the offer was decided already; 422 when questions
/// are still open.
pub async fn accept(app: &App, session: &mut Session, c: &Citizen, code: &str) -> Result<Accepted, ApiError> {
    let rules = app.kb.rules().await?;
    let rule = rules.iter().find(|r| r.code == code).ok_or_else(|| ApiError::NotFound(format!("{code} 没有免申即享规则")))?;
    let facts = facts(app, c).await?;
    let verdict = evaluate(&rule.eligibility, &rule.doc, &facts, today());
    match verdict.outcome {
        Outcome::Eligible => {}
        Outcome::NotEligible => {
            let failed: Vec<String> = verdict
                .checks
                .iter()
                .filter(|c| c.state == banshi_assistant::eligibility::State::Failed)
                .map(|c| c.label.clone())
                .collect();
            return Err(ApiError::Conflict(format!("按目前掌握的信息，您暂不符合“{}”的条件：{}", rule.name, failed.join("、"))));
        }
        Outcome::Possible => {
            let asks: Vec<String> = verdict.questions.iter().map(|q| q.question.clone()).collect();
            return Err(ApiError::BadRequest(format!("还需先确认：{}", asks.join(" "))));
        }
    }
    let kind = offer_kind(rule, &verdict).expect("eligible is offered");
    app.store.record_offer(c.id, code, &rule.name, rule.version, kind).await?;
    app.store.move_offer(c.id, code, &[OfferStatus::Open], OfferStatus::Accepted, None).await?;
    match submit_claimed(app, session, c, &facts, code, OfferStatus::Accepted, "已按您的确认提交").await? {
        Ok((a, _)) => {
            let message = format!("“{}”已提交，受理编号 {}。", a.target_name, a.tracking_no);
            Ok(Accepted { application: Some(a), form: None, message })
        }
        Err(p) => {
            let form = FormView::of(&p);
            let missing: Vec<String> = p.missing().iter().map(|f| f.label.clone()).collect();
            let message = format!("已为您预填“{}”的申请表，还需补充：{}。填好后提交即可。", rule.name, missing.join("、"));
            crate::dialogue_state::update(app, session, |s| s.form = Some(Box::new(p))).await?;
            Ok(Accepted { application: None, form: Some(form), message })
        }
    }
}

/// Submit `code`'s form filled from the citizen's records alone; the form back when a required
/// field stays empty or a value does not pass the form's checks. `how` opens the chat message.
async fn submit_prefilled(
    app: &App,
    session: &mut Session,
    c: &Citizen,
    facts: &Facts,
    code: &str,
    how: &str,
) -> Result<Result<Application, FormProgress>, ApiError> {
    let spec = app.assistant.form_spec(code).await?.ok_or_else(|| ApiError::NotFound(format!("{code} 不支持在线申请")))?;
    let mut p = FormProgress::new(spec);
    prefill(&mut p, Some(&c.profile), &facts.licences, &[], &[]);
    if !p.complete() {
        return Ok(Err(p));
    }
    let Ok(clean) = p.spec.check_submission(&p.plain_values()) else { return Ok(Err(p)) };
    let sources: BTreeMap<&String, String> = p.values.iter().map(|(k, v)| (k, v.source.label())).collect();
    let kind = match p.spec.target {
        Target::Item { .. } => "item",
        Target::Bundle { .. } => "bundle",
    };
    let new = NewApplication {
        session_id: session.id.clone(),
        citizen_id: Some(c.id),
        target_kind: kind.into(),
        target_code: p.spec.target.code().to_string(),
        target_name: p.spec.target.name().to_string(),
        values: json!(clean),
        value_sources: json!(sources),
        materials: json!(FormView::of(&p).materials),
        promised_days: p.spec.promised_days,
        proxy_id: None,
        actor: if how.starts_with("免申即享") { "免申即享".into() } else { "citizen".into() },
    };
    let a = app.store.submit(new).await?;
    let text = format!(
        "{how}：“{}”，受理编号 {}。申请表已按您的档案和电子证照填写，您可随时发送“进度查询 {}”查看办理进度。",
        a.target_name, a.tracking_no, a.tracking_no
    );
    let note = NewMessage {
        session_id: session.id.clone(),
        role: Some(Role::Assistant),
        text,
        kind: Some("submitted".into()),
        meta: json!({"application": app_view(&a)}),
        ..Default::default()
    };
    app.store.add_message(note).await?;
    let no = a.tracking_no.clone();
    crate::dialogue_state::update(app, session, move |s| s.submitted.push(no)).await?;
    Ok(Ok(a))
}

/// One rule's reach over every citizen (the operator's report).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct RuleReach {
    pub code: String,
    pub name: String,
    /// `auto` or `consent`.
    pub grant: String,
    /// Citizens for whom every condition holds now.
    pub eligible: u64,
    /// Citizens who may qualify (would be asked questions).
    pub possible: u64,
    /// Offers made so far, by what became of them.
    pub open: u64,
    pub accepted: u64,
    pub declined: u64,
    pub granted: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferReport {
    pub evaluated_on: String,
    pub citizens: u64,
    pub citizens_with_offers_off: u64,
    pub rules: Vec<RuleReach>,
}

/// Every rule evaluated for every citizen, beside the recorded offers. Reads each citizen's
/// records one by one: fine for a daily job over a city's signed-up residents, not per request.
pub async fn report(app: &App) -> Result<OfferReport, ApiError> {
    let rules = app.kb.rules().await?;
    let tallies = app.store.offer_tallies().await?;
    let mut reach: Vec<RuleReach> = rules
        .iter()
        .map(|r| {
            let t = tallies.iter().find(|t| t.target_code == r.code).cloned().unwrap_or_default();
            RuleReach {
                code: r.code.clone(),
                name: r.name.clone(),
                grant: match r.eligibility.grant {
                    Grant::Auto => "auto".into(),
                    Grant::Consent => "consent".into(),
                },
                open: t.open,
                accepted: t.accepted,
                declined: t.declined,
                granted: t.granted,
                ..Default::default()
            }
        })
        .collect();
    let ids = app.store.citizen_ids().await?;
    let mut off = 0;
    for id in &ids {
        let Some(c) = app.store.citizen(*id).await? else { continue };
        if !app.store.offers_enabled(c.id).await? {
            off += 1;
        }
        let facts = facts(app, &c).await?;
        for (rule, r) in rules.iter().zip(reach.iter_mut()) {
            match offer_kind(rule, &evaluate(&rule.eligibility, &rule.doc, &facts, today())) {
                Some(OfferKind::Possible) => r.possible += 1,
                Some(_) => r.eligible += 1,
                None => {}
            }
        }
    }
    Ok(OfferReport { evaluated_on: today().to_string(), citizens: ids.len() as u64, citizens_with_offers_off: off, rules: reach })
}
