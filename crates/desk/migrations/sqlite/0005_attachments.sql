-- Files a customer attaches to an answer to a notice. The bytes live in evidence_blobs
-- (content-addressed by SHA-256, immutable); this links them to the answer. Same schema on
-- both engines.

CREATE TABLE response_attachments (
    id TEXT PRIMARY KEY,
    response_id TEXT NOT NULL REFERENCES customer_responses(id),
    -- Its place among the answer's files, as sent.
    position BIGINT NOT NULL,
    decision_id TEXT NOT NULL REFERENCES decisions(id),
    -- The name the customer gave, reduced to safe characters.
    filename TEXT NOT NULL,
    -- The type found from the content's magic bytes (not the one declared).
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES evidence_blobs(sha256),
    uploaded_at BIGINT NOT NULL
);
CREATE INDEX response_attachments_decision ON response_attachments (decision_id, uploaded_at, position);

-- When an authority's order recorded on a decision was received (ms), distinct from when it
-- was recorded; NULL for orders recorded before this column existed.
ALTER TABLE authority_orders ADD COLUMN received_at BIGINT;
