"""The node: asyncio server, one protocol object per client connection, routing.

Replies keep request order. A connection runs each command as soon as it is parsed, except
that a read never runs while an earlier write of the same connection awaits its commit (it
is deferred until then, and so is everything after it): a client always reads its writes.
Writes are submitted at once, so pipelined writes share Raft entries.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import signal
import socket
import time
from collections import deque
from time import perf_counter_ns
from typing import TYPE_CHECKING

from . import errors
from .blocking import Blocking
from .cluster import PROXY, Cluster
from .commands.pubsub import ALLOWED_WHILE_SUBSCRIBED
from .commands.table import Command, Context, lookup
from .config import Config
from .errors import CommandError
from .eviction import Eviction
from .leases import due_leases
from .pubsub import Hub
from .raft import Pending, Replicator
from .resp import NULL_ARRAY, QUEUED, Push, RawReply, RequestReader, encode, split_array
from .slowlog import SlowLog
from .statemachine import COMMAND, EXPIRE, LEASE_EXPIRY, TRANSACTION, StateMachine
from .storage import Store
from .watch import Watches

if TYPE_CHECKING:
    from .http.app import HttpService

log = logging.getLogger("rcache")

# Commands a client may send before AUTH, and the ones that act on MULTI itself.
_NO_AUTH_NEEDED = frozenset({"auth", "hello", "quit", "reset"})
_TRANSACTION_CONTROL = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})


class Stats:
    def __init__(self) -> None:
        self.connections_received = 0
        self.commands_processed = 0
        self.rejected_connections = 0
        self.expired_keys = 0
        self.writes_submitted = 0  # client writes (a MULTI block once): /metrics, dashboard
        self.error_replies: dict[str, int] = {}  # INFO errorstats: error code -> replies

    def count_error(self, error: CommandError) -> None:
        code = str(error).split(" ", 1)[0]
        self.error_replies[code] = self.error_replies.get(code, 0) + 1


class Client(asyncio.Protocol):
    """One connection: parser, selected db, protocol version, MULTI queue, reply ordering."""

    _next_id = 0

    def __init__(self, server: Server) -> None:
        Client._next_id += 1
        self.id = Client._next_id
        self.server = server
        self.reader = RequestReader(server.config.proto_max_bulk_len)
        self.reader.authenticated = not server.config.requirepass
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.db = 0
        self.resp3 = False
        self.readonly = False  # READONLY: stale reads allowed on a follower
        self.read_consistency: str | None = None  # per-connection override (RCACHE.CONSISTENCY)
        self.multi: list[tuple[Command, list[bytes]]] | None = None
        self.multi_failed = False
        self.in_exec = False  # running EXEC's connection commands: nothing may wait
        self.watched: dict[tuple[int, bytes], bool] = {}  # WATCH: key -> expired then
        self.channels: dict[bytes, None] = {}  # SUBSCRIBE, in subscription order
        self.patterns: dict[bytes, None] = {}  # PSUBSCRIBE
        self.watch_dirty = False
        self.watch_term = 0
        self.created = self.last_active = time.time()
        self.last_command: Command | None = None
        self.addr = self.laddr = ""
        self.transport: asyncio.Transport | None = None
        self._slots: deque = deque()  # replies not yet written: bytes | Pending | _Deferred
        self._deferred = 0
        self._barriers = 0  # linearizable reads awaiting their ReadIndex confirmation
        self._keyspace = None
        self._context: Context | None = None
        self._store_generation = -1
        self._out: list[bytes] = []
        self._closing = False
        self._quitting = False

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        self.addr = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.laddr = f"{local[0]}:{local[1]}" if local else "?"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stats.connections_received += 1
        if len(self.server.clients) >= self.server.config.maxclients:
            self.server.stats.rejected_connections += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            return
        self.server.clients[self.id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.server.clients.pop(self.id, None)
        self.server.watches.unwatch(self)
        self.server.hub.drop(self)
        self.server.blocking.drop(self)

    def pause_writing(self) -> None:
        """The client is not reading its replies: stop reading its requests (bounded memory)."""
        if self.transport is not None and not self._closing:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        self.last_active = time.time()
        for argv in reader.pop_commands():
            if self._closing:
                break
            self._on_command(argv)
        if reader.error is not None and not self._closing:
            self._emit(CommandError("ERR " + reader.error))
            self._close_after_reply()
        self._write_out()

    # -- running commands --------------------------------------------------------------------
    def _on_command(self, argv: list[bytes]) -> None:
        self.server.stats.commands_processed += 1
        if self._deferred or (self._slots and not self._runs_in_order(argv)):
            self._slots.append(_Deferred(argv))
            self._deferred += 1
            return
        self._emit(self._execute(argv))
        if self._quitting:
            self._close_after_reply()

    def _runs_in_order(self, argv: list[bytes]) -> bool:
        """May this command run while earlier replies are pending? Only if it reads nothing
        (a write, ordered by the log; a command queued by MULTI; EXEC), or if it is a
        linearizable read behind others."""
        cmd = _lookup_quietly(argv)
        if self._barriers:
            # Another linearizable read may start its own barrier now: rounds complete in
            # the order they started, so the reads still run (and reply) in order.
            return (cmd is not None and cmd.reads_keyspace and self.multi is None
                    and self.server.cluster.route_read(self, cmd, argv) is True)
        if cmd is None:
            return self.multi is not None
        if self.multi is not None:
            return cmd.name not in _TRANSACTION_CONTROL or cmd.name == "exec"
        return cmd.is_write

    def _execute(self, argv: list[bytes]):
        """Run one command: returns a reply value, or a Pending for a replicated one."""
        try:
            cmd = lookup(argv)
        except CommandError as err:
            if self.multi is not None:
                self.multi_failed = True
            return err
        self.last_command = cmd
        if not self.reader.authenticated and cmd.name not in _NO_AUTH_NEEDED:
            cmd.rejected_calls += 1
            return CommandError(errors.NOAUTH)
        if self.subscriptions and not self.resp3 and (
                cmd.container is not None or cmd.name not in ALLOWED_WHILE_SUBSCRIBED):
            cmd.rejected_calls += 1
            return CommandError(f"ERR Can't execute '{cmd.full_name}': only (P|S)SUBSCRIBE / "
                                "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
                                "context")
        if self.multi is not None and cmd.name not in _TRANSACTION_CONTROL:
            if "no_multi" in cmd.flags:
                self.multi_failed = True
                cmd.rejected_calls += 1
                return CommandError("ERR Command not allowed inside a transaction")
            # Redis refuses to queue anything while out of memory (the queue grows too)
            refused = self.server.eviction.admit() if self.server.replicator.is_leader else None
            if refused is not None:
                self.multi_failed = True
                cmd.rejected_calls += 1
                return refused
            self.multi.append((cmd, argv))
            return QUEUED
        server = self.server
        if cmd.keyed and (cmd.container is None or cmd.container.name != "object"):
            server.eviction.note_access(self.db, cmd.keys(argv))
        try:
            if cmd.is_write:
                route = server.cluster.route_write(self, cmd, argv)
                if route is None:
                    if "denyoom" in cmd.flags:
                        refused = server.eviction.admit()
                        if refused is not None:
                            cmd.rejected_calls += 1
                            return refused
                    if "blocking" in cmd.flags:
                        return server.blocking.run(self, cmd, argv, Pending(self._reply_ready))
                    return server.replicator.submit((COMMAND, self.db, argv), self._reply_ready)
                if route is PROXY and "blocking" in cmd.flags:
                    return server.cluster.redirect(cmd, argv)  # it would stall the shared link
                if route is PROXY:
                    return server.cluster.forward(self, [(self.db, argv)])
                cmd.rejected_calls += 1  # -MOVED, -CLUSTERDOWN
                return route
            if cmd.reads_keyspace:
                route = server.cluster.route_read(self, cmd, argv)
                if route is True:
                    return self._read_after_barrier(cmd, argv)
                if route is PROXY:
                    return server.cluster.forward(self, [(self.db, argv)])
                if route is not None:
                    cmd.rejected_calls += 1
                    return route
            return self.run_here(cmd, argv)
        except CommandError as err:
            return err

    def run_here(self, cmd: Command, argv: list[bytes]):
        """Run a command on this node, now: counted for INFO commandstats and timed for
        SLOWLOG (writes are counted and timed where they are applied)."""
        start = perf_counter_ns()
        try:
            reply = cmd.handler(self.context(), argv)
        except CommandError as err:
            reply = err
        except Exception:  # a bug: the client gets an error, the connection stays
            log.exception("command %r failed", argv[:1])
            reply = CommandError("ERR internal error while running the command")
        elapsed_us = (perf_counter_ns() - start) // 1000
        cmd.record(elapsed_us, type(reply) is CommandError)
        if elapsed_us >= self.server.config.slowlog_log_slower_than >= 0:
            self.server.note_duration(cmd, argv, elapsed_us, self)
        if type(reply) is CommandError:
            raise reply
        return reply

    def _read_after_barrier(self, cmd: Command, argv: list[bytes]) -> Pending:
        """A linearizable read: runs once the leader has proven it still leads. Until then,
        later commands of this connection wait (``_barriers``), so it cannot see them."""
        result = Pending(self._reply_ready)
        self._barriers += 1

        def run(barrier: Pending) -> None:
            self._barriers -= 1
            if barrier.value is not True:
                lost = not self.server.replicator.is_leader  # deposed: send the client on
                result.resolve(self.server.cluster.redirect(cmd, argv) if lost else barrier.value)
                return
            try:
                result.resolve(self.run_here(cmd, argv))
            except CommandError as err:
                result.resolve(err)

        self.server.replicator.read_barrier(run)
        return result

    def after_submitted_writes(self, reply):
        """``reply`` once every write submitted so far (by any client) is applied."""
        result = Pending(self._reply_ready)
        if self.server.replicator.after_submitted(lambda: result.resolve(reply)):
            return reply
        return result

    def run_async(self, coro) -> Pending:
        """For admin commands that wait on the cluster: their reply arrives like a write's."""
        result = Pending(self._reply_ready)

        def finished(task: asyncio.Task) -> None:
            error = task.exception()
            if isinstance(error, CommandError):
                result.resolve(error)
            elif error is not None:
                log.error("command failed", exc_info=error)
                result.resolve(CommandError(f"ERR {error}"))
            else:
                result.resolve(task.result())

        asyncio.ensure_future(coro).add_done_callback(finished)
        return result

    def context(self) -> Context:
        """The handler's view: this client's database, now. Reused while the database
        mapping (SWAPDB, an installed snapshot) and the selected db stay the same."""
        store = self.server.store
        ks = self._keyspace
        if ks is None or ks.dbnum != self.db or self._store_generation != store.generation:
            ks = self._keyspace = store.keyspace(self.db, 0)
            self._store_generation = store.generation
            self._context = Context(ks, random, self, self.server)
        ks.now_ms = int(time.time() * 1000)
        return self._context

    def exec_transaction(self):
        """EXEC: data commands become one atomic entry; connection commands run here, in order."""
        queued, self.multi = self.multi or [], None
        failed, self.multi_failed = self.multi_failed, False
        modified = bool(self.watched) and self.server.watches.modified(self)
        self.server.watches.unwatch(self)
        if failed:
            return CommandError(errors.EXECABORT)
        if modified:
            return NULL_ARRAY
        if self.server.replicator.is_leader and any("denyoom" in cmd.flags for cmd, _ in queued):
            refused = self.server.eviction.admit()  # before anything runs, as Redis checks
            if refused is not None:
                return refused
        replies: list = []
        data: list[tuple[int, list[bytes]]] = []
        positions: list[int] = []
        for cmd, argv in queued:
            if "node" in cmd.flags:
                self.in_exec = True
                try:
                    replies.append(self.run_here(cmd, argv))
                except CommandError as err:
                    self.server.stats.count_error(err)  # EXEC's own reply is an array
                    replies.append(err)
                finally:
                    self.in_exec = False
            else:
                positions.append(len(replies))
                replies.append(None)
                data.append((self.db, argv))
        if not data:
            return replies
        def merge(pending: Pending) -> None:
            results = pending.value
            if type(results) is RawReply and results.startswith(b"*"):
                results = split_array(results)  # relayed by the leader: splice it raw
            if isinstance(results, list):
                for pos, value in zip(positions, results, strict=True):
                    replies[pos] = value
                    if type(value) is CommandError:
                        self.server.stats.count_error(value)
                pending.value = replies
            self._reply_ready(pending)

        route = self.server.cluster.route_write(self, queued[positions[0]][0], data[0][1])
        if route is PROXY:
            relayed = self.server.cluster.forward(self, data, transaction=True)
            if type(relayed) is Pending:
                relayed.on_done = merge
            return relayed
        if route is not None:
            return route
        return self.server.replicator.submit((TRANSACTION, data), merge)

    # -- replies -----------------------------------------------------------------------------
    def _emit(self, reply) -> None:
        """Queue a reply behind the pending ones (encoded now, in the current protocol)."""
        if type(reply) is Pending:
            if reply.done and not self._slots:
                self._out.append(self._encode(reply.value))
            else:
                self._slots.append(reply)
        elif self._slots:
            self._slots.append(self._encode(reply))
        else:
            self._out.append(self._encode(reply))

    def _encode(self, value) -> bytes:
        if type(value) is CommandError:
            self.server.stats.count_error(value)
        try:
            return encode(value, self.resp3)
        except TypeError:
            log.exception("unencodable reply %r", value)
            return b"-ERR internal error: unencodable reply\r\n"

    def _reply_ready(self, _pending: Pending) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._drain()
            self._write_out()

    def _drain(self) -> None:
        slots = self._slots
        while slots:
            head = slots[0]
            kind = type(head)
            if kind is Pending:
                if not head.done:
                    return
                slots.popleft()
                self._out.append(self._encode(head.value))
            elif kind is _Deferred:
                self._deferred -= 1
                result = self._execute(head.argv)
                if type(result) is Pending:
                    slots[0] = result
                else:
                    slots.popleft()
                    self._out.append(self._encode(result))
                if self._quitting:
                    slots.clear()
                    slots.append(_Close())
            elif kind is _Close:
                slots.clear()
                self._write_out()
                self.transport.close()
                return
            else:
                slots.popleft()
                self._out.append(head)

    def _write_out(self) -> None:
        if self._out and self.transport is not None and not self.transport.is_closing():
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out = []
            self.transport.write(data)
            limit = self.server.config.client_output_buffer_limit
            if limit and self.transport.get_write_buffer_size() > limit:
                log.warning("closing client %s: output buffer over %d bytes", self.addr, limit)
                self.close()

    def _close_after_reply(self) -> None:
        self._closing = True
        if not self._slots and self.transport is not None:
            self._write_out()
            self.transport.close()
        else:
            self._slots.append(_Close())

    def close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns)

    def push(self, message: Push) -> None:
        """A pub/sub message: written at once, ahead of any reply still pending (a RESP3
        client tells the two apart; a RESP2 subscriber has none pending)."""
        if self.transport is not None and not self.transport.is_closing():
            self._out.append(self._encode(message))
            self._write_out()

    def quit(self) -> None:
        """QUIT: close once its reply, and every earlier one, has been written."""
        self._quitting = True

    def reset(self) -> None:
        self.multi, self.multi_failed = None, False
        self.server.watches.unwatch(self)
        self.server.hub.drop(self)
        self.db = 0
        self.resp3 = False
        self.readonly = False
        self.read_consistency = None
        self.name = b""
        self.reader.authenticated = not self.server.config.requirepass


class _Deferred:
    __slots__ = ("argv",)

    def __init__(self, argv: list[bytes]) -> None:
        self.argv = argv


class _Close:
    __slots__ = ()


def _lookup_quietly(argv: list[bytes]) -> Command | None:
    try:
        return lookup(argv)
    except CommandError:
        return None


class Server:
    def __init__(self, config: Config) -> None:
        from .commands.table import ensure_loaded
        ensure_loaded()
        self.config = config
        os.makedirs(config.dir, exist_ok=True)
        self.store = Store(os.path.join(config.dir, "db"))
        self.store.databases = config.databases
        self.hub = Hub()
        self.machine = StateMachine(self.store, self.hub)
        self.cluster = Cluster(self)
        self.replicator: Replicator | None = None
        self.clients: dict[int, Client] = {}
        self.watches = Watches(self)
        self.blocking = Blocking(self)
        self.stats = Stats()
        self.eviction = Eviction(self)
        self.slowlog = SlowLog()
        self.machine.observer = self.note_duration
        self.started = time.time()
        self._server: asyncio.AbstractServer | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.http: HttpService | None = None

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.hub.loop = loop
        self._stopping = asyncio.Event()
        if self.config.http_port:  # first: a taken port stops start-up before Raft runs
            from .http.app import HttpService
            self.http = HttpService(self)
            await self.http.start()
        self.replicator = await self.cluster.start(loop)
        self._server = await loop.create_server(
            lambda: Client(self), self.config.bind, self.config.port, reuse_address=True,
            backlog=511)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.shutdown)
        self._tasks = [asyncio.create_task(self._active_expiry()),
                       asyncio.create_task(self.cluster.leave_when_removed())]
        print(f"rcache {self.cluster.node_id} listening on {self.config.bind}:{self.config.port}"
              f", raft {self.config.raft_address}, data in {os.path.abspath(self.config.dir)}",
              flush=True)
        try:
            await self._stopping.wait()
        finally:
            await self._close()

    def note_duration(self, cmd: Command, argv: list[bytes], duration_us: int,
                      client: Client | None = None) -> None:
        """SLOWLOG: keep the commands slower than slowlog-log-slower-than (not EXEC itself,
        as in Redis: its commands are). Applied writes come without a client."""
        threshold = self.config.slowlog_log_slower_than
        if 0 <= threshold <= duration_us and "skip_slowlog" not in cmd.flags:
            peer, name = (client.addr, client.name) if client is not None else ("", b"")
            self.slowlog.record(argv, duration_us, self.config.slowlog_max_len, peer, name)

    def submitted(self, item: tuple) -> None:
        """Every item the write path submits: WATCH and parked blocking pops look at it."""
        self.watches.submitted(item)
        self.blocking.submitted(item)
        if item[0] in (COMMAND, TRANSACTION):
            self.stats.writes_submitted += 1

    def shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
        for client in list(self.clients.values()):
            client.close()
        if self.http is not None:
            await self.http.stop()
        if self.replicator is not None:
            self.replicator.stop()
        self.store.close()

    async def _active_expiry(self) -> None:
        """The leader proposes deleting keys whose TTL has passed, and leases past their
        deadline (replicated, so every node agrees); bounded work per cycle, as Redis's
        activeExpireCycle."""
        budget = 200
        while True:
            await asyncio.sleep(1 / max(1, self.config.hz))
            if not self.replicator.is_leader:
                continue
            now_ms = int(time.time() * 1000)
            due = due_leases(self.store, now_ms, budget)
            if due:
                await self.replicator.propose((LEASE_EXPIRY, due))
            for db in range(self.config.databases):
                keys = self.store.keyspace(db, now_ms).expired_keys(budget)
                if keys:
                    deleted = await self.replicator.propose((EXPIRE, db, keys))
                    if isinstance(deleted, int):
                        self.stats.expired_keys += deleted


def run(config: Config) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    # Requests make many short-lived objects and almost no cycles: collect the young
    # generation less often, and never rescan what exists once the node is up.
    gc.set_threshold(50_000, 50, 100)
    gc.freeze()
    asyncio.run(Server(config).serve())

