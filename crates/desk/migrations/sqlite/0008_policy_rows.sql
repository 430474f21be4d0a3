-- Policy versions stored as changes (issue 6): each restriction row records the version it
-- appeared in and the version it ended in, so a new version costs its changes, not a copy of
-- the whole policy; any version is the rows live at it. Versions issued before this migration
-- keep their whole document; the latest one is unfolded into rows, later ones are built from
-- rows (document NULL) with their size and digest kept for the publisher and the audit log.
CREATE TABLE policy_versions_0008 (
    version BIGINT PRIMARY KEY,
    issued_at BIGINT NOT NULL,
    document TEXT,
    restrictions BIGINT,
    bytes BIGINT,
    sha256 TEXT
);
INSERT INTO policy_versions_0008 (version, issued_at, document)
    SELECT version, issued_at, document FROM policy_versions;
DROP TABLE policy_versions;
ALTER TABLE policy_versions_0008 RENAME TO policy_versions;

CREATE TABLE policy_restrictions (
    id TEXT NOT NULL,
    added_in BIGINT NOT NULL,
    removed_in BIGINT,
    -- Fingerprint of the decision the row was built from (NULL for rows unfolded here).
    source TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (id, added_in)
);
CREATE INDEX policy_restrictions_added ON policy_restrictions (added_in);
CREATE INDEX policy_restrictions_removed ON policy_restrictions (removed_in);

INSERT INTO policy_restrictions (id, added_in, body)
    SELECT json_extract(r.value, '$.id'), v.version, r.value
    FROM policy_versions v, json_each(v.document, '$.restrictions') r
    WHERE v.version = (SELECT MAX(version) FROM policy_versions);
