//! Citizens, e-licences and applications, in SQL both backends run.

use async_trait::async_trait;
use banshi_assistant::forms::prefill::{ELicence, Profile};
use rand::Rng;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{is_unique_violation, now, Params, SqlStore};
use crate::store::{AppEvent, AppStatus, Application, Applications, Citizen, NewApplication, StoreError};

fn json<T: serde::de::DeserializeOwned>(r: &AnyRow, col: &str) -> Result<T, StoreError> {
    let s: String = r.get(col);
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn citizen(r: &AnyRow) -> Result<Citizen, StoreError> {
    Ok(Citizen { id: r.get("id"), username: r.get("username"), display_name: r.get("display_name"), profile: json(r, "profile")? })
}

fn licence(r: &AnyRow) -> Result<ELicence, StoreError> {
    Ok(ELicence {
        licence_type: r.get("licence_type"),
        number: r.get("number"),
        holder_name: r.get("holder_name"),
        holder_id: r.get("holder_id"),
        fields: json(r, "fields")?,
        issuer: r.get("issuer"),
        issued_on: r.get("issued_on"),
        valid_until: r.get("valid_until"),
    })
}

const APP_COLUMNS: &str = "id, tracking_no, session_id, citizen_id, target_kind, target_code, target_name, form_values, value_sources, \
     materials, promised_days, status, returned_reason, submitted_at, accepted_at, updated_at, prereview, proxy_id";

fn application(r: &AnyRow) -> Result<Application, StoreError> {
    let status = AppStatus::parse(r.get("status"))?;
    Ok(Application {
        id: r.get("id"),
        tracking_no: r.get("tracking_no"),
        session_id: r.get("session_id"),
        citizen_id: r.get("citizen_id"),
        target_kind: r.get("target_kind"),
        target_code: r.get("target_code"),
        target_name: r.get("target_name"),
        values: json(r, "form_values")?,
        value_sources: json(r, "value_sources")?,
        materials: json(r, "materials")?,
        promised_days: r.get::<Option<i64>, _>("promised_days").map(|d| d as u32),
        status,
        returned_reason: r.get("returned_reason"),
        submitted_at: r.get("submitted_at"),
        accepted_at: r.get("accepted_at"),
        updated_at: r.get("updated_at"),
        prereview: r
            .get::<Option<String>, _>("prereview")
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("prereview: {e}")))?,
        next: status.next().to_vec(),
        proxy_id: r.get("proxy_id"),
    })
}

fn tracking_no() -> String {
    format!("BS{}{:06}", chrono::Local::now().format("%Y%m%d"), rand::rng().random_range(0..1_000_000))
}

#[async_trait]
impl Applications for SqlStore {
    async fn add_citizen(&self, username: &str, display_name: &str, password_hash: &str, profile: &Profile) -> Result<Citizen, StoreError> {
        let at = now();
        let r = sqlx::query(
            "INSERT INTO citizens (username, display_name, password_hash, profile, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, username, display_name, profile",
        )
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .bind(serde_json::to_string(profile).expect("maps serialise"))
        .bind(&at)
        .bind(&at)
        .fetch_one(&self.pool)
        .await;
        match r {
            Ok(row) => citizen(&row),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!("用户名 {username} 已存在"))),
            Err(e) => Err(e.into()),
        }
    }

    async fn citizen_credentials(&self, username: &str) -> Result<Option<(Citizen, String)>, StoreError> {
        let row = sqlx::query("SELECT id, username, display_name, profile, password_hash FROM citizens WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((citizen(&r)?, r.get("password_hash")))).transpose()
    }

    async fn citizen(&self, id: i64) -> Result<Option<Citizen>, StoreError> {
        let row = sqlx::query("SELECT id, username, display_name, profile FROM citizens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(citizen).transpose()
    }

    async fn update_profile(&self, id: i64, profile: &Profile) -> Result<Citizen, StoreError> {
        let row =
            sqlx::query("UPDATE citizens SET profile = $1, updated_at = $2 WHERE id = $3 RETURNING id, username, display_name, profile")
                .bind(serde_json::to_string(profile).expect("maps serialise"))
                .bind(now())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        citizen(&row.ok_or_else(|| StoreError::NotFound(format!("用户 {id} 不存在")))?)
    }

    async fn set_citizen_password(&self, username: &str, password_hash: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE citizens SET password_hash = $1, updated_at = $2 WHERE username = $3")
            .bind(password_hash)
            .bind(now())
            .bind(username)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("用户 {username} 不存在")));
        }
        Ok(())
    }

    async fn put_licence(&self, l: &ELicence, related: &[String]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO elicences (licence_type, number, holder_name, holder_id, related, fields, issuer, issued_on, valid_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT(licence_type, number) DO UPDATE SET holder_name = excluded.holder_name, holder_id = excluded.holder_id, \
               related = excluded.related, fields = excluded.fields, issuer = excluded.issuer, issued_on = excluded.issued_on, \
               valid_until = excluded.valid_until",
        )
        .bind(&l.licence_type)
        .bind(&l.number)
        .bind(&l.holder_name)
        .bind(&l.holder_id)
        .bind(serde_json::to_string(related).expect("lists serialise"))
        .bind(serde_json::to_string(&l.fields).expect("maps serialise"))
        .bind(&l.issuer)
        .bind(&l.issued_on)
        .bind(&l.valid_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn licences(&self, holder_id: &str) -> Result<Vec<ELicence>, StoreError> {
        let sql = format!(
            "SELECT licence_type, number, holder_name, holder_id, fields, issuer, issued_on, valid_until FROM elicences \
             WHERE holder_id = $1 OR {} ORDER BY id",
            self.backend.json_array_has("elicences.related", "$1")
        );
        let rows = sqlx::query(&sql).bind(holder_id).fetch_all(&self.pool).await?;
        rows.iter().map(licence).collect()
    }

    async fn submit(&self, a: NewApplication) -> Result<Application, StoreError> {
        for _ in 0..5 {
            let at = now();
            let no = tracking_no();
            let mut tx = self.pool.begin().await?;
            let r = sqlx::query(&format!(
                "INSERT INTO applications (tracking_no, session_id, citizen_id, target_kind, target_code, target_name, form_values, value_sources, \
                 materials, promised_days, status, submitted_at, updated_at, proxy_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'submitted', $11, $12, $13) RETURNING {APP_COLUMNS}"
            ))
            .bind(&no)
            .bind(&a.session_id)
            .bind(a.citizen_id)
            .bind(&a.target_kind)
            .bind(&a.target_code)
            .bind(&a.target_name)
            .bind(a.values.to_string())
            .bind(a.value_sources.to_string())
            .bind(a.materials.to_string())
            .bind(a.promised_days.map(i64::from))
            .bind(&at)
            .bind(&at)
            .bind(a.proxy_id)
            .fetch_one(&mut *tx)
            .await;
            let row = match r {
                Ok(row) => row,
                Err(e) if is_unique_violation(&e) => continue, // tracking number taken: draw again
                Err(e) => return Err(e.into()),
            };
            let app = application(&row)?;
            sqlx::query("INSERT INTO application_events (application_id, status, actor, created_at) VALUES ($1, 'submitted', $2, $3)")
                .bind(app.id)
                .bind(&a.actor)
                .bind(&at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(app);
        }
        Err(StoreError::Conflict("受理编号生成冲突，请重试".into()))
    }

    async fn application(&self, tracking_no: &str) -> Result<Option<Application>, StoreError> {
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE tracking_no = $1"))
            .bind(tracking_no)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(application).transpose()
    }

    async fn session_applications(&self, session_id: &str) -> Result<Vec<Application>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE session_id = $1 ORDER BY id"))
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(application).collect()
    }

    async fn citizen_applications(&self, citizen_id: i64) -> Result<Vec<Application>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE citizen_id = $1 ORDER BY id DESC LIMIT 50"))
            .bind(citizen_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(application).collect()
    }

    async fn applications(&self, status: Option<AppStatus>, limit: u32) -> Result<Vec<Application>, StoreError> {
        let rows = match status {
            Some(s) => {
                sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE status = $1 ORDER BY id DESC LIMIT $2"))
                    .bind(s.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications ORDER BY id DESC LIMIT $1"))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(application).collect()
    }

    async fn set_status(&self, tracking_no: &str, to: AppStatus, note: Option<&str>, actor: &str) -> Result<Application, StoreError> {
        let from = to.predecessors();
        let at = now();
        let mut tx = self.pool.begin().await?;
        // The one statement that decides: the row moves only if its status, when SQLite writes
        // it, is one that `to` may follow. No read before it, so no race: of two staff moving the
        // same application, the second finds its status already changed and updates nothing.
        // Its write lock is held until commit, so the reads below see the state it wrote over.
        let row = if from.is_empty() {
            None
        } else {
            let allowed = Params(5).list(from.len());
            let sql = format!(
                "UPDATE applications SET status = $1, accepted_at = COALESCE($2, accepted_at), returned_reason = $3, updated_at = $4 \
                 WHERE tracking_no = $5 AND status IN ({allowed}) RETURNING {APP_COLUMNS}"
            );
            let mut q = sqlx::query(&sql)
                .bind(to.as_str())
                .bind((to == AppStatus::Accepted).then_some(&at))
                .bind(if to == AppStatus::Returned { note } else { None })
                .bind(&at)
                .bind(tracking_no);
            for s in &from {
                q = q.bind(s.as_str());
            }
            q.fetch_optional(&mut *tx).await?
        };
        let Some(row) = row else {
            let current: Option<String> = sqlx::query_scalar("SELECT status FROM applications WHERE tracking_no = $1")
                .bind(tracking_no)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match current {
                None => StoreError::NotFound(format!("受理编号 {tracking_no} 不存在")),
                Some(c) => StoreError::Conflict(AppStatus::parse(&c)?.refusal(to)),
            });
        };
        let app = application(&row)?;
        // Every status an application has had is an event, so the latest one is the status the
        // update replaced.
        let before: Option<String> =
            sqlx::query_scalar("SELECT status FROM application_events WHERE application_id = $1 ORDER BY id DESC LIMIT 1")
                .bind(app.id)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("INSERT INTO application_events (application_id, status, actor, note, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(app.id)
            .bind(to.as_str())
            .bind(actor)
            .bind(note)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        // The audit entry holds the step, not the application: its values are personal data, and
        // the log can never be pruned.
        sqlx::query(
            "INSERT INTO audit_log (actor, action, entity, entity_id, before, after, at) VALUES ($1, $2, 'application', $3, $4, $5, $6)",
        )
        .bind(actor)
        .bind(format!("application.{}", to.as_str()))
        .bind(tracking_no)
        .bind(before.map(|b| serde_json::json!({"status": b}).to_string()))
        .bind(serde_json::json!({"status": to.as_str(), "note": note}).to_string())
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(app)
    }

    async fn application_history(&self, tracking_no: &str) -> Result<Vec<AppEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id AS app, e.status, e.actor, e.note, e.created_at FROM applications a \
             LEFT JOIN application_events e ON e.application_id = a.id WHERE a.tracking_no = $1 ORDER BY e.id",
        )
        .bind(tracking_no)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(format!("受理编号 {tracking_no} 不存在")));
        }
        rows.iter()
            .filter(|r| r.get::<Option<String>, _>("status").is_some())
            .map(|r| {
                Ok(AppEvent {
                    status: AppStatus::parse(r.get("status"))?,
                    actor: r.get("actor"),
                    note: r.get("note"),
                    created_at: r.get("created_at"),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sessions;
    use banshi_knowledge::testing::TestDb;

    fn new_app(session: &str) -> NewApplication {
        NewApplication {
            session_id: session.into(),
            citizen_id: None,
            target_kind: "bundle".into(),
            target_code: "BUNDLE-XSECS".into(),
            target_name: "新生儿出生一件事".into(),
            values: serde_json::json!({"child_name": "王小明"}),
            value_sources: serde_json::json!({}),
            materials: serde_json::json!([]),
            promised_days: Some(5),
            proxy_id: None,
            actor: "citizen".into(),
        }
    }

    async fn applications_get_unique_tracking_numbers_and_move_by_allowed_steps(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h", "web").await.unwrap();
        let a = s.submit(new_app("s1")).await.unwrap();
        let b = s.submit(new_app("s1")).await.unwrap();
        assert!(a.tracking_no.starts_with("BS") && a.tracking_no.len() == 16, "{}", a.tracking_no);
        assert_ne!(a.tracking_no, b.tracking_no);
        assert_eq!(a.status, AppStatus::Submitted);
        assert!(
            matches!(s.set_status(&a.tracking_no, AppStatus::Done, None, "x").await, Err(StoreError::Conflict(_))),
            "not done before accepted"
        );
        let acc = s.set_status(&a.tracking_no, AppStatus::Accepted, None, "dept").await.unwrap();
        assert!(acc.accepted_at.is_some());
        let ret = s.set_status(&a.tracking_no, AppStatus::Returned, Some("照片不清晰"), "dept").await.unwrap();
        assert_eq!(ret.returned_reason.as_deref(), Some("照片不清晰"));
        assert_eq!(s.session_applications("s1").await.unwrap().len(), 2);
        assert_eq!(s.applications(Some(AppStatus::Submitted), 10).await.unwrap().len(), 1);
        assert!(s.application("BS00000000000000").await.unwrap().is_none());
    }

    /// Submit an application and walk it by allowed steps to `status`; its tracking number.
    async fn at_status(s: &SqlStore, status: AppStatus) -> String {
        use AppStatus::*;
        let no = s.submit(new_app("s1")).await.unwrap().tracking_no;
        let path: &[AppStatus] = match status {
            Submitted => &[],
            Accepted => &[Accepted],
            InReview => &[Accepted, InReview],
            Done => &[Accepted, InReview, Done],
            Returned => &[Returned],
        };
        for step in path {
            s.set_status(&no, *step, Some("材料不全"), "user:setup").await.unwrap();
        }
        no
    }

    async fn every_step_is_allowed_or_refused_as_the_state_machine_says(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        use crate::store::Audit;
        use AppStatus::*;
        // Written out, not derived from `next()`, so a wrong table fails here.
        let allowed = [
            (Submitted, Accepted),
            (Submitted, Returned),
            (Accepted, InReview),
            (Accepted, Returned),
            (InReview, Done),
            (InReview, Returned),
        ];
        s.create_session("s1", "h", "web").await.unwrap();
        for from in AppStatus::ALL {
            for to in AppStatus::ALL {
                let no = at_status(&s, from).await;
                let events_before = s.application_history(&no).await.unwrap();
                let audit_before = s.audit_entries(Some("application"), Some(&no), 50).await.unwrap();
                assert_eq!(events_before.last().unwrap().status, from);
                let r = s.set_status(&no, to, Some("照片不清晰"), "user:zhou").await;
                let now = s.application(&no).await.unwrap().unwrap();
                if allowed.contains(&(from, to)) {
                    let a = r.unwrap_or_else(|e| panic!("{from:?} → {to:?} refused: {e}"));
                    assert_eq!((a.status, now.status), (to, to), "{from:?} → {to:?}");
                    assert_eq!(a.next, to.next(), "the allowed next steps come with it");
                    assert_eq!(a.accepted_at.is_some(), from != Submitted || to == Accepted, "{from:?} → {to:?}: accepted_at");
                    assert_eq!(a.returned_reason.as_deref(), (to == Returned).then_some("照片不清晰"));
                    let events = s.application_history(&no).await.unwrap();
                    assert_eq!(events.len(), events_before.len() + 1);
                    let last = events.last().unwrap();
                    assert_eq!((last.status, last.actor.as_str(), last.note.as_deref()), (to, "user:zhou", Some("照片不清晰")));
                    let audit = s.audit_entries(Some("application"), Some(&no), 50).await.unwrap();
                    assert_eq!(audit.len(), audit_before.len() + 1);
                    let e = &audit[0];
                    assert_eq!((e.actor.as_str(), e.action.as_str()), ("user:zhou", format!("application.{}", to.as_str()).as_str()));
                    assert_eq!(
                        (e.before.as_ref().unwrap()["status"].as_str(), e.after.as_ref().unwrap()["status"].as_str()),
                        (Some(from.as_str()), Some(to.as_str()))
                    );
                    assert!(e.after.as_ref().unwrap().get("values").is_none(), "no personal data in the audit log");
                } else {
                    let Err(StoreError::Conflict(m)) = r else { panic!("{from:?} → {to:?} must be refused: {r:?}") };
                    assert!(m.contains(&format!("“{}”", from.label_zh())), "names the current status: {m}");
                    for next in from.next() {
                        assert!(m.contains(next.step_zh()) && m.contains(next.as_str()), "names the allowed step {next:?}: {m}");
                    }
                    assert_eq!(now.status, from, "nothing changed");
                    assert_eq!(s.application_history(&no).await.unwrap(), events_before, "no event for a refused step");
                    assert_eq!(
                        s.audit_entries(Some("application"), Some(&no), 50).await.unwrap(),
                        audit_before,
                        "no audit entry for a refused step"
                    );
                }
            }
        }
        assert!(matches!(s.set_status("BS00000000000000", Accepted, None, "user:zhou").await, Err(StoreError::NotFound(_))));
        assert!(matches!(s.application_history("BS00000000000000").await, Err(StoreError::NotFound(_))));
    }

    async fn of_two_racing_steps_exactly_one_goes_through(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h", "web").await.unwrap();
        for _ in 0..5 {
            // Two agents accept the same application at once.
            let no = at_status(&s, AppStatus::Submitted).await;
            let (a, b) = tokio::join!(
                s.set_status(&no, AppStatus::Accepted, None, "user:a"),
                s.set_status(&no, AppStatus::Accepted, None, "user:b")
            );
            assert_eq!([&a, &b].iter().filter(|r| r.is_ok()).count(), 1, "{a:?} {b:?}");
            let refused = if a.is_err() { a } else { b };
            assert!(matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("已是“已受理”")), "{refused:?}");
            // One finishes the review while another returns it.
            s.set_status(&no, AppStatus::InReview, None, "user:a").await.unwrap();
            let (done, ret) = tokio::join!(
                s.set_status(&no, AppStatus::Done, None, "user:a"),
                s.set_status(&no, AppStatus::Returned, Some("缺材料"), "user:b")
            );
            assert!(done.is_ok() != ret.is_ok(), "{done:?} {ret:?}");
            let history: Vec<AppStatus> = s.application_history(&no).await.unwrap().iter().map(|e| e.status).collect();
            assert_eq!(history.len(), 4, "{history:?}");
            assert_eq!(s.application(&no).await.unwrap().unwrap().status, *history.last().unwrap());
        }
    }

    #[test]
    fn refusals_name_the_current_status_and_the_steps_allowed() {
        assert_eq!(
            AppStatus::Accepted.refusal(AppStatus::Done),
            "申请当前为“已受理”，不能办结（改为“已办结”）。当前可以：转入审核（in_review）、退回（returned）。"
        );
        assert!(AppStatus::Done.refusal(AppStatus::Returned).contains("已是最终状态"));
        assert!(AppStatus::Returned.refusal(AppStatus::Accepted).contains("重新提交"));
        assert_eq!(AppStatus::Returned.predecessors(), [AppStatus::Submitted, AppStatus::Accepted, AppStatus::InReview]);
        assert!(AppStatus::Submitted.predecessors().is_empty());
    }

    async fn licences_are_found_by_holder_or_by_the_people_they_name(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        let l = ELicence {
            licence_type: "出生医学证明".into(),
            number: "P440100001".into(),
            holder_name: "王小明".into(),
            holder_id: "".into(),
            fields: [("母亲姓名".to_string(), "张丽".to_string())].into(),
            issuer: "示例市妇幼保健院".into(),
            issued_on: Some("2026-11-20".into()),
            valid_until: None,
        };
        s.put_licence(&l, &["MOTHER-ID".to_string()]).await.unwrap();
        s.put_licence(&l, &["MOTHER-ID".to_string()]).await.unwrap();
        assert_eq!(s.licences("MOTHER-ID").await.unwrap().len(), 1, "same type and number: replaced, not duplicated");
        assert!(s.licences("SOMEONE-ELSE").await.unwrap().is_empty());
        let c = s.add_citizen("zhangli", "张丽", "h", &[("name".to_string(), "张丽".to_string())].into()).await.unwrap();
        let updated = s.update_profile(c.id, &[("phone".to_string(), "13800000000".to_string())].into()).await.unwrap();
        assert_eq!(updated.profile["phone"], "13800000000");
        assert!(matches!(s.add_citizen("zhangli", "x", "h", &Profile::new()).await, Err(StoreError::Conflict(_))));
    }

    banshi_knowledge::both_backends!(
        applications_get_unique_tracking_numbers_and_move_by_allowed_steps,
        every_step_is_allowed_or_refused_as_the_state_machine_says,
        of_two_racing_steps_exactly_one_goes_through,
        licences_are_found_by_holder_or_by_the_people_they_name
    );
}
