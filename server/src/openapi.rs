//! The OpenAPI document, generated from the handlers' annotations so it matches the routes.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "banshi 办事 API", description = "政务服务智能问答：会话、流式回答（SSE）、办事指南"),
    paths(
        routes::sessions::create, routes::sessions::history, routes::chat::send,
        routes::items::quick_actions, routes::items::list, routes::items::get,
        routes::ops::healthz, routes::ops::readyz, routes::ops::metrics, routes::ops::openapi,
    ),
    components(schemas(crate::error::ErrorBody, crate::store::Message, crate::store::Role)),
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
