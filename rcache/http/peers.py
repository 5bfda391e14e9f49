"""What a node learns from the other members over their client (RESP) port: their Raft state
(``INFO raft``) and their HTTP port (``CONFIG GET http-port``).

The rule for a member's HTTP address: the host of its recorded client address and the
``http-port`` it reports. So a follower can send a client to the leader's HTTP port without
the member records carrying HTTP ports, and members may use different HTTP ports.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..interfaces import Node
from .state import RaftState, local_state, state_from_info

PROBE_TIMEOUT = 2.0
RECHECK = 5.0  # seconds between looks for the HTTP ports of members not known yet


def http_url(client_address: str, http_port: int) -> str:
    host = client_address.rsplit(":", 1)[0]
    return f"http://{host}:{http_port}"


class Peers:
    def __init__(self, server: Node) -> None:
        self.server = server
        self._connections: dict[str, redis.asyncio.Redis] = {}
        self._http_ports: dict[str, int] = {}  # client address -> its http-port (0: off)
        self._recheck: asyncio.Future | None = None
        self._rechecked_at = 0.0

    def _connection(self, address: str) -> redis.asyncio.Redis:
        conn = self._connections.get(address)
        if conn is None:
            host, port = address.rsplit(":", 1)
            conn = self._connections[address] = redis.asyncio.Redis(
                host=host, port=int(port), password=self.server.config.requirepass or None,
                socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT,
                retry=Retry(NoBackoff(), 0), decode_responses=True)
        return conn

    async def probe(self, node_id: str, address: str) -> RaftState | None:
        """A member's Raft state, or None if it does not answer in time."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                pipe = self._connection(address).pipeline(transaction=False)
                pipe.info("raft")
                pipe.config_get("http-port")
                info, config = await pipe.execute()
        except (OSError, TimeoutError, redis.exceptions.RedisError):
            stale = self._connections.pop(address, None)
            if stale is not None:
                await stale.aclose()
            return None
        self._http_ports[address] = int(config.get("http-port", 0))
        return state_from_info(node_id, info)

    async def states(self) -> dict[str, RaftState | None]:
        """Every member's state, asked in parallel; this node's own is read directly."""
        cluster = self.server.cluster
        members = cluster.members()
        others = [node for node in members if node != cluster.node_id]
        probed = await asyncio.gather(*(self.probe(node, members[node][1]) for node in others))
        states: dict[str, RaftState | None] = dict(zip(others, probed, strict=True))
        if cluster.node_id in members:
            states[cluster.node_id] = local_state(self.server)
        return states

    async def url_of(self, node_id: str) -> str | None:
        """A member's HTTP base URL, asking it if its port is not known yet; None if it is
        unknown or off."""
        address = self.server.cluster.members().get(node_id, (None, None))[1]
        if address is not None and address not in self._http_ports \
                and node_id != self.server.cluster.node_id:
            await self.probe(node_id, address)
        return self.known_url(node_id)

    def known_url(self, node_id: str) -> str | None:
        """A member's HTTP base URL as last heard (this node's own: from its config)."""
        cluster = self.server.cluster
        if node_id == cluster.node_id:
            return http_url(self.server.config.client_address, self.server.config.http_port)
        address = cluster.members().get(node_id, (None, None))[1]
        port = self._http_ports.get(address)
        return http_url(address, port) if port else None

    async def is_member_url(self, url: str) -> bool:
        """Is url a member's HTTP base URL? (the origins whose pages may call this node).
        Members whose port is not known yet are asked, at most every RECHECK seconds;
        requests arriving meanwhile wait for that same look."""
        if url in self._known_urls():
            return True
        if self._recheck is None or (self._recheck.done() and
                                     time.monotonic() - self._rechecked_at > RECHECK):
            self._rechecked_at = time.monotonic()
            self._recheck = asyncio.ensure_future(self._probe_unknown())
        await asyncio.shield(self._recheck)
        return url in self._known_urls()

    async def _probe_unknown(self) -> None:
        cluster = self.server.cluster
        await asyncio.gather(*(self.probe(node, client)
                               for node, (_, client) in cluster.members().items()
                               if client not in self._http_ports and node != cluster.node_id))

    def _known_urls(self) -> set[str]:
        own = http_url(self.server.config.client_address, self.server.config.http_port)
        return {own} | {http_url(addr, port) for addr, port in self._http_ports.items() if port}

    async def close(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            await conn.aclose()
