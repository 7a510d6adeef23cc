//! The OpenAPI document, generated from the handlers' annotations so it matches the routes.

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
        routes::editor::list, routes::editor::get, routes::editor::save_draft, routes::editor::publish, routes::editor::rollback,
        routes::editor::versions, routes::editor::diff, routes::editor::preview, routes::editor::audit,
        routes::editor_bundles::list, routes::editor_bundles::get, routes::editor_bundles::save_draft, routes::editor_bundles::publish,
        routes::editor_bundles::rollback, routes::editor_bundles::versions, routes::editor_bundles::diff,
        routes::curation::list, routes::curation::add, routes::curation::retire, routes::curation::drafts, routes::curation::reject, routes::curation::gaps, routes::curation::close_gap,
        routes::items::quick_actions, routes::items::list, routes::items::get,
        routes::ops::healthz, routes::ops::readyz, routes::ops::metrics, routes::ops::openapi,
    ),
    components(schemas(crate::error::ErrorBody, crate::store::Message, crate::store::Role, crate::store::Ticket, crate::store::User)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}
