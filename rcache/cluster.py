"""Cluster membership and routing: who leads, where a client must go, which slot a key is in.

rcache presents the whole Raft group to clients as one Redis Cluster shard owning slots
0-16383: the leader is the master, followers are replicas. A follower answers a write (or a
read, unless the client sent READONLY) with ``-MOVED <slot> <leader>``, so cluster-aware
clients follow the leader by themselves. With ``cluster-enabled no`` the group is a Redis
master and its replicas instead, as Sentinel clients expect: a follower answers a write with
``-READONLY`` (which sends a Sentinel client back to its sentinels) and serves reads from its
own state, as a Redis replica does (not those asked to be linearizable), as well as what a
Redis replica runs itself (``acts_as_replica``: PUBLISH, WATCH, scripts without flags...).
``redirect`` is the one place that words the refusal.
Member addresses (Raft and client) and roles are replicated through the log, so every node
can name the leader's client address.

A node joins as a learner (storage.LEARNER): it receives the log, but no majority counts it
until the leader promotes it (``promote_learners``: see PROMOTE_MAX_LAG), so a new member
catching up, or one that never does, cannot stall the cluster. One added with RAFT.NODE ADD
... LEARNER (storage.LEARNER_KEPT) stays a learner until RAFT.NODE PROMOTE, and so does a
voter that RAFT.NODE DEMOTE made a learner.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets

from . import errors
from .commands.table import Command
from .entries import MEMBER
from .errors import CommandError
from .interfaces import Connection, Node
from .pending import Pending
from .proxy import LeaderProxy
from .raft import Replicator
from .resp import OK, SimpleString
from .slots import key_slot
from .storage import LEARNER, LEARNER_KEPT, VOTER
from .tls import replication_context

PROXY = "proxy"  # route: forward the command to the leader (follower-proxy yes)
REPLICA = "replica"  # route: run it here, outside the log, as a Redis replica runs it
_LEASE = object()  # a read served from local state under the leader's lease
_ELSEWHERE = object()  # a read this follower sends to the leader (MOVED or proxied)
SECRET_FILE = "cluster-secret"  # in the data dir: the generated or received cluster secret
# The leader promotes a learner added without LEARNER to a voter once the learner is linked,
# has answered within the election timeout, and holds the log up to at most this many entries
# short of the leader's commit index (a voter so far behind would only slow commits down while
# it catches up). Checked every PROMOTE_CHECK_S.
PROMOTE_MAX_LAG = 32
PROMOTE_CHECK_S = 0.2
log = logging.getLogger(__name__)


def _retried_refusals() -> tuple[type, ...]:
    """Error replies that ask a client to try again (no leader yet, say): redis-py's types."""
    import redis.exceptions as e
    return e.TryAgainError, e.ClusterDownError, e.BusyLoadingError, e.MasterDownError


def _write_private(path: str, text: str) -> None:
    """Readable by this user only, replaced atomically."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Cluster:
    def __init__(self, server: Node) -> None:
        self.server = server
        self.config = server.config
        self.node_id = self.config.node_id
        self.raft_links = ""  # how Raft links are secured, once started
        self.replicator: Replicator | None = None
        self._proxy: LeaderProxy | None = None
        self._proxy_tls = None
        self.reads_by_lease = 0  # default reads the leader answered under its lease
        self.reads_by_read_index = 0  # reads that waited for a ReadIndex round
        self._explicit_secret = bool(self.config.cluster_secret)
        self.membership_lock = asyncio.Lock()  # one membership change at a time (leader)
        self._joining = False  # RAFT.CLUSTER JOIN is replacing this node's log and data

    async def start(self, loop: asyncio.AbstractEventLoop) -> Replicator:
        """Start Raft with the members recorded in our data dir; else join the cluster named by
        --join; else bootstrap a new one-node cluster."""
        store = self.server.store
        roles = store.member_roles()
        members = {node: (raft, client, roles[node])
                   for node, (raft, client) in store.members().items()}
        config = self.config
        self._proxy_tls = replication_context(config)  # a bad tls-* file stops the start
        if not members and config.join:
            members = await self.cluster_members(config.join)
        await self._choose_secret(config.join if config.join and self.node_id not in members
                                  else None, bootstrapping=not members)
        partners = [raft for node, (raft, _, role) in members.items()
                    if node != self.node_id and role == VOTER]
        self.replicator = Replicator(self.server.machine, config.raft_address, partners, config)
        self.replicator.on_submit = self.server.submitted
        self.replicator.on_woken = self.server.blocking.try_woken
        # (shown in the node's start-up line; a warning when anyone may speak Raft to it)
        self.raft_links = ("TLS, peers need a certificate signed by the cluster CA"
                           + (" (and cluster-secret)" if config.cluster_secret else "")
                           if config.tls_cluster else "cluster-secret" if config.cluster_secret
                           else "plaintext, unauthenticated")
        if not (config.tls_cluster or config.cluster_secret):
            log.warning("Raft links: %s", self.raft_links)
        joining = config.join and self.node_id not in members
        self.replicator.start(loop)  # a joining node never campaigns (RaftNode.voting)
        if not members:
            await self._bootstrap()
        elif not partners and not await self.replicator.wait_leader(timeout=10):
            raise RuntimeError("a one-node cluster could not elect itself within 10 s")
        elif joining:
            await self.call_cluster(config.join, "RAFT.NODE", "ADD", self.node_id,
                                    config.raft_address, config.client_address,
                                    *(["LEARNER"] if config.join_learner else []))
        return self.replicator

    async def _choose_secret(self, seed: str | None, bootstrapping: bool) -> None:
        """The Raft channel is authenticated unless told otherwise: without an explicit
        cluster-secret, a joining node takes the one of the member it joins (over the
        requirepass-authenticated client port), a node starting a cluster generates one
        (unless tls-cluster authenticates the links instead), and a restarted member reads its
        own (``<dir>/cluster-secret``)."""
        config = self.config
        if self._explicit_secret:
            return
        path = os.path.join(config.dir, SECRET_FILE)
        if seed is not None:
            reply = await self.call_cluster(seed, "CONFIG", "GET", "cluster-secret")
            secret = reply.get(b"cluster-secret", b"").decode()  # redis-py makes it a dict
        elif os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                secret = fh.read().strip()
        elif bootstrapping and config.cluster_secret_generate and not config.tls_cluster:
            secret = secrets.token_urlsafe(32)
        else:
            secret = ""
        if secret:
            _write_private(path, secret)
        elif os.path.exists(path):
            os.remove(path)
        config.cluster_secret = secret

    async def call_cluster(self, seed: str, *command: str, timeout: float = 60,
                           refusal_final: bool = False) -> object:
        """Send an admin command to the cluster through any member, following MOVED to the
        leader and retrying while there is none. refusal_final: an error reply other than
        TRYAGAIN, CLUSTERDOWN or LOADING is the answer (raised as it came), not retried."""
        import redis.asyncio
        import redis.exceptions
        target = seed
        deadline = asyncio.get_running_loop().time() + timeout
        last_error: Exception | None = None
        while asyncio.get_running_loop().time() < deadline:
            host, port = target.rsplit(":", 1)
            conn = redis.asyncio.Redis(host=host, port=int(port), socket_connect_timeout=2,
                                       socket_timeout=min(15, timeout),
                                       password=self.config.requirepass or None,
                                       **self._tls_client_options())
            try:
                return await conn.execute_command(*command)
            except redis.exceptions.MovedError as err:
                last_error, target = err, f"{err.host}:{err.port}"
                continue
            except (OSError, redis.exceptions.RedisError) as err:
                if refusal_final and isinstance(err, redis.exceptions.ResponseError) \
                        and not isinstance(err, _retried_refusals()):
                    raise CommandError(f"ERR {err}") from None
                if last_error is None:
                    log.warning("%s through %s failed (%s); retrying for up to %d s",
                                " ".join(command[:2]), target, err, timeout)
                last_error = err
            finally:
                await conn.aclose()
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{' '.join(command[:2])} through {seed} failed: {last_error}")

    def _tls_client_options(self) -> dict:
        """A node with no plaintext port (port 0) reaches its peers on their TLS ports."""
        if self.config.port:
            return {}
        from .tls import client_options
        return client_options(self.config)

    async def cluster_members(self, seed: str, timeout: float = 60
                              ) -> dict[str, tuple[str, str, str]]:
        """node id -> (Raft address, client address, role) as RAFT.CLUSTER INFO lists them
        (a member listed without a role, by an older node, votes)."""
        reply = await self.call_cluster(seed, "RAFT.CLUSTER", "INFO", timeout=timeout)
        return {node.decode(): (raft.decode(), client.decode(),
                                role[0].decode() if role else VOTER)
                for node, raft, client, *role in reply}

    async def join_now(self, seed: str, learner: bool = False) -> SimpleString:
        """RAFT.CLUSTER JOIN: a node that leads only itself and holds no data discards its
        one-node log and joins the cluster at seed, as --join would have at start (learner:
        as --join-learner yes)."""
        store = self.server.store
        if set(self.members()) != {self.node_id}:
            raise CommandError("ERR Already cluster member")
        if any(store.key_count(db) for db in range(self.config.databases)):
            raise CommandError("ERR this node holds data: only an empty node can join a cluster")
        self._joining = True
        try:
            await self._join_now(seed, learner)
        finally:
            self._joining = False
        return OK

    async def _join_now(self, seed: str, learner: bool) -> None:
        store = self.server.store
        self.replicator.stop()
        for name in ("raft.journal", "raft.journal.meta", "raft.snapshot"):
            path = os.path.join(self.config.dir, name)
            if os.path.exists(path):
                os.remove(path)
        empty = store.path + ".empty"
        os.makedirs(empty, exist_ok=True)
        store.replace_with(empty)
        self.server.machine.reload()
        self.config.join = seed
        self.config.join_learner = learner
        self.server.replicator = await self.start(asyncio.get_running_loop())

    async def _bootstrap(self) -> None:
        """A new single-node cluster: lead it, and record our own addresses in the log."""
        if not await self.replicator.wait_leader(timeout=10):
            raise RuntimeError("could not become leader of a new cluster within 10 s")
        result = await asyncio.wait_for(self.replicator.propose(
            (MEMBER, self.node_id, self.config.raft_address, self.config.client_address)), 10)
        if isinstance(result, CommandError):
            raise RuntimeError(f"could not record this node as a member: {result}")

    async def leave_when_removed(self) -> None:
        """A node removed from the cluster shuts down instead of disturbing it with elections.
        It learns so from the log, or, if it was cut off before hearing it, from the members
        it can still reach once it has had no leader for a while. Absence from the member
        list counts only once this node has applied all the leader has committed: a node
        catching up (replaying from the start, or from a snapshot older than its joining)
        does not list itself yet."""
        leaderless_since = None
        while True:
            await asyncio.sleep(0.5)
            if self._joining:  # the old one-node log's view, over an emptied store
                continue
            status = self.replicator.status()
            caught_up = (status.leader_commit_index is not None
                         and status.applied_index >= status.leader_commit_index)
            removed = caught_up and self.node_id not in self.members()
            if not removed and self.leader_id() is None:
                now = asyncio.get_running_loop().time()
                leaderless_since = leaderless_since or now
                if now - leaderless_since > 3:
                    leaderless_since = now
                    removed = await self._others_say_removed()
            elif not removed:
                leaderless_since = None
            if removed:
                log.warning("this node was removed from the cluster: shutting down")
                await asyncio.sleep(1)  # let replies in flight (RAFT.NODE REMOVE's) go out
                self.server.shutdown()
                return

    async def _others_say_removed(self) -> bool:
        for node, (_, client) in self.members().items():
            if node == self.node_id:
                continue
            try:
                members = await self.cluster_members(client, timeout=2)
            except RuntimeError:
                continue
            return self.node_id not in members
        return False

    # -- who is where ------------------------------------------------------------------------
    def members(self) -> dict[str, tuple[str, str]]:
        return self.server.store.members()

    def learner_ids(self) -> set[str]:
        return {node for node, role in self.server.store.member_roles().items()
                if role != VOTER}

    # -- learners ----------------------------------------------------------------------------
    async def promote(self, node_id: str) -> None:
        """Leader: make a learner a voter, by a member record through the log. Refused unless
        the leader has applied its term's first entry (an earlier leader's membership change
        is then applied too), the learner is caught up (``Replication.caught_up``), and the
        voters it would join, with it, keep a reachable majority."""
        replicator = self.replicator
        members, roles = self.members(), self.server.store.member_roles()
        if node_id not in members:
            raise CommandError(f"ERR node {node_id} is not a member")
        if roles[node_id] == VOTER:
            raise CommandError(f"ERR node {node_id} is already a voter")
        raft, client = members[node_id]
        if not replicator.leader_caught_up:
            raise CommandError("ERR the leader is still applying its predecessor's entries; "
                               "try again")
        if not replicator.caught_up(raft, PROMOTE_MAX_LAG):
            raise CommandError(f"ERR learner {node_id} is not caught up: it must be linked to "
                               f"the leader and hold the log to within {PROMOTE_MAX_LAG} "
                               "entries of the commit index")
        voters, reachable = 2 + len(replicator.voters()), 2 + len(replicator.reachable_voters())
        if reachable <= voters // 2:
            raise CommandError(f"ERR promoting {node_id} would leave {reachable} of {voters} "
                               "voting members reachable from the leader, not a majority")
        result = await self.replicator.propose((MEMBER, node_id, raft, client, VOTER))
        if isinstance(result, CommandError):
            raise result
        log.warning("promoted learner %s to voter", node_id)

    async def demote(self, node_id: str) -> None:
        """Leader: make a voter a learner (kept: never promoted again by itself), by a
        member record through the log. As etcd refuses, this leader cannot demote itself
        (RAFT.TRANSFER-LEADER first), nor the last voter; the voters left must keep a
        reachable majority."""
        replicator = self.replicator
        members, roles = self.members(), self.server.store.member_roles()
        if node_id not in members:
            raise CommandError(f"ERR node {node_id} is not a member")
        if roles[node_id] != VOTER:
            raise CommandError(f"ERR node {node_id} is already a learner")
        if node_id == self.node_id:
            if not replicator.voters():
                raise CommandError(f"ERR node {node_id} is the last voter: a cluster needs one")
            raise CommandError(f"ERR node {node_id} is the leader: hand leadership over first "
                               "(RAFT.TRANSFER-LEADER), then demote it on the new leader")
        raft, client = members[node_id]
        if not replicator.leader_caught_up:
            raise CommandError("ERR the leader is still applying its predecessor's entries; "
                               "try again")
        voters = len(replicator.voters())  # after the demotion, counting this node
        reachable = 1 + len([a for a in replicator.reachable_voters() if a != raft])
        if reachable <= voters // 2:
            raise CommandError(f"ERR demoting {node_id} would leave {reachable} of {voters} "
                               "voting members reachable from the leader, not a majority")
        result = await replicator.propose((MEMBER, node_id, raft, client, LEARNER_KEPT))
        if isinstance(result, CommandError):
            raise result
        log.warning("demoted voter %s to learner", node_id)

    async def promote_learners(self) -> None:
        """Leader, every PROMOTE_CHECK_S: promote the learners that joined to become voters
        (storage.LEARNER, not LEARNER_KEPT) once they are caught up (PROMOTE_MAX_LAG)."""
        refused: dict[str, str] = {}  # learner -> why its last promotion was refused
        while True:
            await asyncio.sleep(PROMOTE_CHECK_S)
            replicator = self.replicator
            if not replicator.is_leader or not replicator.leader_caught_up:
                continue
            members = self.members()
            for node_id, role in self.server.store.member_roles().items():
                if role != LEARNER or not replicator.caught_up(members[node_id][0],
                                                               PROMOTE_MAX_LAG):
                    continue
                try:
                    async with self.membership_lock:
                        if self.server.store.member_roles().get(node_id) == LEARNER:
                            await self.promote(node_id)
                except CommandError as err:
                    if refused.get(node_id) != str(err):  # once, not every check
                        log.warning("promoting learner %s: %s", node_id, err)
                    refused[node_id] = str(err)

    def leader_id(self) -> str | None:
        raft = self.replicator.leader_address if self.replicator else None
        if raft is None:
            return None
        for node, (member_raft, _) in self.members().items():
            if member_raft == raft:
                return node
        return None

    def leader_client_address(self, tls: bool = False) -> str | None:
        leader = self.leader_id()
        return self.client_address(self.members()[leader][1], tls) if leader else None

    def client_address(self, recorded: str, tls: bool) -> str:
        """A member's client address as a client of this port reaches it: members record
        their plaintext port (their TLS port when port is 0), and every node keeps the same
        tls-port - port offset, so a TLS client adds it (Redis's tls-cluster)."""
        offset = self.config.tls_offset
        if not tls or not offset:
            return recorded
        host, port = recorded.rsplit(":", 1)
        return f"{host}:{int(port) + offset}"

    # -- routing -----------------------------------------------------------------------------
    def route_write(self, client: Connection, cmd: Command, argv: list[bytes]
                    ) -> CommandError | str | None:
        """None if this node may take the write; PROXY if it forwards it to the leader;
        REPLICA if it runs it itself, as a Redis replica would; else the reply that sends
        the client away."""
        if self.replicator.is_leader:
            return None
        if cmd.replica_runs_if is not None and self.acts_as_replica() and (
                cmd.replica_runs_if(self.server.store, argv)):
            return REPLICA
        return self._elsewhere(client, cmd, argv)

    def acts_as_replica(self) -> bool:
        """Does this node run what a Redis replica runs itself (reads, read-only
        transactions and scripts, PUBLISH, WATCH)? A follower with cluster-enabled no that
        does not forward to the leader (follower-proxy)."""
        return not (self.config.cluster_enabled or self.replicator.is_leader or (
            self.config.follower_proxy and self.leader_client_address()))

    def refusal_to_queue(self, client: Connection, cmd: Command, argv: list[bytes]
                         ) -> CommandError | None:
        """A Redis replica refuses a write inside MULTI as it is queued (its EXEC then fails
        with EXECABORT); in cluster mode the transaction is redirected at EXEC, as before."""
        if self.config.cluster_enabled or (
                self.acts_as_replica() and cmd.runs_on_replica(self.server.store, argv)):
            return None
        route = self.route_write(client, cmd, argv)
        return route if isinstance(route, CommandError) else None

    def _elsewhere(self, client: Connection, cmd: Command, argv: list[bytes]) -> CommandError | str:
        if self.config.follower_proxy and self.leader_client_address():
            return PROXY
        return self.redirect(cmd, argv, client.tls)

    def forward(self, client: Connection, commands: list[tuple[int, list[bytes]]],
                transaction: bool = False) -> Pending | CommandError:
        leader = self.leader_client_address(tls=self.config.tls_replication)
        if leader is None:
            return self.redirect()
        if self._proxy is None:
            self._proxy = LeaderProxy(self.config.requirepass, self._proxy_tls,
                                      self._leader_unreachable)
        return self._proxy.forward(leader, client, commands, transaction)

    def _leader_unreachable(self, err: Exception) -> CommandError:
        """A forwarded command's reply when the link to the leader fails."""
        if not self.config.cluster_enabled:
            return CommandError(errors.READONLY_REPLICA)
        return CommandError(f"CLUSTERDOWN cannot reach the leader: {err}")

    def route_read(self, client: Connection, cmd: Command, argv: list[bytes]
                   ) -> CommandError | bool | str | None:
        """None: serve from local state now. True: serve after a ReadIndex barrier
        (linearizable). PROXY: forward to the leader. A CommandError: the redirect."""
        route = self._read_route(client)
        if route is _LEASE:
            self.reads_by_lease += 1
            return None
        if route is True:
            self.reads_by_read_index += 1
        elif route is _ELSEWHERE:
            return self._elsewhere(client, cmd, argv)
        return route

    def serves_here(self, client: Connection) -> bool | None:
        """``route_read``'s None without counting, for a run of reads: True if served here
        under the leader's lease (the caller adds them to ``reads_by_lease``), False if
        served here without one (stale, READONLY, a replica), None if not served here now."""
        route = self._read_route(client)
        if route is _LEASE:
            return True
        return False if route is None else None

    def read_needs_barrier(self, client: Connection) -> bool:
        """Would this client's read wait for a ReadIndex round here? (counts nothing)"""
        return self._read_route(client) is True

    def _read_route(self, client: Connection) -> object:
        if client.readonly:
            return None
        consistency = client.read_consistency or self.config.read_consistency
        if consistency == "stale":
            return None
        # A default read is served locally while the leader lease holds; otherwise (just
        # elected, paused, cut off) it waits for a ReadIndex round like a linearizable one.
        replicator = self.replicator
        if consistency == "default" and replicator.lease_holds():
            return _LEASE
        if replicator.is_leader:
            return True
        if self.config.cluster_enabled or consistency == "linearizable" or (
                self.config.follower_proxy and self.leader_client_address()):
            return _ELSEWHERE
        return None  # a Redis replica (no cluster mode) serves reads from its own data

    def redirect(self, cmd: Command | None = None, argv: list[bytes] | None = None,
                 tls: bool = False) -> CommandError:
        """What a node that is not the leader answers instead of running the command: in
        cluster mode MOVED to the leader (CLUSTERDOWN without one), else what a Redis replica
        answers a write."""
        if not self.config.cluster_enabled:
            return CommandError(errors.READONLY_REPLICA)
        leader = self.leader_client_address(tls)
        if leader is None:
            return CommandError(errors.CLUSTERDOWN)
        keys = cmd.keys(argv) if cmd is not None else []
        slot = key_slot(keys[0]) if keys else 0
        return CommandError(f"MOVED {slot} {leader}")
