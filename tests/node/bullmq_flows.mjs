// BullMQ beyond plain jobs, against one server: a flow (a parent job that runs after its
// children), a job scheduler (repeated jobs), pause/resume, promoting a delayed job,
// deduplication, job logs, removeOnComplete and clean, and a stalled job (its worker died)
// taken over by another worker. Usage: node bullmq_flows.mjs PORT
// Prints one JSON object.
import { FlowProducer, Queue, QueueEvents, Worker } from "bullmq";
import Redis from "ioredis";

const port = Number(process.argv[2]);
const connect = () => new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: null });
const DEADLINE_MS = 40000;
const name = `flows-${process.pid}`;
const queue = new Queue(name, { connection: connect() });
const events = new QueueEvents(name, { connection: connect() });
const flows = new FlowProducer({ connection: connect() });
const out = { order: [], workerErrors: [] };
let worker;
const others = []; // queues, workers and event listeners closed at the end

function waitFor(what, check) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + DEADLINE_MS;
    const poll = async () => {
      try {
        if (await check()) return resolve();
      } catch (err) {
        return reject(err);
      }
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 25);
    };
    poll();
  });
}

try {
  await events.waitUntilReady();
  const completed = new Set();
  events.on("completed", ({ jobId }) => completed.add(jobId));
  worker = new Worker(name, async (job) => {
    out.order.push(job.name);
    await job.log(`ran ${job.name}`);
    if (job.name === "parent") {
      const values = await job.getChildrenValues();
      return Object.values(values).reduce((sum, v) => sum + v, 0);
    }
    return job.data.n ?? 0;
  }, { connection: connect(), autorun: false });
  worker.on("error", (err) => out.workerErrors.push(String(err)));

  // Paused queue: jobs wait; the worker takes them only after resume.
  await queue.pause();
  out.pausedAtStart = await queue.isPaused();
  const tree = await flows.add({
    name: "parent", queueName: name, opts: { jobId: "flow-parent" },
    children: [
      { name: "child", queueName: name, data: { n: 20 }, opts: { jobId: "flow-child-1" } },
      { name: "child", queueName: name, data: { n: 22 }, opts: { jobId: "flow-child-2" } },
    ],
  });
  out.parentStateBefore = await tree.job.getState();
  await queue.add("dedup", { n: 1 }, { jobId: "dedup-1", deduplication: { id: "same" } });
  const duplicate = await queue.add("dedup", { n: 2 }, { deduplication: { id: "same" } });
  out.duplicateGotFirstId = duplicate.id;
  await queue.add("promoted", { n: 3 }, { jobId: "late-1", delay: 60000 });
  await (await queue.getJob("late-1")).promote();
  await queue.add("removed", { n: 4 }, { jobId: "gone-1", removeOnComplete: true });
  out.waitingWhilePaused = await queue.getWaitingCount();
  worker.run();
  await queue.resume();
  out.pausedAfterResume = await queue.isPaused();
  await waitFor("the flow, the deduplicated, promoted and removed jobs", () =>
    ["flow-parent", "dedup-1", "late-1", "gone-1"].every((id) => completed.has(id)));
  out.parentResult = (await queue.getJob("flow-parent")).returnvalue;
  out.parentRanLast = out.order.indexOf("parent") > out.order.lastIndexOf("child");
  out.logs = (await queue.getJobLogs("flow-parent")).logs;
  out.removedJobExists = (await queue.getJob("gone-1")) !== undefined;

  // A job scheduler: a job every 100 ms, at most 3.
  await queue.upsertJobScheduler("every-100ms", { every: 100, limit: 3 }, {
    name: "tick", data: { n: 0 },
  });
  await waitFor("3 scheduled ticks", () => out.order.filter((n) => n === "tick").length >= 3);
  out.schedulers = (await queue.getJobSchedulers()).map((s) => s.key);
  out.removedScheduler = await queue.removeJobScheduler("every-100ms");
  out.ticks = out.order.filter((n) => n === "tick").length;

  out.cleaned = (await queue.clean(0, 100, "completed")).length;
  out.completedAfterClean = await queue.getCompletedCount();

  // A stalled job: its worker takes it and dies (its lock is never renewed); the stalled
  // check of another worker puts it back, and that worker runs it.
  const stalledQueue = new Queue(`${name}-stalled`, { connection: connect() });
  others.push(stalledQueue);
  const stalledEvents = new QueueEvents(`${name}-stalled`, { connection: connect() });
  others.push(stalledEvents);
  await stalledEvents.waitUntilReady();
  const stalledSeen = new Promise((resolve) =>
    stalledEvents.on("stalled", ({ jobId }) => resolve(jobId)));
  await stalledQueue.add("stuck", {}, { jobId: "stuck-1" });
  const lockOptions = { connection: connect(), lockDuration: 500, stalledInterval: 300 };
  const dying = new Worker(`${name}-stalled`, () => new Promise(() => {}), lockOptions);
  await waitFor("the job to be taken", async () => (await stalledQueue.getActiveCount()) === 1);
  await dying.close(true); // force: no waiting for the job, no more lock renewals
  const rescuer = new Worker(`${name}-stalled`, async (job) => `rescued ${job.id}`,
    lockOptions);
  others.push(rescuer);
  await waitFor("the stalled job to complete",
    async () => (await stalledQueue.getCompletedCount()) === 1);
  out.stalledEvent = await stalledSeen;
  out.rescued = (await stalledQueue.getJob("stuck-1")).returnvalue;
  await stalledQueue.obliterate({ force: true });
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  if (!out.error) await queue.obliterate({ force: true }).catch(() => {});
  const closing = [worker, flows, events, queue, ...others].filter(Boolean)
    .map((c) => c.close());
  await Promise.race([Promise.allSettled(closing), new Promise((r) => setTimeout(r, 5000))]);
}
console.log(JSON.stringify(out));
process.exit(0);
