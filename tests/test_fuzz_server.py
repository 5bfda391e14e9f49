"""Random and mutated requests against a live node: it never crashes, keeps answering other
clients, and its memory stays bounded. (The reader alone is fuzzed in test_resp.py.)"""

from __future__ import annotations

import os
import random
import socket

from rcache.resp import encode_command

from .conftest import Node

_COMMANDS = [[b"SET", b"fz", b"v"], [b"GET", b"fz"], [b"INCR", b"fzn"],
             [b"HSET", b"fzh", b"f", b"v"], [b"LPUSH", b"fzl", b"a"], [b"ZADD", b"fzz", b"1", b"m"],
             [b"MULTI"], [b"EXEC"], [b"CLIENT", b"SETNAME", b"x"], [b"HELLO", b"3"],
             [b"SELECT", b"1"], [b"PING"]]
_NOISE = [b"\r\n", b"*", b"$", b"-1", b"99999999999", b"\x00", b"\xff", b" ", b'"', b"'", b"\\x"]


def _mutated(rng: random.Random) -> bytes:
    data = bytearray(b"".join(encode_command(rng.choice(_COMMANDS))
                              for _ in range(rng.randint(1, 4))))
    for _ in range(rng.randint(0, 6)):
        i = rng.randrange(len(data) + 1)
        choice = rng.random()
        if choice < 0.4 and i < len(data):
            data[i] = rng.randrange(256)
        elif choice < 0.7:
            data[i:i] = rng.choice(_NOISE)
        elif i < len(data):
            del data[i:i + rng.randint(1, 8)]
    return bytes(data)


def _send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(payload)
        sock.settimeout(0.02)
        try:
            while sock.recv(65536):
                pass
        except OSError:  # a timeout (waiting for more input, as Redis would) or a reset
            pass


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(next(s for s in status if s.startswith("VmRSS:")).split()[1]) / 1024


def test_random_and_mutated_requests(node: Node) -> None:
    """RCACHE_FUZZ_SEED and RCACHE_FUZZ_ROUNDS (25 inputs each) make longer runs."""
    rng = random.Random(int(os.environ.get("RCACHE_FUZZ_SEED", "1")))
    rounds = int(os.environ.get("RCACHE_FUZZ_ROUNDS", "40"))
    watcher = node.client(socket_timeout=5)
    baseline = _rss_mb(node.proc.pid)
    inputs = 0
    for round_ in range(rounds):
        for _ in range(25):
            kind = rng.random()
            if kind < 0.6:
                payload = _mutated(rng)
            elif kind < 0.9:
                payload = rng.randbytes(rng.randint(1, 2000))
            else:  # a frame cut short, then the connection dropped
                payload = _mutated(rng)[: rng.randint(1, 30)]
            _send(node.port, payload)
            inputs += 1
        assert watcher.ping(), f"no answer after {inputs} inputs (round {round_})"
    assert node.proc.poll() is None, "the server crashed"
    assert inputs == 25 * rounds
    assert _rss_mb(node.proc.pid) < baseline + 100
