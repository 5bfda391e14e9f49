"""One client's long pipeline cannot hold the node: a connection runs a bounded share of
work per event-loop turn, and awaits a bounded number of writes (outbuf: fairness). Counted
in commands, not timed: another client samples INFO while the pipeline runs."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading

import pytest

from rcache.errors import OUTCOME_UNKNOWN
from rcache.outbuf import MAX_IN_FLIGHT, TURN_ARGS
from rcache.pending import Pending
from rcache.proxy import LeaderLink
from rcache.resp import encode_command

from .conftest import Node

COMMANDS = 100_000
REPLY_SIZE = 5  # "+OK\r\n" and "$-1\r\n"
# Commands of the pipeline that may run between two samples: a few turns' worth (each
# TURN_ARGS arguments) while the sampler's next INFO travels, far below the whole pipeline
# (one read event ran all of it before the turn bound).
MOST_BETWEEN_SAMPLES = COMMANDS // 5


def _send_and_drain(port: int, payload: bytes, expected: int, done: threading.Event,
                    failures: list[BaseException]) -> None:
    """Send the whole pipeline at once and read its replies as they come."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sender = threading.Thread(target=sock.sendall, args=(payload,))
            sender.start()
            received = 0
            while received < expected:
                chunk = sock.recv(1 << 20)
                assert chunk, "the node closed the pipelining connection"
                received += len(chunk)
            sender.join(60)
    except BaseException as err:  # noqa: BLE001 (reported by the test's thread)
        failures.append(err)
    finally:
        done.set()


def _counts(client, command: str) -> tuple[int, int]:
    """(total_commands_processed, calls of ``command`` counted by commandstats)."""
    info = client.info("stats", "commandstats")
    return info["total_commands_processed"], info.get(f"cmdstat_{command}", {}).get("calls", 0)


@pytest.mark.parametrize("command", ["set", "get"])
def test_a_long_pipeline_shares_the_node(node: Node, command: str) -> None:
    """100,000 pipelined SETs (or GETs) sent at once: another client's INFO is answered
    while they run, and between two of its samples only a few turns' worth of the
    pipeline ran; SETs awaiting their commit never outnumber MAX_IN_FLIGHT."""
    sampler = node.client()
    name = command.upper().encode()
    payload = b"".join(encode_command([name, b"k%d" % i] + [b"v"] * (command == "set"))
                      for i in range(COMMANDS))
    base, _ = _counts(sampler, command)
    done, failures = threading.Event(), []
    flood = threading.Thread(target=_send_and_drain,
                             args=(node.port, payload, COMMANDS * REPLY_SIZE, done, failures))
    flood.start()
    samples = []  # the pipeline's commands run and applied, per sample
    while not done.is_set():
        processed, calls = _counts(sampler, command)
        samples.append((processed - base - len(samples) - 1, calls))
    flood.join(60)
    assert not failures, failures
    assert _counts(sampler, command)[1] == COMMANDS  # every one applied (SET) or run (GET)
    ran = [0] + [count for count, _ in samples] + [COMMANDS]
    during = [count for count in ran if 0 < count < COMMANDS]
    assert len(during) >= 3, f"the sampler was answered only {len(during)} times meanwhile"
    jumps = [later - earlier for earlier, later in itertools.pairwise(ran)]
    assert max(jumps) <= MOST_BETWEEN_SAMPLES, jumps
    if command == "set":  # submitted, not yet applied
        assert max(count - applied for count, applied in samples) <= MAX_IN_FLIGHT


class _Transport:
    """What LeaderLink uses of an asyncio transport, recording pause and resume."""

    def __init__(self) -> None:
        self.reading, self.closing = True, False

    def pause_reading(self) -> None:
        assert self.reading
        self.reading = False

    def resume_reading(self) -> None:
        assert not self.reading
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing


def test_a_proxying_follower_relays_a_bounded_share_of_replies_a_turn() -> None:
    """The leader's replies to a forwarded pipeline arrive ~50,000 to a read: the link hands
    TURN_ARGS of them to their clients a loop turn, reading nothing more meanwhile; a link
    lost with replies still buffered delivers them before the others' unknown outcome."""
    async def scenario() -> None:
        link, transport = LeaderLink(), _Transport()
        link.connection_made(transport)
        waiters = [Pending(None) for _ in range(3 * TURN_ARGS + 10)]
        link.waiting.extend(waiters)
        link.data_received(b"+OK\r\n" * len(waiters))
        assert sum(w.done for w in waiters) == TURN_ARGS and not transport.reading
        for turn in range(2, 5):
            await asyncio.sleep(0)
            assert sum(w.done for w in waiters) == min(turn * TURN_ARGS, len(waiters))
        assert transport.reading and all(w.value == b"+OK\r\n" for w in waiters)
        cut = [Pending(None) for _ in range(TURN_ARGS + 2)]
        link.waiting.extend(cut)
        link.data_received(b"+OK\r\n" * (TURN_ARGS + 1) + b"+O")
        transport.closing = True
        link.connection_lost(None)
        assert cut[-2].value == b"+OK\r\n" and str(cut[-1].value) == OUTCOME_UNKNOWN
    asyncio.run(scenario())
