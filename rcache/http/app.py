"""The HTTP routes. Every key operation runs through the same code as on RESP: reads are routed
by ``Cluster.route_read`` (so ``?consistency=`` means what it means on RESP, and a default read
follows the node's lease rule), then served by the command table's handlers; writes are
submitted to the Raft log by ``Replicator.submit``; membership changes run the RAFT.NODE and
RAFT.TRANSFER-LEADER handlers.

A request only the leader can serve, arriving at a follower, gets ``307`` with the leader's
URL in ``Location``, or is relayed to the leader with ``follower-proxy yes``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import redis.asyncio
import redis.exceptions
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import errors
from ..cluster import PROXY
from ..commands.acl import noperm_reply
from ..commands.acl_rules import User, denial
from ..commands.keyspace import keys_under
from ..commands.table import Context, lookup
from ..entries import COMMAND
from ..errors import CommandError
from ..interfaces import Node
from ..pending import Pending
from ..storage import TYPE_NAMES
from . import HttpPortUnavailable
from .metrics import registry_for
from .peers import Peers
from .state import follower_lag, local_state

STATIC = Path(__file__).parent / "static"
MAX_LIST_LIMIT = 1000  # keys per GET /v1/keys page
MAX_ELEMENTS = 1000  # elements of a collection shown by GET /v1/keys/<key>
_CONSISTENCY = ("default", "linearizable", "stale")
# Error replies that mean "not now" rather than "not this request".
_UNAVAILABLE = ("TRYAGAIN", "CLUSTERDOWN", errors.OUTCOME_UNKNOWN)


class HttpError(Exception):
    """A reply other than 200, with its message (sent as {"error": message})."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _HttpCaller:
    """The client a command handler sees for an HTTP request: its read level for routing, and
    ``run_async``, through which admin handlers hand back the coroutine the request awaits."""

    readonly = False
    tls = False  # redirects name plaintext ports
    local = False  # enable-protected-configs local: not a local connection

    def __init__(self, read_consistency: str | None = None) -> None:
        self.read_consistency = read_consistency

    @staticmethod
    def run_async(coro):
        return coro


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _error_response(err: CommandError) -> web.Response:
    text = str(err)
    if text.startswith(_UNAVAILABLE):
        status = 503
    elif text.startswith("WRONGTYPE"):
        status = 409
    elif text.startswith("OOM"):  # maxmemory reached and nothing may be evicted
        status = 507
    else:
        status = 400
    return _json({"error": text}, status)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def _wait(start: Callable[[Callable[[Pending], None]], Pending]) -> object:
    """Await a Pending started by ``start(on_done)`` (a write, a read barrier)."""
    done = asyncio.get_running_loop().create_future()
    start(lambda pending: done.done() or done.set_result(pending.value))
    return await done


class HttpService:
    def __init__(self, server: Node) -> None:
        self.server = server
        self.config = server.config
        self.peers = Peers(server)
        self.registry = registry_for(server)
        self._session: aiohttp.ClientSession | None = None  # follower-proxy relay
        self._runner: web.AppRunner | None = None
        app = web.Application(client_max_size=self.config.proto_max_bulk_len,
                              middlewares=[self._guard])
        app.router.add_get("/", self.index)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/v1/keys", self.list_keys)
        app.router.add_get("/v1/keys/{key:.+}", self.get_key)
        app.router.add_put("/v1/keys/{key:.+}", self.put_key)
        app.router.add_delete("/v1/keys/{key:.+}", self.delete_key)
        app.router.add_get("/v1/cluster", self.cluster_state)
        app.router.add_post("/v1/cluster/members", self.add_member)
        app.router.add_delete("/v1/cluster/members/{id}", self.remove_member)
        app.router.add_post("/v1/cluster/transfer-leader", self.transfer_leader)
        self.app = app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.bind, self.config.http_port,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            await self._runner.cleanup()
            raise HttpPortUnavailable(
                f"cannot listen for HTTP on {self.config.bind}:{self.config.http_port} "
                f"(http-port): {err.strerror or err}") from None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        await self.peers.close()

    # -- every request -----------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        """Password, CORS for the other members' pages, errors as JSON, and 503 while the
        node is still starting."""
        origin = request.headers.get("Origin")
        allowed = origin if origin and await self.peers.is_member_url(origin) else None
        if request.method == "OPTIONS" and allowed:
            response: web.StreamResponse = web.Response(status=204, headers={
                "Access-Control-Allow-Methods": "GET, PUT, POST, DELETE",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": "600"})
        else:
            response = await self._handle(request, handler)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Vary"] = "Origin"
        return response

    async def _handle(self, request: web.Request, handler) -> web.StreamResponse:
        page = request.path == "/" or request.path.startswith("/static/")
        if not page:
            user = self._authenticate(request.headers.get("Authorization", ""))
            if user is None:
                return web.json_response(
                    {"error": "Authorization: Bearer <requirepass>, or Basic or Bearer with "
                              "<user>:<password> of an ACL user, required"}, status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="rcache", Basic realm="rcache"'})
            request["user"] = user
        if self.server.replicator is None and not page:
            return _json({"error": "the node is starting"}, 503)
        try:
            return await handler(request)
        except HttpError as err:
            return _json({"error": str(err)}, err.status)
        except CommandError as err:
            return _error_response(err)
        except (RuntimeError, TimeoutError) as err:  # the cluster did not answer in time
            return _json({"error": str(err) or "timed out"}, 503)

    def _authenticate(self, authorization: str) -> User | None:
        """The ACL user a request acts as: ``Basic`` or ``Bearer`` with ``user:password``, or
        ``Bearer <password>`` of the default user (requirepass); without the header, the
        default user if it needs no password. None: not authenticated."""
        users = self.server.users
        scheme, _, credentials = authorization.partition(" ")
        if not authorization:
            name, password = b"default", b""
        elif scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True)
            except binascii.Error:
                return None
            name, _, password = decoded.partition(b":")
        elif scheme.lower() == "bearer":
            name, password = b"default", credentials.encode()
            if not users.get(name).check_password(password) and ":" in credentials:
                name, _, password = password.partition(b":")
        else:
            return None
        user = users.get(name)
        return user if user is not None and user.check_password(password) else None

    @staticmethod
    def _permit(request: web.Request, argv: list[bytes]) -> None:
        """The request's user must be allowed the command the request runs, on its keys, as
        on the client port (the NOPERM text is the same)."""
        refused = denial(request["user"], lookup(argv), argv)
        if refused is not None:
            raise HttpError(403, str(noperm_reply(*refused)))

    # -- routing to the leader -----------------------------------------------------------------
    async def _elsewhere(self, request: web.Request) -> web.StreamResponse:
        """Where a follower sends a request only the leader serves."""
        leader = self.server.cluster.leader_id()
        url = await self.peers.url_of(leader) if leader else None
        if url is None:
            message = errors.CLUSTERDOWN if leader is None else \
                f"the leader ({leader}) has no HTTP port known to this node"
            return _json({"error": message}, 503)
        target = url + request.rel_url.path_qs
        if self.config.follower_proxy:
            return await self._relay(request, target)
        return web.Response(status=307, headers={"Location": target})

    async def _relay(self, request: web.Request, target: str) -> web.Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        headers = {name: request.headers[name] for name in ("Authorization", "Content-Type")
                   if name in request.headers}
        try:
            async with self._session.request(request.method, target, headers=headers,
                                             data=await request.read(),
                                             allow_redirects=False) as reply:
                body = await reply.read()
                relayed = {name: reply.headers[name] for name in ("Content-Type", "Location")
                           if name in reply.headers}
                return web.Response(status=reply.status, body=body, headers=relayed)
        except (aiohttp.ClientError, TimeoutError) as err:
            return _json({"error": f"{errors.OUTCOME_UNKNOWN}: {err}"}, 503)

    async def _read_here(self, request: web.Request, argv: list[bytes]
                         ) -> web.StreamResponse | None:
        """Route a read as RESP does: None when this node may serve it now (after a ReadIndex
        barrier for a linearizable read), else the response that sends it to the leader."""
        self._permit(request, argv)
        consistency = request.query.get("consistency")
        if consistency is not None and consistency not in _CONSISTENCY:
            raise HttpError(400, "consistency must be one of: " + ", ".join(_CONSISTENCY))
        cluster = self.server.cluster
        route = cluster.route_read(_HttpCaller(consistency), lookup(argv), argv)
        if route is True:
            outcome = await _wait(self.server.replicator.read_barrier)
            if outcome is not True:
                return _error_response(outcome)
            return None
        if route is None:
            return None
        if route is PROXY or isinstance(route, CommandError):
            return await self._elsewhere(request)
        raise AssertionError(f"unexpected read route {route!r}")

    async def _write(self, request: web.Request, db: int, argv: list[bytes]) -> object:
        self._permit(request, argv)
        cmd = lookup(argv)
        if "denyoom" in cmd.flags:
            refused = self.server.eviction.admit()  # maxmemory, as on the client port
            if refused is not None:
                raise refused
        # A syntax error is answered before the log, as on the client port.
        parsed = cmd.parser(argv) if cmd.parser is not None else None
        value = await _wait(lambda done: self.server.replicator.submit(
            (COMMAND, db, argv), done, (cmd, parsed)))
        if isinstance(value, CommandError):
            raise value
        return value

    async def _admin(self, request: web.Request, argv: list[bytes]) -> object:
        """Run a cluster-administration command's handler (the leader's only)."""
        self._permit(request, argv)
        value = lookup(argv).call(self._context(0), argv)
        return await value if asyncio.iscoroutine(value) else value

    def _context(self, db: int) -> Context:
        server = self.server
        ks = server.store.keyspace(db, int(time.time() * 1000))
        return Context(ks, random, _HttpCaller(), server)

    def _db(self, request: web.Request) -> int:
        db = self._int_query(request, "db", 0)
        if not 0 <= db < self.config.databases:
            raise HttpError(400, errors.DB_INDEX)
        return db

    @staticmethod
    def _int_query(request: web.Request, name: str, default: int) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise HttpError(400, f"{name} must be an integer") from None

    # -- pages, health, metrics ----------------------------------------------------------------
    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def health(self, request: web.Request) -> web.Response:
        """200 when this node has a leader and has applied all it knows committed; with
        ``?role=leader`` only on a healthy leader (for load balancers)."""
        state = local_state(self.server)
        ok = state.healthy and (request.query.get("role") != "leader" or state.role == "leader")
        return _json(state.as_json(), 200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    # -- keys ------------------------------------------------------------------------------------
    @staticmethod
    def _key(request: web.Request) -> bytes:
        return request.match_info["key"].encode()

    async def list_keys(self, request: web.Request) -> web.StreamResponse:
        """Keys in byte order under ``prefix``, at most ``limit`` (bounded), from after
        ``after`` (the previous page's ``next``), with type and TTL."""
        db = self._db(request)
        limit = self._int_query(request, "limit", 100)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise HttpError(400, f"limit must be between 1 and {MAX_LIST_LIMIT}")
        elsewhere = await self._read_here(request, [b"keys", b"*"])
        if elsewhere is not None:
            return elsewhere
        prefix = request.query.get("prefix", "").encode()
        after = request.query.get("after", "").encode()
        ks = self._context(db).ks
        found = []
        more = False
        for key in keys_under(ks, prefix, after + b"\0" if after else b""):
            if len(found) == limit:
                more = True
                break
            record = ks.lookup(key)
            if record is not None:
                found.append({"key": _text(key), "type": TYPE_NAMES[record[0]].decode(),
                              "ttl": self._ttl(ks.now_ms, record[1])})
        return _json({"db": db, "keys": found, "next": found[-1]["key"] if more else None})

    @staticmethod
    def _ttl(now_ms: int, expire_at: int) -> float | None:
        return None if not expire_at else max(0, expire_at - now_ms) / 1000

    async def get_key(self, request: web.Request) -> web.StreamResponse:
        db, key = self._db(request), self._key(request)
        elsewhere = await self._read_here(request, [b"get", key])
        if elsewhere is not None:
            return elsewhere
        ctx = self._context(db)
        ctx.ks.read_stats = self.server.keyspace_stats
        with ctx.ks.reads_counted():  # one hit or miss, as GET counts; the elements' reads not
            record = ctx.ks.lookup(key)
        if record is None:
            raise HttpError(404, "no such key")
        kind = TYPE_NAMES[record[0]].decode()
        view = {"key": _text(key), "db": db, "type": kind,
                "ttl": self._ttl(ctx.ks.now_ms, record[1])}
        if kind == "string":
            try:
                view["value"] = record[2].decode("utf-8")
            except UnicodeDecodeError:
                view["value"], view["encoding"] = base64.b64encode(record[2]).decode(), "base64"
        else:
            view.update(self._collection(ctx, kind, key))
        return _json(view)

    @staticmethod
    def _collection(ctx: Context, kind: str, key: bytes) -> dict:
        """The first MAX_ELEMENTS elements of a collection, by the commands' own handlers."""
        def call(*argv: bytes):
            return lookup(list(argv)).call(ctx, list(argv))

        last = str(MAX_ELEMENTS - 1).encode()
        count = str(MAX_ELEMENTS).encode()
        if kind == "list":
            length, value = call(b"llen", key), [_text(v) for v in call(b"lrange", key, b"0", last)]
        elif kind == "set":
            length = call(b"scard", key)
            value = [_text(v) for v in call(b"sscan", key, b"0", b"count", count)[1]]
        elif kind == "hash":
            length = call(b"hlen", key)
            flat = call(b"hscan", key, b"0", b"count", count)[1]
            value = {_text(f): _text(v) for f, v in zip(flat[::2], flat[1::2], strict=True)}
        elif kind == "stream":
            length = call(b"xlen", key)
            value = [[_text(entry_id), [_text(item) for item in fields]]
                     for entry_id, fields in call(b"xrange", key, b"-", b"+", b"count", count)]
        else:
            length = call(b"zcard", key)
            pairs = call(b"zrange", key, b"0", last, b"withscores")
            value = [[_text(member), score] for member, score in pairs]
        return {"length": length, "value": value, "truncated": len(value) < length}

    async def put_key(self, request: web.Request) -> web.StreamResponse:
        """The body is the value (a string); ``?ttl=`` seconds; ``?encoding=base64``."""
        db, key = self._db(request), self._key(request)
        if not self.server.replicator.is_leader:
            return await self._elsewhere(request)
        value = await request.read()  # bounded by client_max_size: proto-max-bulk-len at start
        if len(value) > self.config.proto_max_bulk_len:  # and now
            raise HttpError(413, errors.STRING_TOO_LONG)
        if request.query.get("encoding") == "base64":
            try:
                value = base64.b64decode(value, validate=True)
            except binascii.Error:
                raise HttpError(400, "the body is not valid base64") from None
        argv = [b"set", key, value]
        ttl = self._int_query(request, "ttl", 0)
        if "ttl" in request.query:
            if ttl <= 0:
                raise HttpError(400, "ttl must be a positive number of seconds")
            argv += [b"ex", str(ttl).encode()]
        await self._write(request, db, argv)
        return _json({"key": _text(key), "db": db, "ttl": ttl or None})

    async def delete_key(self, request: web.Request) -> web.StreamResponse:
        db, key = self._db(request), self._key(request)
        if not self.server.replicator.is_leader:
            return await self._elsewhere(request)
        deleted = await self._write(request, db, [b"del", key])
        if not deleted:
            raise HttpError(404, "no such key")
        return _json({"key": _text(key), "db": db, "deleted": deleted})

    # -- cluster -----------------------------------------------------------------------------------
    async def cluster_state(self, request: web.Request) -> web.Response:
        """Members with role, addresses, term, commit and applied index and lag, as each
        member reports it (asked over its client port); unreachable members say so."""
        server = self.server
        cluster = server.cluster
        states = await self.peers.states()
        me = local_state(server)
        leader = cluster.leader_id()
        leader_state = states.get(leader) if leader else None
        leader_commit = leader_state.commit_index if leader_state else None
        replication_lag = follower_lag(server)
        learners = cluster.learner_ids()
        members = []
        for node_id, (raft, client) in sorted(cluster.members().items()):
            state = states.get(node_id)
            entry = {"id": node_id, "raft": raft, "client": client,
                     "learner": node_id in learners,
                     "http": self.peers.known_url(node_id), "reachable": state is not None}
            if state is not None:
                entry.update(state.as_json())
                if leader_commit is not None:
                    entry["lag"] = max(0, leader_commit - state.applied_index)
            if node_id in replication_lag:
                entry["replication_lag"] = replication_lag[node_id]
            members.append(entry)
        return _json({
            "node": cluster.node_id, "role": me.role, "leader": leader, "term": me.term,
            "leader_http": self.peers.known_url(leader) if leader else None,
            "commit_index": me.commit_index, "applied_index": me.applied_index,
            "stats": {"commands_processed": server.stats.commands_processed,
                      "write_commands": server.stats.writes_submitted,
                      "connected_clients": len(server.clients)},
            "members": members})

    async def _json_body(self, request: web.Request) -> dict:
        if not request.can_read_body:
            return {}
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise HttpError(400, "the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise HttpError(400, "the body must be a JSON object")
        return body

    async def add_member(self, request: web.Request) -> web.StreamResponse:
        """Add a node. {"address": "host:port"}: the client address of a node started without
        --join (an empty one-node cluster), which is told to join, as --join would have made it
        do at start (RAFT.CLUSTER JOIN). {"id", "raft", "client"}: record a node that will
        start with --join (RAFT.NODE ADD). Either joins as a learner, promoted once caught
        up; with "learner": true (... LEARNER) it stays one until RAFT.NODE PROMOTE."""
        if not self.server.replicator.is_leader:
            return await self._elsewhere(request)
        body = await self._json_body(request)
        address = body.get("address")
        if isinstance(address, str) and address.rpartition(":")[2].isdigit():
            # what this request makes the joining node run
            learner = [b"learner"] if body.get("learner") is True else []
            self._permit(request, [b"raft.cluster", b"join", self.config.client_address.encode(),
                                   *learner])
            await self._tell_to_join(address, *learner)
        else:
            fields = [body.get(name) for name in ("id", "raft", "client")]
            if not all(isinstance(field, str) and field for field in fields):
                raise HttpError(400, 'expected {"address": "host:port"} or {"id": ..., '
                                     '"raft": "host:port", "client": "host:port"}')
            kept = [b"learner"] if body.get("learner") is True else []
            await self._admin(request, [b"raft.node", b"add", *(f.encode() for f in fields),
                                        *kept])
        cluster = self.server.cluster
        learners = cluster.learner_ids()
        return _json({"members": [{"id": node, "raft": raft, "client": client,
                                   "learner": node in learners}
                                  for node, (raft, client) in sorted(cluster.members().items())]},
                     201)

    async def _tell_to_join(self, address: str, *learner: bytes) -> None:
        host, port = address.rsplit(":", 1)
        conn = redis.asyncio.Redis(host=host, port=int(port), socket_connect_timeout=5,
                                   socket_timeout=90,
                                   password=self.config.requirepass or None)
        try:
            await conn.execute_command("RAFT.CLUSTER", "JOIN", self.config.client_address,
                                       *learner)
        except redis.exceptions.ResponseError as err:
            raise HttpError(409, f"{address} did not join: {err}") from None
        except (OSError, redis.exceptions.RedisError) as err:
            raise HttpError(502, f"{address} could not be asked to join: {err}") from None
        finally:
            await conn.aclose()

    async def remove_member(self, request: web.Request) -> web.StreamResponse:
        if not self.server.replicator.is_leader:
            return await self._elsewhere(request)
        node_id = request.match_info["id"]
        await self._admin(request, [b"raft.node", b"remove", node_id.encode()])
        return _json({"removed": node_id})

    async def transfer_leader(self, request: web.Request) -> web.StreamResponse:
        """Hand leadership to {"id": ...}, or to the most up-to-date follower."""
        if not self.server.replicator.is_leader:
            return await self._elsewhere(request)
        target = (await self._json_body(request)).get("id")
        argv = [b"raft.transfer-leader"] + ([str(target).encode()] if target else [])
        await self._admin(request, argv)
        return _json({"leader": self.server.cluster.leader_id()})
