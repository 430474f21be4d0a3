-- The pager's lane: due pages are found without walking a backlog of evidence fetches.
CREATE INDEX jobs_lane ON jobs (kind, done_at, run_at);
