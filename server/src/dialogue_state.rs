//! Saving a session's dialogue state when other requests may save it too (a chat turn and an
//! upload of the same session, two tabs, two replicas).
//!
//! The store refuses a save over a stale read ([`Sessions::save_state`] checks the version).
//! Instead of failing the request, the save is retried as a three-way merge: each field this
//! request changed (compared with the state it read) takes its new value, every other field
//! keeps what the newer save stored. Two requests that changed the same field: the later save
//! wins that field, and a warning names it. A bounded number of retries, then `Conflict`.
//!
//! [`Sessions::save_state`]: crate::store::Sessions::save_state

use banshi_assistant::DialogueState;
use serde_json::Value;

use crate::error::ApiError;
use crate::store::{Session, StoreError};
use crate::App;

/// Saves tried before giving up (each retry follows another request's save).
const ATTEMPTS: usize = 5;

/// Save `session.state`, which was `before` when read at `session.version`; on success
/// `session.version` and `session.state` are what is stored.
pub async fn save(app: &App, session: &mut Session, before: &DialogueState) -> Result<(), ApiError> {
    for _ in 0..ATTEMPTS {
        match app.store.save_state(&session.id, &session.state, session.version).await {
            Ok(v) => {
                session.version = v;
                return Ok(());
            }
            Err(StoreError::Conflict(_)) => {
                let latest = app.store.session(&session.id).await?.ok_or_else(|| ApiError::NotFound("会话不存在".into()))?;
                let (merged, clashes) = merge(before, &session.state, &latest.state);
                if !clashes.is_empty() {
                    tracing::warn!(session = %session.id, ?clashes, "two requests changed the same dialogue state fields: the later one kept");
                }
                session.state = merged;
                session.version = latest.version;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict("会话正被同时修改，请稍后重试".into()))
}

/// Apply `change` to the session's state and save it ([`save`]).
pub async fn update(app: &App, session: &mut Session, change: impl FnOnce(&mut DialogueState)) -> Result<(), ApiError> {
    let before = session.state.clone();
    change(&mut session.state);
    save(app, session, &before).await
}

/// `ours` (changed from `base`) merged onto `theirs` (saved meanwhile), field by field; also
/// the fields both changed differently.
fn merge(base: &DialogueState, ours: &DialogueState, theirs: &DialogueState) -> (DialogueState, Vec<String>) {
    let json = |s: &DialogueState| match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (base, ours, mut merged) = (json(base), json(ours), json(theirs));
    let mut clashes = Vec::new();
    for (field, value) in ours {
        let was = base.get(&field).unwrap_or(&Value::Null);
        if &value == was {
            continue;
        }
        if merged.get(&field).is_some_and(|t| t != was && t != &value) {
            clashes.push(field.clone());
        }
        merged.insert(field, value);
    }
    // Every field comes from one of two states of the same type: the merge parses.
    (serde_json::from_value(Value::Object(merged)).unwrap_or_else(|_| theirs.clone()), clashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_keeps_the_fields_it_changed() {
        let base = DialogueState { low_confidence: 1, ..DialogueState::default() };
        // This request (a chat turn) changed the counter; another (a sign-in) saved meanwhile.
        let ours = DialogueState { low_confidence: 2, ..base.clone() };
        let theirs = DialogueState { citizen_id: Some(7), citizen_signed_in_at: Some("t".into()), ..base.clone() };
        let (m, clashes) = merge(&base, &ours, &theirs);
        assert_eq!((m.low_confidence, m.citizen_id, m.citizen_signed_in_at.as_deref()), (2, Some(7), Some("t")));
        assert!(clashes.is_empty());
        // Both changed the same field: ours (the later save) wins, and it is reported.
        let theirs = DialogueState { low_confidence: 0, ..base.clone() };
        let (m, clashes) = merge(&base, &ours, &theirs);
        assert_eq!((m.low_confidence, clashes), (2, vec!["low_confidence".to_string()]));
    }
}
