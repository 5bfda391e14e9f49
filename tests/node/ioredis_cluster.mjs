// ioredis Cluster against an rcache cluster: one Redis Cluster shard whose followers answer
// -MOVED to the leader. Usage: node ioredis_cluster.mjs SEED_PORT [SEED_PORT...]
// (seed with a follower to see MOVED followed). Prints one JSON object.
import Redis from "ioredis";

import { printOnTimeout } from "./deadline.mjs";

const seeds = process.argv.slice(2).map((port) => ({ host: "127.0.0.1", port: Number(port) }));
const cluster = new Redis.Cluster(seeds, {
  redisOptions: { maxRetriesPerRequest: 3 },
  clusterRetryStrategy: (times) => (times > 20 ? null : 100),
  slotsRefreshTimeout: 5000,
  // No periodic refresh: the client learns of a new leader only from a -MOVED reply.
  slotsRefreshInterval: 600000,
});
const out = {};
const deadline = printOnTimeout(out, 40000);
try {
  await new Promise((resolve, reject) => {
    cluster.once("ready", resolve);
    cluster.once("end", () => reject(new Error("cluster connection ended")));
  });
  out.masters = cluster.nodes("master").map((n) => n.options.port);
  out.replicas = cluster.nodes("slave").map((n) => n.options.port).sort();
  // Keys in many slots: each goes to the one master.
  const keys = Array.from({ length: 20 }, (_, i) => `ioc:key:${i}`);
  const others = ["ioc:counter", "ioc:{user1}:profile", "ioc:{t}a", "ioc:{t}b", "ioc:{p}x",
    "ioc:{p}y"];
  await cluster.del(...keys, ...others);
  await Promise.all(keys.map((key, i) => cluster.set(key, String(i))));
  out.values = await Promise.all(keys.map((key) => cluster.get(key)));
  out.incr = await cluster.incrby("ioc:counter", 7);
  out.hset = await cluster.hset("ioc:{user1}:profile", { name: "ada", visits: "1" });
  out.hincr = await cluster.hincrby("ioc:{user1}:profile", "visits", 2);
  out.mset = await cluster.mset("ioc:{t}a", "1", "ioc:{t}b", "2");
  out.mget = await cluster.mget("ioc:{t}a", "ioc:{t}b");
  out.pipeline = await cluster.pipeline()
    .set("ioc:{p}x", "1").incr("ioc:{p}x").get("ioc:{p}x").exec();
  out.multi = await cluster.multi().incr("ioc:{p}y").incr("ioc:{p}y").exec();
  cluster.defineCommand("swapIfEqual", {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('SET', KEYS[1], ARGV[2]); return 1 end
          return 0`,
  });
  out.swap = [
    await cluster.swapIfEqual("ioc:key:1", "1", "one"),
    await cluster.swapIfEqual("ioc:key:1", "1", "uno"),
  ];
  out.swapped = await cluster.get("ioc:key:1");
  out.keyslot = await cluster.cluster("KEYSLOT", "ioc:{user1}:profile");
  // Reads on the replicas too (scaleReads): a follower serves them once READONLY is sent.
  const readers = new Redis.Cluster(seeds, {
    scaleReads: "slave", slotsRefreshInterval: 600000,
    clusterRetryStrategy: (times) => (times > 20 ? null : 100),
  });
  await new Promise((resolve) => readers.once("ready", resolve));
  // A replica may lag the leader, as Redis replicas do: poll (bounded) until it shows them.
  const readDeadline = Date.now() + 10000;
  do {
    out.replicaReads = await Promise.all(["ioc:key:2", "ioc:key:3"].map((k) => readers.get(k)));
    if (Date.now() > readDeadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  } while (out.replicaReads.join() !== "2,3");
  readers.disconnect();
  // Sharded pub/sub (Redis 7): subscribed through the cluster client, published to the slot's
  // master.
  const subscriber = new Redis.Cluster(seeds, {
    slotsRefreshInterval: 600000, shardedSubscribers: true,
  });
  const shardMessage = new Promise((resolve) =>
    subscriber.on("smessage", (channel, message) => resolve([channel, message])));
  out.ssubscribed = await subscriber.ssubscribe("ioc:{news}");
  out.spublished = await cluster.spublish("ioc:{news}", "hello");
  out.smessage = await shardMessage;
  subscriber.disconnect();
  // Failover: the leader hands over; the old leader now answers -MOVED, which the client
  // follows (refreshing its slot map) while the writes go on.
  const admin = new Redis({ host: "127.0.0.1", port: out.masters[0] });
  out.transfer = await admin.call("RAFT.TRANSFER-LEADER");
  admin.disconnect();
  out.writesDuringFailover = 0;
  for (let i = 0; i < 400; i++) {
    await cluster.incr("ioc:counter");
    out.writesDuringFailover += 1;
    const masters = cluster.nodes("master").map((n) => n.options.port);
    if (masters.length === 1 && masters[0] !== out.masters[0] && i >= 20) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  out.mastersAfter = cluster.nodes("master").map((n) => n.options.port);
  out.counterAfter = await cluster.get("ioc:counter");
  out.valuesAfter = await Promise.all(keys.slice(0, 3).map((key) => cluster.get(key)));
  await cluster.del(...keys, ...others);
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  clearTimeout(deadline);
  cluster.disconnect();
}
console.log(JSON.stringify(out));
