// BullMQ queue + worker + queue events against one server or a cluster.
// Usage: node bullmq_queue.mjs [--node-redis] PORT [PORT...]
// One PORT: a single server, through ioredis (BullMQ's default) or, with --node-redis,
// through node-redis 5 (BullMQ's node-redis adapter). Several PORTs: a cluster,
// through ioredis Cluster. Prints one JSON object: what the queue, worker and events saw.
import { createNodeRedisClient, Queue, QueueEvents, RedisConnection, Worker } from "bullmq";
import Redis from "ioredis";
import { createClient } from "redis";

const args = process.argv.slice(2);
const viaNodeRedis = args[0] === "--node-redis";
const ports = args.filter((arg) => !arg.startsWith("--")).map(Number);
const clustered = ports.length > 1;
const DEADLINE_MS = 40000;
const host = "127.0.0.1";

if (viaNodeRedis) {
  RedisConnection.clientFactory = () =>
    createNodeRedisClient(createClient({ socket: { host, port: ports[0] } }));
}

function connect() {
  if (viaNodeRedis) return { host, port: ports[0] }; // the factory above makes the client
  if (!clustered) return new Redis({ host, port: ports[0], maxRetriesPerRequest: null });
  return new Redis.Cluster(ports.map((port) => ({ host, port })), {
    redisOptions: { maxRetriesPerRequest: null },
  });
}

const name = `jobs-${process.pid}`;
// In a cluster a queue's keys must share one slot: a hash-tagged prefix, as BullMQ's docs say.
const prefix = clustered ? "{bull}" : "bull";
const queue = new Queue(name, { connection: connect(), prefix });
const events = new QueueEvents(name, { connection: connect(), prefix });
const out = { completed: {}, failed: {}, attemptsSeen: {}, progress: [], workerErrors: [] };
let worker;

const finished = new Promise((resolve) => {
  const want = new Set(["job-a", "job-b", "job-c", "job-later", "job-flaky", "job-broken"]);
  const done = (id) => { want.delete(id); if (want.size === 0) resolve(); };
  events.on("completed", ({ jobId, returnvalue }) => {
    out.completed[jobId] = returnvalue;
    done(jobId);
  });
  events.on("failed", ({ jobId, failedReason }) => {
    out.failed[jobId] = failedReason;
    done(jobId);
  });
  events.on("progress", ({ jobId, data }) => out.progress.push([jobId, data]));
});
const timeout = new Promise((_, reject) =>
  setTimeout(() => reject(new Error("jobs did not finish in time")), DEADLINE_MS).unref());

try {
  await events.waitUntilReady();
  worker = new Worker(name, async (job) => {
    out.attemptsSeen[job.id] = job.attemptsMade + 1;
    if (job.name === "flaky" && job.attemptsMade < 2) throw new Error(`flaky ${job.attemptsMade}`);
    if (job.name === "broken") throw new Error("always broken");
    await job.updateProgress(50);
    return { doubled: job.data.n * 2, name: job.name };
  }, { connection: connect(), prefix, concurrency: 2 });
  worker.on("error", (err) => out.workerErrors.push(String(err)));
  await worker.waitUntilReady();
  const started = Date.now();
  await queue.addBulk([
    { name: "plain", data: { n: 1 }, opts: { jobId: "job-a" } },
    { name: "plain", data: { n: 2 }, opts: { jobId: "job-b", priority: 1 } },
    { name: "plain", data: { n: 3 }, opts: { jobId: "job-c" } },
  ]);
  await queue.add("later", { n: 4 }, { jobId: "job-later", delay: 800 });
  await queue.add("flaky", { n: 5 }, {
    jobId: "job-flaky", attempts: 3, backoff: { type: "fixed", delay: 200 },
  });
  await queue.add("broken", { n: 6 }, {
    jobId: "job-broken", attempts: 2, backoff: { type: "exponential", delay: 100 },
  });
  out.delayedStateRightAfterAdd = await queue.getJobState("job-later");
  await Promise.race([finished, timeout]);
  const delayed = await queue.getJob("job-later");
  out.delayedWaitedMs = delayed.processedOn - delayed.timestamp;
  out.delayedFinishedAfterMs = Date.now() - started;
  const retried = await queue.getJob("job-flaky");
  out.retriedAttemptsMade = retried.attemptsMade;
  out.retriedStacktraces = retried.stacktrace.length;
  out.doomedState = await queue.getJobState("job-broken");
  out.counts = await queue.getJobCounts("completed", "failed", "delayed", "waiting", "active");
  out.completedIds = (await queue.getCompleted()).map((job) => job.id).sort();
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  if (!out.error) await queue.obliterate({ force: true }).catch(() => {});
  // Each close is bounded: a hung close must not hang the test.
  const closing = [worker, events, queue].filter(Boolean).map((c) => c.close());
  await Promise.race([Promise.allSettled(closing), new Promise((r) => setTimeout(r, 5000))]);
}
console.log(JSON.stringify(out));
process.exit(0);
