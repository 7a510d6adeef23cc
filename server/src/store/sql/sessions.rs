//! Citizens' sessions and messages, in SQL both backends run.

use async_trait::async_trait;
use banshi_assistant::DialogueState;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now, SqlStore};
use crate::store::{Message, NewMessage, Role, Session, Sessions, StoreError};

pub(super) fn message(r: &AnyRow) -> Result<Message, StoreError> {
    let meta: String = r.get("meta");
    Ok(Message {
        id: r.get("id"),
        role: Role::parse(r.get::<&str, _>("role"))?,
        text: r.get("text"),
        kind: r.get("kind"),
        status: r.get("status"),
        client_id: r.get("client_id"),
        reply_to: r.get("reply_to"),
        meta: serde_json::from_str(&meta).map_err(|e| StoreError::Corrupt(format!("message meta: {e}")))?,
        created_at: r.get("created_at"),
    })
}

pub(super) const MESSAGE_COLUMNS: &str = "id, role, text, kind, status, client_id, reply_to, meta, created_at";

#[async_trait]
impl Sessions for SqlStore {
    async fn create_session(&self, id: &str, token_hash: &str, channel: &str) -> Result<Session, StoreError> {
        let at = now();
        sqlx::query("INSERT INTO sessions (id, token_hash, channel, state, created_at, updated_at) VALUES ($1, $2, $3, '{}', $4, $5)")
            .bind(id)
            .bind(token_hash)
            .bind(channel)
            .bind(&at)
            .bind(&at)
            .execute(&self.pool)
            .await?;
        Ok(Session {
            id: id.into(),
            token_hash: token_hash.into(),
            channel: channel.into(),
            state: DialogueState::default(),
            version: 0,
            seen_at: None,
            created_at: at,
        })
    }

    async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT id, token_hash, channel, state, version, seen_at, created_at FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let state: String = r.get("state");
            Ok(Session {
                id: r.get("id"),
                token_hash: r.get("token_hash"),
                channel: r.get("channel"),
                // A state from an older version that no longer parses starts the dialogue afresh.
                state: serde_json::from_str(&state).unwrap_or_default(),
                version: r.get("version"),
                seen_at: r.get("seen_at"),
                created_at: r.get("created_at"),
            })
        })
        .transpose()
    }

    async fn is_citizen_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE token_hash = $1").bind(token_hash).fetch_one(&self.pool).await?;
        Ok(n > 0)
    }

    async fn save_state(&self, session_id: &str, state: &DialogueState, read_version: i64) -> Result<i64, StoreError> {
        let json = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let saved: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET state = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND version = $4 RETURNING version",
        )
        .bind(json)
        .bind(now())
        .bind(session_id)
        .bind(read_version)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(v) = saved {
            return Ok(v);
        }
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM sessions WHERE id = $1").bind(session_id).fetch_optional(&self.pool).await?;
        Err(match current {
            None => StoreError::NotFound(format!("会话 {session_id} 不存在")),
            Some(v) => StoreError::Conflict(format!("会话状态已被另一请求更新（读取时第 {read_version} 版，现为第 {v} 版），请重试")),
        })
    }

    async fn touch_session(&self, session_id: &str, at: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET seen_at = $1 WHERE id = $2").bind(at).bind(session_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn add_message(&self, m: NewMessage) -> Result<Message, StoreError> {
        let role = m.role.unwrap_or(Role::User);
        let sql = format!(
            "INSERT INTO messages (session_id, role, text, kind, status, client_id, reply_to, meta, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {MESSAGE_COLUMNS}"
        );
        let at = now();
        let mut tx = self.pool.begin().await?;
        // The session's row lock first: messages of one session are numbered and committed in
        // the same order, even when two replicas add them at once, so a stream that has seen
        // message n has seen every message of the session before n.
        sqlx::query("UPDATE sessions SET updated_at = $1 WHERE id = $2").bind(&at).bind(&m.session_id).execute(&mut *tx).await?;
        let row = sqlx::query(&sql)
            .bind(&m.session_id)
            .bind(role.as_str())
            .bind(&m.text)
            .bind(&m.kind)
            .bind(if m.interrupted { "interrupted" } else { "complete" })
            .bind(&m.client_id)
            .bind(m.reply_to)
            .bind(m.meta.to_string())
            .bind(&at)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        message(&row)
    }

    async fn message_by_client_id(&self, session_id: &str, client_id: &str) -> Result<Option<Message>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 AND client_id = $2");
        let row = sqlx::query(&sql).bind(session_id).bind(client_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(message).transpose()
    }

    async fn reply_to(&self, session_id: &str, id: i64) -> Result<Option<Message>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 AND reply_to = $2 ORDER BY id DESC LIMIT 1");
        let row = sqlx::query(&sql).bind(session_id).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(message).transpose()
    }

    async fn messages(&self, session_id: &str, after: i64, limit: u32) -> Result<Vec<Message>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3");
        let rows = sqlx::query(&sql).bind(session_id).bind(after).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(message).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use banshi_knowledge::testing::TestDb;

    async fn messages_round_trip_in_order_and_client_ids_are_unique(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h", "web").await.unwrap();
        let q = s
            .add_message(NewMessage {
                session_id: "s1".into(),
                text: "问".into(),
                client_id: Some("c1".into()),
                meta: serde_json::json!({}),
                ..Default::default()
            })
            .await
            .unwrap();
        let a = NewMessage {
            session_id: "s1".into(),
            role: Some(Role::Assistant),
            text: "答".into(),
            reply_to: Some(q.id),
            meta: serde_json::json!({"k": 1}),
            ..Default::default()
        };
        s.add_message(a).await.unwrap();
        let all = s.messages("s1", 0, 10).await.unwrap();
        assert_eq!(all.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["问", "答"]);
        assert_eq!(all[1].meta["k"], 1);
        assert_eq!(s.reply_to("s1", q.id).await.unwrap().unwrap().text, "答");
        assert_eq!(s.message_by_client_id("s1", "c1").await.unwrap().unwrap().id, q.id);
        let dup = NewMessage {
            session_id: "s1".into(),
            text: "again".into(),
            client_id: Some("c1".into()),
            meta: serde_json::json!({}),
            ..Default::default()
        };
        assert!(s.add_message(dup).await.is_err());
        assert_eq!(s.messages("s1", q.id, 10).await.unwrap().len(), 1);
    }

    async fn state_persists(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h", "web").await.unwrap();
        let st = DialogueState { low_confidence: 1, ..DialogueState::default() };
        assert_eq!(s.save_state("s1", &st, 0).await.unwrap(), 1);
        let read = s.session("s1").await.unwrap().unwrap();
        assert_eq!((read.state.low_confidence, read.version), (1, 1));
        let stale = DialogueState { low_confidence: 2, ..DialogueState::default() };
        assert!(matches!(s.save_state("s1", &stale, 0).await, Err(StoreError::Conflict(_))), "a write over a stale read is refused");
        assert_eq!(s.session("s1").await.unwrap().unwrap().state.low_confidence, 1, "and changes nothing");
        assert!(matches!(s.save_state("nope", &st, 0).await, Err(StoreError::NotFound(_))));
        s.touch_session("s1", "2026-12-05T10:00:00.000Z").await.unwrap();
        let read = s.session("s1").await.unwrap().unwrap();
        assert_eq!((read.seen_at.as_deref(), read.version), (Some("2026-12-05T10:00:00.000Z"), 1), "a touch is not a state change");
        assert!(s.session("nope").await.unwrap().is_none());
    }

    banshi_knowledge::both_backends!(messages_round_trip_in_order_and_client_ids_are_unique, state_persists);
}
