// node-redis's cluster client against an rcache cluster. Usage:
// node node_redis_cluster.mjs MODULE SEED_PORT [SEED_PORT...]; MODULE: "redis" or "redis-v4".
// Prints one JSON object.
import { printOnTimeout } from "./deadline.mjs";

const [moduleName, ...ports] = process.argv.slice(2);
const { createClient, createCluster } = await import(moduleName);

const cluster = createCluster({
  rootNodes: ports.map((port) => ({ socket: { host: "127.0.0.1", port: Number(port) } })),
});
cluster.on("error", () => {});
const out = {};
const deadline = printOnTimeout(out, 40000);
try {
  await cluster.connect();
  out.masters = cluster.masters.map((node) => node.port);
  const keys = Array.from({ length: 20 }, (_, i) => `nrc:key:${i}`);
  await Promise.all(keys.map((key, i) => cluster.set(key, String(i))));
  out.values = await Promise.all(keys.map((key) => cluster.get(key)));
  out.incr = await cluster.incrBy("nrc:counter", 7);
  out.multi = await cluster.multi().incr("nrc:{m}a").incr("nrc:{m}a").exec();
  out.eval = await cluster.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", {
    keys: ["nrc:counter"], arguments: ["3"],
  });
  // Reads on the replicas (useReplicas): they may lag the leader, as Redis replicas do, so
  // poll (bounded) until they show the writes.
  const readers = createCluster({
    rootNodes: ports.map((port) => ({ socket: { host: "127.0.0.1", port: Number(port) } })),
    useReplicas: true,
  });
  readers.on("error", () => {});
  await readers.connect();
  out.replicas = readers.replicas.map((node) => node.port).sort();
  const readDeadline = Date.now() + 10000;
  do {
    out.replicaReads = await Promise.all(["nrc:key:2", "nrc:key:3"].map((k) => readers.get(k)));
    if (Date.now() > readDeadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  } while (out.replicaReads.join() !== "2,3");
  await (readers.close ? readers.close() : readers.quit());
  out.sharded = await new Promise((resolve, reject) => {
    cluster.sSubscribe("nrc:{news}", (message, channel) => resolve([channel, message]))
      .then(() => cluster.sPublish("nrc:{news}", "hi"))
      .catch(reject);
  });
  // Failover: the leader hands over; the client follows the old leader's -MOVED.
  const admin = createClient({ socket: { host: "127.0.0.1", port: out.masters[0] } });
  admin.on("error", () => {});
  await admin.connect();
  out.transfer = await admin.sendCommand(["RAFT.TRANSFER-LEADER"]);
  // Not quit(): a node that stops leading closes its clients' connections (as Sentinel has a
  // demoted master do), and quit() would wait for ever for the reply of a closed one.
  await admin.disconnect();
  out.writesDuringFailover = 0;
  for (let i = 0; i < 400; i++) {
    await cluster.incr("nrc:counter");
    out.writesDuringFailover += 1;
    const masters = cluster.masters.map((node) => node.port);
    if (masters.length === 1 && masters[0] !== out.masters[0] && i >= 20) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  out.mastersAfter = cluster.masters.map((node) => node.port);
  // From the leader: a replica may not have applied the last write yet (useReplicas reads).
  const leader = createClient({ socket: { host: "127.0.0.1", port: out.mastersAfter[0] } });
  leader.on("error", () => {});
  await leader.connect();
  out.counterAfter = await leader.get("nrc:counter");
  await leader.quit();
  await Promise.all(keys.concat(["nrc:counter", "nrc:{m}a"]).map((key) => cluster.del(key)));
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  clearTimeout(deadline);
  await Promise.race([cluster.close?.() ?? cluster.disconnect(),
    new Promise((resolve) => setTimeout(resolve, 5000))]).catch(() => {});
}
console.log(JSON.stringify(out));
process.exit(0);
