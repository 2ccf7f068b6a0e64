-- Job kinds are named one way: a queue is named after its domain module (`finance`, like
-- `trading`; it was `financial`) and job names are snake_case like every other stored value
-- (`autoCategorize`, `syncBank`, `syncAll` were camelCase). Stored jobs and schedules follow,
-- so queued, dead and scheduled work keeps running under the new names.
UPDATE jobs SET queue = 'finance' WHERE queue = 'financial';
UPDATE jobs SET name = 'auto_categorize' WHERE name = 'autoCategorize';
UPDATE jobs SET name = 'sync_bank' WHERE name = 'syncBank';
UPDATE jobs SET name = 'sync_all' WHERE name = 'syncAll';
UPDATE schedules SET queue = 'finance' WHERE queue = 'financial';
UPDATE schedules SET job_name = 'auto_categorize' WHERE job_name = 'autoCategorize';
UPDATE schedules SET job_name = 'sync_bank' WHERE job_name = 'syncBank';
UPDATE schedules SET job_name = 'sync_all' WHERE job_name = 'syncAll';
