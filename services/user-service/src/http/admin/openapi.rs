//! The OpenAPI 3.1 document of the admin API, served at `GET /admin/openapi.json` (behind the
//! admin token like everything else on that listener).

use axum::Json;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::{Modify, OpenApi};

use super::{changes, invitations, passkeys, sessions, users};
use crate::http::docs::bearer_scheme;
use crate::http::openapi::rules::{display_name_pattern, locale_pattern, property};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "User platform admin API",
        description = "For operators: find, inspect, change, disable, enable and \
                       delete users, send them emails, end their sessions. Every request needs an admin token \
                       (`Authorization: Bearer <token>`); every action is audited with the \
                       token's name. Errors are RFC 9457 `application/problem+json` documents \
                       with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        users::list,
        users::get,
        invitations::invite,
        users::disable,
        users::enable,
        users::remove_mfa,
        passkeys::list,
        passkeys::remove,
        changes::update,
        changes::verify_email,
        changes::send_email,
        changes::delete,
        sessions::list,
        sessions::revoke_all,
        sessions::revoke,
    ),
    modifiers(&AdminAuth, &AdminRules),
    tags(
        (name = "users", description = "Accounts"),
        (name = "sessions", description = "A user's sessions"),
    )
)]
pub struct AdminDoc;

struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        bearer_scheme(
            openapi,
            "admin_token",
            "One of the configured `ADMIN_API_TOKENS`.",
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "admin_token",
            Vec::<String>::new(),
        )]);
    }
}

/// The body rules the derive cannot state, the same as the public API's.
struct AdminRules;

impl Modify for AdminRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let schemas = &mut components.schemas;
        for body in ["AdminPatch", "InviteBody"] {
            property(schemas, body, "display_name").pattern = Some(display_name_pattern());
            property(schemas, body, "locale").pattern = Some(locale_pattern());
        }
    }
}

/// `GET /admin/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(AdminDoc::openapi())
}
