//! Failures and gap closures, in SQL both backends run.

use async_trait::async_trait;
use sqlx::Row;

use super::{now, SqlStore};
use crate::store::{Failure, GapClosure, Gaps, StoreError};

#[async_trait]
impl Gaps for SqlStore {
    async fn failures(&self, since: &str, threshold: f64) -> Result<Vec<Failure>, StoreError> {
        let b = self.backend;
        let sql = format!(
            "SELECT a.session_id, q.text AS question, a.kind, {reason} AS reason, {item} AS item, {confidence} AS confidence, a.created_at
             FROM messages a JOIN messages q ON q.id = a.reply_to
             WHERE a.role = 'assistant' AND a.created_at >= $1
               AND (a.kind IN ('clarified', 'declined', 'handoff', 'out_of_scope')
                    OR (a.kind IN ('generated', 'extractive') AND {confidence} < $2))
             ORDER BY a.id",
            reason = b.json_text("a.meta", &["handoff_reason"]),
            item = b.json_text("a.meta", &["item", "code"]),
            confidence = b.json_number("a.meta", &["confidence"]),
        );
        let answers = sqlx::query(&sql).bind(since).bind(threshold).fetch_all(&self.pool).await?;
        let mut out: Vec<Failure> = answers
            .iter()
            .map(|r| {
                let kind: String = r.get("kind");
                let kind = if kind == "generated" || kind == "extractive" { "low_confidence".to_string() } else { kind };
                Failure {
                    session_id: r.get("session_id"),
                    question: r.get("question"),
                    kind,
                    detail: r.get("reason"),
                    item_code: r.get("item"),
                    at: r.get("created_at"),
                }
            })
            .collect();
        let item = b.json_text("meta", &["item", "code"]);
        let sql = format!(
            "SELECT r.session_id, r.comment, r.created_at,
                    (SELECT text FROM messages m WHERE m.session_id = r.session_id AND m.role = 'user' ORDER BY m.id LIMIT 1) AS question,
                    (SELECT {item} FROM messages m WHERE m.session_id = r.session_id AND m.role = 'assistant'
                       AND {item} IS NOT NULL ORDER BY m.id DESC LIMIT 1) AS item
             FROM ratings r WHERE r.level <= 2 AND r.created_at >= $1 ORDER BY r.id"
        );
        let ratings = sqlx::query(&sql).bind(since).fetch_all(&self.pool).await?;
        out.extend(ratings.iter().map(|r| Failure {
            session_id: r.get("session_id"),
            question: r.get::<Option<String>, _>("question").unwrap_or_default(),
            kind: "bad_rating".into(),
            detail: r.get("comment"),
            item_code: r.get("item"),
            at: r.get("created_at"),
        }));
        Ok(out)
    }

    async fn close_gap(&self, key: &str, note: &str, actor: &str) -> Result<GapClosure, StoreError> {
        let r = sqlx::query("INSERT INTO gap_closures (gap_key, note, actor, closed_at) VALUES ($1, $2, $3, $4) RETURNING *")
            .bind(key)
            .bind(note)
            .bind(actor)
            .bind(now())
            .fetch_one(&self.pool)
            .await?;
        Ok(GapClosure {
            id: r.get("id"),
            gap_key: r.get("gap_key"),
            note: r.get("note"),
            actor: r.get("actor"),
            closed_at: r.get("closed_at"),
        })
    }

    async fn gap_closures(&self) -> Result<Vec<GapClosure>, StoreError> {
        let rows = sqlx::query("SELECT * FROM gap_closures ORDER BY id").fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| GapClosure {
                id: r.get("id"),
                gap_key: r.get("gap_key"),
                note: r.get("note"),
                actor: r.get("actor"),
                closed_at: r.get("closed_at"),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use banshi_knowledge::testing::TestDb;
    use serde_json::json;

    use super::*;
    use crate::store::{NewMessage, Role, Sessions, Tickets};

    async fn ask(s: &SqlStore, session: &str, q: &str, kind: &str, meta: serde_json::Value) {
        let m = NewMessage { session_id: session.into(), text: q.into(), meta: json!({}), ..Default::default() };
        let q = s.add_message(m).await.unwrap();
        let a = NewMessage {
            session_id: session.into(),
            role: Some(Role::Assistant),
            text: "答".into(),
            kind: Some(kind.into()),
            reply_to: Some(q.id),
            meta,
            ..Default::default()
        };
        s.add_message(a).await.unwrap();
    }

    /// What counts as a failure is read from the answers' JSON meta, in each dialect's SQL.
    async fn failures_are_read_from_the_answers_meta(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h1", "web").await.unwrap();
        s.create_session("s2", "h2", "web").await.unwrap();
        ask(&s, "s1", "能转人工吗", "handoff", json!({"handoff_reason": "asked_human", "item": {"code": "G1"}})).await;
        ask(&s, "s1", "低分问题", "generated", json!({"confidence": 0.2, "item": {"code": "G2"}})).await;
        ask(&s, "s1", "高分问题", "generated", json!({"confidence": 0.9, "item": {"code": "G3"}})).await;
        ask(&s, "s2", "差评会话的问题", "extractive", json!({"confidence": 0.95, "item": {"code": "G4"}})).await;
        s.add_rating("s2", None, 1, Some("没用")).await.unwrap();
        let f = s.failures("2000-01-01T00:00:00Z", 0.5).await.unwrap();
        let got: Vec<(&str, &str, Option<&str>, Option<&str>)> =
            f.iter().map(|f| (f.question.as_str(), f.kind.as_str(), f.detail.as_deref(), f.item_code.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("能转人工吗", "handoff", Some("asked_human"), Some("G1")),
                ("低分问题", "low_confidence", None, Some("G2")),
                ("差评会话的问题", "bad_rating", Some("没用"), Some("G4")),
            ]
        );
        assert!(s.failures("2999-01-01T00:00:00Z", 0.5).await.unwrap().is_empty(), "only since the given time");
        let c = s.close_gap("G2", "补充了材料说明", "user:e").await.unwrap();
        assert_eq!(s.gap_closures().await.unwrap(), [c]);
    }

    banshi_knowledge::both_backends!(failures_are_read_from_the_answers_meta);
}
