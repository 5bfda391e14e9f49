"""Lua scripts and functions: replies compared with redis-server 7.0 byte for byte (RESP2 and
RESP3), scripts replicated deterministically on a 3-node cluster (and carried by snapshots),
and real clients that use Lua (redis-py's Lock, python-redis-lock, limits, dramatiq)."""

from __future__ import annotations

import pytest
import redis

from .conftest import LocalCluster, Node, wait_for
from .test_differential import _parse, assert_same, pair  # noqa: F401 (pair is a fixture)

S = "SET"
LIB = """#!lua name=mylib
redis.register_function('echo_arg', function(keys, args) return args[1] end)
redis.register_function('incr_key', function(keys, args) return redis.call('incr', keys[1]) end)
redis.register_function('fails', function(keys, args) error('x') end)
redis.register_function{function_name='read_only', description='writes are refused',
  callback=function(keys, args) return redis.call('set', keys[1], args[1]) end,
  flags={'no-writes', 'allow-stale'}}
redis.register_function{function_name='get_key', flags={'no-writes'},
  callback=function(keys, args) return redis.call('get', keys[1]) end}
redis.register_function('globals', function(keys, args)
  return {#keys, #args, type(keys), redis.setresp == nil, KEYS} end)
"""
# Each sequence runs on a fresh pair of databases; every reply must be identical.
SEQUENCES = [
    # the Lua -> RESP conversion table
    [("EVAL", "return {1,2,3,'ciao',{1,2}}", "0"), ("EVAL", "return {1,2,nil,4}", "0"),
     ("EVAL", "return 3.99", "0"), ("EVAL", "return -3.99", "0"), ("EVAL", "return true", "0"),
     ("EVAL", "return false", "0"), ("EVAL", "return nil", "0"),
     ("EVAL", "return {ok='fine'}", "0"), ("EVAL", "return {err='bad thing'}", "0"),
     ("EVAL", "return {1,{err='inner'}}", "0"), ("EVAL", "return {double=3.14}", "0"),
     ("EVAL", "return {map={a=1}}", "0"), ("EVAL", "return {set={a=true}}", "0"),
     ("EVAL", "return {big_number='123'}", "0"),
     ("EVAL", "return {verbatim_string={format='txt', string='hi'}}", "0"),
     ("EVAL", "redis.setresp(3) return {true, false}", "0"),
     ("EVAL", "return {1, 'x', true, false, 3.7}", "0"), ("EVAL", "return {'a', nil, 'b'}", "0"),
     ("EVAL", "return 2^53", "0"), ("EVAL", "return 1e30", "0"), ("EVAL", "return 0/0", "0"),
     ("EVAL", "return {1,2,{3,{4,nil,5}},6}", "0"), ("EVAL", "return {err=42}", "0"),
     ("EVAL", "return {KEYS[1], ARGV[1], #KEYS, #ARGV}", "1", "k", "a")],
    # RESP -> Lua, RESP2 and after redis.setresp(3)
    [(S, "s", "abc"), ("HSET", "h", "f", "v"), ("ZADD", "z", "1.5", "m"),
     ("EVAL", "return redis.call('get','nokey')", "0"),
     ("EVAL", "return type(redis.call('get','nokey'))", "0"),
     ("EVAL", "redis.setresp(3); return type(redis.call('get','nokey'))", "0"),
     ("EVAL", "return redis.call('ping')", "0"), ("EVAL", "return type(redis.call('ping'))", "0"),
     ("EVAL", "return redis.call('ping')['ok']", "0"),
     ("EVAL", "return redis.call('hgetall','h')", "0"),
     ("EVAL", "redis.setresp(3); return redis.call('hgetall','h')", "0"),
     ("EVAL", "redis.setresp(3); return redis.call('hgetall','h')['map']['f']", "0"),
     ("EVAL", "return redis.call('zscore','z','m')", "0"),
     ("EVAL", "redis.setresp(3); return redis.call('zscore','z','m')['double']", "0"),
     ("EVAL", "return redis.call('set','s','abc','get')", "0"),
     ("EVAL", "redis.call('set','a',0.1) return redis.call('get','a')", "0"),
     ("EVAL", "redis.call('set','a',100) return redis.call('get','a')", "0"),
     ("EVAL", "redis.call('set','a',2^62) return redis.call('get','a')", "0"),
     ("EVAL", "redis.call('set','a',-7) return redis.call('get','a')", "0")],
    # errors: from redis.call, from Lua, compile errors, argument checks
    [(S, "s", "abc"), ("EVAL", "error('x')", "0"), ("EVAL", "return redis.call('incr')", "0"),
     ("EVAL", "return redis.call('incr','s')", "0"),
     ("EVAL", "return redis.pcall('incr','s')", "0"),
     ("EVAL", "\nlocal a = 1\nredis.call('incr','s')\nreturn 1", "0"),
     ("EVAL", "local function f() error('deep') end\nf()", "0"),
     ("EVAL", "return redis.call('nosuch')", "0"), ("EVAL", "return redis.pcall('nosuch')", "0"),
     ("EVAL", "return redis.error_reply('MY err')", "0"),
     ("EVAL", "return redis.error_reply('')", "0"), ("EVAL", "return redis.status_reply()", "0"),
     ("EVAL", "return redis.status_reply('FINE')", "0"), ("EVAL", "x=1", "0"),
     ("EVAL", "return y", "0"), ("EVAL", "return (", "0"), ("EVAL", "string.foo=1 return 1", "0"),
     ("EVAL", "return redis.call('set',{},1)", "0"), ("EVAL", "return redis.call()", "0"),
     ("EVAL", "return redis.call('blpop','l',0)", "0"), ("EVAL", "return redis.call('multi')", "0"),
     ("EVAL", "return redis.call('eval','return 1','0')", "0"),
     ("EVAL", "error({err='MYERR custom'})", "0"), ("EVAL", "error(nil)", "0"),
     ("EVAL", "error(42)", "0"), ("EVAL", "return redis.setresp(4)", "0"),
     ("EVAL", "return redis.setresp()", "0"), ("EVAL", "return redis.log(99, 'x')", "0"),
     ("EVAL", "return math.random(0)", "0"),
     ("EVAL", "local ok, e = pcall(function() redis.call('incr','s') end) return e", "0"),
     ("EVAL", "local ok, e = pcall(function() error('zz') end) return e", "0"),
     ("EVAL", "return redis.pcall('incr','s')['err']", "0"),
     ("EVAL", "return tostring(print)", "0"), ("EVAL", "return type(os)", "0"),
     ("EVAL", "local a = 1", "-1"), ("EVAL", "local a = 1", "x"), ("EVAL", "return 1", "2", "a"),
     ("EVAL",), ("EVAL", "return 1")],
    # the script cache
    [("SCRIPT", "LOAD", "return 1"), ("SCRIPT", "LOAD", "return ("),
     ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"),
     ("EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"),
     ("SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "ffff"),
     ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"), ("EVALSHA", "fff", "0"),
     ("EVAL", "return 2", "0"), ("EVALSHA", "7f923f79fe76194c868d7e1d0820de36700eb649", "0"),
     ("SCRIPT", "FLUSH", "X"), ("SCRIPT", "FLUSH", "SYNC"),
     ("SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
     ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"), ("SCRIPT", "KILL"),
     ("SCRIPT", "EXISTS"), ("SCRIPT", "NOPE"), ("SCRIPT", "HELP"), ("SCRIPT", "DEBUG", "NO"),
     ("CONFIG", "GET", "busy-reply-threshold"), ("CONFIG", "GET", "lua-time-limit"),
     ("CONFIG", "SET", "lua-time-limit", "5000"), ("CONFIG", "SET", "busy-reply-threshold", "5000"),
     ("SCRIPT", "DEBUG", "BOGUS"), ("COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b"),
     ("COMMAND", "GETKEYS", "EVAL", "return 1", "0"),
     ("COMMAND", "GETKEYS", "FCALL", "f", "1", "a", "b"),
     ("EVAL_RO", "return redis.call('set','a','1')", "0"), (S, "s", "v"),
     ("EVAL_RO", "return redis.call('get','s')", "0"),
     ("EVAL_RO", "return redis.pcall('set','a','1')", "0"),
     ("EVALSHA_RO", "ffffffffffffffffffffffffffffffffffffffff", "0"),
     ("EVAL", "#!lua\nreturn error('x')", "0"),
     ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','1')", "0"),
     ("EVAL", "#!lua flags=bad\nreturn 1", "0"), ("EVAL", "#!py\nreturn 1", "0")],
    # the libraries and the sandbox
    [("EVAL", "return cjson.encode({1,2,{a=1}})", "0"),
     ("EVAL", "return cjson.decode('[1,2,{\"a\":1.5}]')[3].a", "0"),
     ("EVAL", "return cjson.encode(cjson.decode('{\"a\":[1,2,null,true],\"b\":\"x/y\"}'))", "0"),
     ("EVAL", "return bit.band(0xff, 0x0f)", "0"), ("EVAL", "return bit.tohex(255)", "0"),
     ("EVAL", "return {bit.bor(1, 2, 4), bit.lshift(1, 31), bit.bxor(5, 3), bit.bnot(0)}", "0"),
     ("EVAL", "return cmsgpack.pack({1,2,3}, 'x', -5, 300, {a=1})", "0"),
     ("EVAL", "return cmsgpack.unpack(cmsgpack.pack({1,2,'x'}))", "0"),
     ("EVAL", "return cmsgpack.pack(1.5, 0.1, -200, 70000, 2^40, -2^40, true, false, "
      "string.rep('x', 40), string.rep('y', 300), {1, {2, 3}})", "0"),
     # float32 when a double survives the round trip; NaN and beyond float's range: float64
     ("EVAL", "return cmsgpack.pack(1e300, -3.5e38, 3.4028234663852886e38, 1/0, 0/0, -(0/0), "
      "-2^63, 2^63, 1e-50, 2^-149)", "0"),
     ("EVAL", "return {cmsgpack.unpack(ARGV[1])}", "0", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xfe"),
     ("EVAL", "return tostring(cmsgpack.unpack(ARGV[1]))", "0", b"\xcf\x80" + bytes(7)),
     ("EVAL", "return cmsgpack.unpack(ARGV[1])", "0", b"\xc4\x03abc"),
     ("EVAL", "return cmsgpack.unpack(ARGV[1])", "0", b"\xd4\x01\x02"),
     # a library's error caught by pcall is its text (a string), as a C library's is
     ("EVAL", "local ok, err = pcall(cmsgpack.unpack, ARGV[1]) return {tostring(ok), type(err), "
      "err}", "0", b"\xc1"),
     ("EVAL", "local ok, err = pcall(function() return cmsgpack.unpack(ARGV[1]) end) "
      "return redis.error_reply(err)", "0", b"\x93\x01"),
     ("EVAL", "local t = {cmsgpack.unpack(cmsgpack.pack(-1, 0.25, 'abc', {9, 8}, 2^33))} "
      "return {t[1], tostring(t[2]), t[3], t[4][2], tostring(t[5])}", "0"),
     ("EVAL", "return cjson.encode({a={b={c='d'}}, n=-1.5, s='q\"\\\\\\n\\t'})", "0"),
     ("EVAL", "return cjson.encode({})", "0"), ("EVAL", "return cjson.encode('x/y')", "0"),
     ("EVAL", "return cjson.encode({2^53, 123456789012345, 5})", "0"),
     ("EVAL", "return cjson.decode('\"\\u00e9\"')", "0"),
     ("EVAL", "return cjson.decode('[1e2, -0.5, 12345678901234]')[3]", "0"),
     # lua-cjson's reading: what it accepts beyond JSON, and its error texts
     *[("EVAL", "return cjson.decode(ARGV[1])", "0", text) for text in (
         "{", "[1,", "[1,]", '{"a" 1}', '{"a":1,}', "{1:2}", "[1 2]", '"abc', '"a\\qb"',
         '"\\u12"', '"\\ud800"', '"\\udc00"', "-", "1e", "truex", "[]x", "", "   ", "1 2",
         "\x00\x01", "[" * 1001 + "]" * 1001, '["x\x00"]')],
     *[("EVAL", "return cjson.encode(cjson.decode(ARGV[1]))", "0", text) for text in (
         "[1e400, 1.5e-3, 01, +1, -0, 1.]", "[-Infinity, 0x1A, -0x10]", "[1]\x00junk",
         '["\\ud83d\\ude00", "\\u00e9\\n\\/", "\x01raw"]')],
     ("EVAL", "local t, depth = cjson.decode(ARGV[1]), 1 while t[1] do t, depth = t[1], depth + 1 "
      "end return depth", "0", "[" * 1000 + "]" * 1000),
     ("EVAL", "return tostring(cjson.decode('nan'))", "0"),
     ("EVAL", "return {bit.rshift(-1, 28), bit.arshift(-16, 2), bit.rol(1, 33), bit.ror(1, 1), "
      "bit.bswap(0x01020304), bit.tohex(-1, -4), bit.tobit(2^32 + 5)}", "0"),
     ("EVAL", "return struct.pack('>I2', 258)", "0"),
     ("EVAL", "return {struct.pack('<h', -2), struct.pack('>i', 7), struct.pack('B', 255), "
      "struct.size('>i2h'), struct.pack('s', 'ab'), struct.pack('c3', 'abcdef')}", "0"),
     ("EVAL", "local a, b, n = struct.unpack('>hB', struct.pack('>hB', -300, 200)) "
      "return {a, b, n}", "0"),
     ("EVAL", "return {struct.unpack('<i4', struct.pack('<i4', -2))}", "0"),
     ("EVAL", "return struct.pack('>i')", "0"), ("EVAL", "return struct.pack('s')", "0"),
     ("EVAL", "return struct.pack('c2', 42)", "0"), ("EVAL", "return struct.pack('i', 'x')", "0"),
     ("EVAL", "return struct.pack('>i2', '70000')", "0"),
     ("EVAL", "return struct.pack('>i', 1, {})", "0"),
     ("EVAL", "return struct.pack('>i i', 1, {})", "0"),
     ("EVAL", "return struct.unpack('q', 'abcd')", "0"),
     ("EVAL", "return struct.pack('q', 1)", "0"), ("EVAL", "return struct.size('>iq')", "0"),
     ("EVAL", "return redis.sha1hex('abc')", "0"), ("EVAL", "return redis.sha1hex(0.1)", "0"),
     ("EVAL", "return redis.sha1hex({})", "0"), ("EVAL", "return redis.REDIS_VERSION", "0"),
     ("EVAL", "return math.random(1000) > 0", "0"), ("EVAL", "return _VERSION", "0"),
     ("EVAL", "math.randomseed(42) return {math.random(100), math.random(100), "
      "math.random(5, 10), tostring(math.random())}", "0"),
     ("EVAL", "return math.random('x')", "0"), ("EVAL", "return math.random(1, 2, 3)", "0"),
     ("EVAL", "return math.random(3, 1)", "0"), ("EVAL", "return math.randomseed(true)", "0"),
     ("EVAL", "return #string.rep('ab', 1000)", "0"), ("EVAL", "return ('ab'):rep(3)", "0"),
     ("EVAL", "return string.rep()", "0"), ("EVAL", "return string.rep({}, 2)", "0"),
     ("EVAL", "return string.rep('x', 'y')", "0"), ("EVAL", "return string.rep(1.5, 2)", "0"),
     ("EVAL", "return loadstring('return 1')()", "0"),
     ("EVAL", "local t = {} for k in pairs(_G) do t[#t+1] = k end return #t >= 0", "0")],
    # commands inside scripts: blocking ones do not block, SELECT stays in the script
    [("EVAL", "return redis.call('brpoplpush','a','b','0')", "0"),
     ("EVAL", "return redis.call('blmove','a','b','left','left','0')", "0"),
     ("EVAL", "return redis.call('bzpopmin','z','0')", "0"),
     ("EVAL", "return redis.call('brpop','a','0')", "0"), ("RPUSH", "a", "x"),
     ("EVAL", "return redis.call('brpoplpush','a','b','0')", "0"),
     ("EVAL", "return redis.call('publish','ch','m')", "0"),
     ("EVAL", "return redis.call('wait','0','0')", "0"),
     ("EVAL", "return redis.call('select','99')", "0"),
     ("EVAL", "redis.call('select','1') redis.call('set','in1','v') return redis.call('get','in1')",
      "0"), ("GET", "in1"), ("SELECT", "1"), ("GET", "in1"), ("SELECT", "0"),
     ("EVAL", "return redis.call('save')", "0"), ("EVAL", "return redis.call('auth','x')", "0"),
     ("EVAL", "return redis.call('echo')", "0"), ("EVAL", "return redis.call('ping','a','b')", "0"),
     ("EVAL", "return redis.call('ping','a')", "0"), ("EVAL", "return redis.call('echo','e')", "0"),
     ("EVAL", "return redis.call('dbsize')", "0"), ("EVAL", "return redis.call('keys','*')", "0"),
     ("MULTI",), ("EVAL", "return redis.call('incr', KEYS[1])", "1", "m"), ("INCR", "m"),
     ("EXEC",)],
    # functions: loading, errors, calling
    [("FUNCTION", "LOAD", LIB), ("FUNCTION", "LOAD", LIB), ("FCALL", "echo_arg", "0", "hello"),
     ("FCALL", "ECHO_ARG", "0", "hi"), ("FCALL", "nofunc", "0"), ("FCALL", "echo_arg", "-1"),
     ("FCALL", "echo_arg", "5"), ("FCALL", "echo_arg", "x"), (S, "s", "abc"),
     ("FCALL", "incr_key", "1", "s"), ("FCALL", "incr_key", "1", "n"), ("FCALL", "fails", "0"),
     ("FCALL", "read_only", "1", "s", "v"), ("FCALL_RO", "read_only", "1", "s", "v"),
     ("FCALL_RO", "echo_arg", "0", "x"), ("FCALL", "globals", "1", "a", "b", "c"),
     ("FUNCTION", "LIST"), ("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "my*"),
     ("FUNCTION", "LIST", "LIBRARYNAME", "nope"), ("FUNCTION", "LIST", "LIBRARYNAME"),
     ("FUNCTION", "LIST", "BOGUS"), ("FUNCTION", "LIST", "WITHCODE", "WITHCODE"),
     ("FUNCTION", "STATS"), ("FUNCTION", "KILL"), ("FUNCTION", "HELP"),
     ("FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('echo_arg', function() end)"),
     ("FUNCTION", "LOAD", "REPLACE",
      "#!lua name=mylib\nredis.register_function('echo_arg', function() return 2 end)"),
     ("FCALL", "echo_arg", "0"), ("FCALL", "incr_key", "1", "n"),
     ("FUNCTION", "DELETE", "nolib"), ("FUNCTION", "DELETE", "mylib"), ("FCALL", "echo_arg", "0"),
     ("FUNCTION", "RESTORE", "xx"), ("FUNCTION", "RESTORE", "xx", "BOGUS"),
     ("FUNCTION", "FLUSH", "BAD"), ("FUNCTION", "FLUSH", "SYNC", "X"), ("FUNCTION", "FLUSH"),
     ("FUNCTION", "LIST"), ("FUNCTION", "STATS")],
    [("FUNCTION", "LOAD", code) for code in (
        "return 1", "#!lua\nreturn 1", "#!lua name=l\nreturn 1", "#!js name=l\nreturn 1",
        "#!lua name=bad-name\nreturn 1", "#!lua name=l foo=bar\nreturn 1",
        "#!lua name=l name=m\nreturn 1", "#!lua name=l\nreturn (",
        "#!lua name=l\nredis.call('ping')", "#!lua name=l\nlocal x = type",
        "#!lua name=l\nredis.register_function('bad-name', function() end)",
        "#!lua name=l\nredis.register_function('f')",
        "#!lua name=l\nredis.register_function('f', 1)",
        "#!lua name=l\nredis.register_function()",
        "#!lua name=l\nredis.register_function{function_name='f'}",
        "#!lua name=l\nredis.register_function{callback=function() end}",
        "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, x=1}",
        "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, "
        "flags='no-writes'}",
        "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, "
        "flags={'bogus'}}",
        "#!lua name=l\nredis.register_function('f', function() end)\n"
        "redis.register_function('f', function() end)",
        "#!LUA name=l\nredis.log(redis.LOG_NOTICE, redis.REDIS_VERSION)\n"
        "redis.register_function('f', function() return redis.call('ping') end)")]
    + [("FCALL", "f", "0"), ("FUNCTION", "LOAD", "BOGUS", "#!lua name=l"),
       ("FUNCTION", "LOAD", "REPLACE")],
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("sequence", SEQUENCES, ids=lambda s: f"{s[0][0].lower()}{len(s)}")
def test_same_replies_as_redis(pair, sequence, resp3) -> None:  # noqa: F811
    ours, theirs = pair
    for conn in pair:
        conn.call("SCRIPT", "FLUSH")
        conn.call("FUNCTION", "FLUSH")
        if resp3:
            conn.call("HELLO", "3")
    for argv in sequence:
        if argv[:2] == ("FUNCTION", "LIST"):
            assert _libraries(ours.call(*argv)) == _libraries(theirs.call(*argv)), argv
        else:
            assert_same(pair, *argv)


def _libraries(raw: bytes):
    """FUNCTION LIST with libraries and functions sorted: Redis lists them in hash order."""
    reply = _parse(raw)
    if not isinstance(reply, list):
        return raw
    libraries = []
    for library in reply:
        fields = dict(zip(library[::2], library[1::2], strict=True)) \
            if isinstance(library, list) else dict(library)
        fields[b"functions"] = sorted(repr(f) for f in fields[b"functions"])
        libraries.append(sorted(fields.items()))
    return sorted(libraries)


def test_writes_before_an_error_stay(shared_node: Node) -> None:
    client = shared_node.client()
    client.delete("kept", "str")
    client.set("str", "x")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        client.eval("redis.call('set', KEYS[1], 'v') return redis.call('incr', KEYS[2])", 2,
                    "kept", "str")
    assert client.get("kept") == b"v"


def test_a_script_fails_watch_even_on_undeclared_keys(shared_node: Node) -> None:
    client = shared_node.client()
    with client.pipeline() as pipe:
        pipe.watch("watched")
        client.eval("redis.call('set', 'watched', 'changed')", 0)
        pipe.multi()
        pipe.set("watched", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert client.get("watched") == b"changed"


def test_runaway_script_is_cut_by_the_budget(shared_node: Node) -> None:
    client = shared_node.client()
    for body in ("while true do end",
                 "while true do pcall(function() while true do end end) end",
                 "local co = coroutine.wrap(function() while true do end end) co()",
                 "return string.rep('x', 2^30)"):
        with pytest.raises(redis.ResponseError, match="instruction budget"):
            client.eval(body, 0)
    with pytest.raises(redis.ResponseError, match="not enough memory"):
        client.eval("local s = 'x' for i = 1, 40 do s = s .. s end", 0)
    assert client.ping()


def test_the_budget_is_configurable(make_node) -> None:
    node = make_node("--lua-instruction-budget", "20000")
    client = node.client()
    assert client.eval("for i = 1, 1000 do end return 1", 0) == 1
    with pytest.raises(redis.ResponseError, match="instruction budget of 20000"):
        client.eval("for i = 1, 100000 do end return 1", 0)
    with pytest.raises(redis.ResponseError, match="instruction budget"):
        client.eval("for i = 1, 100 do redis.call('incr', KEYS[1]) end", 1, "n")
    assert client.get("n") == b"20"  # 20 calls cost 20000: the 21st finds the budget spent
    assert client.config_get("lua-instruction-budget") == {"lua-instruction-budget": "20000"}


def test_redis_py_lock(shared_node: Node) -> None:
    """redis-py's Lock: acquire and extend are Lua (EVALSHA, then EVAL on NOSCRIPT)."""
    client = shared_node.client()
    client.script_flush()
    lock = client.lock("resource", timeout=10)
    assert lock.acquire(blocking=False)
    assert not client.lock("resource", timeout=10).acquire(blocking=False)
    assert lock.extend(20)
    assert 20_000 < client.pttl("resource") <= 30_000
    assert lock.owned()
    lock.release()
    assert client.get("resource") is None
    with pytest.raises(redis.exceptions.LockError):
        lock.release()


def test_limits_rate_limiters(shared_node: Node) -> None:
    """limits (Flask-Limiter's engine): its Redis strategies are Lua scripts."""
    limits = pytest.importorskip("limits")
    from limits import strategies
    from limits.storage import RedisStorage

    shared_node.client().flushall()
    backend = RedisStorage(f"redis://127.0.0.1:{shared_node.port}")
    item = limits.RateLimitItemPerMinute(3)
    for strategy in (strategies.MovingWindowRateLimiter, strategies.FixedWindowRateLimiter,
                     strategies.SlidingWindowCounterRateLimiter):
        limiter = strategy(backend)
        assert [limiter.hit(item, strategy.__name__) for _ in range(5)] == [True] * 3 + [False] * 2
        assert limiter.get_window_stats(item, strategy.__name__).remaining == 0


def test_python_redis_lock(shared_node: Node) -> None:
    redis_lock = pytest.importorskip("redis_lock")
    client = shared_node.client()
    client.delete("lock:shared")
    lock = redis_lock.Lock(client, "shared", expire=10)
    assert lock.acquire(blocking=False)
    assert not redis_lock.Lock(client, "shared").acquire(blocking=False)
    lock.extend(30)
    assert 20 < client.ttl("lock:shared") <= 30
    lock.release()
    assert client.exists("lock:shared") == 0


def test_dramatiq_worker_runs_a_job(shared_node: Node) -> None:
    """dramatiq's Redis broker does everything (enqueue, fetch, ack) in one Lua script."""
    dramatiq = pytest.importorskip("dramatiq")
    from dramatiq.brokers.redis import RedisBroker

    client = shared_node.client()
    client.delete("job-result")
    broker = RedisBroker(host="127.0.0.1", port=shared_node.port, namespace="rcache-test")
    dramatiq.set_broker(broker)

    @dramatiq.actor(broker=broker, max_retries=0)
    def add(a: int, b: int) -> None:
        client.set("job-result", a + b)

    add.send(20, 22)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: client.get("job-result") == b"42", 30, "the worker to run the job")
    finally:
        worker.stop()
        broker.close()


# -- replication ------------------------------------------------------------------------------
RANDOM_WRITES = """
redis.call('sadd', KEYS[1], 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')
local popped = redis.call('spop', KEYS[1])
local t = redis.call('time')
redis.call('set', KEYS[2], popped .. ':' .. t[1] .. '.' .. t[2] .. ':' .. math.random(1000000))
redis.call('rpush', KEYS[3], math.random(), math.random(10, 20))
return popped
"""


def _values(node: Node) -> tuple:
    client = node.client()
    client.execute_command("READONLY")
    return (client.get("picked"), tuple(sorted(client.smembers("pool"))),
            tuple(client.lrange("nums", 0, -1)))


def test_scripts_replicate_identically_and_survive_failover(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    client = leader.client()
    for _ in range(5):
        client.eval(RANDOM_WRITES, 3, "pool", "picked", "nums")
    sha = client.script_load("return redis.call('incr', KEYS[1])")
    assert client.evalsha(sha, 1, "counter") == 1
    cluster.wait_converged()
    values = {n.name: _values(n) for n in cluster.live()}
    assert len(set(values.values())) == 1, values
    assert values[leader.name][0] is not None

    term = cluster.info(leader)["raft_term"]
    with pytest.raises(redis.ResponseError, match="instruction budget"):
        client.eval("while true do end", 0)
    assert cluster.leader() is leader
    assert cluster.info(leader)["raft_term"] == term
    assert all(n.client().ping() for n in cluster.live())

    leader.kill()
    new_leader = cluster.leader(among=[n for n in cluster.nodes if n is not leader])
    assert new_leader is not leader
    # retried while the new leader settles (a retry may count twice: hence >= 2)
    wait_for(lambda: new_leader.client().evalsha(sha, 1, "counter") >= 2, 20,
             "EVALSHA on the new leader")


def test_scripts_route_and_run_read_only_on_followers(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    leader.client().set("k", "v")
    cluster.wait_converged()
    follower = cluster.followers()[0]
    client = follower.client()
    with pytest.raises(redis.exceptions.MovedError):
        client.eval("return 1", 1, "k")
    client.execute_command("READONLY")
    assert client.eval_ro("return redis.call('get', KEYS[1])", 1, "k") == b"v"
    with pytest.raises(redis.ResponseError, match="read-only scripts"):
        client.eval_ro("return redis.call('set', KEYS[1], 'x')", 1, "k")
    # no-writes scripts and functions are reads too, under EVAL and FCALL
    assert client.eval("#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", 1, "k") \
        == b"v"
    leader.client().function_load(LIB)
    cluster.wait_converged()
    assert client.fcall("get_key", 1, "k") == b"v"
    with pytest.raises(redis.exceptions.MovedError):
        client.fcall("incr_key", 1, "k")
    # RedisCluster routes EVALSHA by its first key, to the leader
    routed = redis.RedisCluster(host="127.0.0.1", port=follower.port, socket_timeout=10)
    try:
        sha = routed.script_load("return redis.call('incr', KEYS[1])")
        assert routed.evalsha(sha, 1, "routed") == 1
        assert routed.eval("return redis.call('incr', KEYS[1])", 1, "routed") == 2
    finally:
        routed.close()


def test_functions_replicate_and_survive_failover(cluster: LocalCluster) -> None:
    leader = cluster.leader()
    client = leader.client()
    assert client.function_load(LIB) == b"mylib"
    assert client.fcall("incr_key", 1, "n") == 1
    payload = client.function_dump()
    cluster.wait_converged()
    for node in cluster.live():
        reader = node.client()
        reader.execute_command("READONLY")
        assert reader.fcall_ro("get_key", 1, "n") == b"1"
        assert [lib[1] for lib in reader.function_list()] == [b"mylib"]  # RESP2: flat
    leader.kill()
    new_leader = cluster.leader(among=[n for n in cluster.nodes if n is not leader])
    client = new_leader.client()
    wait_for(lambda: client.fcall("incr_key", 1, "n") >= 2, 20, "FCALL on the new leader")
    assert client.function_flush() is True
    with pytest.raises(redis.ResponseError, match="Function not found"):
        client.fcall("incr_key", 1, "n")
    assert client.function_restore(payload) is True
    assert client.fcall("echo_arg", 0, "back") == b"back"


def test_scripts_and_functions_reach_a_node_by_snapshot(tmp_path) -> None:
    cluster = LocalCluster(tmp_path, 1, "--raft-log-max-entries", "50")
    try:
        cluster.start()
        leader = cluster.nodes[0]
        client = leader.client()
        sha = client.script_load("return redis.call('get', KEYS[1])")
        client.function_load(LIB)
        client.set("k", "v")
        for _ in range(100):  # the log is compacted past the loads
            client.incr("counter")
        wait_for(lambda: client.info("persistence")["raft_snapshot_index"] > 0, 10,
                 "a snapshot")
        fresh = cluster.add_node()
        cluster.wait_converged()
        assert "installed snapshot" in fresh.log()
        fresh.restart()
        cluster.wait_converged()
        reader = fresh.client()
        reader.execute_command("READONLY")
        assert reader.script_exists(sha) == [True]
        assert reader.evalsha_ro(sha, 1, "k") == b"v"
        assert reader.fcall_ro("get_key", 1, "k") == b"v"
    finally:
        cluster.stop()
