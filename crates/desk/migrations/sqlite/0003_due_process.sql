-- Due process (issue 5): statements of reasons, emergency measures, authority orders,
-- four-eyes approvals, customer accounts and zones, customer responses, appeals.

-- A customer's e-mail address, where statements of reasons are sent.
ALTER TABLE users ADD COLUMN email TEXT;

-- The zones a customer account owns: the apex hostname (the zone covers its subdomains).
CREATE TABLE zone_owners (
    user_id TEXT NOT NULL REFERENCES users(id),
    zone TEXT NOT NULL,
    PRIMARY KEY (user_id, zone)
);
CREATE INDEX zone_owners_zone ON zone_owners (zone);

-- The statement of reasons of a restrictive decision (DSA Art. 17(3)); the decision holds the
-- measure, scope, dates, ground, facts and category.
CREATE TABLE statements (
    decision_id TEXT PRIMARY KEY REFERENCES decisions(id),
    territorial_scope TEXT NOT NULL,
    explanation TEXT NOT NULL,
    source_type TEXT NOT NULL,
    automated_detection BIGINT NOT NULL,
    automated_decision TEXT NOT NULL,
    redress TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);

-- Emergency measures: a restriction applied by one analyst that lapses at expires_at unless
-- confirmed. outcome: pending, confirmed, lapsed, lifted.
CREATE TABLE emergencies (
    decision_id TEXT PRIMARY KEY REFERENCES decisions(id),
    expires_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_at BIGINT,
    outcome_by TEXT,
    note TEXT
);
CREATE INDEX emergencies_pending ON emergencies (outcome, expires_at);

-- Orders received from authorities about a decision.
CREATE TABLE authority_orders (
    id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL REFERENCES decisions(id),
    authority TEXT NOT NULL,
    reference TEXT NOT NULL,
    scope TEXT NOT NULL,
    order_date TEXT NOT NULL,
    ends_at BIGINT,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX authority_orders_decision ON authority_orders (decision_id);

-- Four-eyes: a proposed decision waiting for a second senior analyst.
-- status: pending, approved, rejected.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    proposal TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    decision_id TEXT,
    note TEXT
);
CREATE INDEX approvals_status ON approvals (status, requested_at);

-- A customer's answer to a decision: content_removed or disagree.
CREATE TABLE customer_responses (
    id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL REFERENCES decisions(id),
    responder TEXT NOT NULL,
    kind TEXT NOT NULL,
    explanation TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX customer_responses_decision ON customer_responses (decision_id);

-- Internal complaints (DSA Art. 20) by a customer or a notifier; outcome NULL while pending,
-- then upheld or reversed.
CREATE TABLE appeals (
    id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL REFERENCES decisions(id),
    party TEXT NOT NULL,
    filed_by TEXT NOT NULL,
    grounds TEXT NOT NULL,
    filed_at BIGINT NOT NULL,
    outcome TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    reasons TEXT
);
CREATE INDEX appeals_pending ON appeals (outcome, filed_at);
