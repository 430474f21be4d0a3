//! Prometheus metrics of the edge, served on the admin listener.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every metric the edge exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by zone and status class.
    pub requests: IntCounterVec,
    /// Time to the origin's response header, by zone.
    pub upstream_latency: HistogramVec,
    /// Block pages served, by restriction id and status.
    pub restrictions_served: IntCounterVec,
    /// Requests answered by the edge itself, by reason.
    pub edge_answers: IntCounterVec,
    /// The policy version in force.
    pub policy_version: IntGauge,
    /// When the policy in force was issued (Unix seconds).
    pub policy_issued: IntGauge,
    /// How many restrictions the policy holds.
    pub policy_restrictions: IntGauge,
    /// Reloads by what was reloaded and outcome.
    pub reloads: IntCounterVec,
    /// Origins up (1) or down (0).
    pub origin_up: IntGaugeVec,
    /// Challenge pages (or JSON challenges) served, by zone and what triggered them.
    pub challenges_issued: IntCounterVec,
    /// Challenges answered correctly (a clearance was set), by zone and method (`pow`, `wait`).
    pub challenges_solved: IntCounterVec,
    /// Refused answers and clearances, by zone and reason.
    pub challenges_failed: IntCounterVec,
    /// Requests let through by a valid clearance cookie, by zone.
    pub challenges_passed: IntCounterVec,
    /// Whether a zone challenges every request now (mode `always`, or `auto` above its rate).
    pub challenge_mode_active: IntGaugeVec,
    /// Request rules that matched, by zone, rule and action.
    pub rule_matches: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("rempart_edge".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "Requests by zone and status class"),
            &["zone", "class"],
        )?;
        let upstream_latency = HistogramVec::new(
            HistogramOpts::new(
                "upstream_response_seconds",
                "Time from sending the request to the origin's response header",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["zone"],
        )?;
        let restrictions_served = IntCounterVec::new(
            Opts::new(
                "restrictions_served_total",
                "Block pages served by restriction",
            ),
            &["restriction", "status"],
        )?;
        let edge_answers = IntCounterVec::new(
            Opts::new(
                "edge_answers_total",
                "Requests answered by the edge itself, by reason",
            ),
            &["reason"],
        )?;
        let policy_version = IntGauge::new("policy_version", "Policy version in force")?;
        let policy_issued = IntGauge::new(
            "policy_issued_timestamp_seconds",
            "When the policy in force was issued; age = time() - this",
        )?;
        let policy_restrictions =
            IntGauge::new("policy_restrictions", "Restrictions in the policy in force")?;
        let reloads = IntCounterVec::new(
            Opts::new("reloads_total", "Reloads by what and outcome"),
            &["what", "outcome"],
        )?;
        let origin_up = IntGaugeVec::new(
            Opts::new("origin_up", "Whether an origin passes its health check"),
            &["zone", "origin"],
        )?;
        let challenges_issued = IntCounterVec::new(
            Opts::new(
                "challenges_issued_total",
                "Challenges served, by zone and trigger",
            ),
            &["zone", "trigger"],
        )?;
        let challenges_solved = IntCounterVec::new(
            Opts::new(
                "challenges_solved_total",
                "Challenges answered correctly, by zone and method",
            ),
            &["zone", "method"],
        )?;
        let challenges_failed = IntCounterVec::new(
            Opts::new(
                "challenges_failed_total",
                "Refused challenge answers and clearance cookies, by zone and reason",
            ),
            &["zone", "reason"],
        )?;
        let challenges_passed = IntCounterVec::new(
            Opts::new(
                "challenges_passed_total",
                "Requests let through by a valid clearance cookie, by zone",
            ),
            &["zone"],
        )?;
        let challenge_mode_active = IntGaugeVec::new(
            Opts::new(
                "challenge_mode_active",
                "Whether the zone challenges every request now (1) or not (0)",
            ),
            &["zone"],
        )?;
        for c in [
            &challenges_issued,
            &challenges_solved,
            &challenges_failed,
            &challenges_passed,
        ] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(challenge_mode_active.clone()))?;
        let rule_matches = IntCounterVec::new(
            Opts::new(
                "rule_matches_total",
                "Request rules that matched, by zone, rule and action",
            ),
            &["zone", "rule", "action"],
        )?;
        registry.register(Box::new(rule_matches.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(upstream_latency.clone()))?;
        registry.register(Box::new(restrictions_served.clone()))?;
        registry.register(Box::new(edge_answers.clone()))?;
        registry.register(Box::new(policy_version.clone()))?;
        registry.register(Box::new(policy_issued.clone()))?;
        registry.register(Box::new(policy_restrictions.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(origin_up.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            upstream_latency,
            restrictions_served,
            edge_answers,
            policy_version,
            policy_issued,
            policy_restrictions,
            reloads,
            origin_up,
            challenges_issued,
            challenges_solved,
            challenges_failed,
            challenges_passed,
            challenge_mode_active,
            rule_matches,
        })
    }

    /// Registers a metric kept by another part of the edge (connection caps, …).
    pub fn register(
        &self,
        c: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(c)
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}

/// One zone's request counters and latency histogram, resolved once so the data path does not
/// hash label values on every request.
#[derive(Clone)]
pub struct ZoneMetrics {
    by_class: [prometheus::IntCounter; 6],
    /// Time to the origin's response header.
    pub upstream_latency: prometheus::Histogram,
}

impl ZoneMetrics {
    /// Counts one request with its final status.
    pub fn count(&self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.by_class[i].inc();
    }
}

impl Metrics {
    /// The resolved handles for a zone (`-` for requests that matched no zone).
    pub fn zone(&self, zone: &str) -> ZoneMetrics {
        let c = |class: &str| self.requests.with_label_values(&[zone, class]);
        ZoneMetrics {
            by_class: [c("1xx"), c("2xx"), c("3xx"), c("4xx"), c("5xx"), c("other")],
            upstream_latency: self.upstream_latency.with_label_values(&[zone]),
        }
    }
}
