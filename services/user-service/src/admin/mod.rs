//! The operators' workflows behind the admin API (`http::admin`): finding and inspecting
//! users, disabling them, and the other support actions. Every action is audited
//! (`audit::record`): a domain event `user.admin.<action>` with the token's name as actor, a
//! log line and a metric.

pub mod access;
pub mod audit;
pub mod gate;
pub mod invite;
pub mod passkeys;
pub mod profile;
pub mod tokens;
pub mod users;
