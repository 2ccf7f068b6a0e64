-- Claims take the oldest due jobs of a queue in order: this partial index holds only the jobs
-- that can be claimed, ordered as the claim reads them, so a batch claim walks the first few
-- entries instead of sorting the whole backlog (10k waiting jobs: every claim sorted them all).
CREATE INDEX jobs_ready ON jobs (queue, run_at, id) WHERE state IN ('waiting', 'delayed');
