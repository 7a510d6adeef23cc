//! The OpenAPI document, generated from the handlers' annotations so it matches the routes.
//!
//! Two things the annotations cannot get right on their own are settled here and checked by the
//! tests below (and by `tests/openapi.rs`, which runs a standard OpenAPI 3.1 validator on the
//! served document):
//! - query parameters: every `IntoParams` struct says `#[into_params(parameter_in = Query)]`;
//!   utoipa guesses the location from the handler's argument type only for a bare `Query<T>`,
//!   and our handlers take `Result<Query<T>, QueryRejection>` (to answer rejections in Chinese),
//!   so without it each field would be declared a required *path* parameter;
//! - operation ids: utoipa takes the function's name, and many handlers share one (`list`, `get`
//!   …), so [`OperationIds`] replaces each with one derived from the method and the path
//!   (`get_agent_tickets_by_id`), unique by construction.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "banshi 办事 API", description = "政务服务智能问答：会话、流式回答（SSE）、办事指南、人工坐席、好差评、边聊边办与一件事"),
    paths(
        routes::sessions::create, routes::sessions::history, routes::chat::send, routes::live::events, routes::live::rate,
        routes::auth::login, routes::auth::logout, routes::auth::me,
        routes::agent::list, routes::agent::detail, routes::agent::claim, routes::agent::release, routes::agent::reply,
        routes::agent::resolve, routes::agent::reopen, routes::agent::to_knowledge, routes::agent::canned, routes::agent::stats,
        routes::agent::events,
        routes::citizen::sign_in, routes::citizen::sign_out, routes::citizen::profile, routes::citizen::update_profile,
        routes::applications::form, routes::applications::edit_field, routes::applications::submit, routes::applications::of_session,
        routes::applications::progress, routes::applications::list, routes::applications::detail, routes::applications::set_status,
        routes::uploads::upload, routes::uploads::list, routes::uploads::prereview,
        routes::offers::list, routes::offers::accept, routes::offers::decline, routes::offers::answer, routes::offers::settings, routes::offers::report,
        routes::proxies::create, routes::proxies::list, routes::proxies::revoke, routes::proxies::act, routes::proxies::stop,
        routes::editor::list, routes::editor::get, routes::editor::save_draft, routes::editor::publish, routes::editor::rollback,
        routes::editor::versions, routes::editor::diff, routes::editor::preview, routes::editor::audit,
        routes::editor_bundles::list, routes::editor_bundles::get, routes::editor_bundles::save_draft, routes::editor_bundles::publish,
        routes::editor_bundles::rollback, routes::editor_bundles::versions, routes::editor_bundles::diff,
        routes::curation::list, routes::curation::add, routes::curation::retire, routes::curation::drafts, routes::curation::reject, routes::curation::gaps, routes::curation::close_gap,
        routes::items::quick_actions, routes::items::list, routes::items::get,
        routes::ops::healthz, routes::ops::readyz, routes::ops::metrics, routes::ops::openapi,
    ),
    components(schemas(crate::error::ErrorBody, crate::store::Message, banshi_assistant::stored::StoredAnswer, crate::store::Role, crate::store::Ticket, crate::store::User)),
    modifiers(&Bearer, &OperationIds),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Operation ids from the method and the path: `/api/v1` dropped, `{name}` as `by_name`, every
/// other character that is not a letter or digit as `_` (`POST /api/v1/agent/tickets/{id}/claim`
/// → `post_agent_tickets_by_id_claim`). Method and path identify an operation, so the ids are
/// unique and stable as handlers are renamed.
struct OperationIds;

/// The operation id of `method` on `path` (see [`OperationIds`]).
pub fn operation_id(method: &str, path: &str) -> String {
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    let mut id = method.to_ascii_lowercase();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                id.push_str("by_");
                id.push_str(name);
            }
            None => id.extend(segment.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })),
        }
    }
    id
}

impl Modify for OperationIds {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in api.paths.paths.iter_mut() {
            let ops = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("options", &mut item.options),
                ("head", &mut item.head),
                ("patch", &mut item.patch),
                ("trace", &mut item.trace),
            ];
            for (method, op) in ops {
                if let Some(op) = op {
                    op.operation_id = Some(operation_id(method, path));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::*;

    fn doc() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document serialises")
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if op.get("responses").is_some() {
                    out.push((method.clone(), path.clone(), op));
                }
            }
        }
        out
    }

    #[test]
    fn operation_ids_come_from_method_and_path() {
        assert_eq!(operation_id("post", "/api/v1/agent/tickets/{id}/claim"), "post_agent_tickets_by_id_claim");
        assert_eq!(operation_id("get", "/api/v1/openapi.json"), "get_openapi_json");
        assert_eq!(operation_id("get", "/api/v1/editor/knowledge-drafts"), "get_editor_knowledge_drafts");
        assert_eq!(operation_id("get", "/healthz"), "get_healthz");
        let doc = doc();
        let mut seen = BTreeMap::new();
        for (method, path, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId")).to_string();
            if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
                panic!("operationId {id} of {method} {path} is also {other}");
            }
        }
        assert!(seen.len() > 60, "{}", seen.len());
    }

    /// Every `{name}` of a path template is a required path parameter, and every path parameter
    /// is in the template: a query parameter declared `in: path` (utoipa's default) fails here.
    #[test]
    fn parameters_are_where_the_routes_take_them() {
        let doc = doc();
        let mut query = BTreeSet::new();
        for (method, path, op) in operations(&doc) {
            let template: BTreeSet<&str> = path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path = BTreeSet::new();
            for p in &params {
                let name = p["name"].as_str().expect("named");
                match p["in"].as_str() {
                    Some("path") => {
                        assert!(template.contains(name), "{method} {path}: `{name}` is declared in: path but is not in the template");
                        assert_eq!(p["required"], true, "{method} {path}: path parameter `{name}` must be required");
                        in_path.insert(name);
                    }
                    Some("query") => {
                        query.insert((path.clone(), name.to_string(), p["required"].as_bool().unwrap_or(false)));
                    }
                    other => panic!("{method} {path}: `{name}` in {other:?}"),
                }
            }
            assert_eq!(in_path, template, "{method} {path}: the template's parameters must all be declared");
        }
        // Optional filters are optional; the diff's versions are not.
        let q = |path: &str, name: &str| {
            query
                .iter()
                .find(|(p, n, _)| p == path && n == name)
                .map(|(_, _, r)| *r)
                .unwrap_or_else(|| panic!("no query `{name}` on {path}"))
        };
        for (path, name) in [
            ("/api/v1/agent/tickets", "view"),
            ("/api/v1/items", "q"),
            ("/api/v1/items", "limit"),
            ("/api/v1/items", "offset"),
            ("/api/v1/sessions/{id}/messages", "after"),
            ("/api/v1/sessions/{id}/messages", "limit"),
            ("/api/v1/sessions/{id}/events", "after"),
            ("/api/v1/admin/audit", "entity"),
            ("/api/v1/admin/audit", "entity_id"),
            ("/api/v1/agent/applications", "status"),
            ("/api/v1/applications/{tracking_no}", "phone_last4"),
            ("/api/v1/editor/gaps", "days"),
        ] {
            assert!(!q(path, name), "{path} `{name}` is optional");
        }
        assert!(q("/api/v1/editor/guides/{code}/diff", "from") && q("/api/v1/editor/guides/{code}/diff", "to"));
    }
}
