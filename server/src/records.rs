//! The assistant's view of the store: citizens' profiles, their e-licences (the embedded
//! default of the e-licence interface) and application progress. Store errors become strings
//! the assistant logs; it then answers without the record rather than failing the turn.

use std::sync::Arc;

use async_trait::async_trait;
use banshi_assistant::forms::prefill::{ELicence, ELicenceStore, Profile};
use banshi_assistant::records::{ApplicationView, Records};

use crate::store::{Application, Store};

/// [`Records`] and [`ELicenceStore`] over the service's store.
pub struct StoreRecords(pub Arc<dyn Store>);

/// An application as a progress answer shows it (no personal data).
pub fn view(a: &Application) -> ApplicationView {
    ApplicationView {
        tracking_no: a.tracking_no.clone(),
        target_name: a.target_name.clone(),
        status: a.status.as_str().to_string(),
        submitted_on: a.submitted_at.chars().take(10).collect(),
        accepted_on: a.accepted_at.as_ref().map(|d| d.chars().take(10).collect()),
        promised_days: a.promised_days,
        returned_reason: a.returned_reason.clone(),
    }
}

#[async_trait]
impl Records for StoreRecords {
    async fn profile(&self, citizen_id: i64) -> Result<Option<Profile>, String> {
        Ok(self.0.citizen(citizen_id).await.map_err(|e| e.to_string())?.map(|c| c.profile))
    }

    async fn application(&self, tracking_no: &str) -> Result<Option<ApplicationView>, String> {
        Ok(self.0.application(tracking_no).await.map_err(|e| e.to_string())?.as_ref().map(view))
    }

    async fn citizen_applications(&self, citizen_id: i64) -> Result<Vec<ApplicationView>, String> {
        Ok(self.0.citizen_applications(citizen_id).await.map_err(|e| e.to_string())?.iter().map(view).collect())
    }
}

#[async_trait]
impl ELicenceStore for StoreRecords {
    async fn licences_for(&self, holder_id: &str) -> Result<Vec<ELicence>, String> {
        self.0.licences(holder_id).await.map_err(|e| e.to_string())
    }
}
