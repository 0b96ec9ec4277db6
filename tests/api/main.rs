//! The one integration-test binary (every extra file under tests/ would be its own binary). Each API test runs
//! against a real server on a random port, once on SQLite and once on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod abuse;
mod architecture;
mod catalog;
mod cli;
mod conformance;
mod delivery;
mod durability;
mod faults;
mod fixmystreet;
mod get_requests;
mod intake;
mod keys;
mod migrations;
mod openapi;
mod opendata;
mod post_requests;
mod privacy;
mod read_path;
mod retention;
mod robustness;
mod routing;
mod sessions;
mod smtp;
mod staff;
mod sync;
mod town;
mod web_page;
