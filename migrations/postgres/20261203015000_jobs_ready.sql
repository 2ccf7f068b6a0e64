-- Claims take the oldest due jobs of a queue in order: this partial index holds only the jobs
-- that can be claimed, ordered as the claim reads them, so a batch claim walks the first few
-- entries instead of sorting the whole backlog (10k waiting jobs: every claim sorted them all).
-- It also serves the waiting count, which is all `jobs_due` was for.
CREATE INDEX jobs_ready ON jobs (queue, run_at, id) WHERE state IN ('waiting', 'delayed');
DROP INDEX jobs_due;
-- Lease expiry only looks at running jobs: index those alone, so a claim adds one entry and a
-- completion removes it, instead of both rewriting an entry for every job ever run.
DROP INDEX jobs_lease;
CREATE INDEX jobs_active ON jobs (lease_expires_at) WHERE state = 'active';
