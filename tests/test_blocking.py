"""Blocking pops against real processes: clients parked until a push, in arrival order, timed
out, gone, moved along a chain (served before the write that started it replies), used as a
work queue, and unblocked when the leader changes."""

from __future__ import annotations

import select
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from redis.exceptions import MovedError

from rcache.resp import encode_command

from .conftest import LocalCluster, Node, wait_for


def _blocked(client: redis.Redis, count: int) -> None:
    wait_for(lambda: client.info("clients")["blocked_clients"] == count, 10,
             f"{count} blocked client(s)")


def test_pop_waits_for_a_push_and_times_out(node: Node) -> None:
    client = node.client()
    with ThreadPoolExecutor(2) as pool:
        popped = pool.submit(node.client().blpop, ["empty", "queue"], 30)
        moved = pool.submit(node.client().blmove, "src", "dst", 30, "LEFT", "RIGHT")
        _blocked(client, 2)
        client.rpush("queue", "job")
        client.rpush("src", "item")
        assert popped.result(timeout=30) == (b"queue", b"job")
        assert moved.result(timeout=30) == b"item"
    assert client.lrange("dst", 0, -1) == [b"item"]
    assert client.blpop(["empty"], 0.2) is None  # the timeout's nil
    assert client.bzpopmin(["empty"], 0.2) is None
    assert client.info("clients")["blocked_clients"] == 0


def test_multi_key_pops_wait_too(node: Node) -> None:
    client = node.client()
    with ThreadPoolExecutor(2) as pool:
        lists = pool.submit(node.client().execute_command,
                            "BLMPOP", "30", "2", "l1", "l2", "RIGHT", "COUNT", "5")
        zsets = pool.submit(node.client().execute_command, "BZMPOP", "30", "1", "z", "MIN")
        _blocked(client, 2)
        client.rpush("l2", "a", "b")
        client.zadd("z", {"m": 1.5})
        assert lists.result(timeout=30) == [b"l2", [b"b", b"a"]]
        assert zsets.result(timeout=30) == [b"z", [[b"m", b"1.5"]]]


def test_waiters_are_served_in_arrival_order(node: Node) -> None:
    client = node.client()
    with ThreadPoolExecutor(3) as pool:
        waiting = []
        for count in range(1, 4):
            waiting.append(pool.submit(node.client().brpop, ["q"], 30))
            _blocked(client, count)
        client.lpush("q", "first", "second", "third")  # brpop takes "first" first
        assert [w.result(timeout=30) for w in waiting] == [
            (b"q", b"first"), (b"q", b"second"), (b"q", b"third")]


def test_a_move_wakes_the_client_parked_on_its_target(node: Node) -> None:
    client = node.client()
    with ThreadPoolExecutor(3) as pool:
        mover = pool.submit(node.client().brpoplpush, "a", "b", 30)
        _blocked(client, 1)
        taker = pool.submit(node.client().bzpopmax, ["z"], 30)
        popper = pool.submit(node.client().blpop, ["b"], 30)
        _blocked(client, 3)
        client.zadd("z", {"low": 1, "high": 2})
        client.rpush("a", "x")
        assert mover.result(timeout=30) == b"x"
        assert popper.result(timeout=30) == (b"b", b"x")
        assert taker.result(timeout=30) == (b"z", b"high", 2.0)


def _woken_past_other_types(port: int) -> list:
    """A parked BLPOP sees its key become a string, then a push to its other key; circular
    BRPOPLPUSH clients see a DEL, then a push: what each client gets, and the lists after."""
    client = redis.Redis(port=port, socket_timeout=10)
    client.delete("a", "b", "l1", "l2")
    seen: list = []
    with ThreadPoolExecutor(2) as pool:
        popped = pool.submit(redis.Redis(port=port).blpop, ["a", "b"], 30)
        _blocked(client, 1)
        with client.pipeline(transaction=True) as multi:
            multi.rpush("a", "x").delete("a").set("a", "string").execute()
        client.rpush("b", "y")
        seen.append(popped.result(timeout=30))
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            client.blpop(["a"], 30)  # only a parked client waits on past the string
        first = pool.submit(redis.Redis(port=port).brpoplpush, "l1", "l2", 30)
        _blocked(client, 1)
        second = pool.submit(redis.Redis(port=port).brpoplpush, "l2", "l1", 30)
        _blocked(client, 2)
        client.delete("l1")
        client.rpush("l1", "foo")  # l1 -> l2 -> l1
        seen += [first.result(timeout=30), second.result(timeout=30)]
    seen += [client.lrange("l1", 0, -1), client.lrange("l2", 0, -1)]
    return seen


def test_woken_clients_wait_past_other_types_as_redis(node: Node, redis_server: int) -> None:
    expected = [(b"b", b"y"), b"foo", b"foo", [b"foo"], []]
    assert _woken_past_other_types(redis_server) == expected
    assert _woken_past_other_types(node.port) == expected


def _woken_calls_and_flushed_group(port: int) -> list:
    """A pop woken for nothing, then served, is one call (INFO commandstats); a parked
    XREADGROUP whose stream a FLUSHDB takes away gets Redis's error."""
    client = redis.Redis(port=port, db=9, socket_timeout=10)
    client.flushdb()
    client.config_resetstat()
    seen: list = []
    with ThreadPoolExecutor(1) as pool:
        popped = pool.submit(redis.Redis(port=port, db=9).blpop, ["q"], 30)
        _blocked(client, 1)
        client.delete("q")  # wakes it for nothing
        client.rpush("q", "x")
        seen.append(popped.result(timeout=30))
        seen.append(client.info("commandstats")["cmdstat_blpop"]["calls"])
        client.xgroup_create("s", "g", "$", mkstream=True)
        read = pool.submit(redis.Redis(port=port, db=9).xreadgroup, "g", "c", {"s": ">"},
                           block=0)
        _blocked(client, 1)
        client.flushdb()
        with pytest.raises(redis.ResponseError) as gone:
            read.result(timeout=30)
        seen.append(str(gone.value))
    return seen


def test_woken_pops_count_once_and_a_flush_ends_group_reads_as_redis(
        node: Node, redis_server: int) -> None:
    expected = _woken_calls_and_flushed_group(redis_server)
    assert expected[:2] == [(b"q", b"x"), 1]
    assert _woken_calls_and_flushed_group(node.port) == expected


def _zset_pops_woken_past_a_string(port: int) -> list:
    """BZPOPMIN and BZMPOP parked on a key that a transaction fills, deletes and makes a
    string: each waits on until a member comes to the key again."""
    client = redis.Redis(port=port, socket_timeout=10)
    seen: list = []
    with ThreadPoolExecutor(1) as pool:
        for pop in (lambda c: c.bzpopmin(["z"], 30),
                    lambda c: c.execute_command("BZMPOP", 30, 1, "z", "MIN")):
            client.delete("z")
            popped = pool.submit(pop, redis.Redis(port=port))
            _blocked(client, 1)
            with client.pipeline(transaction=True) as multi:
                multi.zadd("z", {"foo": 0}).delete("z").set("z", "foo").execute()
            client.delete("z")
            client.zadd("z", {"bar": 1})
            seen.append(popped.result(timeout=30))
    return seen


def test_woken_zset_pops_wait_past_a_string_as_redis(node: Node, redis_server: int) -> None:
    expected = [(b"z", b"bar", 1.0), [b"z", [[b"bar", b"1"]]]]
    assert _zset_pops_woken_past_a_string(redis_server) == expected
    assert _zset_pops_woken_past_a_string(node.port) == expected


def test_a_list_moved_in_from_another_database_wakes_its_waiter(node: Node) -> None:
    client = node.client()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(node.client(db=1).blpop, ["q"], 30)
        _blocked(client, 1)
        client.rpush("q", "from db 0")
        client.move("q", 1)
        assert waiting.result(timeout=30) == (b"q", b"from db 0")


def test_a_client_that_leaves_takes_nothing(node: Node) -> None:
    client = node.client()
    gone = socket.create_connection(("127.0.0.1", node.port), timeout=5)
    gone.sendall(encode_command([b"BLPOP", b"q", b"0"]))
    _blocked(client, 1)
    gone.close()
    _blocked(client, 0)
    client.rpush("q", "kept")
    assert client.lrange("q", 0, -1) == [b"kept"]


def test_pops_pipelined_on_one_connection_each_time_out(node: Node) -> None:
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(encode_command([b"BLPOP", b"q", b"q", b"0.2"])
                     + encode_command([b"BZPOPMIN", b"z", b"0.2"]))
        replies = b""
        while len(replies) < 10:
            replies += sock.recv(100)
    assert replies == b"*-1\r\n*-1\r\n"
    _blocked(node.client(), 0)


def test_work_queue_hands_out_each_job_once(node: Node) -> None:
    jobs = [f"job{i}".encode() for i in range(400)]
    taken: list[bytes] = []
    lock = threading.Lock()

    def consume() -> None:
        worker = node.client()
        while (item := worker.blpop(["jobs"], 2)) is not None:
            with lock:
                taken.append(item[1])

    with ThreadPoolExecutor(5) as pool:
        workers = [pool.submit(consume) for _ in range(4)]
        producer = node.client()
        for start in range(0, len(jobs), 20):
            producer.rpush("jobs", *jobs[start:start + 20])
        for worker in workers:
            worker.result(timeout=60)
    assert sorted(taken) == sorted(jobs)


def test_only_the_leader_parks_clients(steady_cluster: LocalCluster) -> None:
    leader, follower = steady_cluster.leader(), steady_cluster.followers()[0]
    with pytest.raises(MovedError):
        follower.client().blpop(["q"], 1)
    client = leader.client()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(leader.client().blpop, ["q"], 0)
        _blocked(client, 1)
        client.execute_command("RAFT.TRANSFER-LEADER", follower.name)
        with pytest.raises(redis.ResponseError, match="^UNBLOCKED force unblock"):
            waiting.result(timeout=30)


def test_a_proxying_follower_redirects_blocking_pops(tmp_path) -> None:
    """A proxying follower shares one pipelined link to the leader: a pop waiting on it
    would hold up every other client's writes, so it answers MOVED instead."""
    with LocalCluster(tmp_path, 3, "--follower-proxy", "yes") as cluster:
        follower = cluster.followers()[0]
        client = follower.client()
        assert client.rpush("q", "x") == 1  # proxied
        with pytest.raises(MovedError):
            client.blpop(["q"], 1)
        assert client.lpop("q") == b"x"


def _received(sock: socket.socket, size: int) -> bytes:
    reply = b""
    while len(reply) < size:
        chunk = sock.recv(size - len(reply))
        assert chunk, "connection closed"
        reply += chunk
    return reply


def test_a_push_right_behind_a_pop_wakes_it(node: Node) -> None:
    """The push is sent without waiting for the pop to park, so it often reaches the log
    while the pop's first try is still there: that try finds nothing, the pop must try again."""
    client = node.client()
    for n in range(20):
        with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
            sock.sendall(encode_command([b"BLPOP", b"q", b"10"]))
            client.rpush("q", n)
            expected = b"*2\r\n$1\r\nq\r\n$%d\r\n%d\r\n" % (len(str(n)), n)
            assert _received(sock, len(expected)) == expected


@pytest.mark.parametrize("removal", [["DEL", "s"], ["FLUSHDB"], ["FLUSHALL"]])
def test_a_stream_removed_under_a_blocked_xreadgroup_unblocks_it(node: Node,
                                                                  removal: list[str]) -> None:
    """Redis answers UNBLOCKED when the stream goes, whether the removal comes right behind
    the read (first try still in the log) or after it parked; an XREAD keeps waiting."""
    client = node.client(db=3)
    for parked_first in (False, True, False, False):
        client.xgroup_create("s", "g", "$", mkstream=True)
        with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock, \
                socket.create_connection(("127.0.0.1", node.port), timeout=30) as reader:
            for conn in (sock, reader):
                conn.sendall(encode_command([b"SELECT", b"3"]))
                assert _received(conn, 5) == b"+OK\r\n"
            reader.sendall(encode_command([b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]))
            sock.sendall(encode_command(
                [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"]))
            if parked_first:
                _blocked(client, 2)
            client.execute_command(*removal)
            gone = b"-UNBLOCKED the stream key no longer exists\r\n"
            assert _received(sock, len(gone)) == gone
            _blocked(client, 1)  # the XREAD
            client.xadd("s", {"f": "v"}, id="1-1")
            assert _received(reader, 4) == b"*1\r\n"
            client.delete("s")


_PUSHES = {  # writes that push foo into l1, each as a client sends it
    "rpush": lambda c: c.rpush("l1", "foo"),
    "exec": lambda c: c.pipeline(transaction=True).rpush("l1", "foo").execute(),
    "eval": lambda c: c.eval("return redis.call('rpush', KEYS[1], 'foo')", 1, "l1"),
    "lmove": lambda c: (c.rpush("l0", "foo"), c.lmove("l0", "l1"))[1],
    "blmove served at once": lambda c: (c.rpush("l0", "foo"), c.blmove("l0", "l1", 1))[1],
}


def _linked_moves_seen(port: int) -> list:
    """Two clients parked in BLMOVE l1 -> l2 and l2 -> l3: what each write that pushes into
    l1 replies and the lists hold right after that reply; what the first mover sees in l3
    right after its own reply. Then circular BRPOPLPUSH (l1 -> l2 -> l1)."""
    client = redis.Redis(port=port, socket_timeout=10)
    seen: list = []

    def first() -> tuple:
        mover = redis.Redis(port=port, socket_timeout=30)
        return mover.blmove("l1", "l2", 30, "RIGHT", "LEFT"), mover.lrange("l3", 0, -1)

    with ThreadPoolExecutor(2) as pool:
        for name, push in _PUSHES.items():
            client.delete("l0", "l1", "l2", "l3")
            moved = pool.submit(first)
            _blocked(client, 1)
            second = pool.submit(redis.Redis(port=port, socket_timeout=30).blmove,
                                 "l2", "l3", 30, "RIGHT", "LEFT")
            _blocked(client, 2)
            reply = push(client)
            seen.append((name, reply, [client.lrange(key, 0, -1) for key in ("l1", "l2", "l3")],
                         moved.result(timeout=30), second.result(timeout=30)))
        client.delete("l1", "l2")
        circular = [pool.submit(redis.Redis(port=port, socket_timeout=30).brpoplpush,
                                source, target, 30) for source, target in (("l1", "l2"),
                                                                           ("l2", "l1"))]
        _blocked(client, 2)
        seen.append((client.rpush("l1", "foo"), client.lrange("l1", 0, -1),
                     client.lrange("l2", 0, -1), [c.result(timeout=30) for c in circular]))
    return seen


def test_a_chain_of_moves_is_served_before_the_write_that_started_it_replies(
        node: Node, redis_server: int) -> None:
    expected = _linked_moves_seen(redis_server)
    assert expected[0] == ("rpush", 1, [[], [], [b"foo"]], (b"foo", [b"foo"]), b"foo")
    assert expected[-1] == (1, [b"foo"], [], [b"foo", b"foo"])
    assert _linked_moves_seen(node.port) == expected


def _parked_in_moves(port: int) -> list[socket.socket]:
    """Two raw connections parked in BLMOVE l1 -> l2 and l2 -> l3 (each sent CLIENT ID
    first, its reply read)."""
    movers = []
    for source, target in ((b"l1", b"l2"), (b"l2", b"l3")):
        mover = socket.create_connection(("127.0.0.1", port), timeout=30)
        mover.sendall(encode_command([b"CLIENT", b"ID"]))
        assert _received(mover, 1) == b":"
        while not _received(mover, 1) == b"\n":
            pass
        mover.sendall(encode_command([b"BLMOVE", source, target, b"RIGHT", b"LEFT", b"0"]))
        movers.append(mover)
    return movers


def test_a_chain_of_moves_on_a_three_node_leader(steady_cluster: LocalCluster) -> None:
    leader = steady_cluster.leader()
    client = leader.client()
    first, second = _parked_in_moves(leader.port)
    try:
        _blocked(client, 2)
        with client.pipeline(transaction=False) as pipe:  # the reads sent with the push
            pipe.rpush("l1", "foo")
            for key in ("l1", "l2", "l3"):
                pipe.lrange(key, 0, -1)
            assert pipe.execute() == [1, [], [], [b"foo"]]
        foo = b"$3\r\nfoo\r\n"
        assert (_received(first, len(foo)), _received(second, len(foo))) == (foo, foo)
    finally:
        first.close()
        second.close()
    for follower in steady_cluster.followers():  # applied the same everywhere
        reader = follower.client()
        reader.execute_command("READONLY")
        wait_for(lambda r=reader: [r.lrange(key, 0, -1) for key in ("l1", "l2", "l3")]
                 == [[], [], [b"foo"]], 10, f"the chain on {follower.name}")


def test_a_woken_client_gone_before_it_is_served_holds_up_nothing(tmp_path) -> None:
    """The push wakes the first mover, whose try is in the log (the followers are stopped,
    so nothing commits) when its client disconnects. Once the log moves again, the try still
    moves (as the try was ordered), the second mover is served, and the push replies."""
    with LocalCluster(tmp_path, 3, "--raft-election-timeout", "3000") as cluster:
        leader = cluster.leader()
        client = leader.client()
        first, second = _parked_in_moves(leader.port)
        _blocked(client, 2)
        followers = cluster.followers()
        with socket.create_connection(("127.0.0.1", leader.port), timeout=30) as pusher:
            for follower in followers:
                follower.signal(signal.SIGSTOP)
            try:
                pusher.sendall(encode_command([b"RPUSH", b"l1", b"foo"]))
                wait_for(lambda: any(c["cmd"] == "rpush" for c in client.client_list()), 10,
                         "the push submitted")
                first.close()  # woken, its try in the log
                wait_for(lambda: len(client.client_list()) == 3, 10, "the first mover gone")
            finally:
                for follower in followers:
                    follower.signal(signal.SIGCONT)
            assert _received(pusher, 4) == b":1\r\n"
            pusher.sendall(encode_command([b"LRANGE", b"l3", b"0", b"-1"]))
            assert _received(pusher, 13) == b"*1\r\n$3\r\nfoo\r\n"
        foo = b"$3\r\nfoo\r\n"
        assert _received(second, len(foo)) == foo
        second.close()
        _blocked(client, 0)


def _heard_first(port: int, transaction: bool) -> str:
    """A client parked in BLPOP, another pushes (alone or in MULTI/EXEC): which of the two
    connections has its reply first ("both": they came together)."""
    client = redis.Redis(port=port, socket_timeout=10)
    client.delete("l1")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as popper, \
            socket.create_connection(("127.0.0.1", port), timeout=30) as writer:
        popper.sendall(encode_command([b"BLPOP", b"l1", b"0"]))
        _blocked(client, 1)
        push = encode_command([b"RPUSH", b"l1", b"x"])
        if transaction:
            writer.sendall(encode_command([b"MULTI"]) + push)
            assert _received(writer, 14) == b"+OK\r\n+QUEUED\r\n"
            push = encode_command([b"EXEC"])
        writer.sendall(push)
        readable, _, _ = select.select([popper, writer], [], [], 30)
        return "both" if len(readable) == 2 else "popper" if popper in readable else "writer"


def test_the_woken_client_hears_before_the_writer_as_in_redis(
        node: Node, redis_server: int) -> None:
    """Redis writes the served client's reply before the reply of the write that served it
    (EXEC's too); so does rcache: the writer never hears first."""
    for port in (redis_server, node.port):
        for transaction in (False, True, False, True):
            assert _heard_first(port, transaction) in ("popper", "both"), (port, transaction)


_PIPELINED_RUNS = [
    [("LPUSH", "k", "a"), ("LPUSH", "k", "b")],
    [("RPUSH", "k", "a", "b"), ("LPOP", "k")],
    [("LPUSH", "k", "a"), ("DEL", "k"), ("LPUSH", "k", "c")],
    [("MULTI",), ("LPUSH", "k", "a"), ("LPUSH", "k", "b"), ("EXEC",)],
]


def _served_within_a_pipeline(port: int) -> list:
    """A client parked on BLPOP k, then one pipeline of writes from another: what it pops,
    the pipeline's replies, and what is left."""
    client = redis.Redis(port=port, db=8, socket_timeout=10)
    seen: list = []
    with ThreadPoolExecutor(1) as pool:
        for run in _PIPELINED_RUNS:
            client.delete("k")
            popped = pool.submit(redis.Redis(port=port, db=8).blpop, ["k"], 30)
            _blocked(client, 1)
            pipe = client.pipeline(transaction=False)
            for argv in run:
                pipe.execute_command(*argv)
            replies = pipe.execute()
            seen.append((popped.result(timeout=30), replies, client.lrange("k", 0, -1)))
    return seen


def test_a_parked_client_is_served_between_pipelined_commands_as_redis(
        node: Node, redis_server: int) -> None:
    """Redis serves a client a command unblocks before the next command of the pipeline
    runs (LPUSH k a, LPUSH k b: BLPOP k gets a): its try goes in the log right behind the
    write that woke it."""
    expected = _served_within_a_pipeline(redis_server)
    assert expected[0][0] == (b"k", b"a")  # (what Redis 7.0 does)
    assert _served_within_a_pipeline(node.port) == expected
