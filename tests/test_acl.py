"""ACL users: replies compared byte for byte with a real redis-server (RESP2 and RESP3), and
users replicated through the Raft log (they authenticate on every node, after failover)."""

from __future__ import annotations

import pytest
import redis

from .conftest import LocalCluster, wait_for
from .test_differential import RawConnection

_SETUP = [
    ("ACL", "SETUSER", "u", "on", ">p1", "+get", "~k*", "&ch*"),
    ("ACL", "SETUSER", "u", "+@string", "-set", "+@hash", "-@hash"),
    ("ACL", "SETUSER", "v"),
    ("ACL", "SETUSER", "t4", "%W~w*", "%R~r*", "~k*", "#" + "a" * 64, ">x", "<x"),
    ("ACL", "SETUSER", "t5", "+@all", "-@hash", "+@hash", "allkeys", "allchannels"),
    ("ACL", "SETUSER", "t6", "+@all", "-@string", "nopass", "on", "resetchannels", "&c*"),
    ("ACL", "SETUSER", "p", "on", ">pw", "+@string", "+@pubsub", "%R~k*", "&ch*"),
    ("ACL", "SETUSER", "s1", "on", "SANITIZE-PAYLOAD", "nopass"),
    ("ACL", "SETUSER", "s2", "sanitize-payload", "skip-sanitize-payload"),
    ("ACL", "SETUSER", "s3", "skip-sanitize-payload", "reset"),
]
_CHECKS = [
    ("ACL", "SETUSER", "z", "bogus"),
    ("ACL", "SETUSER", "z", "+nosuch"),
    ("ACL", "SETUSER", "z", "~*", "~k*"),
    ("ACL", "SETUSER", "z", "<nope"),
    ("ACL", "SETUSER", "z", "#xyz"),
    ("ACL", "GETUSER", "u"), ("ACL", "GETUSER", "t4"), ("ACL", "GETUSER", "t5"),
    ("ACL", "GETUSER", "t6"), ("ACL", "GETUSER", "default"), ("ACL", "GETUSER", "nosuch"),
    ("ACL", "GETUSER", "s1"), ("ACL", "GETUSER", "s2"), ("ACL", "GETUSER", "s3"),
    ("ACL", "LIST"), ("ACL", "USERS"), ("ACL", "WHOAMI"), ("ACL", "CAT"),
    ("ACL", "CAT", "nosuch"), ("ACL", "GENPASS", "0"), ("ACL", "GENPASS", "5000"),
    ("ACL", "DRYRUN", "u", "set", "k", "1"), ("ACL", "DRYRUN", "u", "get", "z"),
    ("ACL", "DRYRUN", "u", "get", "k1"), ("ACL", "DRYRUN", "u", "publish", "d", "m"),
    ("ACL", "DRYRUN", "u", "client", "id"), ("ACL", "DRYRUN", "nosuch", "get", "k"),
    ("ACL", "DRYRUN", "u", "nosuchcmd"), ("ACL", "DRYRUN", "p", "subscribe", "ch1", "d"),
    ("ACL", "DRYRUN", "p", "psubscribe", "ch1"), ("ACL", "DRYRUN", "p", "set", "k1", "v"),
    ("ACL", "DRYRUN", "p", "ssubscribe", "ch1", "d"), ("ACL", "DRYRUN", "p", "spublish", "x", "m"),
    ("ACL", "DELUSER", "default"), ("ACL", "DELUSER", "z", "nosuch"),
]
# What user p (GET/SET/PUBLISH/SUBSCRIBE, read-only keys k*, channels ch*) is answered.
_AS_USER_P = [
    ("AUTH", "p", "wrong"), ("AUTH", "p", "pw"), ("ACL", "WHOAMI"), ("GET", "other"),
    ("GET", "k1"), ("SET", "k1", "v"), ("DEL", "k1"), ("PUBLISH", "other", "m"),
    ("PUBLISH", "ch1", "m"), ("SPUBLISH", "other", "m"), ("SPUBLISH", "ch1", "m"),
    ("SSUBSCRIBE", "ch1", "other"), ("AUTH", "nosuch", "pw"),
]


def _users_created() -> list[str]:
    return sorted({argv[2] for argv in _SETUP})


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_acl_replies_match_redis(make_node, redis_server, resp3) -> None:
    node = make_node()
    replies = {}
    for name, port in (("rcache", node.port), ("redis", redis_server)):
        admin, user = RawConnection(port), RawConnection(port)
        try:
            if resp3:
                admin.call("HELLO", "3")
                user.call("HELLO", "3")
            replies[name] = [admin.call(*argv) for argv in _SETUP + _CHECKS]
            replies[name] += [user.call(*argv) for argv in _AS_USER_P]
            replies[name].append(user.call("SUBSCRIBE", "other"))  # after: it subscribes
        finally:
            admin.call("ACL", "DELUSER", *_users_created())
            admin.close()
            user.close()
    commands = _SETUP + _CHECKS + _AS_USER_P + [("SUBSCRIBE", "other")]
    differences = [f"{argv}: rcache {mine!r} != redis {theirs!r}" for argv, mine, theirs
                   in zip(commands, replies["rcache"], replies["redis"], strict=True)
                   if mine != theirs]
    assert not differences, "\n".join(differences)


# Selectors (Redis 7.0): the root permissions or any one selector must allow the command,
# its keys and its channels together; refusals name what Redis's ranking picks.
_SELECTOR_SETUP = [
    ("ACL", "SETUSER", "s", "on", ">pw", "~a*", "&a*", "+get", "(~x* +set &c*)",
     "(%R~r* +publish &p*)", "(%W~w*", "+set)", "(%R~r* +get)"),
    ("ACL", "SETUSER", "s2", "(allkeys allchannels allcommands)", "(resetkeys ~k nocommands)",
     "()"),
    ("ACL", "SETUSER", "s3", "on", "nopass", "(~x* +@string)", "clearselectors",
     "(%RW~y* +@hash -hdel)"),
]
_SELECTOR_CHECKS = [
    ("ACL", "SETUSER", "z", "(~x*", "+get"), ("ACL", "SETUSER", "z", "(bogus)"),
    ("ACL", "SETUSER", "z", "(+nosuch)"), ("ACL", "SETUSER", "z", "(on)"),
    ("ACL", "SETUSER", "z", "(>pass)"), ("ACL", "SETUSER", "z", "(reset)"),
    ("ACL", "SETUSER", "z", "(clearselectors)"), ("ACL", "SETUSER", "z", "(~* ~k)"),
    ("ACL", "GETUSER", "s"), ("ACL", "GETUSER", "s2"), ("ACL", "GETUSER", "s3"),
    ("ACL", "LIST"),
    *[("ACL", "DRYRUN", "s", *argv.split()) for argv in (
        "get a1", "get x1", "set x1 v", "set a1 v", "get r1", "set r1 v", "get w1",
        "set w1 v", "publish c1 m", "publish p1 m", "publish a1 m", "publish zz m",
        "mset x1 v", "mget a1 r1", "subscribe c1", "set zz v")],
    ("ACL", "DRYRUN", "s3", "hset", "y1", "f", "v"), ("ACL", "DRYRUN", "s3", "hdel", "y1", "f"),
    ("ACL", "DRYRUN", "s3", "set", "x1", "v"), ("ACL", "DRYRUN", "s3", "hget", "x1", "f"),
]
# What user s is answered, logged in: each command needs one selector that allows it all.
_AS_USER_S = [
    ("AUTH", "s", "pw"), ("SET", "x1", "v"), ("GET", "x1"), ("GET", "a1"), ("SET", "w1", "v"),
    ("GET", "w1"), ("GET", "r1"), ("SET", "r1", "v"), ("PUBLISH", "p1", "m"),
    ("PUBLISH", "c1", "m"), ("DEL", "x1"),
]


_LOGGED = (b"count", b"reason", b"context", b"object", b"username")


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_acl_selectors_match_redis(make_node, redis_server, resp3) -> None:
    node = make_node()
    replies, logged = {}, {}
    commands = _SELECTOR_SETUP + _SELECTOR_CHECKS + _AS_USER_S
    for name, port in (("rcache", node.port), ("redis", redis_server)):
        admin, user = RawConnection(port), RawConnection(port)
        try:
            admin.call("ACL", "LOG", "RESET")
            if resp3:
                admin.call("HELLO", "3")
                user.call("HELLO", "3")
            replies[name] = [admin.call(*argv) for argv in _SELECTOR_SETUP + _SELECTOR_CHECKS]
            replies[name] += [user.call(*argv) for argv in _AS_USER_S]
            logged[name] = [{k: v for k, v in entry.items() if k in _LOGGED}
                            for entry in redis.Redis(port=port).execute_command("ACL", "LOG")]
        finally:
            admin.call("ACL", "DELUSER", "s", "s2", "s3", "z")
            admin.close()
            user.close()
    differences = [f"{argv}: rcache {mine!r} != redis {theirs!r}" for argv, mine, theirs
                   in zip(commands, replies["rcache"], replies["redis"], strict=True)
                   if mine != theirs]
    assert not differences, "\n".join(differences)
    assert logged["rcache"] == logged["redis"] and len(logged["rcache"]) == 5
    assert b"(~x* resetchannels &c* -@all +set)" in replies["rcache"][
        commands.index(("ACL", "LIST"))]


# Read (%R~) and write (%W~) key permissions, inside a selector: what each key of a command
# needs follows Redis's key specifications (INCR reads and writes, EXISTS needs neither...).
_KEY_ACCESS_COMMANDS = [
    "set w1 v", "set r1 v", "set w1 v get", "get w1", "get r1", "del w1", "append w1 x",
    "lpush w1 x", "rpoplpush r1 w1", "rpoplpush w1 w2", "copy r1 w1", "incr w1", "getdel w1",
    "exists w1", "type w1", "expire w1 5", "setnx w1 v", "lmove r1 w1 left left",
    "object encoding r1", "ttl w1", "ttl r1", "touch w1", "unlink w1", "sinterstore w1 r1",
    "sinterstore w1 w2", "mset w1 v r1 v", "hset w1 a b", "rename w1 w2", "persist w1",
    "getset w1 v", "bitfield r1 get u8 0", "bitfield w1 set u8 0 1", "sort r1 store w1",
    "sort r1", "zunionstore w1 2 r1 r2", "zunionstore w1 2 r1 w2", "strlen w1",
    "georadius r1 0 0 1 km store w1", "georadius r1 0 0 1 km store r2", "bitop and w1 r1 r2",
    "pfmerge w1 r1", "smove r1 w1 m", "eval return 1 1 w1", "memory usage w1", "mget r1 r2",
    "zrangestore w1 r1 0 -1", "geosearchstore w1 r1 frommember m bybox 1 1 km",
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_read_and_write_key_permissions_match_redis(make_node, redis_server, resp3) -> None:
    node = make_node()
    setup = [("ACL", "SETUSER", "kw", "on", "nopass", "+@all", "%R~nothing"),
             ("ACL", "SETUSER", "kw", "(%W~w* %R~r* +@all)")]
    checks = [("ACL", "DRYRUN", "kw", *line.split()) for line in _KEY_ACCESS_COMMANDS]
    replies = {}
    for name, port in (("rcache", node.port), ("redis", redis_server)):
        admin = RawConnection(port)
        try:
            if resp3:
                admin.call("HELLO", "3")
            replies[name] = [admin.call(*argv) for argv in setup + checks]
        finally:
            admin.call("ACL", "DELUSER", "kw")
            admin.close()
    differences = [f"{argv}: rcache {mine!r} != redis {theirs!r}" for argv, mine, theirs
                   in zip(setup + checks, replies["rcache"], replies["redis"], strict=True)
                   if mine != theirs]
    assert not differences, "\n".join(differences)
    assert replies["rcache"].count(b"+OK\r\n") < len(replies["rcache"]) - 10  # some refused


def test_selector_users_replicate(tmp_path) -> None:
    """A user's selectors are stored with it: a follower applies the same permissions."""
    with LocalCluster(tmp_path, 2) as cluster:
        leader, follower = cluster.leader(), cluster.followers()[0]
        leader.client().execute_command("ACL", "SETUSER", "sel", "on", ">pw", "+get",
                                        "+readonly", "~a*", "(+get %R~r*)")
        leader.client().mset({"a1": "1", "r1": "2", "z1": "3"})
        cluster.wait_converged()
        reader = follower.client(username="sel", password="pw")
        reader.execute_command("READONLY")
        assert (reader.get("a1"), reader.get("r1")) == (b"1", b"2")
        with pytest.raises(redis.exceptions.NoPermissionError, match="access one of the keys"):
            reader.get("z1")


def test_noperm_in_multi_aborts_exec_and_hello_auth(make_node) -> None:
    node = make_node()
    admin = node.client()
    admin.execute_command("ACL", "SETUSER", "q", "on", ">pw", "+@all", "-flushall", "~q*")
    conn = RawConnection(node.port)
    hello = conn.call("HELLO", "3", "AUTH", "q", "pw")
    assert hello.startswith(b"%7")  # the HELLO map: authenticated as q in one round trip
    assert conn.call("ACL", "WHOAMI") == b"$1\r\nq\r\n"
    assert conn.call("MULTI") == b"+OK\r\n"
    assert conn.call("SET", "q1", "v") == b"+QUEUED\r\n"
    assert conn.call("SET", "other", "v").startswith(b"-NOPERM")
    assert conn.call("EXEC").startswith(b"-EXECABORT")
    assert conn.call("FLUSHALL") == (b"-NOPERM this user has no permissions to run the "
                                     b"'flushall' command\r\n")
    admin.execute_command("ACL", "SETUSER", "q", "+flushall")  # applies to the connection
    assert conn.call("FLUSHALL") == b"+OK\r\n"
    admin.execute_command("ACL", "DELUSER", "q")
    with pytest.raises(ConnectionError):  # a deleted user's connection is closed
        conn.call("GET", "q1")
        conn.call("GET", "q1")
    conn.close()


def _auth_client(node, password: str = "s3cret", **kwargs) -> redis.Redis:
    return node.client(username="app", password=password, **kwargs)


def test_users_are_replicated_and_survive_failover(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    admin = leader.client()
    assert admin.execute_command("ACL", "SETUSER", "app", "on", ">s3cret", "+@read",
                                 "+@write", "+readonly", "+acl|whoami", "~app:*") == b"OK"
    assert admin.set("app:1", "one") is True
    cluster.wait_converged()
    for node in cluster.live():  # at once on every node: the SETUSER entry is applied
        conn = _auth_client(node)
        assert conn.execute_command("ACL", "WHOAMI") == b"app"
        conn.execute_command("READONLY")
        assert conn.get("app:1") == b"one"
        with pytest.raises(redis.exceptions.NoPermissionError, match="access one of the keys"):
            conn.get("secret")
        with pytest.raises(redis.exceptions.NoPermissionError, match="'config|get' command"):
            conn.config_get("maxclients")
        conn.close()

    leader.kill()
    survivors = [n for n in cluster.nodes if n is not leader]
    new_leader = cluster.leader(among=survivors)
    writer = _auth_client(new_leader)
    wait_for(lambda: writer.set("app:2", "two") is True, 30, "a write as app after failover")
    for node in survivors:
        assert _auth_client(node).execute_command("ACL", "WHOAMI") == b"app"

    assert new_leader.client().execute_command("ACL", "DELUSER", "app") == 1
    for node in survivors:
        def refused(node=node) -> bool:
            try:
                _auth_client(node).ping()
            except redis.AuthenticationError:
                return True
            return False
        wait_for(refused, 20, f"the deleted user to be refused on {node.name}")


def test_every_node_refuses_what_a_script_may_not_call(cluster: LocalCluster) -> None:
    """The entry names the script's user: each node applies it against the same replicated
    rules, so a refused call writes nothing anywhere, and an allowed one everywhere."""
    leader = cluster.leader()
    admin = leader.client()
    admin.execute_command("ACL", "SETUSER", "app", "on", ">s3cret", "+@all", "-incr", "~*")
    writer = _auth_client(leader)
    with pytest.raises(redis.exceptions.ResponseError, match="can't run this command"):
        writer.eval("redis.call('set', 'before', '1'); return redis.call('incr', 'counter')", 0)
    assert writer.eval("return redis.call('set', 'allowed', '1')", 0) == b"OK"
    cluster.wait_converged()
    for node in cluster.live():
        reader = node.client()
        reader.execute_command("READONLY")
        assert reader.mget("before", "counter", "allowed") == [b"1", None, b"1"], node.name
        reader.close()
    admin.execute_command("ACL", "DELUSER", "app")


def test_acl_log_matches_redis(make_node, redis_server) -> None:
    """The refusals ACL LOG keeps (grouped as Redis groups them), and ACL HELP's lines."""
    node = make_node()
    seen = {}
    for name, port in (("rcache", node.port), ("redis", redis_server)):
        admin = redis.Redis(port=port, socket_timeout=10)
        admin.execute_command("ACL", "LOG", "RESET")
        admin.execute_command("ACL", "SETUSER", "lg", "on", ">pw", "+get", "+publish",
                              "~k*", "&ch*")
        try:
            user = redis.Redis(port=port, username="lg", password="pw", socket_timeout=10,
                               lib_name=None, lib_version=None)  # no CLIENT SETINFO (7.2)
            for command in (("GET", "z"), ("GET", "z"), ("SET", "k", "1"),
                            ("PUBLISH", "other", "m")):
                with pytest.raises(redis.exceptions.NoPermissionError):
                    user.execute_command(*command)
            with pytest.raises(redis.AuthenticationError):
                redis.Redis(port=port, username="lg", password="bad").ping()
            entries = admin.execute_command("ACL", "LOG")
            seen[name] = [{k: v for k, v in entry.items()
                           if k not in (b"age-seconds", b"client-info")} for entry in entries]
            assert all(b"user=lg" in entry[b"client-info"] or entry[b"reason"] == b"auth"
                       for entry in entries)
            latest = admin.execute_command("ACL", "LOG", "1")
            assert [entry[b"client-info"] for entry in latest] == [entries[0][b"client-info"]]
        finally:
            admin.execute_command("ACL", "DELUSER", "lg")
    assert seen["rcache"] == seen["redis"]
    assert len(seen["rcache"]) == 4 and seen["rcache"][-1][b"count"] == 2  # GET z twice


def test_users_travel_in_snapshots_and_survive_restart(tmp_path) -> None:
    """A node that joins after the log was compacted gets the users from the snapshot."""
    with LocalCluster(tmp_path, 1) as cluster:
        leader = cluster.nodes[0]
        admin = leader.client()
        admin.execute_command("ACL", "SETUSER", "app", "on", ">s3cret", "+@read", "+readonly",
                              "~app:*")
        admin.set("app:1", "one")
        assert admin.save() is True  # a snapshot now: the SETUSER entry leaves the log
        fresh = cluster.add_node()
        cluster.wait_converged()
        assert "installed snapshot" in fresh.log()
        for restarted in (False, True):
            if restarted:
                fresh.restart()
            reader = _auth_client(fresh)
            reader.execute_command("READONLY")
            assert reader.get("app:1") == b"one"
            with pytest.raises(redis.exceptions.NoPermissionError):
                reader.get("other")
        assert b"user app on" in b"\n".join(fresh.client().execute_command("ACL", "LIST"))


def test_acl_save_and_load_through_the_log(tmp_path) -> None:
    acl_file = tmp_path / "users.acl"
    with LocalCluster(tmp_path, 2, "--aclfile", str(acl_file)) as cluster:
        leader = cluster.leader()
        follower = cluster.followers()[0]
        admin = leader.client()
        admin.execute_command("ACL", "SETUSER", "app", "on", ">s3cret", "+@read", "~app:*")
        admin.execute_command("ACL", "SETUSER", "gone", "on", ">x")
        assert admin.execute_command("ACL", "SAVE") == b"OK"
        saved = acl_file.read_text()
        assert "user app on #" in saved and "user default on nopass" in saved

        acl_file.write_text("user b on bogus\n")
        with pytest.raises(redis.ResponseError, match=r"users.acl:1: Syntax error\. WARNING"):
            admin.execute_command("ACL", "LOAD")
        acl_file.write_text("user default on nopass ~* &* +@all\nuser app on >n3w +@read +ping "
                            "~app:*\nuser extra on >e +ping\n")
        assert admin.execute_command("ACL", "LOAD") == b"OK"
        cluster.wait_converged()
        for node in (leader, follower):  # the file's users, on every node
            assert node.client().execute_command("ACL", "USERS") == [b"app", b"default",
                                                                     b"extra"]
            assert _auth_client(node, password="n3w").ping() is True


def test_acl_cat_matches_redis_for_the_commands_rcache_has(make_node, redis_server) -> None:
    """Categories come from the command table; each lists what Redis 7.0's lists, less the
    commands rcache does not have (streams, scripting...)."""
    node = make_node()
    ours = node.client(decode_responses=True)
    theirs = redis.Redis(port=redis_server, decode_responses=True)
    ours_raw, theirs_raw = RawConnection(node.port), RawConnection(redis_server)
    unknown = b"*1\r\n$-1\r\n"  # COMMAND INFO of a command the server does not have
    assert ours.acl_cat() == theirs.acl_cat()
    for category in ours.acl_cat():
        mine, reference = set(ours.acl_cat(category)), set(theirs.acl_cat(category))
        for name in mine - reference:  # only rcache's own commands (LEASE, RAFT.*...)
            assert theirs_raw.call("COMMAND", "INFO", name) == unknown, (category, name)
        for name in reference - mine:  # only the commands rcache does not have
            assert ours_raw.call("COMMAND", "INFO", name) == unknown, (category, name)
    ours_raw.close()
    theirs_raw.close()


# A script runs with its caller's permissions: what it calls is refused as Redis refuses it
# (in the entry, on every node); first-argument rules (+select|0); user names; subcommand
# argument errors.
_SCRIPT_SETUP = [
    ("ACL", "SETUSER", "sx", "on", ">pw", "~k*", "&ch", "+@all", "-incr", "-ping", "-select",
     "+select|0"),
    ("ACL", "SETUSER", "a b"), ("ACL", "SETUSER", "a\x00b"), ("ACL", "SETUSER", "nl\nx"),
    ("ACL", "SETUSER", "fa", "+config|get|appendonly"), ("ACL", "SETUSER", "fa", "+select|"),
    ("ACL", "SETUSER", "fa", "-select|0"), ("ACL", "SETUSER", "fa", "+nosuch|0"),
    ("ACL", "SETUSER", "fa", "-@all", "+select|1", "+select|X"), ("ACL", "GETUSER", "fa"),
    ("ACL", "SETUSER", "fa", "+select"), ("ACL", "GETUSER", "fa"),
    ("ACL", "SETUSER", "fa", "+@all", "+select|2"), ("ACL", "GETUSER", "fa"),
    ("ACL", "CAT", "string", "x"), ("ACL", "GENPASS", "1", "2"), ("ACL", "LOG", "1", "2"),
    ("ACL", "SETUSER", "rw", "%R~foo", "%W~foo", "%RW~bar", "%R~b*", "%W~b*"),
    ("ACL", "GETUSER", "rw"), ("LPUSH", "mylist", "1"),
    ("ACL", "SETUSER", "tsa", "on", "nopass", "(+sort ~mylist)"),
]
_SCRIPT_AS_USER = [
    ("AUTH", "sx", "pw"), ("SELECT", "0"), ("SELECT", "1"),
    ("EVAL", "return redis.call('incr', 'k')", "0"),
    ("EVAL", "return redis.call('get', 'other')", "0"),
    ("EVAL", "return redis.call('publish', 'nope', 'x')", "0"),
    ("EVAL", "return redis.call('ping')", "0"),
    ("EVAL", "return redis.call('set', 'k1', 'v')", "0"),
    ("EVAL_RO", "return redis.call('incr', 'k')", "0"),
    ("EVAL_RO", "return redis.call('set', 'k', 'v')", "0"),
    ("EVAL_RO", "return redis.call('get', 'k1')", "0"),
    ("MULTI",), ("EVAL", "return redis.call('incr', 'k')", "0"), ("SET", "k2", "x"), ("EXEC",),
    ("GET", "k2"), ("DEL", "k1", "k2"),
    # SORT's BY pattern and GET need a selector that reads every key
    ("AUTH", "tsa", "x"), ("SORT", "mylist", "BY", "v*"), ("SORT", "mylist", "GET", "v*"),
    ("SORT", "mylist", "BY", "v"), ("SORT", "mylist", "LIMIT", "0", "1", "BY", "x*"),
    ("SORT_RO", "mylist", "GET", "#"),
]


def test_scripts_and_first_arguments_as_redis(make_node, redis_server) -> None:
    node = make_node()
    replies = {}
    for name, port in (("rcache", node.port), ("redis", redis_server)):
        admin, user = RawConnection(port), RawConnection(port)
        try:
            replies[name] = [admin.call(*argv) for argv in _SCRIPT_SETUP]
            replies[name] += [user.call(*argv) for argv in _SCRIPT_AS_USER]
        finally:
            admin.call("ACL", "DELUSER", "sx", "fa", "rw", "tsa")
            admin.call("DEL", "mylist")
            admin.close()
            user.close()
    commands = _SCRIPT_SETUP + _SCRIPT_AS_USER
    differences = [f"{argv}: rcache {mine!r} != redis {theirs!r}" for argv, mine, theirs
                   in zip(commands, replies["rcache"], replies["redis"], strict=True)
                   if mine != theirs]
    assert not differences, "\n".join(differences)
    assert b"can't run this command" in replies["rcache"][len(_SCRIPT_SETUP) + 3]


def test_revoked_channels_and_deleted_users_close_connections(make_node) -> None:
    """As Redis: ACL SETUSER closes the user's connections subscribed to what it no longer
    allows; ACL DELUSER closes all of the user's connections; the others stay."""
    node = make_node()
    admin = node.client()
    admin.execute_command("ACL", "SETUSER", "psu", "on", ">pw", "+@all", "~*", "resetchannels",
                          "&keep", "&drop", "&pat*")
    def subscriber(**kinds) -> redis.client.PubSub:
        pubsub = redis.Redis(port=node.port, username="psu", password="pw").pubsub()
        for kind, names in kinds.items():
            getattr(pubsub, kind)(*names)
        wait_for(lambda: pubsub.get_message(timeout=0.1), 10, "the subscription")
        return pubsub
    kept = subscriber(subscribe=["keep"])
    dropped = subscriber(subscribe=["drop"])
    pattern = subscriber(psubscribe=["pat*"])
    idle = redis.Redis(port=node.port, username="psu", password="pw", client_name="idle")
    idle.ping()

    def names_of(user: str) -> list[int]:
        return sorted(c["id"] for c in admin.client_list() if c["user"] == user)
    before = names_of("psu")
    assert len(before) == 4
    admin.execute_command("ACL", "SETUSER", "psu", "resetchannels", "&keep", "&pat")
    wait_for(lambda: len(names_of("psu")) == 2, 10, "the two refused subscribers to close")
    assert kept.connection is not None and idle.ping()
    admin.execute_command("ACL", "DELUSER", "psu")
    wait_for(lambda: not names_of("psu"), 10, "the deleted user's connections to close")
    for pubsub in (kept, dropped, pattern):
        pubsub.close()


# Command rules mixed in every order: Redis 7.0 does not show them as given but recomputes
# them (+@all or -@all, the categories that fit best, then single commands). Its single
# commands come in its command table's hash order, seeded at random per process: those are
# compared as a set, everything else byte for byte.
_MIXED_RULES = [
    "-@all +@string -get +@hash", "+get -@all +@hash +@string -get", "+@all -@hash -get +hget",
    "+@all -@hash +hget", "+@all -@string -@list +get +lpush", "-@all +@read -@hash +hget",
    "+@all -@admin -@dangerous", "-@all +client|id +client|setname +config|get",
    "-@all +client -client|kill", "-@all +select|0 +select|1", "+@all -select +select|0",
    "-@all +@all -get", "+@all -@all +get", "-@all +@fast +@slow -get", "+@all -@fast",
    "-@all +@keyspace +@read", "-@all +@sortedset +@list -@write", "+@all +get -@string",
    "-@all +@string +@hash +@list +@set -@read", "-@all +@string +@bitmap -setbit +@hyperloglog",
]


def _described(line: str, only_one_has: set[str]) -> tuple[list[str], set[str]]:
    """(base and categories in order, single commands) of a description's command rules,
    leaving out the commands that only one of the two servers has (LOLWUT, LEASE...)."""
    rules = line.split()
    start = next(i for i, rule in enumerate(rules) if rule in ("+@all", "-@all"))
    categories = [rule for rule in rules[start:] if rule[1:2] == "@"]
    return categories, set(rules[start:]) - set(categories) - {
        sign + name for name in only_one_has for sign in "+-"}


def _descriptions(client: redis.Redis) -> list[str]:
    """For each of _MIXED_RULES: its user's ACL LIST line and ACL GETUSER commands field;
    then the commands field of a selector built from mixed rules."""
    shown = []
    users = [f"mix{i}" for i in range(len(_MIXED_RULES))]
    try:
        for user, rules in zip(users, _MIXED_RULES, strict=True):
            client.execute_command("ACL", "SETUSER", user, "reset", *rules.split())
            shown.append(next(line for line in client.execute_command("ACL", "LIST")
                              if line.startswith(f"user {user} ")))
            shown.append(client.execute_command("ACL", "GETUSER", user)["commands"])
        client.execute_command("ACL", "SETUSER", "mixsel", "reset", "(+@string -get +@hash)")
        selector = client.execute_command("ACL", "GETUSER", "mixsel")["selectors"][0]
        shown.append(selector["commands"])
    finally:
        client.execute_command("ACL", "DELUSER", "mixsel", *users)
    return shown


def test_mixed_command_rules_are_described_as_redis_describes_them(
        make_node, redis_server) -> None:
    node = make_node()
    ours_client = redis.Redis(port=node.port, decode_responses=True)
    theirs_client = redis.Redis(port=redis_server, decode_responses=True)
    only_one_has = set(ours_client.command_list()) ^ set(theirs_client.command_list())
    assert {"lolwut", "lease|ttl"} <= only_one_has
    ours, theirs = _descriptions(ours_client), _descriptions(theirs_client)
    whole = 0
    for mine, redis_line in zip(ours, theirs, strict=True):
        mine_rules, redis_rules = (_described(mine, only_one_has),
                                   _described(redis_line, only_one_has))
        assert mine_rules == redis_rules, (mine, redis_line)
        if max(len(_described(line, set())[1]) for line in (mine, redis_line)) <= 1:
            assert mine == redis_line  # no hash order involved: the same bytes
            whole += 1
    assert whole == 23  # the cases left with one single command at most
    assert ours[0].endswith(" -@all +@hash +@string -get")  # not in the order given
