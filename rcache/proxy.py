"""``follower-proxy yes``: a follower forwards commands to the leader and relays its replies.

One pipelined connection per (protocol, consistency) to the leader's client port; replies
come back in request order and are relayed byte for byte. If the link breaks, the writes it
carried may or may not have been applied: their clients get an honest "unknown outcome".
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable

from .entries import SCRIPT_COMMANDS
from .errors import OUTCOME_UNKNOWN, CommandError
from .outbuf import TURN_ARGS
from .pending import Pending
from .resp import RawReply, encode_command, reply_end


class LeaderLink(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: deque[Pending | None] = deque()  # None: a reply we sent for ourselves
        self.db = 0
        self.lost = False
        self._unsent: list[bytes] = []  # written at the end of the loop turn, in one write
        self._paused = False  # replies left in the buffer for the next loop turn

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._relay(TURN_ARGS)

    def _relay(self, budget: int | None) -> None:
        """Hand the replies in the buffer to their clients: at most ``budget`` of them a loop
        turn (None: all), as a client's commands are run (outbuf.TURN_ARGS). One read of
        +OK replies holds ~50,000; relaying them all at once held the follower's other
        clients ~0.15 s. The link reads no more until the rest are relayed."""
        pos, buffer, waiting = 0, self.buffer, self.waiting
        while waiting and budget != 0 and (end := reply_end(buffer, pos)) >= 0:
            waiter = waiting.popleft()
            if waiter is not None:
                waiter.resolve(RawReply(buffer[pos:end]))
            pos = end
            if budget is not None:
                budget -= 1
        del buffer[:pos]
        more = budget == 0 and bool(waiting) and reply_end(buffer, 0) >= 0
        if more:
            asyncio.get_running_loop().call_soon(self._relay, TURN_ARGS)
        if more != self._paused and not self.transport.is_closing():
            self._paused = more
            if more:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._relay(None)  # the replies that did come, before the others' unknown outcome
        while self.waiting:
            waiter = self.waiting.popleft()
            if waiter is not None:
                waiter.resolve(CommandError(OUTCOME_UNKNOWN))

    def send(self, commands: list[list[bytes]], replies: list[Pending | None]) -> None:
        """Queue the commands: a turn's commands (a client's pipeline) go out in one write."""
        if not self._unsent:
            asyncio.get_running_loop().call_soon(self._write)
        self._unsent.extend(map(encode_command, commands))
        self.waiting.extend(replies)

    def _write(self) -> None:
        unsent, self._unsent = self._unsent, []
        if not self.transport.is_closing():
            self.transport.write(b"".join(unsent))


class LeaderProxy:
    def __init__(self, password: str, tls: ssl.SSLContext | None,
                 unreachable: Callable[[Exception], CommandError]) -> None:
        self.password = password
        self.unreachable = unreachable  # the reply when the leader cannot be reached
        self.tls = tls  # tls-replication yes: the link goes to the leader's TLS port
        self.links: dict[tuple[str, bool, bool], LeaderLink] = {}
        self.connecting: dict[tuple[str, bool, bool], asyncio.Task] = {}
        # Forwards waiting for their link, per link: later ones wait too (request order)
        self.forwards_waiting: dict[tuple[str, bool, bool], int] = {}

    def _up(self, key: tuple[str, bool, bool]) -> LeaderLink | None:
        """The link for ``key``, if it is connected."""
        link = self.links.get(key)
        return link if link is not None and not link.lost else None

    async def _link(self, leader: str, resp3: bool, linearizable: bool) -> LeaderLink:
        key = (leader, resp3, linearizable)
        link = self._up(key)
        if link is not None:
            return link
        task = self.connecting.get(key)
        if task is None:
            task = self.connecting[key] = asyncio.ensure_future(self._connect(leader, key))
        try:
            return await asyncio.shield(task)
        finally:
            self.connecting.pop(key, None)

    async def _connect(self, leader: str, key: tuple[str, bool, bool]) -> LeaderLink:
        host, port = leader.rsplit(":", 1)
        _, link = await asyncio.wait_for(asyncio.get_running_loop().create_connection(
            LeaderLink, host, int(port), ssl=self.tls), timeout=5)
        setup: list[list[bytes]] = []
        if self.password:
            setup.append([b"AUTH", self.password.encode()])
        if key[1]:
            setup.append([b"HELLO", b"3"])
        if key[2]:
            setup.append([b"RAFT.READ-CONSISTENCY", b"linearizable"])
        link.send(setup, [None] * len(setup))
        self.links[key] = link
        return link

    def forward(self, leader: str, client, commands: list[tuple[int, list[bytes]]],
                transaction: bool = False) -> Pending:
        """Send (db, argv) commands; the Pending gets the last reply (EXEC's for a
        transaction), relayed as is. Sent at once over a link that is up and that no
        earlier forward waits for; else once the link is."""
        result = Pending(client._reply_ready)
        linearizable = (client.read_consistency or client.server.config.read_consistency) \
            == "linearizable"
        key = (leader, client.resp3, linearizable)
        link = self._up(key)
        if link is not None and not self.forwards_waiting.get(key):
            self._send(link, client, commands, transaction, result)
            return result
        self.forwards_waiting[key] = self.forwards_waiting.get(key, 0) + 1

        async def go() -> None:
            try:
                link = await self._link(leader, client.resp3, linearizable)
            except (TimeoutError, OSError) as err:
                result.resolve(self.unreachable(err))
                return
            finally:
                self.forwards_waiting[key] -= 1
            self._send(link, client, commands, transaction, result)

        asyncio.ensure_future(go())
        return result

    @staticmethod
    def _send(link: LeaderLink, client, commands: list[tuple[int, list[bytes]]],
              transaction: bool, result: Pending) -> None:
        batch: list[list[bytes]] = []
        replies: list[Pending | None] = []
        dbs = {db for db, _ in commands}
        if len(dbs) > 1:
            result.resolve(CommandError("ERR follower-proxy cannot forward a transaction "
                                        "that spans databases: send it to the leader"))
            return
        (db,) = dbs
        if db != link.db:
            batch.append([b"SELECT", str(db).encode()])
            replies.append(None)
            link.db = db
        # A non-default user's scripts: their commands need that user's permissions
        user = None if client.acl_user is None else client.user_name
        scripts = user is not None and any(
            argv[0].lower().decode(errors="replace") in SCRIPT_COMMANDS
            for _, argv in commands)
        as_user = [b"RAFT.SCRIPT-USER", user] if scripts else []
        if transaction:
            batch.append([b"MULTI"])
            replies.append(None)
        for _, argv in commands:
            batch.append(argv if transaction else as_user + argv)
            replies.append(None if transaction else result)
        if transaction:
            batch.append(as_user + [b"EXEC"])
            replies.append(result)
        link.send(batch, replies)
