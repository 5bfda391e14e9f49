"""The Lua debugger's pieces that need no server: its request parser (Redis's
ldbReplParseCommand) and how it shows replies and Lua values (ldbRedisProtocolToHuman,
ldbCatStackValue), as Redis 7.0's C code does."""

from __future__ import annotations

import lupa.lua51 as lua51
import pytest

from rcache.ldb import human_reply, parse_command, value_repr
from rcache.scripting import TableError


def test_parse_command_reads_one_array_or_asks_for_more() -> None:
    assert parse_command(b"*2\r\n$1\r\nb\r\n$2\r\n10\r\n") == [b"b", b"10"]
    assert parse_command(b"junk*1\r\n$1\r\ns\r\n") == [b"s"]  # Redis seeks the '*'
    for partial in (b"*2\r\n$1\r\nb\r\n", b"*1\r\n$5\r\nst", b"*1", b"*1\r\n"):
        assert parse_command(partial) is None, partial


@pytest.mark.parametrize("request_bytes", [
    b"step\r\n", b"*0\r\n", b"*1025\r\n", b"*1\r\n$0\r\n\r\n", b"*1\r\n$1025\r\n",
    b"*1\r\n:1\r\n", b"*1\r\n$1\r\nsX\r\n"])
def test_parse_command_refuses_what_redis_refuses(request_bytes: bytes) -> None:
    with pytest.raises(TableError, match="protocol error"):
        parse_command(request_bytes)


def test_human_reply_of_every_type() -> None:
    assert human_reply(b":-3\r\n") == b"-3"
    assert human_reply(b"$-1\r\n") == b"NULL"
    assert human_reply(b"*-1\r\n") == b"NULL"
    assert human_reply(b"$3\r\na\nb\r\n") == b'"a\\nb"'
    assert human_reply(b"-ERR no\r\n") == b'"-ERR no"'
    assert human_reply(b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n+OK\r\n") == b'[1,["x"],"+OK"]'
    assert human_reply(b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n_\r\n") == \
        b'{"a" => 1,"b" => (null)}'
    assert human_reply(b"~2\r\n#t\r\n#f\r\n") == b"~(#true,#false)"
    assert human_reply(b",3.25\r\n") == b"(double) 3.25"


def test_value_repr_as_redis_shows_lua_values() -> None:
    runtime = lua51.LuaRuntime(encoding=None)
    assert value_repr(runtime.eval("{1, 'a', true}")) == b'{1; "a"; true}'
    assert value_repr(runtime.eval("{x = 1.5}")) == b'{["x"]=1.5}'
    assert value_repr(runtime.eval("'\\0\\255\"\\\\\\t'")) == b'"\\x00\\xff\\"\\\\\\t"'
    assert value_repr(runtime.eval("1e20")) == b"1e+20"
    assert value_repr(None) == b"nil"
    assert value_repr(runtime.eval("function() end")).startswith(b'"function@0x')
    looped = runtime.eval("(function() local t = {} t[1] = t return t end)()")
    assert value_repr(looped) == b"{" * 10 + b"<max recursion level reached! Nested table?>" + \
        b"}" * 10
