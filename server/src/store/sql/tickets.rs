//! Tickets, their events, ratings and knowledge drafts, in SQL both backends run.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{is_unique_violation, now, Params, SqlStore};
use crate::store::{
    KnowledgeDraft, NewTicket, Rating, RatingStats, StoreError, Ticket, TicketEvent, TicketFilter, TicketKind, TicketStatus, Tickets,
};

const TICKET_SELECT: &str = "SELECT t.id, t.session_id, t.kind, t.parent_id, t.status, t.reason, t.appeal_type, t.domain, t.department, \
     t.item_code, t.priority, t.summary, t.assignee_id, u.display_name AS assignee_name, t.resolution_note, t.reopened, \
     t.created_at, t.assigned_at, t.resolved_at, t.updated_at FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id";

fn ticket(r: &AnyRow) -> Result<Ticket, StoreError> {
    let summary: String = r.get("summary");
    Ok(Ticket {
        id: r.get("id"),
        session_id: r.get("session_id"),
        kind: TicketKind::parse(r.get("kind"))?,
        parent_id: r.get("parent_id"),
        status: TicketStatus::parse(r.get("status"))?,
        reason: r.get("reason"),
        appeal_type: r.get("appeal_type"),
        domain: r.get("domain"),
        department: r.get("department"),
        item_code: r.get("item_code"),
        priority: r.get("priority"),
        summary: serde_json::from_str(&summary).map_err(|e| StoreError::Corrupt(format!("ticket summary: {e}")))?,
        assignee_id: r.get("assignee_id"),
        assignee_name: r.get("assignee_name"),
        resolution_note: r.get("resolution_note"),
        reopened: r.get("reopened"),
        created_at: r.get("created_at"),
        assigned_at: r.get("assigned_at"),
        resolved_at: r.get("resolved_at"),
        updated_at: r.get("updated_at"),
    })
}

async fn event(
    tx: &mut Transaction<'_, Any>,
    ticket_id: i64,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ticket_events (ticket_id, actor, action, detail, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(ticket_id)
        .bind(actor)
        .bind(action)
        .bind(detail.to_string())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn fetch(tx: &mut Transaction<'_, Any>, id: i64) -> Result<Ticket, StoreError> {
    let row = sqlx::query(&format!("{TICKET_SELECT} WHERE t.id = $1")).bind(id).fetch_optional(&mut **tx).await?;
    ticket(&row.ok_or_else(|| StoreError::NotFound(format!("工单 {id} 不存在")))?)
}

/// A value bound into a transition's SQL.
enum Bind {
    Int(i64),
    Text(String),
}

/// One ticket state change: `sql` (an `UPDATE … WHERE … id = $N`, bound to the time, then `binds`,
/// then the id) applies only while the ticket is in one of `from`; `action` and `detail` are
/// recorded as its event.
struct Step<'a> {
    from: &'a [TicketStatus],
    sql: &'a str,
    binds: &'a [Bind],
    action: &'a str,
    detail: serde_json::Value,
}

impl SqlStore {
    /// Apply `step` if the ticket is still in one of its `from` states. The state is checked by
    /// the UPDATE itself (`AND status IN …`), not read first, so of two agents claiming the same
    /// ticket at once exactly one wins; `Conflict` names the state the loser found.
    async fn transition(&self, id: i64, step: Step<'_>, actor: &str) -> Result<Ticket, StoreError> {
        let at = now();
        let states: Vec<String> = step.from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!("{} AND status IN ({})", step.sql, states.join(", "));
        let mut tx = self.pool.begin().await?;
        let mut q = sqlx::query(&sql).bind(&at);
        for b in step.binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(t) => q.bind(t.as_str()),
            };
        }
        if q.bind(id).execute(&mut *tx).await?.rows_affected() == 0 {
            let current = fetch(&mut tx, id).await?;
            return Err(StoreError::Conflict(format!(
                "工单 {id} 当前状态为 {}，不能{}",
                status_zh(current.status),
                action_zh(step.action)
            )));
        }
        event(&mut tx, id, actor, step.action, step.detail, &at).await?;
        let t = fetch(&mut tx, id).await?;
        tx.commit().await?;
        Ok(t)
    }
}

fn status_zh(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Pending => "待接单",
        TicketStatus::Assigned => "处理中",
        TicketStatus::Resolved => "已办结",
    }
}

fn action_zh(a: &str) -> &'static str {
    match a {
        "claimed" => "接单",
        "released" => "退回队列",
        "resolved" => "办结",
        "reopened" => "重新打开",
        _ => "操作",
    }
}

#[async_trait]
impl Tickets for SqlStore {
    async fn create_ticket(&self, t: NewTicket, actor: &str) -> Result<Ticket, StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tickets (session_id, kind, parent_id, status, reason, appeal_type, domain, department, item_code, priority, summary, created_at, updated_at) \
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&t.session_id)
        .bind(t.kind.as_str())
        .bind(t.parent_id)
        .bind(&t.reason)
        .bind(&t.appeal_type)
        .bind(&t.domain)
        .bind(&t.department)
        .bind(&t.item_code)
        .bind(t.priority)
        .bind(t.summary.to_string())
        .bind(&at)
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?;
        event(&mut tx, id, actor, "created", serde_json::json!({"reason": t.reason, "kind": t.kind.as_str()}), &at).await?;
        let created = fetch(&mut tx, id).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        let row = sqlx::query(&format!("{TICKET_SELECT} WHERE t.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(ticket).transpose()
    }

    async fn open_ticket(&self, session_id: &str) -> Result<Option<Ticket>, StoreError> {
        let sql = format!(
            "{TICKET_SELECT} WHERE t.session_id = $1 AND t.kind != 'suggestion' AND t.status != 'resolved' ORDER BY t.id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql).bind(session_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(ticket).transpose()
    }

    async fn tickets(&self, f: &TicketFilter) -> Result<Vec<Ticket>, StoreError> {
        let mut sql = format!("{TICKET_SELECT} WHERE 1 = 1");
        let mut p = Params::default();
        if !f.statuses.is_empty() {
            sql.push_str(&format!(" AND t.status IN ({})", p.list(f.statuses.len())));
        }
        if !f.kinds.is_empty() {
            sql.push_str(&format!(" AND t.kind IN ({})", p.list(f.kinds.len())));
        }
        if f.assignee_id.is_some() {
            sql.push_str(&format!(" AND t.assignee_id = {}", p.next()));
        }
        // Open work: most urgent, then oldest. Finished work: newest first.
        let finished = !f.statuses.is_empty() && f.statuses.iter().all(|s| *s == TicketStatus::Resolved);
        sql.push_str(if finished { " ORDER BY t.resolved_at DESC, t.id DESC" } else { " ORDER BY t.priority, t.id" });
        sql.push_str(&format!(" LIMIT {}", p.next()));
        let mut q = sqlx::query(&sql);
        for s in &f.statuses {
            q = q.bind(s.as_str());
        }
        for k in &f.kinds {
            q = q.bind(k.as_str());
        }
        if let Some(a) = f.assignee_id {
            q = q.bind(a);
        }
        let rows = q.bind(i64::from(if f.limit == 0 { 200 } else { f.limit })).fetch_all(&self.pool).await?;
        rows.iter().map(ticket).collect()
    }

    async fn claim(&self, id: i64, user_id: i64, actor: &str) -> Result<Ticket, StoreError> {
        let sql = "UPDATE tickets SET status = 'assigned', assigned_at = $1, updated_at = $1, assignee_id = $2 WHERE id = $3";
        let step = Step {
            from: &[TicketStatus::Pending],
            sql,
            binds: &[Bind::Int(user_id)],
            action: "claimed",
            detail: serde_json::json!({"user_id": user_id}),
        };
        self.transition(id, step, actor).await
    }

    async fn release(&self, id: i64, user_id: i64, force: bool, actor: &str) -> Result<Ticket, StoreError> {
        let current = self.ticket(id).await?.ok_or_else(|| StoreError::NotFound(format!("工单 {id} 不存在")))?;
        if !force && current.assignee_id != Some(user_id) {
            return Err(StoreError::Conflict(format!("工单 {id} 不是由您处理的")));
        }
        // The check above names the usual refusal; the UPDATE repeats it, so a claim by someone
        // else in between (on another replica) is not released by mistake.
        let sql = "UPDATE tickets SET status = 'pending', assignee_id = NULL, assigned_at = NULL, updated_at = $1 \
                   WHERE (assignee_id = $2 OR $3 = 1) AND id = $4";
        let binds = [Bind::Int(user_id), Bind::Int(i64::from(force))];
        let step = Step { from: &[TicketStatus::Assigned], sql, binds: &binds, action: "released", detail: serde_json::json!({}) };
        self.transition(id, step, actor).await
    }

    async fn resolve(&self, id: i64, user_id: i64, force: bool, note: &str, actor: &str) -> Result<Ticket, StoreError> {
        let current = self.ticket(id).await?.ok_or_else(|| StoreError::NotFound(format!("工单 {id} 不存在")))?;
        // Suggestions need no claim: the one who routes them resolves them.
        let from: &[TicketStatus] = if current.kind == TicketKind::Suggestion {
            &[TicketStatus::Pending, TicketStatus::Assigned]
        } else {
            &[TicketStatus::Assigned]
        };
        if !force && current.status == TicketStatus::Assigned && current.assignee_id != Some(user_id) {
            return Err(StoreError::Conflict(format!("工单 {id} 由其他客服处理中")));
        }
        let sql = "UPDATE tickets SET status = 'resolved', resolved_at = $1, updated_at = $1, resolution_note = $2, \
                   assignee_id = COALESCE(assignee_id, $3) WHERE (status = 'pending' OR assignee_id = $3 OR $4 = 1) AND id = $5";
        let binds = [Bind::Text(note.to_string()), Bind::Int(user_id), Bind::Int(i64::from(force))];
        self.transition(id, Step { from, sql, binds: &binds, action: "resolved", detail: serde_json::json!({"note": note}) }, actor).await
    }

    async fn reopen(&self, id: i64, note: &str, actor: &str) -> Result<Ticket, StoreError> {
        let sql = "UPDATE tickets SET status = 'pending', assignee_id = NULL, assigned_at = NULL, resolved_at = NULL, \
                   updated_at = $1, reopened = reopened + 1 WHERE id = $2";
        self.transition(
            id,
            Step { from: &[TicketStatus::Resolved], sql, binds: &[], action: "reopened", detail: serde_json::json!({"note": note}) },
            actor,
        )
        .await
    }

    async fn ticket_events(&self, id: i64) -> Result<Vec<TicketEvent>, StoreError> {
        let rows =
            sqlx::query("SELECT id, ticket_id, actor, action, detail, created_at FROM ticket_events WHERE ticket_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.get("detail");
                Ok(TicketEvent {
                    id: r.get("id"),
                    ticket_id: r.get("ticket_id"),
                    actor: r.get("actor"),
                    action: r.get("action"),
                    detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(format!("ticket event: {e}")))?,
                    created_at: r.get("created_at"),
                })
            })
            .collect()
    }

    async fn recent_waits(&self, n: u32) -> Result<Vec<f64>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT created_at, assigned_at FROM tickets WHERE assigned_at IS NOT NULL ORDER BY assigned_at DESC LIMIT $1")
                .bind(i64::from(n))
                .fetch_all(&self.pool)
                .await?;
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).map_err(|e| StoreError::Corrupt(format!("ticket time {t:?}: {e}")));
        rows.iter().map(|(created, assigned)| Ok((at(assigned)? - at(created)?).as_seconds_f64())).collect()
    }

    async fn add_rating(&self, session_id: &str, ticket_id: Option<i64>, level: i64, comment: Option<&str>) -> Result<Rating, StoreError> {
        let at = now();
        let r =
            sqlx::query("INSERT INTO ratings (session_id, ticket_id, level, comment, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(session_id)
                .bind(ticket_id)
                .bind(level)
                .bind(comment)
                .bind(&at)
                .fetch_one(&self.pool)
                .await;
        let id: i64 = match r {
            Ok(row) => row.get(0),
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("已经评价过了，感谢您的反馈".into())),
            Err(e) => return Err(e.into()),
        };
        Ok(Rating { id, session_id: session_id.into(), ticket_id, level, comment: comment.map(Into::into), created_at: at })
    }

    async fn ratings(&self, session_id: &str) -> Result<Vec<Rating>, StoreError> {
        let rows =
            sqlx::query("SELECT id, session_id, ticket_id, level, comment, created_at FROM ratings WHERE session_id = $1 ORDER BY id")
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| Rating {
                id: r.get(0),
                session_id: r.get(1),
                ticket_id: r.get(2),
                level: r.get(3),
                comment: r.get(4),
                created_at: r.get(5),
            })
            .collect())
    }

    async fn rating_stats(&self) -> Result<RatingStats, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT level, COUNT(*) FROM ratings GROUP BY level").fetch_all(&self.pool).await?;
        let mut s = RatingStats::default();
        for (level, n) in rows {
            if (1..=5).contains(&level) {
                s.by_level[(5 - level) as usize] = n;
                s.total += n;
            }
        }
        Ok(s)
    }

    async fn add_knowledge_draft(
        &self,
        ticket_id: Option<i64>,
        item_code: Option<&str>,
        question: &str,
        answer: &str,
        author_id: i64,
    ) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO knowledge_drafts (ticket_id, item_code, question, answer, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(ticket_id)
        .bind(item_code)
        .bind(question)
        .bind(answer)
        .bind(author_id)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn knowledge_drafts(&self) -> Result<Vec<KnowledgeDraft>, StoreError> {
        let rows = sqlx::query(&format!("{DRAFT_SELECT} WHERE d.status = 'draft' ORDER BY d.id")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(draft).collect())
    }

    async fn decide_knowledge_draft(&self, id: i64, accepted: bool) -> Result<KnowledgeDraft, StoreError> {
        let done = sqlx::query("UPDATE knowledge_drafts SET status = $1 WHERE id = $2 AND status = 'draft'")
            .bind(if accepted { "accepted" } else { "rejected" })
            .bind(id)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(&format!("{DRAFT_SELECT} WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("草稿 {id} 不存在")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("草稿 {id} 已处理过")));
        }
        Ok(draft(&row))
    }
}

const DRAFT_SELECT: &str = "SELECT d.id, d.ticket_id, d.item_code, d.question, d.answer, u.display_name AS author, d.status, d.created_at FROM knowledge_drafts d JOIN users u ON u.id = d.author_id";

fn draft(r: &AnyRow) -> KnowledgeDraft {
    KnowledgeDraft {
        id: r.get("id"),
        ticket_id: r.get("ticket_id"),
        item_code: r.get("item_code"),
        question: r.get("question"),
        answer: r.get("answer"),
        author: r.get("author"),
        status: r.get("status"),
        created_at: r.get("created_at"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Sessions, StaffRole, Users};
    use banshi_knowledge::testing::TestDb;

    fn new_ticket(session: &str, kind: TicketKind, priority: i64) -> NewTicket {
        NewTicket {
            session_id: session.into(),
            kind,
            parent_id: None,
            reason: "complaint".into(),
            appeal_type: Some("投诉/求助".into()),
            domain: Some("城建".into()),
            department: None,
            item_code: None,
            priority,
            summary: serde_json::json!({"wants": "x"}),
        }
    }

    async fn lifecycle_with_events_and_single_claim(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h1", "web").await.unwrap();
        let a = s.add_user("a", "甲", StaffRole::Agent, "x").await.unwrap();
        let b = s.add_user("b", "乙", StaffRole::Agent, "x").await.unwrap();
        let t = s.create_ticket(new_ticket("s1", TicketKind::Handoff, 1), "citizen").await.unwrap();
        assert_eq!(t.status, TicketStatus::Pending);
        assert_eq!(s.open_ticket("s1").await.unwrap().unwrap().id, t.id);
        let claimed = s.claim(t.id, a.id, "user:a").await.unwrap();
        assert_eq!((claimed.status, claimed.assignee_name.as_deref()), (TicketStatus::Assigned, Some("甲")));
        assert!(matches!(s.claim(t.id, b.id, "user:b").await, Err(StoreError::Conflict(_))), "a claimed ticket cannot be claimed again");
        assert!(matches!(s.resolve(t.id, b.id, false, "x", "user:b").await, Err(StoreError::Conflict(_))), "only the assignee resolves");
        let done = s.resolve(t.id, a.id, false, "已答复", "user:a").await.unwrap();
        assert_eq!((done.status, done.resolution_note.as_deref()), (TicketStatus::Resolved, Some("已答复")));
        assert!(s.open_ticket("s1").await.unwrap().is_none());
        assert_eq!(s.recent_waits(5).await.unwrap().len(), 1, "a claimed ticket's wait feeds the estimate");
        let again = s.reopen(t.id, "市民不满意", "system").await.unwrap();
        assert_eq!((again.status, again.reopened, again.assignee_id), (TicketStatus::Pending, 1, None));
        let actions: Vec<String> = s.ticket_events(t.id).await.unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["created", "claimed", "resolved", "reopened"]);
        assert!(s.recent_waits(5).await.unwrap().is_empty(), "a reopened ticket waits again");
        assert!(matches!(s.claim(999, a.id, "user:a").await, Err(StoreError::NotFound(_))));
    }

    async fn queue_order_is_priority_then_age(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h1", "web").await.unwrap();
        let low = s.create_ticket(new_ticket("s1", TicketKind::Handoff, 2), "citizen").await.unwrap();
        let urgent = s.create_ticket(new_ticket("s1", TicketKind::Handoff, 1), "citizen").await.unwrap();
        let idea = s.create_ticket(new_ticket("s1", TicketKind::Suggestion, 3), "citizen").await.unwrap();
        let f = TicketFilter {
            statuses: vec![TicketStatus::Pending],
            kinds: vec![TicketKind::Handoff, TicketKind::FollowUp],
            ..Default::default()
        };
        let ids: Vec<i64> = s.tickets(&f).await.unwrap().iter().map(|t| t.id).collect();
        assert_eq!(ids, [urgent.id, low.id]);
        // A suggestion is resolved without being claimed.
        let a = s.add_user("a", "甲", StaffRole::Agent, "x").await.unwrap();
        assert_eq!(s.resolve(idea.id, a.id, false, "已转交", "user:a").await.unwrap().assignee_id, Some(a.id));
    }

    async fn one_rating_per_session_and_per_ticket(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h1", "web").await.unwrap();
        let t = s.create_ticket(new_ticket("s1", TicketKind::Handoff, 1), "citizen").await.unwrap();
        s.add_rating("s1", None, 4, None).await.unwrap();
        s.add_rating("s1", Some(t.id), 1, Some("没解决")).await.unwrap();
        assert!(matches!(s.add_rating("s1", None, 5, None).await, Err(StoreError::Conflict(_))));
        assert!(matches!(s.add_rating("s1", Some(t.id), 5, None).await, Err(StoreError::Conflict(_))));
        let stats = s.rating_stats().await.unwrap();
        assert_eq!((stats.total, stats.by_level), (2, [0, 1, 0, 0, 1]));
        assert_eq!(s.ratings("s1").await.unwrap().len(), 2);
    }

    /// Two replicas (two pools on one database), two agents, one ticket each round: exactly
    /// one claim wins, the other is told the ticket is taken.
    async fn claim_race_across_two_replicas_has_one_winner(db: TestDb) {
        let r1 = SqlStore::new(db.pool().await).await.unwrap();
        let r2 = SqlStore::new(db.pool().await).await.unwrap();
        r1.create_session("s1", "h1", "web").await.unwrap();
        let a = r1.add_user("a", "甲", StaffRole::Agent, "x").await.unwrap();
        let b = r2.add_user("b", "乙", StaffRole::Agent, "x").await.unwrap();
        for round in 0..8 {
            let t = r1.create_ticket(new_ticket("s1", TicketKind::Handoff, 1), "citizen").await.unwrap();
            let (ca, cb) = tokio::join!(r1.claim(t.id, a.id, "user:a"), r2.claim(t.id, b.id, "user:b"));
            let winner = match (ca, cb) {
                (Ok(w), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(w)) => w,
                other => panic!("round {round}: exactly one claim wins, got {other:?}"),
            };
            let stored = r2.ticket(t.id).await.unwrap().unwrap();
            assert_eq!(stored.assignee_id, winner.assignee_id, "round {round}");
            let claims = r1.ticket_events(t.id).await.unwrap().into_iter().filter(|e| e.action == "claimed").count();
            assert_eq!(claims, 1, "round {round}: one claim event");
            r1.resolve(t.id, 0, true, "x", "system").await.unwrap();
        }
    }

    banshi_knowledge::both_backends!(
        lifecycle_with_events_and_single_claim,
        claim_race_across_two_replicas_has_one_winner,
        queue_order_is_priority_then_age,
        one_rating_per_session_and_per_ticket
    );
}
