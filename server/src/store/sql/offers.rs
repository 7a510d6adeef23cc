//! Offers, answers and the offers switch, in SQL both backends run.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now, Params, SqlStore};
use crate::store::offers::{OfferKind, OfferRecord, OfferStatus, OfferTally, Offers};
use crate::store::StoreError;

const COLUMNS: &str = "citizen_id, target_code, target_name, rule_version, kind, status, tracking_no, created_at, updated_at";

fn record(r: &AnyRow) -> Result<OfferRecord, StoreError> {
    Ok(OfferRecord {
        citizen_id: r.get("citizen_id"),
        target_code: r.get("target_code"),
        target_name: r.get("target_name"),
        rule_version: r.get::<i64, _>("rule_version") as u32,
        kind: OfferKind::parse(r.get("kind"))?,
        status: OfferStatus::parse(r.get("status"))?,
        tracking_no: r.get("tracking_no"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    })
}

#[async_trait]
impl Offers for SqlStore {
    async fn record_offer(
        &self,
        citizen_id: i64,
        target_code: &str,
        target_name: &str,
        rule_version: u32,
        kind: OfferKind,
    ) -> Result<OfferRecord, StoreError> {
        let at = now();
        // The update only touches open offers; a decided one comes back unchanged from the select.
        sqlx::query(
            "INSERT INTO offers (citizen_id, target_code, target_name, rule_version, kind, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6, $6) \
             ON CONFLICT (citizen_id, target_code) DO UPDATE SET target_name = excluded.target_name, \
             rule_version = excluded.rule_version, kind = excluded.kind, updated_at = excluded.updated_at \
             WHERE offers.status = 'open' AND (offers.kind <> excluded.kind OR offers.rule_version <> excluded.rule_version)",
        )
        .bind(citizen_id)
        .bind(target_code)
        .bind(target_name)
        .bind(rule_version as i64)
        .bind(kind.as_str())
        .bind(&at)
        .execute(&self.pool)
        .await?;
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM offers WHERE citizen_id = $1 AND target_code = $2"))
            .bind(citizen_id)
            .bind(target_code)
            .fetch_one(&self.pool)
            .await?;
        record(&r)
    }

    async fn offers_of(&self, citizen_id: i64) -> Result<Vec<OfferRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM offers WHERE citizen_id = $1 ORDER BY target_code"))
            .bind(citizen_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn move_offer(
        &self,
        citizen_id: i64,
        target_code: &str,
        from: &[OfferStatus],
        to: OfferStatus,
        tracking_no: Option<&str>,
    ) -> Result<OfferRecord, StoreError> {
        let mut p = Params(5);
        let sql = format!(
            "UPDATE offers SET status = $1, tracking_no = COALESCE($2, tracking_no), updated_at = $3 \
             WHERE citizen_id = $4 AND target_code = $5 AND status IN ({}) RETURNING {COLUMNS}",
            p.list(from.len())
        );
        let mut q = sqlx::query(&sql).bind(to.as_str()).bind(tracking_no).bind(now()).bind(citizen_id).bind(target_code);
        for s in from {
            q = q.bind(s.as_str());
        }
        if let Some(r) = q.fetch_optional(&self.pool).await? {
            return record(&r);
        }
        let current: Option<String> = sqlx::query_scalar("SELECT status FROM offers WHERE citizen_id = $1 AND target_code = $2")
            .bind(citizen_id)
            .bind(target_code)
            .fetch_optional(&self.pool)
            .await?;
        match current {
            None => Err(StoreError::NotFound(format!("没有向您推送过 {target_code}"))),
            Some(s) => Err(StoreError::Conflict(format!("该服务已处理（{}），无需重复操作", status_zh(&s)))),
        }
    }

    async fn answers(&self, citizen_id: i64) -> Result<BTreeMap<String, String>, StoreError> {
        let rows =
            sqlx::query("SELECT key, answer FROM citizen_answers WHERE citizen_id = $1").bind(citizen_id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get("key"), r.get("answer"))).collect())
    }

    async fn set_answer(&self, citizen_id: i64, key: &str, answer: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO citizen_answers (citizen_id, key, answer, answered_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (citizen_id, key) DO UPDATE SET answer = excluded.answer, answered_at = excluded.answered_at",
        )
        .bind(citizen_id)
        .bind(key)
        .bind(answer)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn offers_enabled(&self, citizen_id: i64) -> Result<bool, StoreError> {
        let on: Option<i64> =
            sqlx::query_scalar("SELECT offers_enabled FROM citizens WHERE id = $1").bind(citizen_id).fetch_optional(&self.pool).await?;
        on.map(|v| v != 0).ok_or_else(|| StoreError::NotFound(format!("用户 {citizen_id} 不存在")))
    }

    async fn set_offers_enabled(&self, citizen_id: i64, enabled: bool) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE citizens SET offers_enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(enabled))
            .bind(now())
            .bind(citizen_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("用户 {citizen_id} 不存在")));
        }
        Ok(())
    }

    async fn citizen_ids(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM citizens ORDER BY id").fetch_all(&self.pool).await?)
    }

    async fn offer_tallies(&self) -> Result<Vec<OfferTally>, StoreError> {
        let rows = sqlx::query("SELECT target_code, status, COUNT(*) AS n FROM offers GROUP BY target_code, status ORDER BY target_code")
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<OfferTally> = Vec::new();
        for r in rows {
            let code: String = r.get("target_code");
            if out.last().is_none_or(|t| t.target_code != code) {
                out.push(OfferTally { target_code: code, ..Default::default() });
            }
            let t = out.last_mut().expect("pushed above");
            let n = r.get::<i64, _>("n") as u64;
            match OfferStatus::parse(r.get("status"))? {
                OfferStatus::Open => t.open = n,
                OfferStatus::Accepted => t.accepted = n,
                OfferStatus::Declined => t.declined = n,
                OfferStatus::Granted => t.granted = n,
            }
        }
        Ok(out)
    }
}

fn status_zh(s: &str) -> &str {
    match s {
        "accepted" => "已确认申请",
        "declined" => "已谢绝",
        "granted" => "已为您办理",
        _ => "待确认",
    }
}

#[cfg(test)]
mod tests {
    use banshi_knowledge::both_backends;
    use banshi_knowledge::testing::TestDb;

    use super::*;
    use crate::store::Applications;

    async fn store(db: &TestDb) -> SqlStore {
        SqlStore::new(db.pool().await).await.unwrap()
    }

    async fn citizen(s: &SqlStore, name: &str) -> i64 {
        s.add_citizen(name, name, "x", &Default::default()).await.unwrap().id
    }

    async fn offers_are_recorded_once_and_decided_once(db: TestDb) {
        let s = store(&db).await;
        let c = citizen(&s, "a").await;
        let o = s.record_offer(c, "SAMPLE-MZ-004", "高龄津贴申领", 1, OfferKind::Possible).await.unwrap();
        assert_eq!((o.status, o.kind), (OfferStatus::Open, OfferKind::Possible));
        let o = s.record_offer(c, "SAMPLE-MZ-004", "高龄津贴申领", 2, OfferKind::Consent).await.unwrap();
        assert_eq!((o.kind, o.rule_version), (OfferKind::Consent, 2), "an open offer follows the rule");
        let o = s.move_offer(c, "SAMPLE-MZ-004", &[OfferStatus::Open], OfferStatus::Accepted, Some("BS1")).await.unwrap();
        assert_eq!((o.status, o.tracking_no.as_deref()), (OfferStatus::Accepted, Some("BS1")));
        let again = s.move_offer(c, "SAMPLE-MZ-004", &[OfferStatus::Open], OfferStatus::Declined, None).await.unwrap_err();
        assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
        let o = s.record_offer(c, "SAMPLE-MZ-004", "高龄津贴申领", 3, OfferKind::Possible).await.unwrap();
        assert_eq!((o.status, o.kind, o.rule_version), (OfferStatus::Accepted, OfferKind::Consent, 2), "a decided offer stays");
        let none = s.move_offer(c, "NOPE", &[OfferStatus::Open], OfferStatus::Declined, None).await.unwrap_err();
        assert!(matches!(none, StoreError::NotFound(_)));
        let tallies = s.offer_tallies().await.unwrap();
        assert_eq!((tallies.len(), tallies[0].accepted, tallies[0].open), (1, 1, 0));
    }

    async fn answers_and_the_switch_are_per_citizen(db: TestDb) {
        let s = store(&db).await;
        let (a, b) = (citizen(&s, "a").await, citizen(&s, "b").await);
        s.set_answer(a, "local_hukou", "是").await.unwrap();
        s.set_answer(a, "local_hukou", "否").await.unwrap();
        assert_eq!(s.answers(a).await.unwrap().get("local_hukou").map(String::as_str), Some("否"));
        assert!(s.answers(b).await.unwrap().is_empty());
        assert!(s.offers_enabled(a).await.unwrap());
        s.set_offers_enabled(a, false).await.unwrap();
        assert!(!s.offers_enabled(a).await.unwrap() && s.offers_enabled(b).await.unwrap());
        assert_eq!(s.citizen_ids().await.unwrap(), vec![a, b]);
        assert!(s.set_answer(a, "k", "也许").await.is_err(), "the table takes only 是 / 否");
    }

    both_backends!(offers_are_recorded_once_and_decided_once, answers_and_the_switch_are_per_citizen);
}
