//! The control side of the edge, apart from the data path: reloads (SIGHUP and file changes),
//! the policy source (a file or the desk), and origin health checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use rempart_policy::Policy;
use tokio::sync::mpsc;

use crate::config::EdgeConfig;
use crate::state::EdgeState;
use crate::zones;

/// Reads and validates a policy file.
pub fn read_policy_file(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the policy: {e}", path.display()))?;
    Policy::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Re-reads the configuration file and swaps in the new zones and certificates. On any error
/// the running configuration stays, and the error is returned.
pub async fn reload_config(state: &EdgeState) -> Result<(), String> {
    let old = state.config.load_full();
    let new = EdgeConfig::load(&old.source).map_err(|e| e.to_string())?;
    let (table, certs) = zones::build(&new, &state.metrics, &state.limiters).await?;
    for z in &table.zones {
        z.check_health().await;
    }
    if listeners(&new) != listeners(&old) {
        tracing::warn!(
            "listener addresses changed in {}; they take effect only after a restart or an upgrade (--upgrade)",
            new.source.display()
        );
    }
    state.certs.replace(certs);
    state.zones.store(Arc::new(table));
    state.config.store(Arc::new(new));
    Ok(())
}

fn listeners(c: &EdgeConfig) -> Vec<String> {
    c.listen
        .http
        .iter()
        .chain(c.listen.https.iter())
        .chain(c.listen.admin.iter())
        .map(|s| s.get_ref().clone())
        .collect()
}

/// Loads the policy file named in the configuration, if any.
pub fn reload_policy_file(state: &EdgeState) -> Result<Option<u64>, String> {
    let config = state.config.load();
    let Some(file) = &config.policy.file else {
        return Ok(None);
    };
    let policy = read_policy_file(&config.path(file.get_ref()))?;
    // A file is the operator's own: an older version is taken as a deliberate roll-back.
    state.install_policy(&policy, true);
    Ok(Some(policy.version))
}

/// The background service that runs reloads, the policy source and health checks.
pub struct Control {
    state: Arc<EdgeState>,
}

impl Control {
    /// Control over the given state.
    pub fn new(state: Arc<EdgeState>) -> Self {
        Control { state }
    }
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Signal,
    FileChanged,
}

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut rx) = mpsc::channel::<Trigger>(16);
        let _watcher = watch_files(&self.state, tx.clone());
        spawn_sighup(tx);
        if self.state.config.load().policy.desk_url.is_some() {
            tokio::spawn(desk_poll(self.state.clone()));
        }
        if self.state.config.load().policy.nats_url.is_some() {
            tokio::spawn(crate::fleet::run(self.state.clone()));
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut due: HashMap<String, Instant> = HashMap::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(trigger) = rx.recv() => {
                    // Editors write in several steps: let the burst settle, then reload once.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    while rx.try_recv().is_ok() {}
                    self.reload(trigger).await;
                }
                _ = tick.tick() => self.check_health(&mut due).await,
            }
        }
    }
}

impl Control {
    async fn reload(&self, trigger: Trigger) {
        let m = &self.state.metrics;
        match reload_config(&self.state).await {
            Ok(()) => {
                m.reloads.with_label_values(&["config", "ok"]).inc();
                tracing::info!(?trigger, "configuration reloaded");
            }
            Err(e) => {
                m.reloads.with_label_values(&["config", "failed"]).inc();
                tracing::error!(
                    ?trigger,
                    "configuration rejected, the running one stays:\n{e}"
                );
            }
        }
        match reload_policy_file(&self.state) {
            Ok(Some(v)) => {
                m.reloads.with_label_values(&["policy", "ok"]).inc();
                tracing::info!(?trigger, version = v, "policy reloaded");
            }
            Ok(None) => {}
            Err(e) => {
                m.reloads.with_label_values(&["policy", "failed"]).inc();
                tracing::error!(?trigger, "policy rejected, the running one stays: {e}");
            }
        }
    }

    async fn check_health(&self, due: &mut HashMap<String, Instant>) {
        let zones = self.state.zones.load_full();
        let now = Instant::now();
        for zone in &zones.zones {
            if zone.health_interval.is_zero() {
                continue;
            }
            let next = due.entry(zone.name.clone()).or_insert(now);
            if *next > now {
                continue;
            }
            *next = now + zone.health_interval;
            zone.check_health().await;
            for b in zone.balancer.backends().get_backend().iter() {
                let up = zone.balancer.backends().ready(b);
                self.state
                    .metrics
                    .origin_up
                    .with_label_values(&[zone.name.as_str(), &b.addr.to_string()])
                    .set(i64::from(up));
            }
        }
    }
}

fn spawn_sighup(tx: mpsc::Sender<Trigger>) {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send(Trigger::Signal).await.is_err() {
                        return;
                    }
                }
            });
        }
        Err(e) => tracing::error!("cannot listen for SIGHUP: {e}"),
    }
}

fn watch_files(state: &EdgeState, tx: mpsc::Sender<Trigger>) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let config = state.config.load();
    let mut files: Vec<PathBuf> = vec![config.source.clone()];
    if let Some(f) = &config.policy.file {
        files.push(config.path(f.get_ref()));
    }
    for lists in std::iter::once(&config.ip_lists).chain(config.zones.iter().map(|z| &z.ip_lists)) {
        for f in lists.allow_file.iter().chain(lists.deny_file.iter()) {
            files.push(config.path(f.get_ref()));
        }
    }
    // Certificates renewed in place (by an ACME client, say) are picked up without a signal.
    for zone in &config.zones {
        if let Some(tls) = &zone.tls {
            files.push(config.path(tls.cert.get_ref()));
            files.push(config.path(tls.key.get_ref()));
        }
    }
    let files: Vec<PathBuf> = files
        .into_iter()
        .map(|f| f.canonicalize().unwrap_or(f))
        .collect();
    let names = files.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let relevant = event.paths.iter().any(|p| {
            let p = p.canonicalize().unwrap_or_else(|_| p.clone());
            names
                .iter()
                .any(|n| *n == p || n.file_name() == p.file_name())
        });
        if relevant {
            let _ = tx.try_send(Trigger::FileChanged);
        }
    })
    .map_err(|e| tracing::error!("cannot watch configuration files: {e}"))
    .ok()?;
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        if let Err(e) = watcher.watch(&d, RecursiveMode::NonRecursive) {
            tracing::error!("cannot watch {}: {e}", d.display());
        }
    }
    Some(watcher)
}

/// Long-polls the desk for newer policy versions, keeping the last verified one on disk so
/// the edge can start from it when the desk is unreachable (fail-static).
async fn desk_poll(state: Arc<EdgeState>) {
    let config = state.config.load_full();
    let (Some(url), Some(token_file)) = (&config.policy.desk_url, &config.policy.desk_token_file)
    else {
        return;
    };
    let url = url.get_ref().clone();
    let token = match std::fs::read_to_string(config.path(token_file.get_ref())) {
        Ok(t) => t.trim().to_string(),
        Err(e) => {
            tracing::error!("cannot read the desk token file: {e}");
            return;
        }
    };
    let cache = config.policy.cache_file.as_ref().map(|c| config.path(c));
    let trusted = crate::fleet::trusted_keys(&config);
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot build the desk client: {e}");
            return;
        }
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        let after = state.policy.load().version();
        let result = client
            .get(&url)
            .query(&[("after", after)])
            .bearer_auth(&token)
            .send()
            .await;
        match result {
            Ok(resp) if resp.status() == reqwest::StatusCode::OK => {
                backoff = Duration::from_millis(200);
                let header = |n: &str| {
                    resp.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let (key_id, signature) = (header("rempart-key-id"), header("rempart-signature"));
                match resp.text().await.map_err(|e| e.to_string()).and_then(|t| {
                    if trusted.is_empty() {
                        return Policy::from_json(&t)
                            .map(|p| (p, t))
                            .map_err(|e| e.to_string());
                    }
                    // With trusted keys, only a policy signed by the desk is taken, and the
                    // cache keeps it signed (re-verified at start).
                    let signed = rempart_policy::SignedPolicy {
                        kind: rempart_policy::PayloadKind::Snapshot,
                        payload: t,
                        key_id: key_id.clone().ok_or("unsigned (no signature headers)")?,
                        signature: signature.clone().ok_or("unsigned (no signature headers)")?,
                    };
                    match signed.verify(&trusted).map_err(|e| e.to_string())? {
                        rempart_policy::Verified::Snapshot(p) => {
                            let chain = crate::fleet::VerifiedChain::of_snapshot(signed);
                            Ok((p, serde_json::to_string(&chain).unwrap_or_default()))
                        }
                        _ => Err("not a snapshot".into()),
                    }
                }) {
                    Ok((policy, text)) => {
                        if state.install_policy(&policy, false) {
                            state.set_ready();
                            state
                                .metrics
                                .reloads
                                .with_label_values(&["policy", "ok"])
                                .inc();
                            tracing::info!(
                                version = policy.version,
                                "policy from the desk applied"
                            );
                            if let Some(cache) = &cache {
                                if let Err(e) = write_atomically(cache, text.as_bytes()) {
                                    tracing::warn!("cannot keep the policy on disk: {e}");
                                }
                            }
                        }
                    }
                    Err(e) => {
                        state
                            .metrics
                            .reloads
                            .with_label_values(&["policy", "failed"])
                            .inc();
                        tracing::error!(
                            "policy from the desk refused, the policy in force stays: {e}"
                        );
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
            Ok(resp) if resp.status() == reqwest::StatusCode::NO_CONTENT => {
                state.set_ready();
            }
            Ok(resp) => {
                tracing::warn!(
                    status = resp.status().as_u16(),
                    "the desk refused the policy request"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(e) => {
                tracing::warn!("the desk is unreachable: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Writes a file so that readers see the old or the new content, never a part.
/// Synced before and after the rename, so that a crash leaves one of the two whole.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
