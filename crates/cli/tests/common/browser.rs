//! Browser test kit: headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`), and `rempart up` started on free ports. Without the browser a test says
//! so and passes, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use super::{bin, free_port, TempDir};

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}

/// Chromium and its driver, or `None` (outside CI) when they are missing.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = which("chromium").or_else(|| which("chromium-browser"));
    let driver = which("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            let msg = "the browser test needs Debian's chromium and chromium-driver \
                       (run scripts/setup --tests)";
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "{msg}: not found on PATH under CI=true"
            );
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// Polls `f` until it returns `Some`, or fails with `what` after `limit`.
pub async fn until<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// chromedriver on a free port, with its log in `dir`.
pub struct Driver {
    pub url: String,
    pub log: PathBuf,
    _proc: Proc,
}

impl Driver {
    pub fn start(dir: &TempDir, chromedriver: &Path) -> Driver {
        let port = free_port();
        let log = dir.path("chromedriver.log");
        let proc = Proc(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display())),
        );
        // fantoccini's connector is built with rustls (chromedriver itself is plain HTTP).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Driver {
            url: format!("http://127.0.0.1:{port}"),
            log,
            _proc: proc,
        }
    }

    /// A new headless Chromium session with its own empty profile; `forum.localhost` resolves
    /// to loopback. Without `javascript`, scripts are turned off.
    pub async fn session(&self, chromium: &Path, profile: &Path, javascript: bool) -> Client {
        std::fs::create_dir_all(profile).unwrap();
        let mut options = serde_json::json!({
            "binary": chromium.to_string_lossy(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--no-proxy-server", "--window-size=1280,1000",
                "--host-resolver-rules=MAP forum.localhost 127.0.0.1",
                "--lang=en-US",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if !javascript {
            options["prefs"] =
                serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let caps = match serde_json::json!({ "goog:chromeOptions": options }) {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        until(Duration::from_secs(30), "a Chromium session", || {
            let caps = caps.clone();
            async move {
                match ClientBuilder::rustls()
                    .expect("rustls")
                    .capabilities(caps)
                    .connect(&self.url)
                    .await
                {
                    Ok(c) => Some(c),
                    Err(fantoccini::error::NewSessionError::Lost(_))
                    | Err(fantoccini::error::NewSessionError::NotW3C(_)) => None,
                    Err(e) if format!("{e}").contains("onnect") => None,
                    Err(e) => panic!(
                        "Chromium did not start under chromedriver: {e}\n{}",
                        log_of(&self.log)
                            .lines()
                            .rev()
                            .take(40)
                            .collect::<Vec<_>>()
                            .join("\n")
                    ),
                }
            }
        })
        .await
    }
}

/// A base port such that every port `rempart up` uses (base..base+3, base+10) is free now.
fn up_base_port() -> u16 {
    let mut base = 20_000 + (std::process::id() % 20_000) as u16;
    for _ in 0..200 {
        let ok = [0u16, 1, 2, 3, 10]
            .iter()
            .all(|o| std::net::TcpListener::bind(("127.0.0.1", base + o)).is_ok());
        if ok {
            return base;
        }
        base = base.wrapping_add(17).max(20_000);
    }
    panic!("no free port range for rempart up");
}

/// The analyst's user name and one-time password from `rempart up`'s stdout.
fn credentials(out: &str) -> Option<(String, String)> {
    let user = out.split("user ").nth(1)?.split(',').next()?.trim();
    let password = out
        .split("one-time password ")
        .nth(1)?
        .split(')')
        .next()?
        .trim();
    (!user.is_empty() && !password.is_empty()).then(|| (user.to_string(), password.to_string()))
}

/// `rempart up` (origin, desk, edge) on free ports, ready: the first admin's credentials read
/// and the seeded restriction enforced by the edge (so the policy channel works).
pub struct Up {
    pub http: u16,
    pub admin: u16,
    pub desk: String,
    pub user: String,
    pub password: String,
    pub log: PathBuf,
    _proc: Proc,
}

impl Up {
    pub async fn start(dir: &TempDir, hc: &reqwest::Client) -> Up {
        let base = up_base_port();
        let (http, admin, desk_port) = (base, base + 2, base + 3);
        let (out, log) = (dir.path("up.out"), dir.path("up.log"));
        let proc = Proc(
            Command::new(bin())
                .args(["up", "--dir"])
                .arg(dir.path("demo"))
                .args(["--port", &base.to_string()])
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(std::fs::File::create(&log).unwrap())
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        until(Duration::from_secs(60), "rempart up ready", || async {
            let r = hc
                .get(format!("http://127.0.0.1:{admin}/readyz"))
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
        let (user, password) = until(Duration::from_secs(10), "credentials on stdout", || async {
            credentials(&log_of(&out))
        })
        .await;
        until(
            Duration::from_secs(30),
            "seeded restriction at the edge",
            || async {
                let r = hc
                    .get(format!("http://127.0.0.1:{http}/t/2"))
                    .header("host", "forum.localhost")
                    .send()
                    .await
                    .ok()?;
                (r.status() == 451).then_some(())
            },
        )
        .await;
        Up {
            http,
            admin,
            desk: format!("http://127.0.0.1:{desk_port}"),
            user,
            password,
            log,
            _proc: proc,
        }
    }
}

/// The element `css` once it is on the page: a click may return before the page it loads.
async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    let url = c.current_url().await.ok();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on {url:?}: {e}"))
}

pub async fn text_of(c: &Client, css: &str) -> String {
    element(c, css).await.text().await.unwrap()
}

pub async fn fill(c: &Client, css: &str, text: &str) {
    let e = element(c, css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

pub async fn click(c: &Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

pub async fn select(c: &Client, css: &str, value: &str) {
    element(c, css).await.select_by_value(value).await.unwrap();
}
