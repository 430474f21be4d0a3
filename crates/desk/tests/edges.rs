//! `GET /api/v1/edges`: who may read the fleet's state, and what it says before any edge has
//! reported (the reports themselves are tested against real NATS in crates/cli/tests/fleet.rs).

mod common;

use axum::http::StatusCode;
use common::*;
use rempart_desk::store::Role;

#[tokio::test]
async fn the_fleet_view_is_for_analysts_and_names_the_policy_key() {
    let t = open(&rempart_desk::testkit::sqlite_url(), "").await;
    let r = t.desk.router();
    assert_eq!(
        send(&r, get("/api/v1/edges")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&r, with_cookie("/api/v1/edges", "rempart_session=forged"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let analyst = login(&t, "ana", Role::Analyst).await;
    let resp = send(&r, with_cookie("/api/v1/edges", &analyst.cookie)).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    let v = resp.json();
    assert_eq!(v["nats"], false);
    assert_eq!(v["edges"], serde_json::json!([]));
    // The key edges must trust is the one written next to the desk's keys.
    let public = std::fs::read_to_string(t.config.key_dir.join("policy-ed25519.pub")).unwrap();
    assert_eq!(v["policy_key"], public.trim());
    // And it is not the audit key: the two are separate.
    let audit = rempart_desk::keys::Keys::audit_public(&t.config.key_dir).unwrap();
    assert_ne!(public.trim(), hex::encode(audit.as_bytes()));
}
