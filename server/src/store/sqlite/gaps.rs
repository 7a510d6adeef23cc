//! Failures and gap closures in SQLite.

use async_trait::async_trait;
use sqlx::Row;

use super::{now, SqliteStore};
use crate::store::{Failure, GapClosure, Gaps, StoreError};

#[async_trait]
impl Gaps for SqliteStore {
    async fn failures(&self, since: &str, threshold: f64) -> Result<Vec<Failure>, StoreError> {
        let answers = sqlx::query(
            "SELECT a.session_id, q.text AS question, a.kind, json_extract(a.meta, '$.handoff_reason') AS reason,
                    json_extract(a.meta, '$.item.code') AS item, CAST(json_extract(a.meta, '$.confidence') AS REAL) AS confidence, a.created_at
             FROM messages a JOIN messages q ON q.id = a.reply_to
             WHERE a.role = 'assistant' AND a.created_at >= ?1
               AND (a.kind IN ('clarified', 'declined', 'handoff', 'out_of_scope')
                    OR (a.kind IN ('generated', 'extractive') AND CAST(json_extract(a.meta, '$.confidence') AS REAL) < ?2))
             ORDER BY a.id",
        )
        .bind(since)
        .bind(threshold)
        .fetch_all(&self.pool)
        .await?;
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
        let ratings = sqlx::query(
            "SELECT r.session_id, r.comment, r.created_at,
                    (SELECT text FROM messages m WHERE m.session_id = r.session_id AND m.role = 'user' ORDER BY m.id LIMIT 1) AS question,
                    (SELECT json_extract(meta, '$.item.code') FROM messages m WHERE m.session_id = r.session_id AND m.role = 'assistant'
                       AND json_extract(meta, '$.item.code') IS NOT NULL ORDER BY m.id DESC LIMIT 1) AS item
             FROM ratings r WHERE r.level <= 2 AND r.created_at >= ? ORDER BY r.id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
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
        let r = sqlx::query("INSERT INTO gap_closures (gap_key, note, actor, closed_at) VALUES (?, ?, ?, ?) RETURNING *")
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
