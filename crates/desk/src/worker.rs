//! Background jobs: evidence fetches and P0 pages, claimed from the database queue, retried
//! with exponential backoff.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{Job, Lane, NewEvidence};
use crate::web::AppState;

/// How long a claimed job is leased to this worker.
const LEASE_MS: i64 = 120_000;
/// Attempts before giving up: evidence (the page may be gone) and pages (keep trying longer).
const MAX_EVIDENCE_ATTEMPTS: i64 = 3;
const MAX_PAGE_ATTEMPTS: i64 = 10;

/// The workers: the pager (P0 pages only, woken as soon as the intake commits a P0 report)
/// and the worker for everything else, each sleeping until its next job is due or a new one
/// is enqueued. Two lanes, so that a backlog of evidence fetches never delays a page.
/// On PostgreSQL, with the listener that wakes them for jobs enqueued by other desks.
pub(crate) async fn run(state: AppState) {
    let listen = async {
        if state.store.backend() == crate::store::Backend::Postgres {
            listen_for_jobs(&state).await;
        }
    };
    tokio::join!(
        run_lane(&state, Lane::Pages),
        run_lane(&state, Lane::Other),
        listen
    );
}

async fn run_lane(state: &AppState, lane: Lane) {
    let wake = match lane {
        Lane::Pages => &state.pages,
        Lane::Other => &state.jobs,
    };
    loop {
        run_jobs(state, Some(lane)).await;
        let wait = match state.store.next_job_at_in(lane).await {
            Ok(Some(at)) => Duration::from_millis((at - state.now_ms()).clamp(0, 30_000) as u64),
            Ok(None) => Duration::from_secs(30),
            Err(e) => {
                tracing::error!(error = %e, "job queue unavailable");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Several desks on one PostgreSQL: wakes this desk's workers when any desk enqueues a job (the
/// `jobs_notify` trigger, migration 0007, sends a NOTIFY per lane on commit), so that a job
/// enqueued by a desk without a running worker, or whose worker is busy, is run by another
/// desk at once instead of at its next poll. Notifications sent while the listener is
/// disconnected are lost, so both lanes are woken after every (re)connection.
async fn listen_for_jobs(state: &AppState) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Err(e) = listen_session(state).await {
            tracing::warn!("listening for jobs of other desks: {e}");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// The PostgreSQL channel of new jobs (migration 0007); the payload is the lane.
const JOBS_CHANNEL: &str = "rempart_jobs";

async fn listen_session(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(&state.config.database).await?;
    // Reconnect (and LISTEN again) before reporting a lost connection, so that the wake-up
    // below comes after the LISTEN and no job falls between the two.
    listener.eager_reconnect(true);
    listener.listen(JOBS_CHANNEL).await?;
    // Jobs enqueued before the LISTEN took effect were not announced.
    state.pages.notify_one();
    state.jobs.notify_one();
    loop {
        match listener.try_recv().await? {
            Some(n) if n.payload() == "page" => state.pages.notify_one(),
            Some(n) if n.payload() == "other" => state.jobs.notify_one(),
            // Reconnected (or an unknown payload): look at both queues again.
            _ => {
                state.pages.notify_one();
                state.jobs.notify_one();
            }
        }
    }
}

/// Runs jobs of every lane, pages first, until none is due.
pub(crate) async fn run_due_jobs(state: &AppState) -> usize {
    run_jobs(state, None).await
}

/// Runs jobs of a lane (or of all, pages first) until none is due.
async fn run_jobs(state: &AppState, lane: Option<Lane>) -> usize {
    let mut n = 0;
    loop {
        let now = state.now_ms();
        let claimed = match lane {
            Some(lane) => state.store.claim_job_in(lane, now, LEASE_MS).await,
            None => state.store.claim_job(now, LEASE_MS).await,
        };
        let job = match claimed {
            Ok(Some(j)) => j,
            Ok(None) => return n,
            Err(e) => {
                tracing::error!(error = %e, "claiming a job failed");
                return n;
            }
        };
        n += 1;
        let (result, max) = match job.kind.as_str() {
            "fetch_evidence" => (fetch_evidence(state, &job).await, MAX_EVIDENCE_ATTEMPTS),
            "page" => (page(state, &job).await, MAX_PAGE_ATTEMPTS),
            "customer_deadline" => (customer_deadline(state, &job).await, MAX_PAGE_ATTEMPTS),
            "emergency_expiry" => (
                crate::web::due::emergency_expiry_job(state, &job).await,
                MAX_PAGE_ATTEMPTS,
            ),
            "statement_mail" => (
                crate::web::due::statement_mail_job(state, &job).await,
                MAX_PAGE_ATTEMPTS,
            ),
            other => (Err(format!("unknown job kind '{other}'")), 1),
        };
        let now = state.now_ms();
        let done = match result {
            Ok(()) => state.store.complete_job(job.id, now).await,
            Err(e) => {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed");
                let retry = (job.attempts < max).then(|| now + backoff_ms(job.attempts));
                if retry.is_none() && job.kind == "fetch_evidence" {
                    record_failed_fetch(state, &job, &e).await;
                }
                state.store.fail_job(job.id, &e, now, retry).await
            }
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "recording a job's outcome failed");
        }
        state.checkpoint().await;
    }
}

/// 1 s, 2 s, 4 s … capped at 5 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    (1_000i64 << attempts.clamp(0, 20).saturating_sub(1)).min(300_000)
}

fn field<'a>(job: &'a Job, name: &str) -> Result<&'a str, String> {
    job.payload[name]
        .as_str()
        .ok_or_else(|| format!("job payload lacks '{name}'"))
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

async fn fetch_evidence(state: &AppState, job: &Job) -> Result<(), String> {
    let report_id = field(job, "report_id")?;
    let url = field(job, "url")?;
    let cfg = &state.config.evidence;
    let parsed = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = parsed.host_str().ok_or("URL without host")?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut builder = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("rempart-desk-evidence/1");
    // Pin the address the request goes to: the configured edge/origin, or the host's own
    // public address (never an internal one, whatever DNS says).
    let target: SocketAddr = match cfg.via {
        Some(via) => via,
        None => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("resolving {host}: {e}"))?
                .collect();
            let a = addrs
                .first()
                .copied()
                .ok_or_else(|| format!("{host} has no address"))?;
            if addrs.iter().any(|a| !is_public(a.ip())) {
                return Err(format!("refused: {host} resolves to a non-public address"));
            }
            a
        }
    };
    builder = builder.resolve(&host, target);
    let client = builder.build().map_err(|e| e.to_string())?;
    // Through the edge (or origin) at `via`: plain HTTP to that listener with the reported
    // host, whatever the URL's scheme — the provider's own hop, where TLS adds nothing and the
    // edge's certificate may not verify. The evidence keeps the reported URL.
    let mut request_url = parsed;
    if cfg.via.is_some() && request_url.scheme() == "https" {
        let _ = request_url.set_scheme("http");
        let _ = request_url.set_port(None);
    }
    let mut resp = client
        .get(request_url)
        .send()
        .await
        .map_err(|e| format!("fetch failed: {e}"))?;
    let status = resp.status().as_u16() as i64;
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading body: {e}"))?
    {
        let room = cfg.max_bytes - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let ev = NewEvidence {
        report_id: report_id.to_string(),
        url: url.to_string(),
        status: Some(status),
        headers: serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into()),
        body: Some(body),
        truncated,
        error: None,
    };
    state
        .store
        .store_evidence(&ev, &state.actor("system:evidence"))
        .await
        .map_err(|e| format!("storing evidence: {e}"))?;
    crate::signals_hook::retriage_on_evidence(
        state,
        report_id,
        url,
        ev.body.as_deref().unwrap_or_default(),
    )
    .await;
    Ok(())
}

async fn record_failed_fetch(state: &AppState, job: &Job, error: &str) {
    let (Ok(report_id), Ok(url)) = (field(job, "report_id"), field(job, "url")) else {
        return;
    };
    let ev = NewEvidence {
        report_id: report_id.into(),
        url: url.into(),
        status: None,
        headers: "[]".into(),
        body: None,
        truncated: false,
        error: Some(error.chars().take(500).collect()),
    };
    if let Err(e) = state
        .store
        .store_evidence(&ev, &state.actor("system:evidence"))
        .await
    {
        tracing::error!(error = %e, "recording a failed fetch");
    }
}

async fn customer_deadline(state: &AppState, job: &Job) -> Result<(), String> {
    let case_id = field(job, "case_id")?;
    let decision = field(job, "decision")?;
    state
        .store
        .reopen_after_deadline(case_id, decision, &state.actor("system:deadline"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The signature header value of a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`.
pub fn webhook_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// One HTTP client for every page: building a client loads the TLS roots, which costs more
/// than the webhook itself, and a page must leave within the second.
fn webhook_client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(CLIENT.get_or_init(|| c))
}

async fn page(state: &AppState, job: &Job) -> Result<(), String> {
    let case_id = field(job, "case_id")?;
    let report_id = field(job, "report_id")?;
    let channel = field(job, "channel")?;
    let report = state
        .store
        .report(report_id)
        .await
        .map_err(|e| e.to_string())?;
    let case_url = format!("{}/cases/{case_id}", state.config.public_url);
    let delivered_to = match channel {
        "webhook" => {
            let Some((url, secret)) = &state.config.paging.webhook else {
                return Ok(());
            };
            // No personal data: the on-call follows the link.
            let body = serde_json::to_vec(&serde_json::json!({
                "event": "p0_report", "case": case_id, "report": report_id, "receipt": report.receipt,
                "category": report.category, "case_url": case_url,
                "received_at": crate::clock::from_millis(report.submitted_at),
            }))
            .map_err(|e| e.to_string())?;
            let ts = state.clock.now().timestamp();
            let resp = webhook_client()?
                .post(url)
                .timeout(Duration::from_secs(5))
                .header("content-type", "application/json")
                .header(
                    "x-rempart-signature",
                    webhook_signature(secret.0.as_bytes(), ts, &body),
                )
                .body(body)
                .send()
                .await
                .map_err(|e| format!("webhook: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("webhook answered {}", resp.status()));
            }
            "webhook"
        }
        "email" => {
            let Some(smtp) = &state.config.paging.smtp else {
                return Ok(());
            };
            send_mail(smtp, &report.receipt, &report.category, &case_url).await?;
            "email"
        }
        other => return Err(format!("unknown paging channel '{other}'")),
    };
    state
        .store
        .audit_event(
            &state.actor("system:paging"),
            "page.delivered",
            &format!("case:{case_id}"),
            serde_json::json!({ "report": report_id, "channel": delivered_to, "attempt": job.attempts }),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn send_mail(
    smtp: &crate::config::SmtpConfig,
    receipt: &str,
    category: &str,
    case_url: &str,
) -> Result<(), String> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let mut builder = Message::builder()
        .from(
            smtp.from
                .parse()
                .map_err(|e| format!("from address: {e}"))?,
        )
        .subject(format!("[Rempart P0] {category} report {receipt}"));
    for to in &smtp.to {
        builder = builder.to(to.parse().map_err(|e| format!("to address {to}: {e}"))?);
    }
    let msg = builder
        .body(format!(
            "A P0 report ({category}) needs review within the target.\n\nReceipt: {receipt}\nCase: {case_url}\n"
        ))
        .map_err(|e| e.to_string())?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    transport
        .send(msg)
        .await
        .map_err(|e| format!("smtp: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(4), 8_000);
        assert_eq!(backoff_ms(30), 300_000);
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "::1",
            "fd00::1",
            "100.64.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_public("93.184.216.34".parse().unwrap()));
    }
}
