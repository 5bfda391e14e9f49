"""String, keyspace and expiry handlers, driven without a server.

Writes go through ``StateMachine.apply`` exactly as committed Raft entries do; reads call
the handler on a read-only keyspace, as the server does for a local read. Expected replies
and error texts are Redis 7.0's (checked against redis-server 7.0.15).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from rcache import errors
from rcache.commands import args, keyspace, table
from rcache.entries import LEASE_EXPIRY, LEASE_PROMOTE
from rcache.errors import CommandError
from rcache.leases import due_leases, lease_ids_after
from rcache.resp import OK, SimpleString
from rcache.statemachine import COMMAND, StateMachine, encode_entry
from rcache.storage import APPLIED_KEY, Store

NOW = 1_700_000_000_000  # the leader's clock on every entry, unless a test moves it


def err(text: str) -> CommandError:
    return CommandError(text)


class DirectNode:
    """A store and its state machine, no network: ``call`` routes a command by its table
    entry, writes through ``StateMachine.apply`` and reads straight to the handler."""

    def __init__(self, path: Path) -> None:
        self.store = Store(str(path))
        self.machine = StateMachine(self.store)
        self.index = 0

    def call(self, *args: str | bytes | int, db: int = 0, now: int = NOW):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        try:
            cmd = table.lookup(argv)
            if cmd.is_write:
                self.index += 1
                entry = encode_entry(now, self.index, [(COMMAND, db, argv)])
                return self.machine.apply(self.index, entry)[0]
            ctx = table.Context(self.store.keyspace(db, now), random.Random(1))
            return cmd.call(ctx, argv)
        except CommandError as error:  # reads raise; the state machine returns its errors
            return error


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[DirectNode]:
    node = DirectNode(tmp_path / "db")
    yield node
    node.store.close()


# -- the table itself ------------------------------------------------------------------------
# name: (arity, flags, first key, last key, step), from redis-server 7.0's COMMAND INFO.
REDIS_TABLE = {
    "get": (2, "readonly fast", 1, 1, 1), "set": (-3, "write denyoom", 1, 1, 1),
    "setnx": (3, "write denyoom fast", 1, 1, 1), "setex": (4, "write denyoom", 1, 1, 1),
    "getex": (-2, "write fast", 1, 1, 1), "mget": (-2, "readonly fast", 1, -1, 1),
    "mset": (-3, "write denyoom", 1, -1, 2), "msetnx": (-3, "write denyoom", 1, -1, 2),
    "incrbyfloat": (3, "write denyoom fast", 1, 1, 1), "getrange": (4, "readonly", 1, 1, 1),
    "substr": (4, "readonly", 1, 1, 1), "setrange": (4, "write denyoom", 1, 1, 1),
    "del": (-2, "write", 1, -1, 1), "unlink": (-2, "write fast", 1, -1, 1),
    "exists": (-2, "readonly fast", 1, -1, 1), "touch": (-2, "readonly fast", 1, -1, 1),
    "keys": (2, "readonly", 0, 0, 0), "scan": (-2, "readonly", 0, 0, 0),
    "rename": (3, "write", 1, 2, 1), "renamenx": (3, "write fast", 1, 2, 1),
    "copy": (-3, "write denyoom", 1, 2, 1), "move": (3, "write fast", 1, 1, 1),
    "swapdb": (3, "write fast", 0, 0, 0), "flushall": (-1, "write", 0, 0, 0),
    "dbsize": (1, "readonly fast", 0, 0, 0), "randomkey": (1, "readonly", 0, 0, 0),
    "expire": (-3, "write fast", 1, 1, 1), "pexpireat": (-3, "write fast", 1, 1, 1),
    "ttl": (2, "readonly fast", 1, 1, 1), "expiretime": (2, "readonly fast", 1, 1, 1),
    "persist": (2, "write fast", 1, 1, 1),
}


@pytest.mark.parametrize("name", REDIS_TABLE)
def test_declarations_match_redis(name: str) -> None:
    cmd = table.COMMANDS[name.encode()]
    arity, flags, first, last, step = REDIS_TABLE[name]
    assert (cmd.arity, cmd.redis_flags, cmd.first_key, cmd.last_key, cmd.step) == (
        arity, frozenset(flags.split()), first, last, step)


def test_mset_keys_are_every_other_argument() -> None:
    assert table.COMMANDS[b"mset"].keys([b"mset", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]


# -- SET and GETEX options ---------------------------------------------------------------------
@pytest.mark.parametrize("options", [
    ["NX", "XX"], ["EX", "10", "PX", "20"], ["KEEPTTL", "EX", "1"], ["EX", "1", "KEEPTTL"],
    ["PERSIST"], ["EX"], ["PXAT", "1", "EXAT", "1"], ["FOO"],
])
def test_set_rejects_bad_option_combinations(kv: DirectNode, options: list[str]) -> None:
    assert kv.call("set", "k", "v", *options) == err(errors.SYNTAX)
    assert kv.call("exists", "k") == 0


@pytest.mark.parametrize("options", [
    ["EX", "10", "EX", "20"], ["NX", "NX"], ["GET", "GET"], ["nx", "get"], ["KEEPTTL", "xx"],
])
def test_set_accepts_repeated_or_compatible_options(kv: DirectNode, options: list[str]) -> None:
    assert not isinstance(kv.call("set", "k", "v", *options), CommandError)


@pytest.mark.parametrize("options", [
    ["EX", "0"], ["EX", "-1"], ["PX", "0"], ["EX", "9223372036854775"],
    ["PX", "9223372036854775807"], ["EXAT", "0"],
])
def test_set_invalid_expire_time(kv: DirectNode, options: list[str]) -> None:
    assert kv.call("set", "k", "v", *options) == err(errors.invalid_expire("set"))


def test_set_expire_errors_name_the_command(kv: DirectNode) -> None:
    assert kv.call("setex", "k", "0", "v") == err(errors.invalid_expire("setex"))
    assert kv.call("psetex", "k", "-5", "v") == err(errors.invalid_expire("psetex"))
    assert kv.call("setex", "k", "x", "v") == err(errors.NOT_INTEGER)
    assert kv.call("set", "k", "v", "EX", "1.5") == err(errors.NOT_INTEGER)


def test_set_nx_xx_get(kv: DirectNode) -> None:
    assert kv.call("set", "k", "v1", "XX") is None
    assert kv.call("set", "k", "v1", "NX") == OK
    assert kv.call("set", "k", "v2", "NX") is None
    assert kv.call("set", "k", "v2", "NX", "GET") == b"v1"  # GET answers even when skipped
    assert kv.call("set", "k", "v3", "XX", "GET") == b"v1"
    assert kv.call("get", "k") == b"v3"
    assert kv.call("set", "new", "v", "GET") is None
    assert kv.call("setnx", "k", "x") == 0
    assert kv.call("setnx", "other", "x") == 1


def test_set_ttl_options(kv: DirectNode) -> None:
    kv.call("set", "k", "v", "EX", "10")
    assert kv.call("pttl", "k") == 10_000
    kv.call("set", "k", "v2", "KEEPTTL")
    assert kv.call("pttl", "k") == 10_000
    kv.call("set", "k", "v3")
    assert kv.call("ttl", "k") == -1
    kv.call("set", "k", "v", "PXAT", NOW + 5)
    assert kv.call("pexpiretime", "k") == NOW + 5
    assert kv.call("set", "k", "v", "EXAT", "1") == OK  # already past: the key is invisible
    assert kv.call("exists", "k") == 0
    assert kv.call("dbsize") == 1  # but counted until active expiry deletes it, as in Redis


def test_wrong_type(kv: DirectNode) -> None:
    kv.call("rpush", "list", "a")
    assert kv.call("set", "list", "v", "GET") == err(errors.WRONGTYPE)
    assert kv.call("set", "list", "v", "EX", "abc", "GET") == err(errors.NOT_INTEGER)
    assert kv.call("getex", "list", "EX", "abc") == err(errors.WRONGTYPE)
    assert kv.call("mget", "list") == [None]
    assert kv.call("incr", "list") == err(errors.WRONGTYPE)
    assert kv.call("set", "list", "v") == OK  # plain SET overwrites any type


def test_getex(kv: DirectNode) -> None:
    assert kv.call("getex", "missing", "EX", "abc") is None  # missing wins over bad value
    assert kv.call("getex", "missing", "FOO") == err(errors.SYNTAX)
    kv.call("set", "k", "v")
    for options in (["PERSIST", "EX", "1"], ["KEEPTTL"], ["NX"], ["GET"], ["EX"]):
        assert kv.call("getex", "k", *options) == err(errors.SYNTAX)
    assert kv.call("getex", "k", "EX", "0") == err(errors.invalid_expire("getex"))
    assert kv.call("getex", "k", "PX", "1500") == b"v"
    assert kv.call("pttl", "k") == 1500
    assert kv.call("getex", "k") == b"v"
    assert kv.call("pttl", "k") == 1500
    assert kv.call("getex", "k", "PERSIST") == b"v"
    assert kv.call("ttl", "k") == -1
    assert kv.call("getex", "k", "EXAT", "1") == b"v"  # past: answered, then deleted
    assert kv.call("exists", "k") == 0


def test_getset_getdel(kv: DirectNode) -> None:
    kv.call("set", "k", "old", "EX", "100")
    assert kv.call("getset", "k", "new") == b"old"
    assert kv.call("ttl", "k") == -1
    assert kv.call("getdel", "k") == b"new"
    assert kv.call("getdel", "k") is None
    assert kv.call("getset", "k", "v") is None


def test_mset_msetnx_mget(kv: DirectNode) -> None:
    assert kv.call("mset", "a", "1", "b") == err(errors.wrong_arity("mset"))
    assert kv.call("msetnx", "a", "1", "b") == err(errors.wrong_arity("msetnx"))
    assert kv.call("mset", "a", "1", "b", "2", "a", "3") == OK
    assert kv.call("mget", "a", "b", "c") == [b"3", b"2", None]
    assert kv.call("msetnx", "c", "1", "a", "1") == 0
    assert kv.call("exists", "c") == 0
    assert kv.call("msetnx", "c", "1", "d", "2") == 1


# -- string editing ------------------------------------------------------------------------------
def test_append_strlen_keep_ttl(kv: DirectNode) -> None:
    assert kv.call("append", "k", "hello") == 5
    kv.call("expire", "k", "100")
    assert kv.call("append", "k", " world") == 11
    assert kv.call("get", "k") == b"hello world"
    assert kv.call("strlen", "k") == 11
    assert kv.call("strlen", "missing") == 0
    assert kv.call("ttl", "k") == 100


def test_getrange(kv: DirectNode) -> None:
    kv.call("set", "k", "hello")
    assert kv.call("getrange", "k", "0", "-1") == b"hello"
    assert kv.call("getrange", "k", "-3", "-2") == b"ll"
    assert kv.call("getrange", "k", "-1", "-5") == b""
    assert kv.call("getrange", "k", "-100", "100") == b"hello"
    assert kv.call("getrange", "k", "3", "1") == b""
    assert kv.call("substr", "k", "1", "1") == b"e"
    assert kv.call("getrange", "missing", "0", "1") == b""
    assert kv.call("getrange", "k", "a", "1") == err(errors.NOT_INTEGER)


def test_setrange(kv: DirectNode) -> None:
    assert kv.call("setrange", "k", "-1", "x") == err(errors.OFFSET_RANGE)
    assert kv.call("setrange", "k", "536870912", "x") == err(errors.STRING_TOO_LONG)
    assert kv.call("setrange", "k", "5", "") == 0
    assert kv.call("exists", "k") == 0  # an empty write never creates the key
    assert kv.call("setrange", "k", "2", "ab") == 4
    assert kv.call("get", "k") == b"\0\0ab"
    kv.call("pexpire", "k", "5000")
    assert kv.call("setrange", "k", "1", "XYZW") == 5
    assert kv.call("get", "k") == b"\0XYZW"
    assert kv.call("setrange", "k", "0", "") == 5
    assert kv.call("pttl", "k") == 5000


# -- counters -------------------------------------------------------------------------------------
def test_incr_family(kv: DirectNode) -> None:
    assert kv.call("incr", "n") == 1
    assert kv.call("incrby", "n", "10") == 11
    assert kv.call("decrby", "n", "20") == -9
    assert kv.call("decr", "n") == -10
    assert kv.call("get", "n") == b"-10"
    kv.call("expire", "n", "50")
    kv.call("incr", "n")
    kv.call("incrbyfloat", "n", "0.5")
    assert (kv.call("get", "n"), kv.call("ttl", "n")) == (b"-8.5", 50)


def test_incr_errors(kv: DirectNode) -> None:
    kv.call("set", "max", "9223372036854775807")
    assert kv.call("incr", "max") == err(errors.OVERFLOW)
    kv.call("set", "min", "-9223372036854775808")
    assert kv.call("decr", "min") == err(errors.OVERFLOW)
    assert kv.call("decrby", "x", "-9223372036854775808") == err(errors.DECREMENT_OVERFLOW)
    assert kv.call("incrby", "x", "abc") == err(errors.NOT_INTEGER)
    for bad in ("abc", " 1", "01", "1.0", "99999999999999999999"):
        kv.call("set", "s", bad)
        assert kv.call("incr", "s") == err(errors.NOT_INTEGER)
    assert kv.call("get", "max") == b"9223372036854775807"


@pytest.mark.parametrize(("start", "increment", "result"), [
    ("10.5", "0.1", b"10.6"),
    ("5.0e3", "2.0e2", b"5200"),
    ("5.0e3", "0", b"5000"),
    ("10.50", "-5", b"5.5"),
    ("1e10", "0.1", b"10000000000.09999999962747097"),  # long double, as Redis prints it
    ("0", "0.000003814697265625", b"0.00000381469726562"),  # exact tie: to even
    ("0", "-0.0", b"0"),
    ("0", "-1e-20", b"0"),
    ("1", "0x1p3", b"9"),
    ("1", ".5", b"1.5"),
    ("1", "1.", b"2"),
])
def test_incrbyfloat_formatting(kv: DirectNode, start: str, increment: str, result: bytes) -> None:
    kv.call("set", "f", start)
    assert kv.call("incrbyfloat", "f", increment) == result
    assert kv.call("get", "f") == result


def test_incrbyfloat_errors(kv: DirectNode) -> None:
    assert kv.call("incrbyfloat", "new", "1.5") == b"1.5"
    for bad in (" 1", "1 ", "nan", "1e", "abc", "1e5000", "1e-5000", ""):
        assert kv.call("incrbyfloat", "new", bad) == err(errors.NOT_FLOAT), bad
    for infinite in ("inf", "-Infinity"):
        assert kv.call("incrbyfloat", "new", infinite) == err(errors.NAN_OR_INF)
    kv.call("set", "big", "1.1e4932")
    assert kv.call("incrbyfloat", "big", "1e4932") == err(errors.NAN_OR_INF)
    kv.call("set", "text", "abc")
    assert kv.call("incrbyfloat", "text", "1") == err(errors.NOT_FLOAT)
    assert kv.call("get", "new") == b"1.5"


# -- expiry ---------------------------------------------------------------------------------------
def test_expired_key_is_hidden_from_its_deadline(kv: DirectNode) -> None:
    kv.call("set", "k", "v", "PX", "100")
    assert kv.call("get", "k", now=NOW + 99) == b"v"
    assert kv.call("get", "k", now=NOW + 100) is None
    assert kv.call("exists", "k", now=NOW + 100) == 0
    assert kv.call("ttl", "k", now=NOW + 100) == -2
    assert kv.call("keys", "*", now=NOW + 100) == []


def test_ttl_rounds_to_nearest_second(kv: DirectNode) -> None:
    kv.call("set", "k", "v", "PX", "1500")
    assert kv.call("ttl", "k") == 2
    assert kv.call("ttl", "k", now=NOW + 1) == 1  # 1499 ms
    assert kv.call("pttl", "k", now=NOW + 1) == 1499
    assert kv.call("expiretime", "k") == (NOW + 1500 + 500) // 1000
    assert kv.call("ttl", "missing") == -2
    kv.call("set", "plain", "v")
    assert kv.call("pttl", "plain") == -1
    assert kv.call("expiretime", "plain") == -1


@pytest.mark.parametrize(("options", "error"), [
    (["nx", "xx"], errors.EXPIRE_NX_CONFLICT), (["NX", "GT"], errors.EXPIRE_NX_CONFLICT),
    (["gt", "lt"], errors.EXPIRE_GT_LT_CONFLICT), (["foo"], "ERR Unsupported option foo"),
    (["xx", "bar", "gt", "lt"], "ERR Unsupported option bar"),
])
def test_expire_option_errors(kv: DirectNode, options: list[str], error: str) -> None:
    kv.call("set", "k", "v")
    assert kv.call("expire", "k", "10", *options) == err(error)


def test_expire_time_overflow(kv: DirectNode) -> None:
    kv.call("set", "k", "v")
    assert kv.call("expire", "k", "9223372036854776") == err(errors.invalid_expire("expire"))
    assert kv.call("expire", "k", "-9223372036854776") == err(errors.invalid_expire("expire"))
    big = "9223372036854775807"
    assert kv.call("pexpire", "k", big) == err(errors.invalid_expire("pexpire"))
    assert kv.call("expireat", "k", big) == err(errors.invalid_expire("expireat"))
    assert kv.call("expire", "k", "x") == err(errors.NOT_INTEGER)
    assert kv.call("pexpireat", "k", big) == 1
    assert kv.call("pexpiretime", "k") == int(big)


def test_expire_nx_xx_gt_lt(kv: DirectNode) -> None:
    kv.call("set", "k", "v")
    assert kv.call("expire", "k", "100", "XX") == 0
    assert kv.call("expire", "k", "100", "GT") == 0  # no TTL counts as infinite
    assert kv.call("expire", "k", "100", "LT") == 1
    assert kv.call("expire", "k", "50", "NX") == 0
    assert kv.call("expire", "k", "50", "GT") == 0
    assert kv.call("expire", "k", "200", "gt") == 1
    assert kv.call("expire", "k", "300", "LT") == 0
    assert kv.call("expire", "k", "150", "xx", "lt") == 1
    assert kv.call("ttl", "k") == 150
    assert kv.call("expire", "missing", "10") == 0


def test_expire_in_the_past_deletes(kv: DirectNode) -> None:
    kv.call("mset", "a", "1", "b", "2", "c", "3")
    assert kv.call("expire", "a", "-1") == 1
    assert kv.call("expireat", "b", "0") == 1
    assert kv.call("pexpireat", "c", NOW) == 1
    assert kv.call("dbsize") == 0


def test_persist(kv: DirectNode) -> None:
    kv.call("set", "k", "v", "EX", "10")
    assert kv.call("persist", "k") == 1
    assert kv.call("persist", "k") == 0
    assert kv.call("persist", "missing") == 0
    assert kv.call("ttl", "k") == -1


# -- keyspace -------------------------------------------------------------------------------------
def test_del_exists_type(kv: DirectNode) -> None:
    kv.call("mset", "a", "1", "b", "2")
    assert kv.call("exists", "a", "a", "b", "c") == 3
    assert kv.call("touch", "a", "c") == 1
    assert kv.call("type", "a") == SimpleString("string")
    assert kv.call("type", "c") == SimpleString("none")
    assert kv.call("del", "a", "a", "c") == 1
    assert kv.call("unlink", "b") == 1
    assert kv.call("dbsize") == 0


def test_rename_keeps_ttl(kv: DirectNode) -> None:
    kv.call("set", "src", "v", "EX", "100")
    kv.call("set", "dst", "old")
    assert kv.call("rename", "src", "dst") == OK
    assert kv.call("get", "dst") == b"v"
    assert kv.call("ttl", "dst") == 100
    assert kv.call("exists", "src") == 0
    assert kv.call("dbsize") == 1
    assert kv.call("rename", "src", "x") == err(errors.NO_SUCH_KEY)
    assert kv.call("renamenx", "src", "x") == err(errors.NO_SUCH_KEY)
    assert kv.call("rename", "dst", "dst") == OK
    assert kv.call("renamenx", "dst", "dst") == 0
    kv.call("set", "other", "o")
    assert kv.call("renamenx", "dst", "other") == 0
    assert kv.call("renamenx", "dst", "fresh") == 1
    assert kv.call("pttl", "fresh") == 100_000


def test_copy(kv: DirectNode) -> None:
    kv.call("set", "k", "v", "PX", "5000")
    assert kv.call("copy", "k", "k") == err(errors.SAME_OBJECT)
    assert kv.call("copy", "k", "k", "foo") == err(errors.SYNTAX)
    assert kv.call("copy", "k", "k", "db") == err(errors.SYNTAX)
    assert kv.call("copy", "k", "k", "db", "x") == err(errors.NOT_INTEGER)
    assert kv.call("copy", "k", "k", "db", "16") == err(errors.DB_INDEX)
    assert kv.call("copy", "k", "k", "db", "1") == 1
    assert kv.call("pttl", "k", db=1) == 5000
    assert kv.call("copy", "k", "k", "db", "1") == 0
    kv.call("set", "k", "v2")
    assert kv.call("copy", "k", "k", "db", "1", "replace") == 1
    assert kv.call("get", "k", db=1) == b"v2"
    assert kv.call("pttl", "k", db=1) == -1
    assert kv.call("copy", "missing", "x") == 0
    assert kv.call("copy", "k", "k2") == 1
    assert kv.call("dbsize") == 2


def test_move(kv: DirectNode) -> None:
    kv.call("set", "k", "v", "EX", "60")
    assert kv.call("move", "k", "0") == err(errors.SAME_OBJECT)
    assert kv.call("move", "k", "16") == err(errors.DB_INDEX)
    assert kv.call("move", "k", "x") == err(errors.NOT_INTEGER)
    assert kv.call("move", "k", "99999999999") == err(errors.out_of_range(-2**31, 2**31 - 1))
    assert kv.call("move", "k", "3") == 1
    assert (kv.call("exists", "k"), kv.call("ttl", "k", db=3)) == (0, 60)
    kv.call("set", "k", "here")
    assert kv.call("move", "k", "3") == 0  # already there: nothing moves
    assert kv.call("get", "k") == b"here"
    assert kv.call("move", "missing", "3") == 0


def test_swapdb(kv: DirectNode) -> None:
    kv.call("set", "zero", "0")
    kv.call("set", "one", "1", db=1)
    assert kv.call("swapdb", "x", "1") == err(errors.INVALID_FIRST_DB)
    assert kv.call("swapdb", "1", "x") == err(errors.INVALID_SECOND_DB)
    assert kv.call("swapdb", "0", "16") == err(errors.DB_INDEX)
    assert kv.call("swapdb", "-1", "0") == err(errors.DB_INDEX)
    assert kv.call("swapdb", "0", "0") == OK
    assert kv.call("swapdb", "0", "1") == OK
    assert kv.call("keys", "*") == [b"one"]
    assert kv.call("keys", "*", db=1) == [b"zero"]
    kv.call("set", "after", "swap")  # writes land in the swapped database
    assert kv.call("dbsize") == 2
    assert kv.call("dbsize", db=1) == 1


def test_flushdb_flushall_and_dbsize(kv: DirectNode) -> None:
    kv.call("mset", "a", "1", "b", "2", "c", "3")
    kv.call("set", "x", "1", db=5)
    assert kv.call("dbsize") == 3
    assert kv.call("flushdb", "foo") == err(errors.SYNTAX)
    assert kv.call("flushdb", "async", "sync") == err(errors.SYNTAX)
    assert kv.call("flushdb", "ASYNC") == OK
    assert (kv.call("dbsize"), kv.call("dbsize", db=5)) == (0, 1)
    kv.call("set", "a", "1")
    assert kv.call("dbsize") == 1
    assert kv.call("flushall", "sync") == OK
    assert (kv.call("dbsize"), kv.call("dbsize", db=5)) == (0, 0)


def test_randomkey(kv: DirectNode) -> None:
    assert kv.call("randomkey") is None
    kv.call("mset", "a", "1", "b", "2")
    assert kv.call("randomkey") in (b"a", b"b")


def _draws(kv: DirectNode, times: int) -> Counter:
    """RANDOMKEY's picks with ``times`` seeds, as many clients' reads would draw them."""
    ks = kv.store.keyspace(0, NOW)
    return Counter(keyspace.randomkey(table.Context(ks, random.Random(seed)), [b"randomkey"])
                   for seed in range(times))


def test_randomkey_draws_every_key_and_keys_sharing_a_prefix(kv: DirectNode) -> None:
    """Two keys are drawn alike; keys sharing a prefix once drew the first of them only."""
    kv.call("mset", "foo", "x", "bar", "y")
    drawn = _draws(kv, 200)
    assert set(drawn) == {b"foo", b"bar"} and min(drawn.values()) > 60
    kv.call("flushall")
    kv.call("mset", *[part for n in range(200) for part in (f"user:{n}", "v")])
    assert len(_draws(kv, 400)) > 50


def test_object_encoding(kv: DirectNode) -> None:
    kv.call("mset", "int", "12345", "negzero", "-0", "short", "x" * 44, "long", "x" * 45)
    assert kv.call("object", "encoding", "int") == b"int"
    assert kv.call("object", "encoding", "negzero") == b"embstr"
    assert kv.call("object", "encoding", "short") == b"embstr"
    assert kv.call("object", "encoding", "long") == b"raw"
    assert kv.call("object", "encoding", "missing") is None
    assert kv.call("object", "foo", "k") == err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")


# -- KEYS and SCAN ---------------------------------------------------------------------------------
def test_keys_patterns(kv: DirectNode) -> None:
    names = ["a", "b", "c", "d", "ab", "a*b", "axb", "a?", "user:1", "user:2", "users"]
    kv.call("mset", *[part for name in names for part in (name, "v")])

    def keys(pattern: str) -> set[str]:
        return {k.decode() for k in kv.call("keys", pattern)}

    assert keys("*") == set(names)
    assert keys("[a-c]") == {"a", "b", "c"}
    assert keys("[c-a]") == {"a", "b", "c"}
    assert keys("[^a-c]") == {"d"}
    assert keys("?") == {"a", "b", "c", "d"}
    assert keys("a?b") == {"a*b", "axb"}
    assert keys("a\\*b") == {"a*b"}
    assert keys("a\\?") == {"a?"}
    assert keys("user:*") == {"user:1", "user:2"}
    assert keys("user*") == {"user:1", "user:2", "users"}
    assert keys("nothing*") == set()


def _scan_all(kv: DirectNode, *options: str) -> tuple[list[bytes], int]:
    cursor, seen, calls = b"0", [], 0
    while True:
        cursor, batch = kv.call("scan", cursor, *options)
        seen.extend(batch)
        calls += 1
        if cursor == b"0":
            return seen, calls


def test_scan_returns_every_key_once(kv: DirectNode) -> None:
    names = [f"key:{i}" for i in range(1000)]
    kv.call("mset", *[part for name in names for part in (name, "v")])
    seen, calls = _scan_all(kv, "COUNT", "7")
    assert sorted(seen) == sorted(n.encode() for n in names)
    assert calls == 1000 // 7 + 1
    matched, _ = _scan_all(kv, "MATCH", "key:1?", "COUNT", "3")
    assert sorted(matched) == sorted(f"key:1{i}".encode() for i in range(10))
    assert _scan_all(kv, "TYPE", "STRING", "COUNT", "500")[0] == sorted(seen)
    assert _scan_all(kv, "TYPE", "hash")[0] == []


def test_scan_sees_keys_present_throughout(kv: DirectNode) -> None:
    kv.call("mset", *[part for i in range(50) for part in (f"k{i:02}", "v")])
    cursor, first = kv.call("scan", "0", "COUNT", "10")
    kv.call("del", *[f"k{i:02}" for i in range(40, 50)])
    kv.call("set", "k00a", "added behind the cursor")
    rest: list[bytes] = []
    while cursor != b"0":
        cursor, batch = kv.call("scan", cursor, "COUNT", "10")
        rest.extend(batch)
    assert sorted(first + rest) == [f"k{i:02}".encode() for i in range(40)]


def test_reads_across_memtable_and_sst_files(kv: DirectNode) -> None:
    """Keys written before a memtable flush are read from SST files (through their bloom
    filters), later changes from the memtable: point reads and iteration agree on both."""
    kv.call("mset", *[part for i in range(300) for part in (f"k{i:03}", f"old{i}")])
    kv.call("hset", "h", *[part for i in range(50) for part in (f"f{i}", f"v{i}")])
    kv.call("set", "gone-later", "v", "PX", "10")
    kv.store.db.flush()
    kv.call("mset", *[part for i in range(0, 300, 3) for part in (f"k{i:03}", f"new{i}")])
    kv.call("del", *[f"k{i:03}" for i in range(1, 300, 3)])
    kv.call("hdel", "h", *[f"f{i}" for i in range(0, 50, 2)])
    kv.call("set", "k999", "memtable only")
    expected = {f"k{i:03}".encode(): f"{'new' if i % 3 == 0 else 'old'}{i}".encode()
                for i in range(300) if i % 3 != 1}
    expected[b"k999"] = b"memtable only"
    for key, value in expected.items():
        assert kv.call("get", key) == value
    assert kv.call("get", "k001") is None and kv.call("exists", "k004") == 0
    assert kv.call("get", "gone-later", now=NOW + 10) is None
    assert kv.call("mget", "k000", "k001", "k002") == [b"new0", None, b"old2"]
    names = set(expected) | {b"h", b"gone-later"}
    assert set(kv.call("keys", "*")) == names
    assert sorted(_scan_all(kv, "COUNT", "17")[0]) == sorted(names)
    assert dict(kv.call("hgetall", "h")) == {
        f"f{i}".encode(): f"v{i}".encode() for i in range(1, 50, 2)}


def test_scan_cursors_are_exact_as_javascript_numbers(kv: DirectNode) -> None:
    """node-redis 4 reads a cursor with Number(): one above 2**53 came back changed and its
    scanIterator looped forever. Redis's cursors stay below its table size."""
    kv.call("mset", *[part for i in range(300) for part in (f"k{i:03}", "v")])
    kv.call("hset", "h", *[part for i in range(300) for part in (f"f{i}", "v" * 100)])
    for scan in (["scan"], ["hscan", "h"]):
        cursor, cursors = b"0", set()
        while True:
            cursor, _ = kv.call(*scan, cursor, "COUNT", "1")
            if cursor == b"0":
                break
            cursors.add(int(cursor))
        assert len(cursors) >= 299 and max(cursors) < 2**53


def test_scan_arguments(kv: DirectNode) -> None:
    kv.call("set", "k", "v")
    assert kv.call("scan", "abc") == err(errors.INVALID_CURSOR)
    assert kv.call("scan", " 5") == err(errors.INVALID_CURSOR)
    assert kv.call("scan", "18446744073709551616") == err(errors.INVALID_CURSOR)
    assert kv.call("scan", "+0") == [b"0", [b"k"]]
    assert kv.call("scan", "123456") == [b"0", [b"k"]]  # unknown cursor: from the start
    assert kv.call("scan", "0", "count", "0") == err(errors.SYNTAX)
    assert kv.call("scan", "0", "count", "x") == err(errors.NOT_INTEGER)
    assert kv.call("scan", "0", "match") == err(errors.SYNTAX)
    assert kv.call("scan", "0", "foo", "bar") == err(errors.SYNTAX)


def test_scan_cursors_stay_bounded(kv: DirectNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyspace, "MAX_SCAN_CURSORS", 10)
    kv.call("mset", *[part for i in range(30) for part in (f"k{i:02}", "v")])
    cursors = kv.store.scan_cursors
    cursors.update((10**6 + stale, b"stale") for stale in range(20))
    assert len(_scan_all(kv, "COUNT", "1")[0]) == 30
    assert len(cursors) == 10
    assert b"stale" not in cursors.values()  # the oldest went first


# -- parse once ----------------------------------------------------------------------------
def test_apply_takes_the_submitting_nodes_parse(kv: DirectNode) -> None:
    """The node that parsed a write before proposing it hands the Command and the parsed
    arguments to its apply (the seed identifies its entry), which parses nothing again;
    an item without them is parsed from the entry. (A SET with an option: a plain one has
    nothing to parse, its key and value are argv's.)"""
    cmd = table.lookup([b"set", b"k", b"v", b"KEEPTTL"])
    parsed_elsewhere = cmd.parser([b"set", b"k", b"w", b"KEEPTTL"])  # differs, to tell
    entry = encode_entry(NOW, 7, [(COMMAND, 0, [b"set", b"k", b"v", b"KEEPTTL"]),
                                  (COMMAND, 0, [b"set", b"j", b"v", b"XX"])])
    seen: list[int] = []
    kv.machine.prepared_for = lambda seed: seen.append(seed) or [(cmd, parsed_elsewhere), None]
    assert kv.machine.apply(1, entry) == [OK, None]  # XX on a missing key: not set
    assert seen == [7]
    assert kv.call("get", "k") == b"w"
    assert kv.call("exists", "j") == 0


def test_a_follower_looks_an_entrys_commands_up_as_each_alone(tmp_path: Path) -> None:
    """A follower looks each command name and argument count of an entry up once: shapes
    repeated, unknown commands, wrong arities and subcommands (whose argv[1] decides) still
    reply as each command applied in an entry of its own."""
    argvs = [[b"set", b"a", b"1"], [b"SET", b"b", b"2"], [b"set", b"a", b"3"], [b"set", b"a"],
             [b"set", b"a"], [b"nosuch", b"a"], [b"nosuch", b"a"], [b"set", b"c", b"4", b"NX"],
             [b"set", b"c", b"5", b"NX"], [b"set", b"c", b"6", b"bad"],
             [b"object", b"encoding", b"a"], [b"object", b"freq", b"a"],
             [b"object", b"encoding", b"a"], [b"incr", b"a"], [b"get", b"a"]]
    whole, separate = DirectNode(tmp_path / "whole"), DirectNode(tmp_path / "separate")
    try:
        replies = whole.machine.apply(1, encode_entry(NOW, 1, [(COMMAND, 0, argv)
                                                               for argv in argvs]))
        alone = [separate.machine.apply(i, encode_entry(NOW, i, [(COMMAND, 0, argv)]))[0]
                 for i, argv in enumerate(argvs, 1)]
        assert replies == alone
        assert replies[:6] == [OK, OK, OK, err(errors.wrong_arity("set")),
                               err(errors.wrong_arity("set")),
                               err(errors.unknown_command(b"nosuch", [b"a"]))]
        assert replies[13:] == [4, b"4"]
    finally:
        whole.store.close()
        separate.store.close()


# Commands whose records an entry reads ahead (their first keys), then changes and reads
# again in the same entry, across two dbs and a SWAPDB.
_ONE_ENTRY = [(0, ["set", "a", "1"]), (0, ["del", "a"]), (0, ["get", "a"]),
              (0, ["set", "a", "2", "GET"]), (0, ["set", "b", "x" * 100, "EX", "100"]),
              (0, ["append", "b", "y"]), (0, ["incr", "c"]), (0, ["rename", "c", "d"]),
              (0, ["lpush", "l", "1", "2"]), (0, ["set", "l", "3", "KEEPTTL"]),
              (1, ["set", "a", "in db 1"]), (0, ["swapdb", "0", "1"]),
              (0, ["set", "a", "3", "GET"]), (1, ["incr", "d"]), (0, ["flushdb"]),
              (0, ["set", "b", "4", "GET"]), (1, ["get", "b"]), (1, ["del", "b", "a"])]


def test_an_entry_applies_as_its_commands_one_by_one(tmp_path: Path) -> None:
    """An entry reads its commands' first keys ahead, together: each command still sees
    what the ones before it wrote, so its replies, the data, the key counts and the logical
    size are those of the same commands applied in entries of their own."""
    whole, separate = DirectNode(tmp_path / "whole"), DirectNode(tmp_path / "separate")
    try:
        for node in (whole, separate):
            for db in (0, 1):
                node.call("mset", "a", "old", "b", "old", "c", "5", "d", "7", "l", "x", db=db)
        items = [(COMMAND, db, [arg.encode() for arg in argv]) for db, argv in _ONE_ENTRY]
        whole.index += 1
        replies = whole.machine.apply(whole.index, encode_entry(NOW, 1, items))
        one_by_one = [separate.call(*argv, db=db) for db, argv in _ONE_ENTRY]
        assert replies == one_by_one
        assert replies[3] is None and replies[12] == b"in db 1"  # read after a write
        records = [{key: value for key, value in node.store.db.items() if key != APPLIED_KEY}
                   for node in (whole, separate)]
        assert records[0] == records[1]
        assert [whole.store.key_count(db) for db in (0, 1)] == [
            separate.store.key_count(db) for db in (0, 1)]
        assert whole.store.used_bytes == separate.store.used_bytes > 0
    finally:
        whole.store.close()
        separate.store.close()


def test_syntax_errors_come_from_the_parser(kv: DirectNode) -> None:
    for argv in ([b"set", b"k", b"v", b"FOO"], [b"zadd", b"k", b"x", b"m"],
                 [b"expire", b"k", b"1", b"NX", b"XX"], [b"lpop", b"k", b"-1"]):
        cmd = table.lookup(argv)
        with pytest.raises(CommandError) as raised:
            cmd.parser(argv)
        assert kv.call(*argv) == raised.value  # the same error where the entry is applied


@pytest.mark.parametrize(("call", "error"), [
    (lambda: args.optional_count([b"spop", b"k", b"-1"], 2), errors.MUST_BE_POSITIVE),
    (lambda: args.optional_count([b"spop", b"k", b"x"], 2), errors.MUST_BE_POSITIVE),
    (lambda: args.int32_arg(b"2147483648"), errors.out_of_range(-2**31, 2**31 - 1)),
    (lambda: args.float_arg(b"1e999"), errors.NOT_FLOAT),
    (lambda: args.timeout_arg(b"-1"), "ERR timeout is negative"),
    (lambda: args.timeout_arg(b"x"), "ERR timeout is not a float or out of range"),
    (lambda: args.timeout_arg(b"9223372036854775.808"), "ERR timeout is negative"),
    (lambda: args.flag_options([b"nx", b"up"], frozenset({b"NX"})), errors.SYNTAX),
    (lambda: args.limit_args([b"limit", b"0", b"x"], 0), errors.NOT_INTEGER),
])
def test_argument_parsers_errors(call, error: str) -> None:
    with pytest.raises(CommandError, match="^" + error.replace("(", r"\(") + "$"):
        call()


def test_argument_parsers_values() -> None:
    assert args.optional_count([b"spop", b"k"], 2) is None
    assert args.optional_count([b"spop", b"k", b"3"], 2) == 3
    assert args.timeout_arg(b"0.5") == 500
    # Redis rounds up (ceill): under a millisecond still times out, a tiny negative never
    assert [args.timeout_arg(raw) for raw in (b"0.001", b"0.0001", b"-0.0001")] == [1, 1, 0]
    assert args.flag_options([b"nx", b"Gt"], frozenset({b"NX", b"GT"})) == {b"NX", b"GT"}
    assert args.leading_flags([b"zadd", b"k", b"NX", b"ch", b"1", b"m"], 2,
                              frozenset({b"nx", b"ch"})) == ({b"nx", b"ch"}, 4)
    assert args.limit_args([b"x", b"LIMIT", b"1", b"-1"], 1) == (1, -1)


def test_a_new_leader_gives_leases_back_the_time_without_a_leader(kv: DirectNode) -> None:
    """Nobody could renew while there was no leader: promotion, not expiry, comes first."""
    def propose(now: int, item: tuple):
        kv.index += 1
        return kv.machine.apply(kv.index, encode_entry(now, kv.index, [item]))[0]

    lapsed, later_due = kv.call("lease", "grant", 2), kv.call("lease", "grant", 60)
    gone_before = kv.call("lease", "grant", 1)
    kv.call("set", "svc/a", "up")
    kv.call("lease", "attach", lapsed, "svc/a")
    # The leader was last seen at NOW + 1.5 s; a new one leads 4 s later.
    since, gap, now = NOW + 1_500, 4_000, NOW + 5_500
    assert due_leases(kv.store, now, 10) == [gone_before, lapsed]  # oldest first
    assert lease_ids_after(kv.store, 0, 1) == [lapsed]
    assert lease_ids_after(kv.store, lapsed, 10) == [later_due, gone_before]
    # gone_before was due (NOW + 1 s) before the leader was lost: not moved; 999: revoked.
    assert propose(now, (LEASE_PROMOTE, [lapsed, later_due, gone_before, 999], since, gap)) == 2
    assert due_leases(kv.store, now, 10) == [gone_before]
    assert due_leases(kv.store, NOW + 6_000, 10) == [gone_before, lapsed]  # 2 s + 4 s
    assert kv.call("lease", "ttl", later_due, now=now)["ttl"] == 59  # 60 - 5.5 + 4, rounded
    assert kv.call("lease", "keepalive", lapsed, now=now) == 2
    assert kv.call("get", "svc/a", now=now) == b"up"
    assert propose(now + 3_000, (LEASE_EXPIRY, [lapsed, gone_before])) == 2
    assert kv.call("exists", "svc/a", now=now + 3_000) == 0
