//! Staff accounts and console log-ins, in SQL both backends run.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{is_unique_violation, now, SqlStore};
use crate::store::{StaffRole, StoreError, User, Users};

fn user(r: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: r.get("id"),
        username: r.get("username"),
        display_name: r.get("display_name"),
        role: StaffRole::parse(r.get("role"))?,
        active: r.get::<i64, _>("active") != 0,
    })
}

#[async_trait]
impl Users for SqlStore {
    async fn add_user(&self, username: &str, display_name: &str, role: StaffRole, password_hash: &str) -> Result<User, StoreError> {
        let r = sqlx::query(
            "INSERT INTO users (username, display_name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, username, display_name, role, active",
        )
        .bind(username)
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match r {
            Ok(row) => user(&row),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!("用户名 {username} 已存在"))),
            Err(e) => Err(e.into()),
        }
    }

    async fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        let row = sqlx::query("SELECT id, username, display_name, role, active, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((user(&r)?, r.get("password_hash")))).transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT id, username, display_name, role, active FROM users ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(user).collect()
    }

    async fn create_staff_session(&self, token_hash: &str, user_id: i64, expires_at: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO staff_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn staff_session(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.role, u.active FROM staff_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user).transpose()
    }

    async fn delete_staff_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use banshi_knowledge::testing::TestDb;

    async fn users_and_logins(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        let u = s.add_user("zhang", "张三", StaffRole::Agent, "$argon2id$fake").await.unwrap();
        assert!(matches!(s.add_user("zhang", "x", StaffRole::Admin, "h").await, Err(StoreError::Conflict(_))));
        let (found, hash) = s.user_credentials("zhang").await.unwrap().unwrap();
        assert_eq!((found.id, hash.as_str()), (u.id, "$argon2id$fake"));
        s.create_staff_session("t1", u.id, "2999-01-01T00:00:00.000Z").await.unwrap();
        s.create_staff_session("old", u.id, "2000-01-01T00:00:00.000Z").await.unwrap();
        assert_eq!(s.staff_session("t1").await.unwrap().unwrap().username, "zhang");
        assert!(s.staff_session("old").await.unwrap().is_none(), "expired log-ins do not count");
        s.delete_staff_session("t1").await.unwrap();
        assert!(s.staff_session("t1").await.unwrap().is_none());
        assert_eq!(s.users().await.unwrap().len(), 1);
    }

    banshi_knowledge::both_backends!(users_and_logins);
}
