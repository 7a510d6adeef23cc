//! 亲友代办 grants, in SQL both backends run.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now, SqlStore};
use crate::store::proxies::{Proxies, ProxyGrant};
use crate::store::StoreError;

const SELECT: &str = "SELECT g.id, g.principal_id, p.display_name AS principal_name, g.proxy_id, x.display_name AS proxy_name, \
     g.scope, g.expires_at, g.created_at, g.revoked_at \
     FROM proxy_grants g JOIN citizens p ON p.id = g.principal_id JOIN citizens x ON x.id = g.proxy_id";

fn grant(r: &AnyRow) -> Result<ProxyGrant, StoreError> {
    let scope: String = r.get("scope");
    Ok(ProxyGrant {
        id: r.get("id"),
        principal_id: r.get("principal_id"),
        principal_name: r.get("principal_name"),
        proxy_id: r.get("proxy_id"),
        proxy_name: r.get("proxy_name"),
        scope: serde_json::from_str(&scope).map_err(|e| StoreError::Corrupt(format!("proxy scope: {e}")))?,
        expires_at: r.get("expires_at"),
        created_at: r.get("created_at"),
        revoked_at: r.get("revoked_at"),
    })
}

#[async_trait]
impl Proxies for SqlStore {
    async fn create_grant(&self, principal_id: i64, proxy_id: i64, scope: &[String], expires_at: &str) -> Result<ProxyGrant, StoreError> {
        let r = sqlx::query(
            "INSERT INTO proxy_grants (principal_id, proxy_id, scope, expires_at, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM citizens WHERE id = $1) AND EXISTS (SELECT 1 FROM citizens WHERE id = $2) \
             RETURNING id",
        )
        .bind(principal_id)
        .bind(proxy_id)
        .bind(serde_json::to_string(scope).expect("strings serialise"))
        .bind(expires_at)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let id: i64 = r.ok_or_else(|| StoreError::NotFound("委托人或代办人不存在".into()))?.get("id");
        self.grant(id).await?.ok_or_else(|| StoreError::NotFound(format!("授权 {id} 不存在")))
    }

    async fn grant(&self, id: i64) -> Result<Option<ProxyGrant>, StoreError> {
        let r = sqlx::query(&format!("{SELECT} WHERE g.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        r.as_ref().map(grant).transpose()
    }

    async fn grants_of(&self, citizen_id: i64) -> Result<Vec<ProxyGrant>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT} WHERE g.principal_id = $1 OR g.proxy_id = $1 ORDER BY g.id DESC"))
            .bind(citizen_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(grant).collect()
    }

    async fn revoke_grant(&self, id: i64, principal_id: i64) -> Result<ProxyGrant, StoreError> {
        let done = sqlx::query("UPDATE proxy_grants SET revoked_at = $1 WHERE id = $2 AND principal_id = $3 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .bind(principal_id)
            .execute(&self.pool)
            .await?;
        let g = self
            .grant(id)
            .await?
            .filter(|g| g.principal_id == principal_id)
            .ok_or_else(|| StoreError::NotFound(format!("没有编号为 {id} 的授权")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("该授权已撤销".into()));
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use banshi_knowledge::both_backends;
    use banshi_knowledge::testing::TestDb;

    use super::*;
    use crate::store::Applications;

    async fn grants_are_created_listed_and_revoked_once(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        let a = s.add_citizen("a", "王桂芳", "x", &Default::default()).await.unwrap().id;
        let b = s.add_citizen("b", "刘建国", "x", &Default::default()).await.unwrap().id;
        let g = s.create_grant(a, b, &["SAMPLE-MZ-004".into()], "2099-01-01T00:00:00.000Z").await.unwrap();
        assert_eq!((g.principal_name.as_str(), g.proxy_name.as_str(), g.scope.len()), ("王桂芳", "刘建国", 1));
        assert_eq!(s.grants_of(a).await.unwrap(), s.grants_of(b).await.unwrap(), "both sides see it");
        assert!(matches!(s.create_grant(a, 999, &[], "2099-01-01T00:00:00.000Z").await, Err(StoreError::NotFound(_))));
        assert!(s.create_grant(a, a, &[], "2099-01-01T00:00:00.000Z").await.is_err(), "not to oneself");
        assert!(matches!(s.revoke_grant(g.id, b).await, Err(StoreError::NotFound(_))), "only the principal revokes");
        let r = s.revoke_grant(g.id, a).await.unwrap();
        assert!(r.revoked_at.is_some());
        assert!(matches!(s.revoke_grant(g.id, a).await, Err(StoreError::Conflict(_))));
    }

    both_backends!(grants_are_created_listed_and_revoked_once);

    #[test]
    fn refusals_name_the_reason() {
        let g = ProxyGrant {
            id: 1,
            principal_id: 1,
            principal_name: "王桂芳".into(),
            proxy_id: 2,
            proxy_name: "刘建国".into(),
            scope: vec!["SAMPLE-MZ-004".into()],
            expires_at: "2026-12-31T00:00:00.000Z".into(),
            created_at: "2026-12-01T00:00:00.000Z".into(),
            revoked_at: None,
        };
        let now = "2026-12-06T00:00:00.000Z";
        assert_eq!(g.refusal(2, Some(("SAMPLE-MZ-004", "高龄津贴申领")), now), None);
        assert!(g.refusal(3, None, now).unwrap().contains("不是给您的"));
        assert!(g.refusal(2, Some(("SAMPLE-GA-001", "居民身份证换领")), now).unwrap().contains("不包括“居民身份证换领”"));
        assert!(g.refusal(2, None, "2027-01-01T00:00:00.000Z").unwrap().contains("到期"));
        let revoked = ProxyGrant { revoked_at: Some("2026-12-05T00:00:00.000Z".into()), ..g };
        assert!(revoked.refusal(2, None, now).unwrap().contains("撤销"));
    }
}
