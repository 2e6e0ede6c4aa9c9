//! Who is calling: the client's address (through trusted proxies only) and user agent.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::account::Caller;

/// The caller of a request, for the workflows' per-client limits and session records.
pub struct Client(pub Caller);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            // Only absent when the router is served without connect info (never in main).
            .ok_or(ApiError::Internal)?;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = state
            .config
            .server
            .trusted_proxies
            .client_ip(peer, forwarded);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Client(Caller { ip, user_agent }))
    }
}
