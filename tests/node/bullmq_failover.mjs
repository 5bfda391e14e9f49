// BullMQ on an rcache cluster through a leader change: 40 jobs, and once 10 have run the
// leader hands over. Usage: node bullmq_failover.mjs PORT PORT PORT
// Prints one JSON object: how often each job ran, the final counts, the worker's errors.
import { Queue, Worker } from "bullmq";
import Redis from "ioredis";

const ports = process.argv.slice(2).map(Number);
const host = "127.0.0.1";
const JOBS = 40;
const DEADLINE_MS = 40000;
const connect = () => new Redis.Cluster(ports.map((port) => ({ host, port })), {
  redisOptions: { maxRetriesPerRequest: null },
});
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const name = `failover-${process.pid}`;
const prefix = "{bull}";
const queue = new Queue(name, { connection: connect(), prefix });
const out = { runs: {}, workerErrors: [] };
let worker;
try {
  const started = Date.now();
  const overdue = () => Date.now() - started > DEADLINE_MS;
  worker = new Worker(name, async (job) => {
    out.runs[job.id] = (out.runs[job.id] ?? 0) + 1;
    await pause(20);
    return job.data.n;
  }, { connection: connect(), prefix, concurrency: 2 });
  worker.on("error", (err) => out.workerErrors.push(String(err)));
  await queue.addBulk(Array.from({ length: JOBS }, (_, n) => ({
    name: "job", data: { n }, opts: { jobId: `job-${n}` },
  })));
  while (Object.keys(out.runs).length < 10 && !overdue()) await pause(10);
  const probe = connect();
  await new Promise((resolve) => probe.once("ready", resolve));
  out.leaderBefore = probe.nodes("master").map((node) => node.options.port);
  const admin = new Redis({ host, port: out.leaderBefore[0] });
  out.transfer = await admin.call("RAFT.TRANSFER-LEADER");
  admin.disconnect();
  while ((await queue.getCompletedCount()) < JOBS && !overdue()) await pause(50);
  out.completed = await queue.getCompletedCount();
  out.failed = await queue.getFailedCount();
  out.returned = (await queue.getCompleted(0, JOBS)).map((job) => job.returnvalue)
    .sort((a, b) => a - b);
  probe.disconnect();
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  if (!out.error) await queue.obliterate({ force: true }).catch(() => {});
  const closing = [worker, queue].filter(Boolean).map((c) => c.close());
  await Promise.race([Promise.allSettled(closing), pause(5000)]);
}
console.log(JSON.stringify(out));
process.exit(0);
