-- The desk's schema (SQLite). Instants are milliseconds since the Unix epoch (BIGINT),
-- flags are 0/1 integers, so that the same queries run on SQLite and PostgreSQL.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    priority BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    review_due BIGINT NOT NULL,
    first_reviewed_at BIGINT,
    campaign BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cases_queue ON cases (status, priority, review_due);

CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    receipt TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL REFERENCES cases(id),
    category TEXT NOT NULL,
    explanation TEXT NOT NULL,
    notifier_name TEXT,
    notifier_email TEXT,
    notifier_key TEXT NOT NULL,
    good_faith BIGINT NOT NULL,
    submitted_at BIGINT NOT NULL,
    source_ip TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    follow_hash TEXT NOT NULL UNIQUE,
    priority BIGINT NOT NULL,
    signal_priority BIGINT,
    similarity_key TEXT NOT NULL,
    campaign BIGINT NOT NULL DEFAULT 0,
    reviewed_at BIGINT
);
CREATE INDEX reports_case ON reports (case_id, submitted_at);
CREATE INDEX reports_similar ON reports (similarity_key, submitted_at);

CREATE TABLE report_urls (
    report_id TEXT NOT NULL REFERENCES reports(id),
    position BIGINT NOT NULL,
    url TEXT NOT NULL,
    host TEXT NOT NULL,
    PRIMARY KEY (report_id, position)
);
CREATE INDEX report_urls_url ON report_urls (url);

CREATE TABLE evidence_blobs (
    sha256 TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    size BIGINT NOT NULL
);

CREATE TABLE evidence (
    id TEXT PRIMARY KEY,
    report_id TEXT NOT NULL REFERENCES reports(id),
    url TEXT NOT NULL,
    fetched_at BIGINT NOT NULL,
    status BIGINT,
    headers TEXT NOT NULL,
    body_sha256 TEXT REFERENCES evidence_blobs(sha256),
    truncated BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX evidence_report ON evidence (report_id);
-- Evidence is immutable.
CREATE TRIGGER evidence_immutable BEFORE UPDATE ON evidence
BEGIN SELECT RAISE(ABORT, 'evidence is immutable'); END;
CREATE TRIGGER evidence_blobs_immutable BEFORE UPDATE ON evidence_blobs
BEGIN SELECT RAISE(ABORT, 'evidence is immutable'); END;

CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    action TEXT NOT NULL,
    ground_kind TEXT NOT NULL,
    ground TEXT NOT NULL,
    facts TEXT NOT NULL,
    category TEXT NOT NULL,
    scope TEXT,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    deadline BIGINT,
    decided_by TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    lifted_at BIGINT,
    lifted_by TEXT,
    lift_reason TEXT
);
CREATE INDEX decisions_case ON decisions (case_id);

CREATE TABLE policy_versions (
    version BIGINT PRIMARY KEY,
    issued_at BIGINT NOT NULL,
    document TEXT NOT NULL
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    done_at BIGINT,
    last_error TEXT
);
CREATE INDEX jobs_due ON jobs (done_at, run_at);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
