-- Referrals to authorities (DSA Art. 18) and what authorities send back (acknowledgements,
-- orders). Same schema on both engines: instants in milliseconds, text elsewhere.

CREATE TABLE referrals (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    -- The country the basis points to (ISO 3166-1 alpha-2), or '' when unclear.
    jurisdiction TEXT NOT NULL,
    -- Why that jurisdiction: victim | suspect | place | unclear.
    basis TEXT NOT NULL,
    -- The directory entry used: a country code, or 'fallback'.
    authority_key TEXT NOT NULL,
    authority_name TEXT NOT NULL,
    authority_email TEXT,
    authority_url TEXT,
    reason TEXT NOT NULL,
    referred_by TEXT NOT NULL,
    referred_at BIGINT NOT NULL,
    bundle_path TEXT,
    manifest_sha256 TEXT
);
CREATE INDEX referrals_case ON referrals (case_id, referred_at);

CREATE TABLE authority_responses (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    referral_id TEXT REFERENCES referrals(id),
    -- acknowledgement | order
    kind TEXT NOT NULL,
    authority TEXT NOT NULL,
    reference TEXT NOT NULL,
    scope TEXT,
    received_at BIGINT NOT NULL,
    -- The decision that gives effect to an order, and when it took effect.
    decision_id TEXT REFERENCES decisions(id),
    effective_at BIGINT,
    note TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX authority_responses_case ON authority_responses (case_id, received_at);
