// ioredis against one server: what an application does with it. Prints one JSON object.
import Redis from "ioredis";

const port = Number(process.argv[2]);
const redis = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 2 });
const out = {};
try {
  await redis.del("io:s", "io:n", "io:h", "io:l", "io:z", "io:bucket", "io:hll", "io:p",
    "io:stream", "io:w", "io:auto", "app:io:prefixed");
  out.set = await redis.set("io:s", "hello", "EX", 100);
  out.get = await redis.get("io:s");
  out.ttlPositive = (await redis.ttl("io:s")) > 0;
  out.incr = await redis.incrby("io:n", 5);
  out.hset = await redis.hset("io:h", { a: "1", b: "2" });
  out.hgetall = await redis.hgetall("io:h");
  out.rpush = await redis.rpush("io:l", "x", "y", "z");
  out.lrange = await redis.lrange("io:l", 0, -1);
  out.zadd = await redis.zadd("io:z", 1, "one", 2, "two");
  out.zrangeWithScores = await redis.zrange("io:z", 0, -1, "WITHSCORES");
  out.pipeline = await redis.pipeline().set("io:p", "1").incr("io:p").get("io:p").exec();
  out.multi = await redis.multi().incr("io:n").get("io:n").exec();
  // A Lua command with keys and args, called through EVALSHA with EVAL as the fallback.
  redis.defineCommand("takeToken", {
    numberOfKeys: 1,
    lua: `local left = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
          if left <= 0 then return {0, left} end
          redis.call('SET', KEYS[1], left - 1)
          return {1, left - 1}`,
  });
  out.takeToken = [];
  for (let i = 0; i < 3; i++) out.takeToken.push(await redis.takeToken("io:bucket", 2));
  out.takeTokenPipelined = await redis.pipeline().takeToken("io:bucket", 2).exec();
  redis.defineCommand("echoArgs", { lua: "return {KEYS[1], ARGV[1], #ARGV}" });
  out.echoArgsDynamicKeys = await redis.echoArgs(1, "io:k", "v1", "v2");
  try {
    await redis.eval("return redis.call('INCR', KEYS[1])", 1, "io:s");
  } catch (err) {
    out.scriptError = err.message;
  }
  out.scanned = (await new Promise((resolve, reject) => {
    const keys = [];
    redis.scanStream({ match: "io:*", count: 2 })
      .on("data", (batch) => keys.push(...batch))
      .on("end", () => resolve(keys))
      .on("error", reject);
  })).filter((k) => k === "io:h" || k === "io:l").sort();
  out.pfadd = await redis.pfadd("io:hll", "a", "b", "c");
  // Pub/sub on a second connection.
  const sub = new Redis({ port, host: "127.0.0.1" });
  const message = new Promise((resolve) => sub.on("message", (ch, msg) => resolve([ch, msg])));
  out.subscribed = await sub.subscribe("io:chan");
  out.published = await redis.publish("io:chan", "hi");
  out.message = await message;
  sub.disconnect();
  out.info = (await redis.info("server")).includes("redis_version:");
  out.getBuffer = [...(await redis.getBuffer("io:s"))];

  // A blocked XREAD on its own connection, woken by an XADD.
  const reader = new Redis({ port, host: "127.0.0.1" });
  const read = reader.xread("BLOCK", 10000, "STREAMS", "io:stream", "$");
  const deadline = Date.now() + 10000;
  while (!/blocked_clients:[1-9]/.test(await redis.info("clients"))) {
    if (Date.now() > deadline) throw new Error("XREAD never blocked");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await redis.xadd("io:stream", "5-1", "event", "created");
  out.xread = await read;
  reader.disconnect();

  // WATCH: a write from another connection makes EXEC return null.
  const watcher = new Redis({ port, host: "127.0.0.1" });
  await watcher.watch("io:w");
  await redis.set("io:w", "changed");
  out.watchExec = await watcher.multi().set("io:w", "mine").exec();
  out.watched = await redis.get("io:w");
  watcher.disconnect();

  // Auto-pipelining and a key prefix, two options applications turn on.
  const auto = new Redis({ port, host: "127.0.0.1", enableAutoPipelining: true });
  const counts = await Promise.all(Array.from({ length: 50 }, () => auto.incr("io:auto")));
  out.autoPipelined = [counts.length, Math.max(...counts)];
  auto.disconnect();
  const prefixed = new Redis({ port, host: "127.0.0.1", keyPrefix: "app:" });
  await prefixed.set("io:prefixed", "p");
  out.prefixed = await redis.get("app:io:prefixed");
  prefixed.disconnect();
  await redis.del("io:s", "io:n", "io:h", "io:l", "io:z", "io:bucket", "io:hll", "io:p",
    "io:stream", "io:w", "io:auto", "app:io:prefixed", "io:k");
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  redis.disconnect();
}
console.log(JSON.stringify(out));
