"""The reply queue without a connection: order, deferral, flow bound, close after QUIT."""

from __future__ import annotations

from rcache.outbuf import FLUSH_AT
from rcache.pending import Pending
from rcache.replies import ReplyQueue, RunWhenDue


class Owner:
    """Records what the queue asks of its connection; replies encode as repr bytes."""

    def __init__(self) -> None:
        self.write_paused = False
        self.quitting = False
        self.ran: list[list[bytes]] = []
        self.flushed: list[bytes] = []
        self.queue: ReplyQueue | None = None
        self.results: dict[bytes, object] = {}

    def encode(self, value: object) -> bytes:
        return repr(value).encode() + b";"

    def run_deferred(self, argv: list[bytes], cmd: object) -> object:
        self.ran.append(argv)
        if argv[0] == b"QUIT":
            self.quitting = True
        return self.results.get(argv[0], argv[0])

    def flush(self) -> None:
        self.flushed.append(self.queue.take())


def _queue() -> tuple[ReplyQueue, Owner]:
    queue, owner = ReplyQueue(), Owner()
    owner.queue = queue
    return queue, owner


def test_ready_replies_go_out_in_order_in_one_take() -> None:
    queue, owner = _queue()
    queue.add(b"a")
    queue.add(b"b")
    assert queue.out_size == 2
    assert queue.take() == b"ab"
    assert queue.take() == b""
    assert queue.out_size == 0


def test_replies_behind_a_pending_one_wait_for_it() -> None:
    queue, owner = _queue()
    pending = Pending(None)
    queue.add(b"first;")
    queue.wait_for(pending)
    queue.add(b"after;")
    assert queue.held == len(b"after;")
    assert not queue.drain(owner)
    assert queue.take() == b"first;"
    pending.resolve(7)
    assert not queue.drain(owner)
    assert queue.take() == b"7;after;"
    assert queue.held == 0 and not queue.slots


def test_deferred_command_runs_only_when_its_turn_comes() -> None:
    queue, owner = _queue()
    write = Pending(None)
    queue.wait_for(write)
    queue.defer([b"GET", b"k"])
    assert queue.deferred == 1
    queue.drain(owner)
    assert owner.ran == []  # the write before it is not applied yet
    write.resolve("OK")
    queue.drain(owner)
    assert owner.ran == [[b"GET", b"k"]]
    assert queue.deferred == 0
    assert queue.take() == b"'OK';b'GET';"


def test_deferred_command_that_waits_takes_its_slot() -> None:
    queue, owner = _queue()
    later = Pending(None)
    owner.results[b"SET"] = later
    queue.wait_for(first := Pending(None))
    queue.defer([b"SET", b"k", b"v"])
    queue.add(b"x;")
    first.resolve(1)
    queue.drain(owner)
    assert queue.take() == b"1;"
    assert queue.slots[0] is later
    later.resolve(2)
    queue.drain(owner)
    assert queue.take() == b"2;x;"


def test_read_due_runs_when_written_not_when_confirmed() -> None:
    queue, owner = _queue()
    calls: list[int] = []
    write, read = Pending(None), Pending(None)
    queue.wait_for(write)
    queue.wait_for(read)
    read.resolve(RunWhenDue(lambda: calls.append(1) or b"v"))
    queue.drain(owner)
    assert calls == []
    write.resolve(0)
    queue.drain(owner)
    assert calls == [1]
    assert queue.take() == b"0;b'v';"


def test_nothing_runs_while_the_client_does_not_read() -> None:
    queue, owner = _queue()
    owner.write_paused = True
    queue.wait_for(write := Pending(None))
    queue.defer([b"GET", b"k"])
    write.resolve(0)
    assert not queue.drain(owner)
    assert owner.ran == []
    assert queue.take() == b"0;"  # what is ready still goes out
    owner.write_paused = False
    queue.drain(owner)
    assert owner.ran == [[b"GET", b"k"]]


def test_large_output_is_handed_over_before_running_more() -> None:
    queue, owner = _queue()
    queue.wait_for(write := Pending(None))
    queue.defer([b"GET", b"k"])
    write.resolve(b"x" * (FLUSH_AT + 1))
    queue.drain(owner)
    assert len(owner.flushed) == 1 and len(owner.flushed[0]) > FLUSH_AT
    assert queue.take() == b"b'GET';"


def test_close_after_the_replies_before_it() -> None:
    queue, owner = _queue()
    assert queue.close_after()  # nothing waits: close now
    queue.wait_for(write := Pending(None))
    assert not queue.close_after()
    assert not queue.drain(owner)
    write.resolve(0)
    assert queue.drain(owner)
    assert queue.take() == b"0;"
    assert not queue.slots


def test_deferred_quit_drops_what_follows() -> None:
    queue, owner = _queue()
    queue.wait_for(write := Pending(None))
    queue.defer([b"QUIT"])
    queue.defer([b"GET", b"k"])
    queue.add(b"late;")
    write.resolve(0)
    assert queue.drain(owner)
    assert owner.ran == [[b"QUIT"]]
    assert queue.take() == b"0;b'QUIT';"
    assert queue.held == 0 and queue.deferred == 0 and not queue.slots


def test_out_of_band_goes_ahead_of_pending_replies() -> None:
    queue, owner = _queue()
    queue.wait_for(write := Pending(None))
    queue.add_out_of_band(b"message;")
    assert queue.take() == b"message;"
    write.resolve(0)
    queue.drain(owner)
    assert queue.take() == b"0;"


def test_resolved_head_goes_out_without_draining() -> None:
    queue, owner = _queue()
    first, second = Pending(None), Pending(None)
    queue.wait_for(first)
    queue.wait_for(second)
    second.value, second.done = 2, True
    assert not queue.resolved(second, owner)  # not the head: drain takes it in its turn
    assert queue.take() == b""
    first.value, first.done = 1, True
    assert not queue.resolved(first, owner)  # the one behind it is ready: drain moves it
    assert queue.take() == b"1;"
    assert not queue.drain(owner)
    assert queue.take() == b"2;"
    assert not queue.slots


def test_resolved_head_leaves_what_needs_draining() -> None:
    queue, owner = _queue()
    write, muted, last = Pending(None), Pending(None), Pending(None)
    queue.wait_for(write)
    queue.add(b"held;")
    queue.wait_for(muted)
    muted.muted = True
    queue.wait_for(last)
    write.value, write.done = b"v", True
    assert not queue.resolved(write, owner)  # a held reply is next: drained
    assert queue.take() == b"b'v';"
    assert queue.held == len(b"held;")
    assert not queue.drain(owner)
    assert queue.take() == b"held;"
    muted.done = True
    assert not queue.resolved(muted, owner)  # CLIENT REPLY OFF: drain drops it
    assert not queue.drain(owner)
    last.value, last.done = 3, True
    assert queue.resolved(last, owner)
    assert queue.take() == b"3;"
    assert not queue.slots


def test_resolved_ok_is_encoded_once_for_all() -> None:
    from rcache.resp import OK

    queue, owner = _queue()
    pending = Pending(None)
    queue.wait_for(pending)
    pending.value, pending.done = OK, True
    assert queue.resolved(pending, owner)
    assert queue.take() == b"+OK\r\n"
