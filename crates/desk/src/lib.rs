//! The desk: Rempart's abuse-response service.
//!
//! The public reports content (a web form and a JSON API); the desk groups reports into
//! cases, puts threats to life on top, preserves evidence, and lets analysts decide. A
//! restrictive decision becomes a new [`rempart_policy::Policy`] version that edges fetch
//! with a long poll on `GET /api/v1/policy?after=N`. Every state change is appended to a
//! hash-chained audit log with signed checkpoints.
//!
//! Layout: [`config`] (the TOML file), [`store`] (SQLite or PostgreSQL), [`triage`],
//! [`decision`], [`audit`], [`keys`], [`clock`], [`i18n`], `web` (routes, pages, auth) and
//! `worker` (evidence fetches and pages, as database jobs).
//!
//! # Entry points
//! - [`DeskConfig::load`] reads a TOML file; [`DeskConfig::demo`] builds one for `rempart up`.
//! - [`serve`] runs the desk until it fails; [`Desk::open`] + [`Desk::start`] (or
//!   [`Desk::start_on`] with a bound listener) return a [`RunningDesk`] with its address.
//! - [`create_admin`] / [`Desk::create_admin`] create an admin and return a one-time password.
//! - [`audit_verify`] checks the audit log against the desk's key.
//!
//! # Routes
//! | route | who |
//! | --- | --- |
//! | `GET /report`, `POST /report` | public form (en/fr, no JavaScript) |
//! | `POST /api/v1/reports` | public JSON intake (`Idempotency-Key` honoured) |
//! | `GET /r/{token}` | the notifier's private follow page |
//! | `GET /notices/{id}` | public notice of a restriction |
//! | `GET /api/v1/policy?after=N` | edges (Bearer token): 200 policy JSON, or 204 after the long poll |
//! | `GET /api/v1/edges` | analyst and above: each edge's enforced version and lag (with `[nats]`) |
//! | `GET /login`, `POST /login`, `POST /logout` | analysts |
//! | `GET /queue`, `GET /cases/{id}`, `GET /evidence/{id}` | analyst and above |
//! | `POST /cases/{id}/decisions` | analyst (exact URL, no action, ask customer, emergency measure); senior analyst for wider scopes (four-eyes for a hostname or zone); a restriction needs its statement of reasons |
//! | `POST /decisions/{id}/lift` | senior analyst and above |
//! | `GET /admin`, `POST /admin/users`, `POST /admin/tokens` | admin |
//! | `GET /api/v1/queue`, `GET /api/v1/cases/{id}` | analyst and above (session or API token); identities for senior analysts |
//! | `GET /r/{token}/decision`, `POST /r/{token}/appeals` | the notifier: the decision and its reasons; appeal of a decision not to act |
//! | `GET /due` | analyst and above: emergency measures with their countdown, four-eyes approvals, appeals |
//! | `POST /decisions/{id}/confirm` | a second analyst confirms an emergency measure |
//! | `POST /decisions/{id}/orders` | analyst: records an authority's order (confirms an emergency measure) |
//! | `POST /approvals/{id}/approve`, `POST /approvals/{id}/reject` | a senior analyst other than the proposer |
//! | `POST /appeals/{id}/decide` | a senior analyst who did not take the decision |
//! | `GET /api/v1/statements`, `GET /api/v1/statements/{id}` | analyst: statements of reasons in the DSA Transparency Database format |
//! | `GET /portal`, `GET /portal/decisions/{id}`, `POST …/respond`, `POST …/appeal` | customers, for their own zones |
//! | `GET /admin/customers`, `POST /admin/customers` | admin: customer accounts and the zones they own |
//! | `GET`/`POST /cases/{id}/referrals`, `POST /cases/{id}/authority-responses` (and `/api/v1/…`) | analyst: referrals to authorities ([`bundle`]) |
//! | `GET /transparency`, `/transparency.json`, `/transparency.csv` | public figures ([`transparency`]) |

#![deny(missing_docs)]

pub mod audit;
pub mod bundle;
pub mod clock;
pub mod config;
pub mod decision;
mod demo;
pub mod dueprocess;
pub mod error;
pub mod i18n;
pub mod keys;
pub mod policy_digest;
pub mod publish;
mod signals_hook;
pub mod store;
pub mod testkit;
pub mod transparency;
pub mod triage;
mod web;
mod worker;

pub use config::{edge_token_sha256, ConfigError, DeskConfig};
pub use signals_hook::ContentSignals;
pub use web::{
    audit_verify, bulk_restrict, create_admin, hash_password, serve, verify_password, Desk,
    RunningDesk,
};
pub use worker::webhook_signature;
