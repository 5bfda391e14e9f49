// node-redis (`redis` on npm) against one server. Usage: node node_redis.mjs MODULE PORT RESP
// MODULE is "redis" (current major) or "redis-v4"; RESP is 2 or 3 (3 needs v5 or later).
// Prints one JSON object.
const [moduleName, portArg, respArg] = process.argv.slice(2);
const { BasicClientSideCache, createClient, defineScript, WatchError } = await import(moduleName);
const resp = Number(respArg);

const scripts = {
  takeToken: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: `local left = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
             if left <= 0 then return {0, left} end
             redis.call('SET', KEYS[1], left - 1)
             return {1, left - 1}`,
    // v4 names these transformArguments/transformReply; v5+ parseCommand/transformReply.
    transformArguments: (key, capacity) => [key, String(capacity)],
    parseCommand: (parser, key, capacity) => {
      parser.pushKey(key);
      parser.push(String(capacity));
    },
    transformReply: (reply) => reply,
  }),
};
const options = { socket: { host: "127.0.0.1", port: Number(portArg) }, scripts };
if (resp === 3) options.RESP = 3;
const client = createClient(options);
client.on("error", () => {}); // a failed connect rejects connect() below
const out = {};
try {
  await client.connect();
  const p = `nr${resp}:`;
  out.hello = resp === 3 ? (await client.hello()).proto ?? null : null;
  await client.del([`${p}s`, `${p}n`, `${p}h`, `${p}l`, `${p}z`, `${p}bucket`, `${p}set`,
    `${p}stream`, `${p}w`, `${p}q`, `${p}csc`]);
  out.set = await client.set(`${p}s`, "hello", { EX: 100 });
  out.get = await client.get(`${p}s`);
  out.getMissing = await client.get(`${p}missing`);
  out.incr = await client.incrBy(`${p}n`, 5);
  out.hset = await client.hSet(`${p}h`, { a: "1", b: "2" });
  out.hgetall = { ...(await client.hGetAll(`${p}h`)) };
  out.rpush = await client.rPush(`${p}l`, ["x", "y", "z"]);
  out.lrange = await client.lRange(`${p}l`, 0, -1);
  out.zadd = await client.zAdd(`${p}z`, [{ score: 1, value: "one" }, { score: 2.5, value: "two" }]);
  out.zrangeWithScores = await client.zRangeWithScores(`${p}z`, 0, -1);
  out.zscore = await client.zScore(`${p}z`, "two");
  out.sadd = await client.sAdd(`${p}set`, ["a", "b"]);
  out.smembers = (await client.sMembers(`${p}set`)).sort();
  out.multi = await client.multi().incr(`${p}n`).get(`${p}n`).exec();
  out.takeToken = [];
  for (let i = 0; i < 3; i++) out.takeToken.push(await client.takeToken(`${p}bucket`, 2));
  out.eval = await client.eval("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}", {
    keys: [`${p}n`], arguments: ["arg"],
  });
  try {
    await client.eval("return redis.call('INCR', KEYS[1])", { keys: [`${p}s`] });
  } catch (err) {
    out.scriptError = err.message;
  }
  out.scriptExists = await client.scriptExists(
    await client.scriptLoad("return 1"));
  out.scanned = [];
  for await (const batch of client.scanIterator({ MATCH: `${p}*`, COUNT: 2 })) {
    out.scanned.push(...(Array.isArray(batch) ? batch : [batch]));
  }
  out.scanned.sort();
  const sub = client.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  const message = new Promise((resolve) => {
    sub.subscribe(`${p}chan`, (msg, channel) => resolve([channel, msg]));
  });
  // Publish only once the subscription is in place on the server.
  const deadline = Date.now() + 10000;
  while ((await client.pubSubNumSub(`${p}chan`))[`${p}chan`] !== 1) {
    if (Date.now() > deadline) throw new Error("subscription never registered");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  out.published = await client.publish(`${p}chan`, "hi");
  out.message = await message;
  await sub.quit();
  await client.del([`${p}stream`, `${p}w`, `${p}q`, `${p}csc`]);

  // A Redis 7 function library, loaded and called.
  out.functionLoad = await client.functionLoad(
    `#!lua name=${p.slice(0, -1)}lib
     redis.register_function('bump', function(keys, args)
       return redis.call('INCRBY', keys[1], args[1]) end)`, { REPLACE: true });
  out.fcall = await client.fCall("bump", { keys: [`${p}n`], arguments: ["10"] });

  // A stream read by a consumer group (sent raw: node-redis 5 keeps RESP3 stream replies
  // behind a flag), then acknowledged.
  const id = await client.xAdd(`${p}stream`, "1-1", { field: "value" });
  await client.xGroupCreate(`${p}stream`, "group", "0");
  out.xreadgroup = await client.sendCommand(
    ["XREADGROUP", "GROUP", "group", "alice", "COUNT", "5", "STREAMS", `${p}stream`, ">"]);
  out.xack = await client.xAck(`${p}stream`, "group", id);
  out.xpending = await client.sendCommand(["XPENDING", `${p}stream`, "group"]);

  // Blocking pop on its own connection: an empty list times out, a push wakes it.
  const blocker = client.duplicate();
  blocker.on("error", () => {});
  await blocker.connect();
  out.blpopTimeout = await blocker.blPop(`${p}q`, 0.05);
  const popped = blocker.blPop(`${p}q`, 10);
  const pushDeadline = Date.now() + 10000;
  while (!/blocked_clients:[1-9]/.test(await client.info("clients"))) {
    if (Date.now() > pushDeadline) throw new Error("BLPOP never blocked");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await client.rPush(`${p}q`, "job");
  out.blpop = await popped;
  await blocker.quit();

  // WATCH: a write from another connection makes EXEC fail.
  const watcher = client.duplicate();
  watcher.on("error", () => {});
  await watcher.connect();
  await watcher.watch(`${p}w`);
  await client.set(`${p}w`, "changed");
  try {
    out.watchExec = await watcher.multi().set(`${p}w`, "mine").exec();
  } catch (err) {
    out.watchExec = err instanceof WatchError ? "WatchError" : String(err);
  }
  out.watched = await client.get(`${p}w`);
  await watcher.quit();

  // Client-side caching (RESP3 only, node-redis 5): a second read is served from the
  // cache; a write from another connection invalidates it.
  if (resp === 3 && BasicClientSideCache) {
    const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0 });
    const cached = createClient({ ...options, clientSideCache: cache });
    cached.on("error", () => {});
    await cached.connect();
    await client.set(`${p}csc`, "v1");
    const reads = [await cached.get(`${p}csc`), await cached.get(`${p}csc`)];
    const hits = cache.stats().hitCount;
    await client.set(`${p}csc`, "v2");
    const invalidateDeadline = Date.now() + 10000;
    while ((await cached.get(`${p}csc`)) !== "v2") {
      if (Date.now() > invalidateDeadline) throw new Error("cached value never invalidated");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    out.clientSideCache = { reads, hits, invalidatedTo: "v2" };
    await cached.quit();
  }
  await client.del([`${p}stream`, `${p}w`, `${p}q`, `${p}csc`]);
  await client.functionDelete(`${p.slice(0, -1)}lib`);
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  await client.quit().catch(() => {});
}
console.log(JSON.stringify(out));
