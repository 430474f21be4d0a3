//! The desk: Rempart's abuse-response service.
//!
//! The public reports content (a web form and a JSON API); the desk groups reports into
//! cases, puts threats to life on top, preserves evidence, and lets analysts decide. A
//! restrictive decision becomes a new [`rempart_policy::Policy`] version that edges fetch
//! with a long poll on `GET /api/v1/policy?after=N`. Every state change is appended to a
//! hash-chained audit log with signed checkpoints.
//!
//! Layout: [`config`] (the TOML file), [`store`] (SQLite or PostgreSQL), [`triage`],
//! [`decision`], [`audit`], [`keys`], [`clock`], and `web` (routes, pages, auth).

#![deny(missing_docs)]

pub mod audit;
pub mod clock;
pub mod config;
pub mod decision;
pub mod error;
pub mod i18n;
pub mod keys;
pub mod store;
pub mod testkit;
pub mod triage;
mod web;
mod worker;

pub use config::{ConfigError, DeskConfig};
pub use web::{
    audit_verify, create_admin, hash_password, serve, verify_password, Desk, RunningDesk,
};
pub use worker::webhook_signature;
