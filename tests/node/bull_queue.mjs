// Bull 4 (BullMQ's predecessor) against one server: a queue processing jobs, a delayed job,
// retries with backoff, a job that fails for good, progress, priorities, a repeatable job,
// pause and resume, global events; Lua scripts throughout, BRPOPLPUSH to wait for jobs.
// Usage: node bull_queue.mjs PORT. Prints one JSON object: what the queue and processor saw.
import Queue from "bull";

const port = Number(process.argv[2]);
const DEADLINE_MS = 40000;
const name = `bull-${process.pid}`;
const queue = new Queue(name, { redis: { host: "127.0.0.1", port } });
const out = { processed: [], completed: {}, failed: {}, progress: [], errors: [] };

function within(promise, what) {
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`${what} did not happen in time`)), DEADLINE_MS).unref());
  return Promise.race([promise, timeout]);
}

try {
  queue.on("error", (err) => out.errors.push(String(err)));
  await within(queue.isReady(), "connecting");
  const want = new Set(["a", "b", "c", "later", "flaky", "broken", "urgent"]);
  let ticks = 0;
  const finished = new Promise((resolve) => {
    const done = (id) => { want.delete(id); if (want.size === 0 && ticks >= 2) resolve(); };
    queue.on("global:completed", (id, result) => {
      if (id.startsWith("repeat:")) ticks += 1;
      else out.completed[id] = JSON.parse(result);
      done(id);
    });
    queue.on("global:failed", (id, reason) => { out.failed[id] = reason; done(id); });
    queue.on("global:progress", (id, progress) => out.progress.push([id, progress]));
  });
  await queue.pause(); // jobs queue up while paused, then run in priority order
  await queue.add({ n: 1 }, { jobId: "a" });
  await queue.add({ n: 2 }, { jobId: "b" });
  await queue.add({ n: 3 }, { jobId: "c" });
  await queue.add({ n: 9 }, { jobId: "urgent", priority: 1 });
  out.waitingWhilePaused = await queue.getWaitingCount();
  const addedLater = Date.now();
  const later = await queue.add({ n: 4 }, { jobId: "later", delay: 1000 });
  out.delayedState = await later.getState();
  await queue.add({ n: 5, flaky: true }, { jobId: "flaky", attempts: 3,
    backoff: { type: "fixed", delay: 100 } });
  await queue.add({ n: 6, broken: true }, { jobId: "broken", attempts: 2 });
  await queue.add("tick", { n: 0 }, { repeat: { every: 200, limit: 2 } });
  queue.process("tick", async () => "tick");
  queue.process(async (job) => {
    out.processed.push(job.id);
    if (job.id === "later") out.laterWaitedMs = Date.now() - addedLater;
    if (job.data.flaky && job.attemptsMade < 2) throw new Error(`flaky ${job.attemptsMade}`);
    if (job.data.broken) throw new Error("always broken");
    await job.progress(50);
    return { doubled: job.data.n * 2 };
  });
  await queue.resume();
  await within(finished, "every job");
  out.firstFour = out.processed.slice(0, 4);
  out.processed.sort();
  out.progress.sort();
  const flaky = await queue.getJob("flaky");
  out.flaky = [flaky.attemptsMade, flaky.stacktrace.length, await flaky.getState()];
  const broken = await queue.getJob("broken");
  out.broken = [broken.attemptsMade, await broken.getState()];
  await broken.retry(); // moved back to wait, fails again
  await within(new Promise((resolve) => queue.once("global:failed", resolve)), "the retry");
  out.brokenAfterRetry = (await queue.getJob("broken")).attemptsMade;
  out.counts = await queue.getJobCounts();
  out.repeatable = (await queue.getRepeatableJobs()).map((job) => job.every);
  out.completedIds = (await queue.getCompleted()).map((job) => job.id)
    .filter((id) => !id.startsWith("repeat:")).sort();
  await queue.clean(0, "completed");
  out.completedAfterClean = await queue.getCompletedCount();
  await queue.obliterate({ force: true });
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  await queue.close();
}
console.log(JSON.stringify(out));
