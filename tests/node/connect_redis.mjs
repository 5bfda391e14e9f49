// express-session with connect-redis's store (over node-redis 5), in an Express app served on
// a free port: a login, visits counted in the session, its TTL from the cookie's maxAge, the
// store's listing (SCAN, MGET), a touch extending the TTL, a logout destroying it.
// Usage: node connect_redis.mjs PORT. Prints one JSON object: what the browser and store saw.
import { RedisStore } from "connect-redis";
import express from "express";
import session from "express-session";
import { createClient } from "redis";

const port = Number(process.argv[2]);
const host = "127.0.0.1";
const prefix = `sess-${process.pid}:`;
const client = createClient({ socket: { host, port } });
const out = {};
let server;

async function visit(path, cookie) {
  const reply = await fetch(`http://${host}:${server.address().port}${path}`, {
    headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(10000),
  });
  const setCookie = reply.headers.get("set-cookie");
  return [await reply.text(), setCookie ? setCookie.split(";")[0] : cookie];
}

try {
  await client.connect();
  const store = new RedisStore({ client, prefix });
  const app = express();
  app.use(session({ store, secret: "s3cret", resave: false, saveUninitialized: false,
    cookie: { maxAge: 600000 } }));
  app.get("/login/:user", (req, res) => {
    req.session.user = req.params.user;
    req.session.visits = 0;
    res.send("in");
  });
  app.get("/visit", (req, res) => {
    if (!req.session.user) return res.status(401).send("who?");
    req.session.visits += 1;
    res.send(`${req.session.user}:${req.session.visits}`);
  });
  app.get("/logout", (req, res) => req.session.destroy(() => res.send("out")));
  server = await new Promise((resolve) => { const s = app.listen(0, host, () => resolve(s)); });
  const call = (method, ...args) => new Promise((resolve, reject) =>
    store[method](...args, (err, value) => (err ? reject(err) : resolve(value))));

  out.anonymous = (await visit("/visit"))[0];
  let [body, ada] = await visit("/login/ada");
  out.login = body;
  out.visits = [(await visit("/visit", ada))[0], (await visit("/visit", ada))[0]];
  const [, bob] = await visit("/login/bob");
  const keys = (await client.keys(`${prefix}*`)).sort();
  out.keys = keys.length;
  const ttl = await client.ttl(keys[0]);
  out.ttlFromMaxAge = ttl > 0 && ttl <= 600;
  out.length = await call("length");
  out.users = (await call("all")).map((s) => s.user).sort();
  out.idsAreKeys = (await call("ids")).map((id) => prefix + id).sort().join() === keys.join();
  const sid = decodeURIComponent(ada.split("=")[1]).slice(2).split(".")[0];
  await client.expire(prefix + sid, 30);
  await call("touch", sid, { cookie: { expires: new Date(Date.now() + 300000) } });
  out.touchedTtl = (await client.ttl(prefix + sid)) > 30;
  [body] = await visit("/logout", ada);
  out.logout = body;
  out.afterLogout = (await visit("/visit", ada))[0];
  out.bobStays = (await visit("/visit", bob))[0];
  out.lengthAfter = await call("length");
  await call("clear");
  out.cleared = (await client.keys(`${prefix}*`)).length;
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  server?.close();
  await client.close();
}
console.log(JSON.stringify(out));
