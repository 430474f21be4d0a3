//! The demo: a small forum origin and an edge in front of it on loopback, with a sample
//! restriction, so a new user sees a 451 page in one command.

use std::path::Path;

use anyhow::Context;
use axum::extract::Path as UrlPath;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use axum::Router;
use chrono::{Duration, Utc};
use rempart_policy::{
    Category, Policy, Restriction, RestrictionId, RestrictionKind, Scope, POLICY_SCHEMA,
};

/// The demo origin's routes: a forum index, threads, and an echo of the request headers.
pub fn origin_router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/t/{id}", get(thread))
        .route("/headers", get(headers))
        .route("/healthz", get(|| async { "ok" }))
}

async fn index() -> Html<&'static str> {
    Html(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Demo forum</title></head>\
         <body><main><h1>Demo forum</h1><ul><li><a href=\"/t/1\">Thread 1: gardening</a></li>\
         <li><a href=\"/t/2\">Thread 2: (restricted in the demo)</a></li></ul></main></body></html>",
    )
}

async fn thread(UrlPath(id): UrlPath<String>) -> impl IntoResponse {
    let id: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Thread {id}</title></head>\
         <body><main><h1>Thread {id}</h1><p>Posts of thread {id}.</p></main></body></html>"
    ))
}

async fn headers(h: HeaderMap) -> Json<serde_json::Value> {
    let map: serde_json::Map<String, serde_json::Value> = h
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                serde_json::Value::String(v.to_str().unwrap_or("").to_string()),
            )
        })
        .collect();
    Json(serde_json::Value::Object(map))
}

/// Runs the demo origin until the process ends.
pub fn run_origin(listen: &str) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(%listen, "demo origin listening");
        axum::serve(listener, origin_router()).await?;
        Ok(())
    })
}

/// The sample policy: one legal restriction on one thread, as the desk would issue it.
pub fn sample_policy(notice_base: &str) -> Policy {
    let now = Utc::now();
    Policy {
        schema: POLICY_SCHEMA,
        version: 1,
        issued_at: now,
        restrictions: vec![Restriction {
            id: RestrictionId("demo-1".into()),
            scope: Scope::Url {
                url: "https://forum.localhost/t/2".into(),
            },
            kind: RestrictionKind::Legal,
            category: Category::Doxxing,
            notice_url: format!("{notice_base}/notices/demo-1"),
            ground: "The post publishes a private person's home address with a call to visit it."
                .into(),
            implemented_by: "Rempart demo provider".into(),
            starts_at: now - Duration::minutes(1),
            ends_at: Some(now + Duration::hours(24)),
        }],
    }
}

/// Writes the demo's files and runs the origin and the edge.
pub fn up(dir: &Path, port: u16) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cert = dir.join("forum.localhost.pem");
    let key = dir.join("forum.localhost.key");
    if !cert.is_file() || !key.is_file() {
        let ck = rcgen::generate_simple_self_signed(vec![
            "forum.localhost".to_string(),
            "*.forum.localhost".to_string(),
        ])?;
        std::fs::write(&cert, ck.cert.pem())?;
        std::fs::write(&key, ck.key_pair.serialize_pem())?;
    }
    let (http, https, admin, origin) = (port, port + 1, port + 2, port + 10);
    let policy = sample_policy(&format!("http://127.0.0.1:{}", port + 3));
    std::fs::write(dir.join("policy.json"), serde_json::to_vec_pretty(&policy)?)?;
    let config = format!(
        r#"# Written by `rempart up`: the demo edge.
operator = "Rempart demo provider"

[listen]
http = ["127.0.0.1:{http}"]
https = ["127.0.0.1:{https}"]
admin = "127.0.0.1:{admin}"

[policy]
file = "policy.json"

[[zone]]
name = "demo-forum"
hosts = ["forum.localhost", "*.forum.localhost"]
tls = {{ cert = "forum.localhost.pem", key = "forum.localhost.key" }}
hsts_max_age = 300

[[zone.origin]]
address = "127.0.0.1:{origin}"
"#
    );
    let config_path = dir.join("edge.toml");
    std::fs::write(&config_path, config)?;

    let origin_addr = format!("127.0.0.1:{origin}");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        rt.block_on(async move {
            match tokio::net::TcpListener::bind(&origin_addr).await {
                Ok(l) => {
                    let _ = ready_tx.send(Ok(()));
                    let _ = axum::serve(l, origin_router()).await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("demo origin {origin_addr}: {e}")));
                }
            }
        });
    });
    ready_rx
        .recv()
        .context("demo origin thread")?
        .map_err(anyhow::Error::msg)?;

    println!(
        "\nRempart demo is running (files in {dir}).\n\n\
         Try:\n\
         \x20 curl -i -H 'Host: forum.localhost' http://127.0.0.1:{http}/t/1        # proxied to the origin: 200\n\
         \x20 curl -i -H 'Host: forum.localhost' http://127.0.0.1:{http}/t/2        # restricted: 451 block page\n\
         \x20 curl -i -H 'Host: forum.localhost' -H 'Accept: application/json' http://127.0.0.1:{http}/t/2\n\
         \x20 curl -i -H 'Host: forum.localhost' -H 'Accept-Language: fr' http://127.0.0.1:{http}/t/2\n\
         \x20 curl -ik --resolve forum.localhost:{https}:127.0.0.1 https://forum.localhost:{https}/t/2   # HTTPS, HTTP/2\n\
         \x20 curl -i -H 'Host: unknown.example' http://127.0.0.1:{http}/            # unknown host: 404\n\
         \x20 curl http://127.0.0.1:{admin}/metrics                                  # Prometheus metrics\n\n\
         Edit {policy} and the edge reloads it; Ctrl-C stops.\n",
        dir = dir.display(),
        policy = dir.join("policy.json").display(),
    );
    rempart_edge::run(rempart_edge::RunOptions {
        config: config_path,
        upgrade: false,
    })
}
