//! The policy document: what the desk decides and every edge enforces.
//!
//! A [`Policy`] is one versioned, typed document holding [`Restriction`]s. The desk produces it,
//! edges load it (from a file, or later from the fleet's channel) and query it through a
//! [`PolicyIndex`], whose lookup cost depends on the length of the request URL, never on the
//! number of restrictions.
//!
//! This crate is pure data: no I/O, no proxy, no database.

#![deny(missing_docs)]

mod index;
mod model;
mod normalize;
mod signed;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use index::{Match, PolicyIndex};
pub use model::{
    Category, Policy, PolicyError, Restriction, RestrictionId, RestrictionKind, Scope,
    POLICY_SCHEMA,
};
pub use normalize::{normalize_host, normalize_path};
pub use signed::{
    key_id, parse_public_key, PayloadKind, PolicyDelta, SignatureError, SignedPolicy, SnapshotRef,
    TrustedKeys, Verified, SNAPSHOT_ENCODING,
};
