-- Policy versions stored as changes (issue 6): each restriction row records the version it
-- appeared in and the version it ended in, so a new version costs its changes, not a copy of
-- the whole policy; any version is the rows live at it. Versions issued before this migration
-- keep their whole document; the latest one is unfolded into rows, later ones are built from
-- rows (document NULL) with their size and digest kept for the publisher and the audit log.
ALTER TABLE policy_versions ALTER COLUMN document DROP NOT NULL;
ALTER TABLE policy_versions ADD COLUMN restrictions BIGINT;
ALTER TABLE policy_versions ADD COLUMN bytes BIGINT;
ALTER TABLE policy_versions ADD COLUMN sha256 TEXT;

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
    SELECT r ->> 'id', v.version, r::text
    FROM policy_versions v, jsonb_array_elements(v.document::jsonb -> 'restrictions') r
    WHERE v.version = (SELECT MAX(version) FROM policy_versions);
