//! The response types of the admin API's OpenAPI document. Handlers name them in their
//! annotations; this module imports no handler, so the document (`openapi.rs`) can list them.

use utoipa::IntoResponses;

use crate::http::docs::ProblemDoc;

/// No admin token, or not a configured one.
#[derive(IntoResponses)]
#[response(
    status = 401,
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String))
)]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub struct NeedsToken(#[to_schema] ProblemDoc);

/// What any admin operation can answer besides its own responses.
#[derive(IntoResponses)]
#[allow(dead_code)] // Documents responses `ApiError` produces; never built.
pub enum AdminErrors {
    /// A query parameter is malformed (`invalid_query`).
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDoc),
    /// No such user or session (`not_found`).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(ProblemDoc),
    /// The account kept changing during the request (`conflict`); retry. Removing a second
    /// factor that is not on: `mfa_not_enabled`.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(ProblemDoc),
    /// MongoDB or Redis did not answer (`service_unavailable`); retry.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(ProblemDoc),
}
