//! Citizens, e-licences and applications in SQLite.

use async_trait::async_trait;
use banshi_assistant::forms::prefill::{ELicence, Profile};
use rand::Rng;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{is_unique_violation, now, SqliteStore};
use crate::store::{AppStatus, Application, Applications, Citizen, NewApplication, StoreError};

fn json<T: serde::de::DeserializeOwned>(r: &SqliteRow, col: &str) -> Result<T, StoreError> {
    let s: String = r.get(col);
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn citizen(r: &SqliteRow) -> Result<Citizen, StoreError> {
    Ok(Citizen { id: r.get("id"), username: r.get("username"), display_name: r.get("display_name"), profile: json(r, "profile")? })
}

fn licence(r: &SqliteRow) -> Result<ELicence, StoreError> {
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
     materials, promised_days, status, returned_reason, submitted_at, accepted_at, updated_at, prereview";

fn application(r: &SqliteRow) -> Result<Application, StoreError> {
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
        status: AppStatus::parse(r.get("status"))?,
        returned_reason: r.get("returned_reason"),
        submitted_at: r.get("submitted_at"),
        accepted_at: r.get("accepted_at"),
        updated_at: r.get("updated_at"),
        prereview: r.get::<Option<String>, _>("prereview").map(|s| serde_json::from_str(&s)).transpose().map_err(|e| StoreError::Corrupt(format!("prereview: {e}")))?,
    })
}

fn tracking_no() -> String {
    format!("BS{}{:06}", chrono::Local::now().format("%Y%m%d"), rand::rng().random_range(0..1_000_000))
}

#[async_trait]
impl Applications for SqliteStore {
    async fn add_citizen(&self, username: &str, display_name: &str, password_hash: &str, profile: &Profile) -> Result<Citizen, StoreError> {
        let at = now();
        let r = sqlx::query(
            "INSERT INTO citizens (username, display_name, password_hash, profile, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
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
        let row = sqlx::query("SELECT id, username, display_name, profile, password_hash FROM citizens WHERE username = ?").bind(username).fetch_optional(&self.pool).await?;
        row.map(|r| Ok((citizen(&r)?, r.get("password_hash")))).transpose()
    }

    async fn citizen(&self, id: i64) -> Result<Option<Citizen>, StoreError> {
        let row = sqlx::query("SELECT id, username, display_name, profile FROM citizens WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(citizen).transpose()
    }

    async fn update_profile(&self, id: i64, profile: &Profile) -> Result<Citizen, StoreError> {
        let row = sqlx::query("UPDATE citizens SET profile = ?, updated_at = ? WHERE id = ? RETURNING id, username, display_name, profile")
            .bind(serde_json::to_string(profile).expect("maps serialise"))
            .bind(now())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        citizen(&row.ok_or_else(|| StoreError::NotFound(format!("用户 {id} 不存在")))?)
    }

    async fn set_citizen_password(&self, username: &str, password_hash: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE citizens SET password_hash = ?, updated_at = ? WHERE username = ?").bind(password_hash).bind(now()).bind(username).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("用户 {username} 不存在")));
        }
        Ok(())
    }

    async fn put_licence(&self, l: &ELicence, related: &[String]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO elicences (licence_type, number, holder_name, holder_id, related, fields, issuer, issued_on, valid_until) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        let rows = sqlx::query(
            "SELECT licence_type, number, holder_name, holder_id, fields, issuer, issued_on, valid_until FROM elicences \
             WHERE holder_id = ?1 OR EXISTS (SELECT 1 FROM json_each(elicences.related) WHERE value = ?1) ORDER BY id",
        )
        .bind(holder_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(licence).collect()
    }

    async fn submit(&self, a: NewApplication) -> Result<Application, StoreError> {
        for _ in 0..5 {
            let at = now();
            let no = tracking_no();
            let mut tx = self.pool.begin().await?;
            let r = sqlx::query(&format!(
                "INSERT INTO applications (tracking_no, session_id, citizen_id, target_kind, target_code, target_name, form_values, value_sources, \
                 materials, promised_days, status, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitted', ?, ?) RETURNING {APP_COLUMNS}"
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
            .fetch_one(&mut *tx)
            .await;
            let row = match r {
                Ok(row) => row,
                Err(e) if is_unique_violation(&e) => continue, // tracking number taken: draw again
                Err(e) => return Err(e.into()),
            };
            let app = application(&row)?;
            sqlx::query("INSERT INTO application_events (application_id, status, actor, created_at) VALUES (?, 'submitted', 'citizen', ?)")
                .bind(app.id)
                .bind(&at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(app);
        }
        Err(StoreError::Conflict("受理编号生成冲突，请重试".into()))
    }

    async fn application(&self, tracking_no: &str) -> Result<Option<Application>, StoreError> {
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE tracking_no = ?")).bind(tracking_no).fetch_optional(&self.pool).await?;
        row.as_ref().map(application).transpose()
    }

    async fn session_applications(&self, session_id: &str) -> Result<Vec<Application>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE session_id = ? ORDER BY id")).bind(session_id).fetch_all(&self.pool).await?;
        rows.iter().map(application).collect()
    }

    async fn applications(&self, status: Option<AppStatus>, limit: u32) -> Result<Vec<Application>, StoreError> {
        let rows = match status {
            Some(s) => sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE status = ? ORDER BY id DESC LIMIT ?")).bind(s.as_str()).bind(limit).fetch_all(&self.pool).await?,
            None => sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications ORDER BY id DESC LIMIT ?")).bind(limit).fetch_all(&self.pool).await?,
        };
        rows.iter().map(application).collect()
    }

    async fn set_status(&self, tracking_no: &str, to: AppStatus, note: Option<&str>, actor: &str) -> Result<Application, StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM applications WHERE tracking_no = ?")).bind(tracking_no).fetch_optional(&mut *tx).await?;
        let current = application(&row.ok_or_else(|| StoreError::NotFound(format!("受理编号 {tracking_no} 不存在")))?)?;
        if !current.status.can_become(to) {
            return Err(StoreError::Conflict(format!("申请当前为 {}，不能改为 {}", current.status.as_str(), to.as_str())));
        }
        let accepted = if to == AppStatus::Accepted { Some(at.clone()) } else { current.accepted_at.clone() };
        let reason = if to == AppStatus::Returned { note.map(str::to_string) } else { None };
        let row = sqlx::query(&format!("UPDATE applications SET status = ?, accepted_at = ?, returned_reason = ?, updated_at = ? WHERE id = ? RETURNING {APP_COLUMNS}"))
            .bind(to.as_str())
            .bind(&accepted)
            .bind(&reason)
            .bind(&at)
            .bind(current.id)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO application_events (application_id, status, actor, note, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(current.id)
            .bind(to.as_str())
            .bind(actor)
            .bind(note)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        application(&row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::tests::store;
    use crate::store::Sessions;

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
        }
    }

    #[tokio::test]
    async fn applications_get_unique_tracking_numbers_and_move_by_allowed_steps() {
        let (_d, s) = store().await;
        s.create_session("s1", "h", "web").await.unwrap();
        let a = s.submit(new_app("s1")).await.unwrap();
        let b = s.submit(new_app("s1")).await.unwrap();
        assert!(a.tracking_no.starts_with("BS") && a.tracking_no.len() == 16, "{}", a.tracking_no);
        assert_ne!(a.tracking_no, b.tracking_no);
        assert_eq!(a.status, AppStatus::Submitted);
        assert!(matches!(s.set_status(&a.tracking_no, AppStatus::Done, None, "x").await, Err(StoreError::Conflict(_))), "not done before accepted");
        let acc = s.set_status(&a.tracking_no, AppStatus::Accepted, None, "dept").await.unwrap();
        assert!(acc.accepted_at.is_some());
        let ret = s.set_status(&a.tracking_no, AppStatus::Returned, Some("照片不清晰"), "dept").await.unwrap();
        assert_eq!(ret.returned_reason.as_deref(), Some("照片不清晰"));
        assert_eq!(s.session_applications("s1").await.unwrap().len(), 2);
        assert_eq!(s.applications(Some(AppStatus::Submitted), 10).await.unwrap().len(), 1);
        assert!(s.application("BS00000000000000").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn licences_are_found_by_holder_or_by_the_people_they_name() {
        let (_d, s) = store().await;
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
}
