"""Lua scripts and functions: replies compared with redis-server 7.0 byte for byte (RESP2 and
RESP3), scripts replicated deterministically on a 3-node cluster (and carried by snapshots),
and real clients that use Lua (redis-py's Lock, python-redis-lock, limits, dramatiq)."""

from __future__ import annotations

import re

import pytest
import redis

from .conftest import LocalCluster, Node, wait_for
from .test_differential import (  # noqa: F401 (pair is a fixture)
    RawConnection,
    _parse,
    assert_same,
    pair,
)

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
    # a returned table is read without its metatable (an __index that errs is never called)
    [("EVAL", "return setmetatable({}, {__index=function() foo() end})", "0"),
     ("EVAL", "return setmetatable({}, {__index=function(t, k) if k == 'ok' then return 'x' "
      "end end})", "0"),
     ("EVAL", "return setmetatable({7}, {__index={1, 2, err='e'}})", "0"),
     ("EVAL", "return setmetatable({}, {__index=function() redis.call('set', 'x', '1') end})",
      "0"), ("GET", "x")],
    # thousands of arguments to redis.call (lupa takes up to 7995, Redis 7999)
    [("EVAL", "local a = {} for i = 1, 7995 do a[i] = i end "
      "return redis.call('lpush', 'l', unpack(a))", "0"), ("LLEN", "l"), ("LINDEX", "l", "0"),
     ("EVAL", "local a = {} for i = 1, 5000 do a[i] = 1 end a[3000] = nil "
      "return redis.pcall('rpush', 'l', unpack(a, 1, 5000))", "0"), ("LLEN", "l")],
    # redis.register_function's argument checks, and only while the library loads
    [('FUNCTION', 'RESTORE'),
     ('FUNCTION', 'RESTORE', 'x', 'y', 'z'),
     ('FUNCTION', 'FLUSH', 'bad', 'bad'),
     ('FUNCTION', 'flush', 'bad', 'bad'),
     ('FUNCTION', 'LOAD', '#!lua name=t1\nredis.register_function(1, function() end)'),
     (
         'FUNCTION',
         'LOAD',
         '#!lua name=t2\nredis.register_function{function_name=1, callback=function() end}',
     ),
     ('FUNCTION', 'LOAD', "#!lua name=t3\nredis.register_function{function_name='f', callback=1}"),
     (
         'FUNCTION',
         'LOAD',
         '#!lua name=t4\n'
         "redis.register_function{function_name='f', callback=function() end, description=1}",
     ),
     ('FUNCTION', 'LOAD', "#!lua name=t5\nredis.register_function('f')"),
     ('FUNCTION', 'LOAD', "#!lua name=t6\nredis.register_function('f', 1)"),
     ('FUNCTION', 'LOAD', '#!lua name=t7\nredis.register_function()'),
     ('FUNCTION', 'LOAD', "#!lua name=t8\nredis.register_function('f', function() end, 3)"),
     (
         'FUNCTION',
         'LOAD',
         '#!lua name=t9\n'
         "redis.register_function{function_name='f', callback=function() end, flags=1}",
     ),
     (
         'FUNCTION',
         'LOAD',
         '#!lua name=t10\n'
         "redis.register_function{function_name='f', callback=function() end, flags={1}}",
     ),
     (
         'FUNCTION',
         'LOAD',
         '#!lua name=t11\n'
         "redis.register_function{function_name='f', callback=function() end, bogus=1}",
     ),
     ('FUNCTION', 'LOAD', '#!lua name=t12\nredis.register_function{}'),
     ('FUNCTION', 'LOAD', '#!lua name=t13\nredis.register_function{callback=function() end}'),
     ('FUNCTION', 'LOAD', '#!lua name=t14\nredis.register_function{1}'),
     ('FUNCTION', 'LOAD', "#!lua name=t15\nredis.register_function{function_name='f'}"),
     (
         'FUNCTION',
         'LOAD',
         '#!lua name=inner\n'
         "redis.register_function('f1', function(keys, args)\n"
         "  redis.register_function('f2', function() return 2 end)\n"
         '  return 1\n'
         'end)',
     ),
     ('FCALL', 'f1', '0'),
     (
         'FUNCTION',
         'LOAD',
         'REPLACE',
         '#!lua name=kept\n'
         'local lib = redis\n'
         "lib.register_function('k1', function() lib.redis = redis end)\n"
         "lib.register_function('k2', function() lib.register_function('k1', function() end) end)",
     ),
     ('FCALL', 'k1', '0'),
     ('FCALL', 'k2', '0'),
     (
         'FUNCTION',
         'LOAD',
         '#!lua name=cases\n'
         "redis.register_function{FUNCTION_NAME='c1', Callback=function() return 1 end, "
         "flags={'NO-WRITES', 'allow-STALE'}}",
     ),
     ('FCALL_RO', 'c1', '0'),
     ('EVAL', 'return type(redis.register_function)', '0')],
    # shebang lines are split as Redis splits arguments (quotes), library metadata in any case
    [("EVAL", "#!lua", "0"), ("EVAL", '#!lua "x\nreturn 1', "0"),
     ("EVAL", '#!lua  flags=no-writes  "flags=allow-oom"\nreturn 1', "0"),
     ("EVAL", "#!lua Flags=no-writes\nreturn 1", "0"),
     ("FUNCTION", "LOAD", "#!LUA NAME=abc\nredis.register_function('f', function() end)"),
     ("FUNCTION", "LOAD", '#!lua  name="q1"\nredis.register_function("f2", function() end)'),
     ("FUNCTION", "LOAD", '#!lua name="x y"\nredis.register_function("f3", function() end)'),
     ("FUNCTION", "LOAD", '#!lua name="xy\nredis.register_function("f3", function() end)'),
     ("FUNCTION", "LOAD", "#!js name=a\nredis.register_function('f3', function() end)")],
    # XREAD/XREADGROUP's BLOCK is refused in scripts, met in option order
    [("EVAL", "return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')", "0"),
     ("EVAL", "return redis.pcall('XREAD','COUNT','x','BLOCK',0,'STREAMS','s','$')", "0"),
     ("EVAL", "return redis.pcall('XREAD','COUNT','1','BLOCK','x','STREAMS','s','$')", "0"),
     ("EVAL", "return redis.pcall('xread','GROUP','a','b','BLOCK',0,'STREAMS','s','$')", "0"),
     ("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"),
     ("EVAL", "return redis.pcall('xreadgroup','GROUP','g','c','NOACK','BLOCK',0,'STREAMS','s',"
      "'>')", "0"),
     ("EVAL", "return redis.pcall('xreadgroup','GROUP','g','c','STREAMS','s','>')", "0"),
     ("EVAL", "return redis.pcall('xread','STREAMS','s','BLOCK')", "0")],
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


# Scripts using the bundled libraries, each run after SCRIPT FLUSH on both servers (Redis keeps
# cjson's settings in its Lua state until then).
LIBRARY_SCRIPTS = [
    'return cjson.encode({[1]=1,[3]=3})',
    'return cjson.encode({[20]=1})',
    'return cjson.encode({[1]=1,[2]=2,[3]=3,[4]=4,[5]=5,[6]=6,[20]=1})',
    'return {pcall(cjson.decode_max_depth, 1)}',
    'cjson.decode_max_depth(2) return {pcall(cjson.decode, \'{"a": {"b": [1]}}\')}',
    "cjson.decode_max_depth(1) return {pcall(cjson.decode, '  [[1]]')}",
    'cjson.encode_max_depth(2) return {pcall(cjson.encode, {{{1}}})}',
    'return {cjson.encode_sparse_array()}',
    'return {cjson.encode_sparse_array(true, 0, 3)}',
    "return {cjson.encode_sparse_array('on', nil, 3)}",
    'cjson.encode_sparse_array(true) return cjson.encode({[20]=1})',
    'cjson.encode_sparse_array(false, 0) return cjson.encode({[20]=1})',
    'return cjson.encode_keep_buffer(false)',
    "return cjson.encode_keep_buffer('on')",
    "return {pcall(cjson.encode_keep_buffer, 'x')}",
    'return {pcall(cjson.encode_keep_buffer, 1, 2)}',
    'return {pcall(cjson.encode_keep_buffer, {})}',
    'return cjson.encode_invalid_numbers()',
    "return {cjson.encode_invalid_numbers('null'), cjson.encode({0/0, 1/0})}",
    'cjson.encode_invalid_numbers(true) return cjson.encode({0/0, 1/0, -1/0, -(0/0)})',
    'return cjson.decode_invalid_numbers()',
    "return {pcall(cjson.decode, '[NaN, Infinity, -Infinity, 0x10, nan, inf, 1e400, -0x1F]')}",
    "cjson.decode_invalid_numbers(false) return {pcall(cjson.decode, '[NaN]')}",
    "cjson.decode_invalid_numbers(false) return {pcall(cjson.decode, '[0x10]')}",
    'return {cjson.encode_number_precision(3), cjson.encode(3.14159)}',
    'return {pcall(cjson.encode_number_precision, 15)}',
    'return {pcall(cjson.encode_max_depth, 0)}',
    "return {pcall(cjson.encode_max_depth, 'x')}",
    "return {pcall(cjson.encode_max_depth, '7')}",
    'return {pcall(cjson.encode_max_depth, 2.5)}',
    'return {pcall(cjson.encode, {[true]=1})}',
    'return {pcall(cjson.encode, {1, function() end})}',
    "return {pcall(cjson.decode, '[1, 2')}",
    'return {pcall(cjson.decode, \'{"a" 1}\')}',
    "return {pcall(cjson.decode, 'nul')}",
    "return {pcall(cjson.decode, '')}",
    'return cjson.encode({1.5, 100000000000000, 1e15, 0.1, 1/3})',
    'return {pcall(cjson.encode, 1/0)}',
    'return cjson.encode({})',
    'return cjson.encode({[1.5]=1})',
    'return cjson.encode({[-1]=1})',
    'cjson.encode_max_depth(1) return {pcall(cjson.encode, {a={}})}',
    'cjson.decode_max_depth(1) return {pcall(cjson.decode, \'{"obj": {"array": [1,2,3,4]}}\')}',
    "return cjson.encode(cjson.decode('[[[[[[1]]]]]]'))",
    "local ok, e = pcall(redis.call, 'nosuch') return {tostring(ok), type(e), "
    "type(e) == 'table' and e.err or e}",
    'local ok, e = pcall(error, {x=1}) return {tostring(ok), type(e)}',
    "local ok, e = pcall(cjson.decode, '') return {tostring(ok), type(e), e}",
    "local ok, e = pcall(function() return cjson.decode('') end) return {tostring(ok), type(e), e}",
    'local ok, e = pcall(bit.tohex) return {tostring(ok), type(e), e}',
    'local ok, e = pcall(redis.sha1hex) return {tostring(ok), type(e), type(e) == '
    "'table' and e.err or e}",
    "local ok, e = pcall(function() redis.call('nosuch') end) return {tostring(ok), "
    "type(e), type(e) == 'table' and e.err or e}",
    "return cjson.decode('')",
    'return {pcall(cjson.encode, 1/0)}',
    'return {bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit(2^32+3), '
    "bit.tobit('7'), bit.tobit(0/0), bit.tobit(1/0)}",
    'return {bit.tohex(255), bit.tohex(255, -4), bit.tohex(-1, 2), bit.tohex(1, 0), '
    'bit.tohex(1, nil)}',
    'return {bit.band(0xff, 0x0f, 0x3), bit.bor(1), bit.bxor(3, 5), bit.bnot(0)}',
    'return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), '
    'bit.rol(0x80000001, 1), bit.ror(3, 1), bit.bswap(0x12345678)}',
    "return {pcall(bit.band, 1, 'x')}",
    'return bit.band()',
    'return {pcall(bit.lshift, 1)}',
    "return {pcall(bit.tohex, 1, 'z')}",
    'return cjson.encode_max_depth(0)',
    'return bit.tohex()',
    'local f = bit.tohex return f()',
    "return {pcall(bit.tohex, 'x')}",
    'return cjson.encode()',
    'return {pcall(cjson.encode)}',
    'return cjson.decode_max_depth(1, 2)',
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {cmsgpack.unpack_one(e)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {cmsgpack.unpack_one(e, 1)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {cmsgpack.unpack_one(e, 4)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {cmsgpack.unpack_limit(e, 2)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {cmsgpack.unpack_limit(e, 0, 1)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {cmsgpack.unpack_limit(e, 5, 1)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {pcall(cmsgpack.unpack_one, e, -1)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {pcall(cmsgpack.unpack_one, e, 99)}",
    "local e = cmsgpack.pack(1, 'ab', {1,2}) return {pcall(cmsgpack.unpack_limit, e)}",
    'return {cmsgpack.unpack(cmsgpack.pack(1, 2))}',
    'return {pcall(cmsgpack.unpack, {})}',
    'return {pcall(cmsgpack.unpack)}',
    'return {cmsgpack.unpack(7)}',
    "return {pcall(cmsgpack.unpack, '\\205')}",
    "return {pcall(cmsgpack.unpack, '\\193')}",
    'return {pcall(cmsgpack.pack)}',
    "return {cmsgpack.unpack_one('')}",
    'return {loadstring(string.dump(function() return 1 end))}',
    'return type(getmetatable(_G))',
    'local g = getmetatable(_G) return {pcall(function() g.__index = {} end)}',
    'return {pcall(setmetatable, _G, {})}',
    "return {pcall(rawset, _G, 'x', 1)}",
    "return {pcall(rawset, redis, 'x', 1)}",
    'return {pcall(setmetatable, redis, {})}',
    'return type(getmetatable(redis))',
    'return type(getmetatable(cjson))',
    'return {pcall(setmetatable, {}, {})}',
    "local t = setmetatable({}, {__metatable='locked'}) return {pcall(setmetatable, t, {})}",
    "return {pcall(rawset, string, 'x', 1)}",
    'return {pcall(function() string.x = 1 end)}',
    "return {pcall(function() getmetatable('').__index = {} end)}",
    "return type(getmetatable(''))",
    'return getmetatable(_G).__index == nil',
    'return {pcall(load, string.dump(function() return 1 end))}',
    "return {pcall(loadstring, '\\27Lua')}",
    'return {pcall(setmetatable, nil, {})}',
    'local ok, e = pcall(function() setmetatable(nil, {}) end) return e',
    'return {pcall(getmetatable)}',
    "return {loadstring('return 1', 'x')}",
    "return {loadstring('return (', 'x')}",
    "return {loadstring('return (')}",
    "local f = loadstring('return 5') return f()",
    'local f = load(function() return nil end) return type(f)',
    'return {pcall(load, 5)}',
    "local t = {} rawset(t, 'a', 1) return t.a",
    'return setmetatable({}, {__index=function() return 7 end}).x',
    "return {pcall(struct.pack, 'z')}",
    "return {pcall(struct.size, 's')}",
    "return {pcall(struct.unpack, 'i', 'ab')}",
    "return {pcall(struct.pack, 'i')}",
    "return {pcall(struct.pack, 'i', 'x')}",
    'return {pcall(struct.pack)}',
    "return {pcall(struct.unpack, 'i')}",
    "return {struct.pack('>i2', 258, 3)}",
    "return {struct.unpack('>i2', struct.pack('>i2', 258, 3))}",
    "return {pcall(struct.pack, 's', 5)}",
    "return {pcall(struct.pack, 'i17', 1)}",
    "return struct.size('i')",
    "return {struct.pack('c3', 'abcdef')}",
    "return {struct.unpack('B', 'a', 5)}",
    "return {pcall(struct.unpack, 'B', 'a', 0)}",
    "return {struct.unpack('bhl', struct.pack('bhl', -1, -2, -3))}",
    "return struct.pack('d', 1.5)",
    "return {struct.unpack('<f', struct.pack('<f', 0.5))}",
    "return {pcall(struct.pack, 'c', 5)}",
    "return {struct.unpack('c0', 'abc')}",
    "return {struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}",
    "return struct.pack('!4 b i', 1, 2)",
    "return {struct.size('!4 b i'), struct.size('!2bd'), struct.size('!bd'), struct.size('b z')}",
    "return {pcall(struct.pack, '!3 b')}",
    "return struct.pack('>I3 <I3', 66051, 66051)",
    "return {struct.unpack('>i3', '\\255\\255\\254')}",
    "return {struct.unpack('i9', struct.pack('i9', -2))}",
    "return struct.pack('i9', -2)",
    "return {pcall(struct.pack, 'i33', 1)}",
    "return {struct.unpack('L', struct.pack('L', 2^53))}",
    "return {pcall(struct.pack, 'b5', 1)}",
    "return {struct.pack('bB', -1.7, 255.9)}",
    "return {struct.unpack('s s', 'ab\\0cd\\0')}",
    "return {pcall(struct.unpack, 's', 'ab')}",
    "return {struct.unpack('B c0', '\\3abcd')}",
    "return {pcall(struct.unpack, 'c0', 'abc')}",
    "return {struct.unpack('b', 'a', '1')}",
    "return {pcall(struct.unpack, 'b', 'a', -1)}",
    "return struct.pack('f', 1e300)",
    "return {struct.pack('c2 x s', 'abcd', 'q')}",
]


@pytest.mark.parametrize("script", LIBRARY_SCRIPTS)
def test_library_calls_same_as_redis(pair, script) -> None:  # noqa: F811
    for conn in pair:
        conn.call("SCRIPT", "FLUSH")
    assert_same(pair, "EVAL", script, "0")


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


def test_a_table_that_contains_itself_ends_in_an_error(shared_node: Node) -> None:
    """Redis's 'reached lua stack limit' deep down the reply, and the connection goes on."""
    client = shared_node.client()
    reply = client.eval("local a = {} local b = {a} a[1] = b return a", 0)
    depth = 0
    while isinstance(reply, list):
        assert len(reply) == 1
        reply, depth = reply[0], depth + 1
    assert isinstance(reply, redis.ResponseError) and str(reply) == "reached lua stack limit"
    assert depth > 100
    mapped = client.eval("local a = {} a[1] = a return {map={x=a}}", 0)
    assert list(mapped) == [b"x"]
    assert client.ping()


def test_info_counts_the_script_cache(shared_node: Node) -> None:
    """INFO memory's number_of_cached_scripts: SCRIPT LOAD and EVAL add a script once,
    SCRIPT FLUSH empties the cache."""
    client = shared_node.client()
    client.script_flush()
    for n in range(5):
        client.script_load(f"return {n}")
    client.script_load("return 0")
    assert client.eval("return 'new'", 0) == b"new"
    memory = client.info("memory")
    assert memory["number_of_cached_scripts"] == 6
    assert memory["used_memory_scripts_eval"] == 5 * len("return 0") + len("return 'new'")
    client.script_flush("ASYNC")
    assert client.info("memory")["number_of_cached_scripts"] == 0


_BOB = ("ACL", "SETUSER", "scriptuser", "on", ">pw", "+@scripting", "+set", "+publish", "~x*",
        "&ch*", "+multi", "+exec")
_AS_BOB = [
    ("EVAL", "return redis.acl_check_cmd('set','xx',1)", "1", "xx"),
    ("EVAL", "return redis.acl_check_cmd('hset','xx','f',1)", "1", "xx"),
    ("EVAL", "return redis.acl_check_cmd('set','yy',1)", "0"),
    ("EVAL", "return redis.acl_check_cmd('invalid-cmd','arg')", "0"),
    ("EVAL", "return redis.acl_check_cmd()", "0"),
    ("EVAL", "return redis.acl_check_cmd('config','bogus')", "0"),
    ("EVAL", "return redis.acl_check_cmd('publish','chx','m')", "0"),
    ("EVAL", "return redis.acl_check_cmd('publish','other','m')", "0"),
    ("EVAL", "return redis.call('hset','xx','f',1)", "1", "xx"),
    ("EVAL", "return redis.call('set','yy',1)", "0"),
    ("EVAL", "return redis.pcall('set','yy',1)", "0"),
    ("EVAL", "return redis.call('publish','other','m')", "0"),
    ("EVAL", "return redis.call('set','xa',1)", "0"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','yy')", "0"),
    ("EVAL_RO", "return redis.call('get','yy')", "0"),
    ("FCALL", "setter", "1", "yy"), ("FCALL", "setter", "1", "xb"),
    ("MULTI",), ("EVAL", "return redis.pcall('set','yy',1)", "0"),
    ("EVAL", "return redis.call('set','xc',1)", "0"), ("EXEC",),
    ("MULTI",), ("SET", "xd", "1"), ("ACL", "WHOAMI"), ("EXEC",),  # EXEC refused: EXECABORT
    ("SET", "xd", "1"), ("EXEC",),
]


def test_scripts_run_with_their_users_permissions(pair) -> None:  # noqa: F811
    """Each command a script runs needs its user's permissions (the entry names the user),
    and redis.acl_check_cmd asks for them, as in Redis."""
    connections = []
    try:
        for admin in pair:
            admin.call(*_BOB)
            admin.call("FUNCTION", "LOAD", "REPLACE", "#!lua name=acl\nredis.register_function("
                       "'setter', function(keys) return redis.call('set', keys[1], 1) end)")
            connections.append(RawConnection(admin.sock.getpeername()[1]))
            connections[-1].call("AUTH", "scriptuser", "pw")
        for argv in _AS_BOB:
            ours, theirs = (conn.call(*argv) for conn in connections)
            assert ours == theirs, (argv, ours, theirs)
    finally:
        for conn in connections:
            conn.close()
        for admin in pair:
            admin.call("ACL", "DELUSER", "scriptuser")
            admin.call("FUNCTION", "DELETE", "acl")


def test_exec_refused_by_acl_discards_the_transaction(pair) -> None:  # noqa: F811
    """EXEC the user may not run: EXECABORT with the reason, and MULTI's state is gone."""
    connections = []
    try:
        for admin in pair:
            admin.call("ACL", "SETUSER", "noexec", "on", ">pw", "+multi", "+set", "~*")
            connections.append(RawConnection(admin.sock.getpeername()[1]))
            connections[-1].call("AUTH", "noexec", "pw")
        for argv in [("MULTI",), ("SET", "k", "1"), ("EXEC",), ("SET", "k", "2"), ("EXEC",)]:
            ours, theirs = (conn.call(*argv) for conn in connections)
            assert ours == theirs, (argv, ours, theirs)
        assert ours.startswith(b"-EXECABORT Transaction discarded because of: NOPERM")
    finally:
        for conn in connections:
            conn.close()
        for admin in pair:
            admin.call("ACL", "DELUSER", "noexec")


def test_commands_scripts_run_count_in_commandstats(pair) -> None:  # noqa: F811
    """A script's commands count in INFO commandstats: calls, failed and rejected calls."""
    stats = []
    for conn in pair:
        conn.call("CONFIG", "RESETSTAT")
        conn.call("EVAL", "redis.call('set','a','1') redis.pcall('select', 99) "
                  "redis.pcall('config','get','x') redis.pcall('incr', 'a', 'b') "
                  "redis.pcall('nosuch') redis.call('incr','a') redis.pcall('lpush','a','x')", "0")
        conn.call("EVAL", "#!lua flags=no-writes\nredis.pcall('set','a',1) "
                  "return redis.call('ping')", "0")
        lines = _parse(conn.call("INFO", "commandstats")).decode().splitlines()
        stats.append(sorted(re.sub(r"usec=\d+,usec_per_call=[\d.]+,", "", line)
                            for line in lines if "resetstat" not in line))
    assert "cmdstat_incr:calls=1,rejected_calls=1,failed_calls=0" in stats[0]
    assert stats[0] == stats[1]


def test_a_followers_forwarded_scripts_keep_their_users_permissions(tmp_path) -> None:
    """follower-proxy: a non-default user's script the follower forwards is wrapped in
    RAFT.SCRIPT-USER, so on the leader its commands still need that user's permissions."""
    with LocalCluster(tmp_path, 3, "--follower-proxy", "yes") as proxied:
        admin = proxied.leader().client()
        admin.acl_setuser("limited", enabled=True, passwords=["+pw"], keys=["x*"],
                          commands=["+@scripting", "+set", "+multi", "+exec"])
        admin.acl_setuser("wide", enabled=True, passwords=["+pw"], keys=["*"],
                          commands=["+@all"])
        follower = proxied.followers()[0]
        wait_for(lambda: "wide" in follower.client().acl_users(), 20, "the users to reach it")
        limited = follower.client(username="limited", password="pw")
        assert limited.eval("return redis.call('set', 'xa', 1)", 0) == b"OK"
        with pytest.raises(redis.ResponseError, match="The user executing the script can't "
                           "access at least one of the keys"):
            limited.eval("return redis.call('set', 'other', 1)", 0)
        with limited.pipeline(transaction=True) as tx:
            tx.eval("return redis.pcall('set', 'other', 1)", 0).set("xb", 2)
            denied, ok = tx.execute(raise_on_error=False)
        assert "can't access at least one of the keys" in str(denied) and ok is True
        assert admin.get("other") is None and admin.get("xb") == b"2"
        wide = proxied.leader().client(username="wide", password="pw")
        with pytest.raises(redis.ResponseError, match="only the default user"):
            wide.execute_command("RAFT.SCRIPT-USER", "limited", "EVAL", "return 1", "0")


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
    with pytest.raises(redis.ResponseError) as cut:  # a library's code: Redis's time limit's
        client.function_load("#!lua name=spins\nwhile true do end")
    assert str(cut.value) == "Error registering functions: ERR FUNCTION LOAD timeout"
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
    with LocalCluster(tmp_path, 1, "--raft-log-max-entries", "50") as cluster:
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
