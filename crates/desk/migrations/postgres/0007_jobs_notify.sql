-- Several desks on one database: a job enqueued by one desk wakes the workers of every desk at
-- once (without this, another desk's worker finds it only at its next poll, up to 30 s later).
-- One NOTIFY per statement and lane, not per row: an intake batch inserts hundreds of evidence
-- fetches in one statement. The payload is the lane ('page' or 'other'); listeners re-read the
-- queue of their own schema (several schemas of one database share the channel).
CREATE FUNCTION rempart_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rempart_jobs', lane)
    FROM (SELECT DISTINCT CASE WHEN kind = 'page' THEN 'page' ELSE 'other' END AS lane
          FROM new_jobs) AS lanes;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION rempart_jobs_notify();
