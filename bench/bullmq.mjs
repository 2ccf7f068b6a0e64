// BullMQ 5 side of bench/jobs.sh (not a test): enqueues JOBS no-op jobs one `add` at a time,
// then one Worker with CONCURRENCY runs them; prints the same figures as examples/bench_jobs.rs.
// Runs from the temp dir the script installs bullmq into; uses its own key prefix and deletes
// every key under it afterwards.
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const n = Number(process.env.JOBS || 10000);
const concurrency = Number(process.env.CONCURRENCY || 100);
const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const prefix = `ai-service-bench-${process.pid}-${Date.now()}`;
const connection = new IORedis(url, { maxRetriesPerRequest: null });

const queue = new Queue('noop', { connection, prefix });
try {
  let start = performance.now();
  for (let i = 0; i < n; i++) {
    await queue.add('noop', { i });
  }
  const enqueue = n / ((performance.now() - start) / 1000);

  let done = 0;
  let worker;
  start = performance.now();
  await new Promise((resolve, reject) => {
    worker = new Worker('noop', async () => null, { connection, prefix, concurrency });
    worker.on('completed', () => {
      if (++done === n) resolve();
    });
    worker.on('error', reject);
  });
  const complete = n / ((performance.now() - start) / 1000);
  await worker.close();
  console.log(
    `bullmq   ${n} no-op jobs: enqueue ${enqueue.toFixed(0)}/s, claim->complete ${complete.toFixed(0)}/s`
  );
} finally {
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  // Whatever obliterate left (meta, events stream): nothing of the run stays in Redis.
  let cursor = '0';
  do {
    const [next, keys] = await connection.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await connection.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await connection.quit();
}
