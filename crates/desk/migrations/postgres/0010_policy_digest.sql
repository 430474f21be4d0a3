-- Issuing a policy version costs its change (issue 4 §7 at scale): the digest of the live
-- restrictions is kept up to date per change (see crates/desk/src/policy_digest.rs) instead of
-- being computed over the whole document, and what finding the change needs is indexed.
--
-- The end of a live restriction (its decision's ends_at), so that the restrictions expired by
-- the time of a version are found through an index, not by reading every decision in force.
ALTER TABLE policy_restrictions ADD COLUMN ends_at BIGINT;
UPDATE policy_restrictions SET ends_at = d.ends_at
    FROM decisions d
    WHERE d.id = policy_restrictions.id AND policy_restrictions.removed_in IS NULL;
CREATE INDEX policy_restrictions_live_end ON policy_restrictions (ends_at)
    WHERE removed_in IS NULL AND ends_at IS NOT NULL;

-- Only ended rows in the index on removed_in (what a delta looks up: removed_in = version).
-- Indexed, the live rows (removed_in IS NULL, the whole policy) drew both engines' planners to
-- read every live row to find a few by id, instead of using the primary key.
DROP INDEX policy_restrictions_removed;
CREATE INDEX policy_restrictions_removed ON policy_restrictions (removed_in)
    WHERE removed_in IS NOT NULL;

-- Per version from here on: the set digest of its restrictions (what policy.issued logs).
ALTER TABLE policy_versions ADD COLUMN restrictions_digest TEXT;

-- The live set, summarised: its digest, size and the bytes of its bodies, and the fingerprint
-- of the configuration its rows were built with (a change of it rebuilds every row). No row
-- until the first version issued after this migration, which builds it from the whole policy.
CREATE TABLE policy_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    context TEXT NOT NULL,
    digest TEXT NOT NULL,
    restrictions BIGINT NOT NULL,
    body_bytes BIGINT NOT NULL
);
