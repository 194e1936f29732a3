//! Integration tests: the real server on a random loopback port, real databases (SQLite and
//! PostgreSQL), real HTTP. One binary, grouped by behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod support;

mod accounts;
mod api_clients;
mod api_data_sources;
mod api_organizations;
mod api_practitioners;
mod api_settings;
mod api_users;
mod invitation;
mod journeys;
mod migrations;
mod oauth;
mod seed;
mod server;
mod store_crud;
mod store_rules;
mod token_exchange;
