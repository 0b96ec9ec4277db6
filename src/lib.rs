//! civic311: an Open311 GeoReport v2 server. The module list only; see docs/ARCHITECTURE.md for the map.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http;
pub mod import;
pub mod limits;
pub mod media;
pub mod operators;
pub mod outbox;
pub mod routing;
pub mod startup;
pub mod store;
pub mod telemetry;
