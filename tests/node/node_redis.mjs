// node-redis (`redis` on npm) against one server. Usage: node node_redis.mjs MODULE PORT RESP
// MODULE is "redis" (current major) or "redis-v4"; RESP is 2 or 3 (3 needs v5 or later).
// Prints one JSON object.
const [moduleName, portArg, respArg] = process.argv.slice(2);
const { createClient, defineScript } = await import(moduleName);
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
  await client.del([`${p}s`, `${p}n`, `${p}h`, `${p}l`, `${p}z`, `${p}bucket`, `${p}set`]);
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
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  await client.quit().catch(() => {});
}
console.log(JSON.stringify(out));
