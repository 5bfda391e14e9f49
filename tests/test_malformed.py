"""Malformed and abusive clients over raw sockets, compared byte for byte with redis-server.

Every case is sent on its own connection to both servers at once; the reply bytes and
whether the server closed the connection must be the same. Then each server must still
answer PING on a new connection. The pipeline tests check that clients which do not read
their replies, or vanish mid-request, cannot hurt the server.
"""

from __future__ import annotations

import random
import selectors
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import redis

from rcache.resp import INLINE_MAX, encode_command

from .conftest import wait_for

HOST = "127.0.0.1"
QUIET = 0.5  # how long a connection that should stay open is watched for a close
LIMIT = 10.0  # bound on every other wait


@dataclass(frozen=True)
class Outcome:
    reply: bytes
    closed_by_server: bool


@dataclass(frozen=True)
class Case:
    id: str
    payload: bytes


def _garbage(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)




CASES = [
    # Truncated frames: no reply, the connection stays open; then the client closes.
    *(Case(f"truncated-{i}", p) for i, p in enumerate([
        b"*", b"*1", b"*1\r", b"*1\r\n", b"*1\r\n$", b"*1\r\n$4", b"*1\r\n$4\r\n",
        b"*1\r\n$4\r\nPI", b"*1\r\n$4\r\nPING\r", b"*2\r\n$4\r\nECHO\r\n",
        b"*2\r\n$4\r\nECHO\r\n$3\r\nab", b"PING", b"ECHO abc", b'ECHO "ab',
        b"PING\r\n*1\r\n$4\r\nPI",  # one whole command, then half of one
        b"*1\r\n:5",  # Redis finds the line end before it looks for the '$'
        b"*1\r\n" + b"x" * 100,
        b"*1\x00\r\n$4\r\nPING\r\n",  # a NUL hides the line end from strchr(): Redis waits
        b"PING\x00\r\nPING\r\n",
        b"*2147483647\r\n$4\r\nECHO\r\n",  # the largest multibulk length is accepted
        b"x" * INLINE_MAX,  # exactly the inline limit, without a line end
    ])),
    # Protocol errors: Redis replies -ERR Protocol error: ... and closes.
    Case("wrong-type-in-multibulk", b"*1\r\n:5\r\n"),
    Case("huge-bulk-length", b"*1\r\n$999999999999\r\n"),
    Case("bulk-length-over-512mb", b"*1\r\n$536870913\r\n"),
    Case("huge-multibulk-length", b"*99999999999\r\n"),
    Case("multibulk-length-over-int-max", b"*2147483648\r\n"),
    Case("negative-bulk-length", b"*1\r\n$-5\r\n"),
    Case("bulk-length-not-a-number", b"*1\r\n$abc\r\n"),
    Case("multibulk-length-not-a-number", b"*abc\r\n"),
    Case("multibulk-length-plus-sign", b"*+1\r\n$4\r\nPING\r\n"),
    Case("multibulk-length-leading-zero", b"*01\r\n$4\r\nPING\r\n"),
    Case("non-ascii-instead-of-dollar", b"*1\r\n\xff\r\n"),
    Case("cr-instead-of-dollar", b"*1\r\n\r\r\n"),
    Case("unbalanced-double-quote", b'SET "a b\r\n'),
    Case("unbalanced-single-quote", b"ECHO 'a\r\n"),
    Case("closing-quote-then-letter", b'ECHO "a"b\r\n'),
    Case("inline-70kb-without-newline", b"x" * 70_000),
    Case("inline-with-nul-grows-too-big", b"PING\x00\r\n" + b"x" * 70_000),
    Case("mbulk-count-70kb", b"*" + b"1" * 70_000),
    Case("bulk-count-70kb", b"*1\r\n$" + b"1" * 70_000),
    Case("bulk-line-70kb-without-dollar", b"*1\r\n" + b"x" * 70_000),
    Case("commands-before-the-error-run", b"PING\r\nECHO hi\r\n*1\r\n:5\r\nPING\r\n"),
    # Well-formed oddities that Redis accepts.
    Case("negative-length-at-top-is-skipped", b"$-5\r\n*-5\r\n*0\r\n*-1\r\nPING\r\n"),
    Case("bytes-after-bulk-skipped-unread", b"*1\r\n$4\r\nPINGxxPING\r\n"),
    Case("cr-not-followed-by-lf", b"*1\rX$4\rXPING\r\n"),
    Case("blank-lines", b"\r\n\n   \r\n\t\r\nPING\r\n"),
    Case("inline-escapes", b"ECHO \"\\x41\\n\\\"\"\r\nECHO 'it\\'s'\r\nECHO \"a b\"\r\n"),
    Case("inline-vertical-tab-inside-word", b"ECHO a\x0bb\r\nECHO a\x0cb\r\n"),
    Case("inline-vertical-tab-after-quote", b'ECHO "a"\x0bb\r\n'),
    Case("binary-safe-bulk", encode_command([b"ECHO", b"a\r\n\x00\xff"])),
    Case("empty-command-name", b"*1\r\n$0\r\n\r\n"),
    # Replies still owed when the connection is to close (each case uses its own key).
    Case("write-then-truncated", b"SET malformed:1 v\r\nGET malformed:1\r\n*1\r\n$4\r\nGE"),
    Case("write-then-protocol-error",
         b"SET malformed:2 v\r\nGET malformed:2\r\n*1\r\n:5\r\nGET malformed:2\r\n"),
    Case("quit", b"PING\r\nQUIT\r\nPING\r\n"),
    Case("write-then-quit", b"SET malformed:3 v\r\nQUIT\r\n"),
    # Garbage.
    Case("garbage-all-bytes", bytes(range(256))),  # NUL first: Redis waits for a line
    Case("garbage-all-bytes-but-nul", bytes(range(1, 256))),
    Case("garbage-ascii", b"GARBAGE!@#$%^&*()\r\n"),
    *(Case(f"garbage-multibulk-{seed}", b"*" + _garbage(seed, 100)) for seed in range(6)),
    *(Case(f"garbage-binary-{seed}", _garbage(seed, 300)) for seed in range(1, 5)),
    # Redis echoes the unknown command's bytes raw; rcache does not (yet).
    Case("unknown-command-binary-name", b"\xff\xfe ab\xc3\r\n"),
    Case("unknown-command-nul-in-name", b"*2\r\n$3\r\na\x00b\r\n$3\r\nc\x00d\r\n"),
    Case("unknown-command-long-utf8-args", b"X " + "é".encode() * 40 + b" " + b"y" * 100 + b"\r\n"),
]


def exchange_all(port: int, payloads: list[bytes]) -> list[Outcome]:
    """Send each payload on its own connection, all at once, and watch the replies.

    A connection the server does not close within QUIET (or, once it has replied with a
    protocol error, within LIMIT) is then half-closed by us and read to its end, so late
    replies are still collected.
    """
    socks = [socket.create_connection((HOST, port), timeout=LIMIT) for _ in payloads]
    try:
        for sock, payload in zip(socks, payloads, strict=True):
            sock.sendall(payload)
        replies = [bytearray() for _ in socks]
        closed = [False] * len(socks)
        with selectors.DefaultSelector() as sel:
            for i, sock in enumerate(socks):
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ, i)
            start = time.monotonic()
            while sel.get_map():
                elapsed = time.monotonic() - start
                if elapsed > LIMIT or (elapsed > QUIET and not any(
                        b"Protocol error" in replies[k.data] for k in sel.get_map().values())):
                    break
                _read_ready(sel, replies, closed, mark_closed=True)
            for key in list(sel.get_map().values()):
                key.fileobj.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LIMIT
            while sel.get_map() and time.monotonic() < deadline:
                _read_ready(sel, replies, closed, mark_closed=False)
            assert not sel.get_map(), "the server did not close connections after EOF"
        return [Outcome(bytes(r), c) for r, c in zip(replies, closed, strict=True)]
    finally:
        for sock in socks:
            sock.close()


def _read_ready(sel: selectors.BaseSelector, replies: list[bytearray], closed: list[bool],
                mark_closed: bool) -> None:
    for key, _ in sel.select(timeout=0.05):
        try:
            data = key.fileobj.recv(65536)
        except BlockingIOError:
            continue
        except ConnectionResetError:
            data = b""
        if data:
            replies[key.data] += data
        else:
            closed[key.data] = mark_closed
            sel.unregister(key.fileobj)


def ping(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=LIMIT) as sock:
        sock.sendall(b"PING\r\n")
        reply = b""
        for _ in range(100):
            chunk = sock.recv(64)
            reply += chunk
            if not chunk or reply.endswith(b"\r\n"):
                break
    return reply == b"+PONG\r\n"


@pytest.fixture(scope="module")
def outcomes(redis_server: int, shared_node) -> dict[str, tuple[Outcome, Outcome]]:
    """Every case against both servers concurrently: {case id: (redis, rcache)}."""
    payloads = [case.payload for case in CASES]
    try:
        with ThreadPoolExecutor(2) as pool:
            reference = pool.submit(exchange_all, redis_server, payloads)
            ours = pool.submit(exchange_all, shared_node.port, payloads)
            pairs = zip(reference.result(), ours.result(), strict=True)
            return {case.id: pair for case, pair in zip(CASES, pairs, strict=True)}
    finally:
        for port in (redis_server, shared_node.port):
            with redis.Redis(host=HOST, port=port, socket_timeout=LIMIT) as client:
                client.delete("malformed:1", "malformed:2", "malformed:3")


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_same_reply_and_close_as_redis(case: Case, outcomes, redis_server: int,
                                       shared_node) -> None:
    reference, ours = outcomes[case.id]
    assert ours == reference
    assert ping(redis_server) and ping(shared_node.port)


def test_cases_cover_what_they_claim(outcomes) -> None:
    """Guard against a differential test that compares nothing: Redis itself must close
    on the protocol errors and stay open on the truncated frames."""
    for case in CASES:
        reference, _ = outcomes[case.id]
        if case.id.startswith("truncated-"):
            assert not reference.closed_by_server and b"-" not in reference.reply, case.id
        if b"Protocol error" in reference.reply:
            assert reference.closed_by_server, case.id


@pytest.mark.parametrize(("payload", "message"), [
    (b"*11\r\n", b"unauthenticated multibulk length"),
    (b"*1\r\n$16385\r\n", b"unauthenticated bulk length"),
    (b"*1\r\n$-1\r\n", b"invalid bulk length"),
    (b"*10\r\n$4\r\nAUTH\r\n", b""),  # within the limits: waits for the rest
])
def test_unauthenticated_limits_like_redis(payload: bytes, message: bytes, redis_server: int,
                                           shared_node) -> None:
    admins = [redis.Redis(host=HOST, port=port, socket_timeout=LIMIT)
              for port in (redis_server, shared_node.port)]
    try:
        for admin in admins:  # an already connected client stays authenticated
            admin.config_set("requirepass", "sekret")
        reference, ours = (exchange_all(port, [payload])[0]
                           for port in (redis_server, shared_node.port))
        assert ours == reference
        assert message in reference.reply
    finally:
        for admin in admins:
            admin.config_set("requirepass", "")
            admin.close()


# -- clients that do not read, or vanish ----------------------------------------------------

def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connected_clients(port: int) -> int:
    with redis.Redis(host=HOST, port=port, socket_timeout=LIMIT) as client:
        return client.info("clients")["connected_clients"]


@pytest.fixture(params=["redis", "rcache"])
def server_port(request, redis_server: int, shared_node) -> int:
    return redis_server if request.param == "redis" else shared_node.port


def test_unread_20k_ping_pipeline(server_port: int, shared_node) -> None:
    pid = shared_node.proc.pid
    before = rss_bytes(pid)
    with socket.create_connection((HOST, server_port), timeout=LIMIT) as sock:
        sock.sendall(b"PING\r\n" * 20_000)  # replies never read
        assert ping(server_port)
        if server_port == shared_node.port:
            assert rss_bytes(pid) - before < 200 * 1024 * 1024
    assert ping(server_port)


def test_unread_replies_stop_reading_requests(shared_node) -> None:
    """Deliberate difference: Redis buffers any amount of replies for a normal client that
    does not read (client-output-buffer-limit normal 0 0 0); rcache stops reading that
    client's requests once its replies back up, so memory stays bounded."""
    port, pid = shared_node.port, shared_node.proc.pid
    chunk = encode_command([b"ECHO", b"x" * 4096]) * 256  # about 1 MB of requests
    attempts = 300  # 300 MB if nothing pushed back
    before = rss_bytes(pid)
    sent = 0
    with socket.create_connection((HOST, port), timeout=LIMIT) as flood:
        flood.settimeout(1.0)
        try:
            for _ in range(attempts):
                flood.sendall(chunk)
                sent += len(chunk)
        except (TimeoutError, OSError):
            pass  # the server stopped reading
        assert ping(port)
        grown = rss_bytes(pid) - before
    assert sent < attempts * len(chunk), "the server read 300 MB nobody reads replies to"
    assert grown < 200 * 1024 * 1024, f"RSS grew {grown >> 20} MB"
    assert ping(port)


def test_disconnect_mid_pipeline(server_port: int) -> None:
    baseline = connected_clients(server_port)
    sock = socket.create_connection((HOST, server_port), timeout=LIMIT)
    sock.sendall(b"PING\r\n" * 10_000 + encode_command([b"ECHO", b"y" * 1000]) * 500
                 + b"".join(b"SET malformed:pipe:%d v\r\n" % (i % 10) for i in range(2000))
                 + b"*2\r\n$4\r\nECHO\r\n$100\r\nhalf")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # with replies unread and linger 0: a reset
    assert ping(server_port)
    wait_for(lambda: connected_clients(server_port) <= baseline, LIMIT,
             "the reset connection to be dropped")
    with redis.Redis(host=HOST, port=server_port, socket_timeout=LIMIT) as client:
        client.delete(*(f"malformed:pipe:{i}" for i in range(10)))


def test_half_sent_frame_then_disconnect(server_port: int) -> None:
    baseline = connected_clients(server_port)
    for payload in [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc", b"*2\r\n$4\r\nECH",
                    b"ECHO abc", b"*1\r\n$1"]:
        with socket.create_connection((HOST, server_port), timeout=LIMIT) as sock:
            sock.sendall(payload)
        assert ping(server_port)
    wait_for(lambda: connected_clients(server_port) <= baseline, LIMIT,
             "closed connections to be dropped")
