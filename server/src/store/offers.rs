//! 免申即享 / 主动服务 records: what was offered to each citizen and what became of it, the
//! yes/no answers citizens gave to settle unknown conditions, and whether they want offers.
//!
//! One row per citizen and item or bundle. Moving an offer on is one conditional update, so of
//! two taps (or two replicas) on one offer exactly one wins.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    /// Shown, not yet decided.
    Open,
    /// The citizen confirmed; an application was submitted for them.
    Accepted,
    /// The citizen said no: not offered again.
    Declined,
    /// Granted without an application being asked for (“已为您办理”).
    Granted,
}

impl OfferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Open => "open",
            OfferStatus::Accepted => "accepted",
            OfferStatus::Declined => "declined",
            OfferStatus::Granted => "granted",
        }
    }

    pub fn parse(s: &str) -> Result<OfferStatus, StoreError> {
        Ok(match s {
            "open" => OfferStatus::Open,
            "accepted" => OfferStatus::Accepted,
            "declined" => OfferStatus::Declined,
            "granted" => OfferStatus::Granted,
            other => return Err(StoreError::Corrupt(format!("offer status {other:?}"))),
        })
    }
}

/// How an offer is made: granted by the city (`auto`), one tap (`consent`), or only possible
/// until the citizen answers some questions (`possible`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    Auto,
    Consent,
    Possible,
}

impl OfferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::Auto => "auto",
            OfferKind::Consent => "consent",
            OfferKind::Possible => "possible",
        }
    }

    pub fn parse(s: &str) -> Result<OfferKind, StoreError> {
        Ok(match s {
            "auto" => OfferKind::Auto,
            "consent" => OfferKind::Consent,
            "possible" => OfferKind::Possible,
            other => return Err(StoreError::Corrupt(format!("offer kind {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OfferRecord {
    pub citizen_id: i64,
    pub target_code: String,
    pub target_name: String,
    /// The version of the guide or bundle whose rule made the offer.
    pub rule_version: u32,
    pub kind: OfferKind,
    pub status: OfferStatus,
    /// The application submitted when it was accepted or granted.
    pub tracking_no: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Offers of one item or bundle, by status (the operator's report).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct OfferTally {
    pub target_code: String,
    pub open: u64,
    pub accepted: u64,
    pub declined: u64,
    pub granted: u64,
}

#[async_trait]
pub trait Offers: Send + Sync {
    /// Record that `target_code` is offered. A new or still open offer takes `kind` and
    /// `rule_version`; a decided one (accepted, declined, granted) is left as it is. Returns
    /// the stored record.
    async fn record_offer(
        &self,
        citizen_id: i64,
        target_code: &str,
        target_name: &str,
        rule_version: u32,
        kind: OfferKind,
    ) -> Result<OfferRecord, StoreError>;
    /// A citizen's offers, by target code.
    async fn offers_of(&self, citizen_id: i64) -> Result<Vec<OfferRecord>, StoreError>;
    /// Move an offer from one of `from` to `to`, keeping the tracking number unless one is
    /// given. `NotFound` when it was never offered; `Conflict` when its status is not in `from`
    /// (someone decided first).
    async fn move_offer(
        &self,
        citizen_id: i64,
        target_code: &str,
        from: &[OfferStatus],
        to: OfferStatus,
        tracking_no: Option<&str>,
    ) -> Result<OfferRecord, StoreError>;
    /// The citizen's answers, question key → 是 / 否.
    async fn answers(&self, citizen_id: i64) -> Result<BTreeMap<String, String>, StoreError>;
    /// Keep an answer (replacing an earlier one to the same question).
    async fn set_answer(&self, citizen_id: i64, key: &str, answer: &str) -> Result<(), StoreError>;
    async fn offers_enabled(&self, citizen_id: i64) -> Result<bool, StoreError>;
    async fn set_offers_enabled(&self, citizen_id: i64, enabled: bool) -> Result<(), StoreError>;
    /// Every citizen account's id, ascending.
    async fn citizen_ids(&self) -> Result<Vec<i64>, StoreError>;
    /// Offers by target and status.
    async fn offer_tallies(&self) -> Result<Vec<OfferTally>, StoreError>;
}
