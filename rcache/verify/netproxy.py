"""Network faults between nodes: a TCP proxy in front of every node's Raft port, and the rules
the proxies apply to the links between named nodes.

Each node listens for Raft on its own port but announces the proxy's port
(``--cluster-announce-raft-port``), so every Raft connection to node B passes through B's
proxy. Nodes frame every message as ``struct.pack('i', len) + pickle(message)`` (zlib of the
pickle for large ones), and without a cluster secret the first frame a connecting node sends
is its own announced address: from it the proxy learns which node A opened the connection.
Both directions of traffic between A and B then flow over it, so the proxy can judge each
frame by its direction:

* **cut** ``A <-> B``: close the links between them and refuse new ones (after the
  identifying frame: only then is the peer known)
* **drop** ``A -> B``: discard whole frames from A to B (a one-way cut; dropping bytes would
  desync the framing). The identifying frame always passes, as a TCP handshake would.
* **delay** ``A -> B``: hold every frame from A to B for a while, keeping their order

A link whose opener cannot be identified (a cluster secret encrypts the first frame) is
forwarded untouched. Everything listens on 127.0.0.1 only. One asyncio loop in one daemon
thread runs every proxy; the public methods are called from other threads and wait for the
loop with a deadline.
"""

from __future__ import annotations

import asyncio
import io
import pickle
import struct
import threading
import time
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

HOST = "127.0.0.1"
_HEADER = struct.Struct("i")  # PySyncObj's framing: native int length, then the payload
_MAX_FRAME = 1 << 30
_PICKLE_START = b"\x80"  # an uncompressed frame (a pickle), not zlib
_CALL_TIMEOUT = 10.0
_QUEUED_FRAMES = 4096
T = TypeVar("T")


@dataclass(frozen=True)
class LinkRule:
    """What happens to frames flowing one way between two nodes."""

    refuse: bool = False  # no connection between the two nodes at all
    drop: bool = False  # frames this way are discarded
    delay: float = 0.0  # seconds each frame this way is held


PASS = LinkRule()


@dataclass
class LinkStats:
    """Frames seen per direction (from, to): how we know a fault actually bit."""

    forwarded: dict[tuple[str, str], int] = field(default_factory=dict)
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)
    refused: dict[tuple[str, str], int] = field(default_factory=dict)

    @staticmethod
    def _bump(counts: dict[tuple[str, str], int], key: tuple[str, str]) -> None:
        counts[key] = counts.get(key, 0) + 1


class _Primitives(pickle.Unpickler):
    """Unpickles plain data only: the identifying frame is a str, nothing else is trusted."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} refused")


def _identify(payload: bytes) -> object:
    try:
        body = payload if payload[:1] == _PICKLE_START else zlib.decompress(payload)
        return _Primitives(io.BytesIO(body)).load()
    except Exception:  # noqa: BLE001 - encrypted or foreign: not identifiable
        return None


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """One whole frame (header included), or None at the end of the stream."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (length,) = _HEADER.unpack(header)
        if not 0 <= length <= _MAX_FRAME:
            return None
        return header + await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class _Link:
    """One proxied connection: ``opener`` (None until identified) connected to ``acceptor``."""

    def __init__(self, acceptor: str) -> None:
        self.acceptor = acceptor
        self.opener: str | None = None
        self.task: asyncio.Task | None = None
        self.writers: list[asyncio.StreamWriter] = []

    def between(self, a: str, b: str) -> bool:
        return {self.opener, self.acceptor} == {a, b}

    def abort(self) -> None:
        """Close both sockets now, in-flight frames lost (a cut, not a goodbye)."""
        for writer in self.writers:
            writer.transport.abort()
        if self.task is not None:
            self.task.cancel()


class Network:
    """The proxies of one cluster, and the rules between its nodes (by node name)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="netproxy",
                                        daemon=True)
        self._servers: dict[str, asyncio.AbstractServer] = {}
        self._addresses: dict[str, str] = {}  # announced Raft address -> node name
        self._rules: dict[tuple[str, str], LinkRule] = {}
        self._links: set[_Link] = set()
        self.stats = LinkStats()

    # -- lifecycle (any thread) --------------------------------------------------------------
    def start(self) -> Network:
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._call(self._shutdown)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_CALL_TIMEOUT)
            if not self._thread.is_alive():
                self._loop.close()

    def add(self, name: str, target_port: int) -> int:
        """A proxy for node ``name`` (listening for Raft on target_port); -> the port the node
        must announce."""
        return self._call(lambda: self._add(name, target_port))

    def remove(self, name: str) -> None:
        self._call(lambda: self._remove(name))

    # -- faults (any thread) -----------------------------------------------------------------
    def cut(self, group_a: list[str], group_b: list[str]) -> None:
        """No connection between any node of group_a and any node of group_b."""
        pairs = [(a, b) for a in group_a for b in group_b if a != b]
        self._set_rules({(x, y): LinkRule(refuse=True) for a, b in pairs
                         for x, y in ((a, b), (b, a))})

    def drop(self, senders: list[str], receivers: list[str]) -> None:
        """Frames from senders to receivers are discarded; the other way still flows."""
        self._set_rules({(s, r): LinkRule(drop=True) for s in senders for r in receivers
                         if s != r})

    def delay(self, delays: dict[tuple[str, str], float]) -> None:
        """Hold frames from a to b for delays[(a, b)] seconds."""
        self._set_rules({pair: LinkRule(delay=seconds) for pair, seconds in delays.items()})

    def heal(self) -> None:
        """Every link passes everything again (new frames; delayed ones still arrive late)."""
        self._call(self._rules.clear)

    def counts(self) -> LinkStats:
        """A copy of the frame counts so far."""
        return self._call(lambda: LinkStats(dict(self.stats.forwarded),
                                            dict(self.stats.dropped), dict(self.stats.refused)))

    def rule(self, sender: str, receiver: str) -> LinkRule:
        return self._rules.get((sender, receiver), PASS)

    # -- the loop thread ---------------------------------------------------------------------
    def _call(self, fn: Callable[[], T | Coroutine[Any, Any, T]]) -> T:
        async def run() -> T:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_CALL_TIMEOUT)

    def _set_rules(self, rules: dict[tuple[str, str], LinkRule]) -> None:
        def apply() -> None:
            self._rules.update(rules)
            for link in list(self._links):
                if link.opener is not None and self.rule(link.opener, link.acceptor).refuse:
                    self._refuse(link)
        self._call(apply)

    def _refuse(self, link: _Link) -> None:
        LinkStats._bump(self.stats.refused, (link.opener or "?", link.acceptor))
        link.abort()
        self._links.discard(link)

    async def _add(self, name: str, target_port: int) -> int:
        server = await asyncio.start_server(
            lambda r, w: self._accept(name, target_port, r, w), HOST, 0)
        port = server.sockets[0].getsockname()[1]
        self._servers[name] = server
        self._addresses[f"{HOST}:{port}"] = name
        return port

    async def _remove(self, name: str) -> None:
        server = self._servers.pop(name, None)
        if server is not None:
            server.close()
        self._addresses = {a: n for a, n in self._addresses.items() if n != name}
        for link in [lk for lk in self._links if name in (lk.opener, lk.acceptor)]:
            link.abort()
            self._links.discard(link)

    async def _shutdown(self) -> None:
        tasks = [link.task for link in self._links if link.task is not None]
        for name in list(self._servers):
            await self._remove(name)
        for link in list(self._links):
            link.abort()
        self._links.clear()
        if tasks:
            await asyncio.wait(tasks, timeout=_CALL_TIMEOUT / 2)

    async def _accept(self, name: str, target_port: int, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        link = _Link(name)
        link.task = asyncio.current_task()
        link.writers.append(writer)
        self._links.add(link)
        try:
            await self._proxy(link, target_port, reader, writer)
        except (asyncio.CancelledError, ConnectionError, OSError):
            pass
        finally:
            self._links.discard(link)
            for w in link.writers:
                w.transport.abort()

    async def _proxy(self, link: _Link, target_port: int, down_reader: asyncio.StreamReader,
                     down_writer: asyncio.StreamWriter) -> None:
        """down: the opener's side; up: the node this proxy stands in front of."""
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, target_port), timeout=2.0)
        except OSError:  # TimeoutError included
            return  # the node is down: so is the link
        link.writers.append(up_writer)
        first = await _read_frame(down_reader)
        if first is None:
            return
        opener = _identify(first[_HEADER.size:])
        if isinstance(opener, str):
            link.opener = self._addresses.get(opener)
        if link.opener is not None and self.rule(link.opener, link.acceptor).refuse:
            LinkStats._bump(self.stats.refused, (link.opener, link.acceptor))
            return  # the caller closes both sockets
        up_writer.write(first)
        if link.opener is not None:
            LinkStats._bump(self.stats.forwarded, (link.opener, link.acceptor))
        pumps = [asyncio.create_task(self._pump(down_reader, up_writer, link.opener,
                                                link.acceptor)),
                 asyncio.create_task(self._pump(up_reader, down_writer, link.acceptor,
                                                link.opener))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    sender: str | None, receiver: str | None) -> None:
        """Frames from sender to receiver, judged one by one; at the end of the stream the
        frames already accepted are delivered first (as TCP would), then the link closes."""
        # Bounded: a receiver that stops reading (SIGSTOP) stops this reader too, as TCP would.
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(_QUEUED_FRAMES)
        deliver = asyncio.create_task(self._deliver(queue, writer))
        known = sender is not None and receiver is not None
        key = (sender or "?", receiver or "?")
        last_release = 0.0
        try:
            while (frame := await _read_frame(reader)) is not None:
                rule = self.rule(sender, receiver) if known else PASS
                if rule.refuse or rule.drop:
                    LinkStats._bump(self.stats.dropped, key)
                    continue
                if known:
                    LinkStats._bump(self.stats.forwarded, key)
                last_release = max(time.monotonic() + rule.delay, last_release)
                await queue.put((last_release, frame))
            await queue.put(None)
            await asyncio.wait_for(asyncio.shield(deliver), timeout=_CALL_TIMEOUT)
        finally:
            deliver.cancel()

    @staticmethod
    async def _deliver(queue: asyncio.Queue[tuple[float, bytes] | None],
                       writer: asyncio.StreamWriter) -> None:
        while (item := await queue.get()) is not None:
            release, frame = item
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(frame)
            await writer.drain()
