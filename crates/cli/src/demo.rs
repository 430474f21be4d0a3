//! The demo: a small forum origin and an edge in front of it on loopback, with a sample
//! restriction, so a new user sees a 451 page in one command.

use std::path::Path;

use anyhow::Context;
use axum::extract::Path as UrlPath;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use axum::Router;

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

/// Writes the demo's files and runs the origin, the desk and the edge on loopback. The edge
/// long-polls the desk for policy; the desk starts with one sample restriction.
pub fn up(dir: &Path, port: u16) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
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
    let (http, https, admin, desk_port, origin) = (port, port + 1, port + 2, port + 3, port + 10);
    let desk_url = format!("http://127.0.0.1:{desk_port}");

    // The edge's token for the desk: kept in a file only the edge reads; the desk keeps a hash.
    let token = {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        hex::encode(b)
    };
    let token_file = dir.join("edge-token");
    std::fs::write(&token_file, &token)?;
    restrict_permissions(&token_file);

    let config = format!(
        r#"# Written by `rempart up`: the demo edge.
operator = "Rempart demo provider"

[listen]
http = ["127.0.0.1:{http}"]
https = ["127.0.0.1:{https}"]
admin = "127.0.0.1:{admin}"

[policy]
desk_url = "{desk_url}/api/v1/policy"
desk_token_file = "edge-token"
cache_file = "policy-cache.json"

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

    // The origin and the desk run on their own runtime; the edge (Pingora) owns the main thread.
    let desk_config = rempart_desk::DeskConfig::demo(
        &dir.join("desk"),
        ([127, 0, 0, 1], desk_port).into(),
        &desk_url,
        rempart_desk::edge_token_sha256(&token),
        Some(([127, 0, 0, 1], http).into()),
    );
    let thread_admin = format!("admin-{}", &token[..6]);
    let desk_dir = dir.join("desk");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Admin, String>>();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        rt.block_on(async move {
            let started = async {
                let origin_listener = tokio::net::TcpListener::bind(("127.0.0.1", origin))
                    .await
                    .with_context(|| format!("demo origin 127.0.0.1:{origin}"))?;
                tokio::spawn(async move {
                    let _ = axum::serve(origin_listener, origin_router()).await;
                });
                std::fs::create_dir_all(&desk_dir)?;
                let desk = rempart_desk::Desk::open_with(
                    desk_config,
                    std::sync::Arc::new(rempart_desk::clock::SystemClock),
                    std::sync::Arc::new(rempart_desk::ContentSignals::new()?),
                )
                .await?;
                // The first start creates the admin; later starts on the same folder keep the
                // accounts they find (a password is shown once, never stored in clear).
                let admins = desk
                    .store()
                    .usernames_with_role(rempart_desk::store::Role::Admin)
                    .await?;
                let admin = if admins.is_empty() {
                    let password = desk.create_admin(&thread_admin).await?;
                    Admin::Created {
                        user: thread_admin,
                        password,
                    }
                } else {
                    Admin::Existing(admins)
                };
                desk.seed_demo("https://forum.localhost/t/2").await?;
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", desk_port))
                    .await
                    .with_context(|| format!("desk 127.0.0.1:{desk_port}"))?;
                let running = desk.start_on(listener).await?;
                anyhow::Ok((admin, running))
            };
            match started.await {
                Ok((admin, running)) => {
                    let _ = ready_tx.send(Ok(admin));
                    let _ = running.wait().await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{e:#}")));
                }
            }
        });
    });
    let account = ready_rx
        .recv()
        .context("demo thread")?
        .map_err(anyhow::Error::msg)?;
    let analysts = match account {
        Admin::Created { user, password } => {
            format!("analysts: user {user}, one-time password {password}")
        }
        Admin::Existing(users) => format!(
            "analysts: existing admin account(s) {}; the password was printed at the first start \
             (remove {} to start the demo afresh)",
            users.join(", "),
            dir.join("desk").display()
        ),
    };

    println!(
        "\nRempart demo is running (files in {dir}).\n\n\
         The desk:   {desk_url}/report  (public report form)\n\
         \x20           {desk_url}/login   ({analysts})\n\n\
         The edge, in front of a demo forum:\n\
         \x20 curl -i -H 'Host: forum.localhost' http://127.0.0.1:{http}/t/1        # proxied to the origin: 200\n\
         \x20 curl -i -H 'Host: forum.localhost' http://127.0.0.1:{http}/t/2        # restricted by the desk: 451\n\
         \x20 curl -i -H 'Host: forum.localhost' -H 'Accept: application/json' http://127.0.0.1:{http}/t/2\n\
         \x20 curl -i -H 'Host: forum.localhost' -H 'Accept-Language: fr' http://127.0.0.1:{http}/t/2\n\
         \x20 curl -ik --resolve forum.localhost:{https}:127.0.0.1 https://forum.localhost:{https}/t/2   # HTTPS, HTTP/2\n\
         \x20 curl -i -H 'Host: unknown.example' http://127.0.0.1:{http}/            # unknown host: 404\n\
         \x20 curl http://127.0.0.1:{admin}/metrics                                  # Prometheus metrics\n\n\
         A decision taken on the desk reaches the edge within a second. Ctrl-C stops.\n",
        dir = dir.display(),
    );
    rempart_edge::run(rempart_edge::RunOptions {
        config: config_path,
        upgrade: false,
    })
}

/// The demo's admin account: created now (with its one-time password), or found.
enum Admin {
    Created { user: String, password: String },
    Existing(Vec<String>),
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}
