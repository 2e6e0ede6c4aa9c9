//! Redis for both services, in any of three topologies chosen by configuration (see
//! [`RedisConnectionSettings`]): one server, a Sentinel-managed primary that moves on
//! failover, or a Cluster. [`RedisConnection`] is a cheap clone that runs commands, pipelines
//! and scripts the same way in each; [`RedisConnection::readiness`] says what is wrong in the
//! mode's own terms (no primary known; slots not covered).
//!
//! A Cluster runs a script or a transaction only when all its keys hash to one slot: callers put
//! the keys of one operation under one hash tag (`{...}`), see docs/redis.md.

mod cluster;
mod connection;
mod eviction;
mod script;
mod sentinel;
mod settings;
mod tls;
mod tracking;

pub use connection::{RedisConnection, RedisSetupError};
pub use eviction::EvictingRedis;
pub use script::LuaScript;
pub use settings::{
    CONNECT_TIMEOUT, Credentials, NodeAddr, RESPONSE_TIMEOUT, RedisConnectionSettings,
    RedisTopology, TlsFiles, key_prefix,
};
pub use tracking::{TrackingSink, key_tracking_supported, track_keys, tracker_name};
