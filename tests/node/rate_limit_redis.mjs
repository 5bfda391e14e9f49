// express-rate-limit with rate-limit-redis's store, in an Express app served on a free port.
// Usage: node rate_limit_redis.mjs ioredis|node-redis PORT
//        node rate_limit_redis.mjs node-redis-cluster PORT [PORT...]  (with a change of leader)
// The store keeps hit counts with two Lua scripts (SCRIPT LOAD once, then EVALSHA). Prints one
// JSON object: the status codes and headers the clients got.
import express from "express";
import { rateLimit } from "express-rate-limit";
import Redis from "ioredis";
import { RedisStore } from "rate-limit-redis";
import { createClient, createCluster } from "redis";

const [kind, ...ports] = process.argv.slice(2);
const host = "127.0.0.1";
const out = {};
let redis;
let store;
let forgivingStore;
let server;

async function connect() {
  if (kind === "ioredis") {
    redis = new Redis({ host, port: Number(ports[0]), maxRetriesPerRequest: 2 });
    return { sendCommand: (command, ...args) => redis.call(command, ...args) };
  }
  if (kind === "node-redis") {
    redis = createClient({ socket: { host, port: Number(ports[0]) } });
    await redis.connect();
    return { sendCommand: (...args) => redis.sendCommand(args) };
  }
  const rootNodes = ports.map((port) => ({ socket: { host, port: Number(port) } }));
  redis = createCluster({ rootNodes });
  redis.on("error", () => {});
  await redis.connect();
  return {
    sendCommandCluster: ({ key, isReadOnly, command }) =>
      redis.sendCommand(key, isReadOnly, command),
  };
}

async function hit(path, ip = "10.0.0.1") {
  const reply = await fetch(`http://${host}:${server.address().port}${path}`, {
    headers: { "x-client": ip }, signal: AbortSignal.timeout(10000),
  });
  await reply.text();
  return [reply.status, reply.headers.get("ratelimit-remaining")];
}

try {
  const sender = await connect();
  store = new RedisStore({ ...sender, prefix: `rl-${kind}:` });
  const app = express();
  const limiter = rateLimit({
    windowMs: 60000, limit: 3, standardHeaders: "draft-6", legacyHeaders: false, store,
    keyGenerator: (req) => req.get("x-client"),
  });
  app.get("/api", limiter, (req, res) => res.send("ok"));
  // A failed request's hit is taken back (DECR): a limit of 1 lets both failures through.
  forgivingStore = new RedisStore({ ...sender, prefix: `rl-${kind}-forgiving:` });
  app.get("/forgiving", rateLimit({ windowMs: 60000, limit: 1, store: forgivingStore,
    skipFailedRequests: true, keyGenerator: (req) => req.get("x-client") }),
  (req, res) => res.status(500).send("no"));
  server = await new Promise((resolve) => { const s = app.listen(0, host, () => resolve(s)); });
  await store.resetKey("10.0.0.1");
  await store.resetKey("10.0.0.2");
  out.first = [await hit("/api"), await hit("/api")];
  out.neighbour = await hit("/api", "10.0.0.2"); // counted per client
  out.fetched = (await store.get("10.0.0.1")).totalHits;
  if (ports.length > 1) {
    const leaderPort = redis.masters[0].port;
    const admin = createClient({ socket: { host, port: leaderPort } });
    admin.on("error", () => {});
    await admin.connect();
    out.transfer = await admin.sendCommand(["RAFT.TRANSFER-LEADER"]);
    await admin.disconnect();
    const deadline = Date.now() + 30000;
    while (redis.masters.length !== 1 || redis.masters[0].port === leaderPort) {
      if (Date.now() > deadline) throw new Error("the client never saw the new leader");
      // a write: the old leader's MOVED makes the client reload the topology
      try {
        await redis.sendCommand("rl-probe", false, ["INCR", "rl-probe"]);
      } catch { /* an election under way */ }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    out.leaderMoved = true;
    await redis.sendCommand("rl-probe", false, ["DEL", "rl-probe"]);
  }
  out.rest = [await hit("/api"), await hit("/api"), await hit("/api")];
  await forgivingStore.resetKey("10.0.0.1");
  out.forgiving = [await hit("/forgiving"), await hit("/forgiving")];
  await store.resetKey("10.0.0.1");
  out.afterReset = await hit("/api");
  await store.resetKey("10.0.0.1");
  await store.resetKey("10.0.0.2");
  await forgivingStore.resetKey("10.0.0.1");
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  server?.close();
  await (kind === "ioredis" ? redis?.quit() : redis?.close?.());
}
console.log(JSON.stringify(out));
