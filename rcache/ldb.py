"""Redis's Lua debugger (LDB: `SCRIPT DEBUG YES`, `redis-cli --ldb`), as Redis 7.0 speaks it.

After SCRIPT DEBUG YES, a connection's EVAL starts a session: the script runs on a thread of
its own (``DebugSession``), against a Transaction of the local store that is never committed
(nothing goes through Raft, the store never changes: Redis's forked session, whose writes
are rolled back), while the node serves everyone else. A Lua line hook stops the script
(``Debugger``); the client then sends debugger commands as RESP arrays on the same
connection and gets each answer as an array of status strings; at the end comes
``<endsession>``, the EVAL's reply, and the connection is closed, as Redis does.

What bounds a session: its client. A client that goes away ends the dialogue: the script
runs on without stopping until it ends, or until it has run the node's lua-instruction-budget
since its last stop (Redis's busy-reply-threshold; with the client there, that is a stop
"timeout reached"), which ends it with an error.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable

import lupa.lua51 as lua51

from . import scripting
from .commands.scripting import evaluate_debugged
from .errors import CommandError
from .lualibs import is_table
from .resp import encode, parse_int
from .scripting import CALL_COST, ScriptRefusal, TableError
from .statemachine import EntryContext
from .storage import Keyspace, Store, Transaction

log = logging.getLogger("rcache.ldb")

MAX_LEN_DEFAULT = 256  # LDB_MAX_LEN_DEFAULT: replies and values logged are cut there
MAX_BREAKPOINTS = 64
MAX_VALUE_DEPTH = 10  # LDB_MAX_VALUES_DEPTH (LUA_MINSTACK/2)
MAX_INPUT = 1 << 20  # a client buffer past this ends the script, as Redis's
COUNT_STEP = 100_000  # instructions between two count events, as Redis's debug hook
TRIM_HINT = b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming."

HELP = (
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
)

# Loaded into the script's runtime before rcache.scripting's bootstrap hides the debug
# library, as chunk "=rcache" (the error handler skips its frames). The hook hands every
# line (and every COUNT_STEP instructions) to Python; the other functions read the frames
# of the script where it stopped, found as the frame below the hook's.
_LUA = r"""
local api, debug, G = ...
local getinfo, getlocal, sethook = debug.getinfo, debug.getlocal, debug.sethook
local co_create, co_resume, co_running = coroutine.create, coroutine.resume, coroutine.running
local loadstring = loadstring
local on_event, eval_charge, count = api.on_event, api.eval_charge, api.count
local stopped_in  -- the coroutine the script stopped in (nil: the main thread)

local function hook(event)
  local info = getinfo(2, "Sl")
  if info.source == "@user_script" then stopped_in = co_running() end
  on_event(event == "count", info.short_src, info.currentline)
end

-- Frames of the stopped script: (thread, level) of the stopped frame. On the main thread the
-- level is as the caller of these functions sees it (the frame below the hook's: +1, and -1
-- for this function's own frame); in a coroutine, in that coroutine's stack.
local function stopped_frame()
  local thread, level = stopped_in, 0
  while true do
    local info
    if thread then info = getinfo(thread, level, "f") else info = getinfo(level + 1, "f") end
    if info == nil then return thread, level end
    if info.func == hook then return thread, level + 1 end
    level = level + 1
  end
end

local function frame_info(thread, level, what)  -- level as the caller sees it
  if thread then return getinfo(thread, level, what) end
  local info = getinfo(level + 1, what)
  return info
end

local function frame_local(thread, level, i)
  if thread then return getlocal(thread, level, i) end
  local name, value = getlocal(level + 1, i)
  return name, value
end

local function frame_locals()  -- ldbPrintAll: the stopped frame's locals
  local thread, level = stopped_frame()
  local names, values, n, i = {}, {}, 0, 1
  while frame_info(thread, level, "f") do
    local name, value = frame_local(thread, level, i)
    if name == nil then break end
    if not name:find("(*temporary)", 1, true) then
      n = n + 1
      names[n], values[n] = name, value
    end
    i = i + 1
  end
  return names, values, n
end

local function find_local(wanted)  -- ldbPrint: from the stopped frame outwards
  local thread, level = stopped_frame()
  while true do
    local info = frame_info(thread, level, "S")
    if info == nil or info.source == "=rcache" then break end
    local i = 1
    while true do
      local name, value = frame_local(thread, level, i)
      if name == nil then break end
      if name == wanted then return true, value end
      i = i + 1
    end
    level = level + 1
  end
  if wanted == "KEYS" or wanted == "ARGV" then return true, G[wanted] end
  return false, nil
end

local function frames()  -- ldbTrace: {depth, name or false, line} of the script's frames
  local thread, level = stopped_frame()
  local base, found, n = level, {}, 0
  while true do
    local info = frame_info(thread, level, "Snl")
    if info == nil or info.source == "=rcache" then break end
    if info.short_src:find("user_script", 1, true) then
      -- the chunk itself is "top level", whatever name its caller (the bootstrap) gives it
      local name = info.what ~= "main" and info.name or false
      found[n + 1], found[n + 2], found[n + 3] = level - base, name, info.currentline
      n = n + 3
    end
    level = level + 1
  end
  return found, n
end

local function eval_hook()
  if eval_charge(count) then
    sethook(eval_hook, "", 1)  -- from now on every instruction fails: pcall cannot hold it
    error(api.budget_error, 0)
  end
end

-- ldbEval: an expression, else a statement, run in a coroutine of its own: a hook's own
-- thread runs no hooks, and the fragment's instructions are counted.
local function eval(code)
  local f, err = loadstring("return " .. code, "@ldb_eval")
  if not f then
    f, err = loadstring(code, "@ldb_eval")
    if not f then return false, err end
  end
  local co = co_create(f)
  sethook(co, eval_hook, "", count)
  return co_resume(co)
end

return hook, frame_locals, find_local, frames, eval
"""


class Debugger:
    """The debugger of one session (Redis's ``ldb`` state and the ldb* functions):
    ``receive`` blocks for the client's next bytes (None once it is gone), ``send`` writes
    to it."""

    def __init__(self, body: bytes, receive: Callable[[], bytes | None],
                 send: Callable[[bytes], None], budget: int) -> None:
        self.receive = receive
        self.send = send
        self.budget = budget  # instructions between two stops before a timeout stop
        self.lines = body.rstrip(b"\r\n").split(b"\n")
        self.logs: list[bytes] = []
        self.breakpoints: list[int] = []
        self.step = True  # stop at the next line
        self.luabp = False  # redis.breakpoint() called: stop at the next line
        self.currentline = 0
        self.maxlen = MAX_LEN_DEFAULT
        self.maxlen_hint_sent = False
        self.client_gone = False
        self.instructions = 0  # since the last stop (the timeout's count)
        self.eval_instructions = 0  # of the current `eval` fragment
        self.buffer = b""
        self.run: scripting.LuaRun | None = None
        self.keyspace: Keyspace | None = None  # its clock moves on at each stop, as Redis's
        self._frame_locals = self._find_local = self._frames = self._eval = None

    # -- the script's runtime --------------------------------------------------------------
    def attach(self, run: scripting.LuaRun, api, lua_globals) -> None:
        """Called by LuaRun before its bootstrap: the hook and redis.debug/breakpoint."""
        self.run = run
        chunk = lua_globals.loadstring(_LUA.encode(), b"=rcache")
        ldb_api = run.runtime.table_from({
            b"on_event": run.guard(self.on_event), b"eval_charge": self.eval_charge,
            b"count": COUNT_STEP,
            b"budget_error": f"ERR Script exceeded the instruction budget of {self.budget} "
                             "(lua-instruction-budget)".encode()})
        hook, self._frame_locals, self._find_local, self._frames, self._eval = chunk(
            ldb_api, lua_globals.debug, lua_globals)
        api[b"debug_hook"] = hook
        api[b"debug_count"] = COUNT_STEP
        api[b"breakpoint"] = self.breakpoint
        api[b"debug"] = self.debug

    def watch(self, call: Callable[[list[bytes]], object]) -> Callable[[list[bytes]], object]:
        """redis.call's command runner, logging the command and its reply while stepping
        (Redis's ldbIsEnabled), and counting it against the timeout."""

        def watched(argv: list[bytes]):
            self.instructions += CALL_COST
            if not self.step:
                return call(argv)
            shown = b" ".join(argv[:10])
            if len(argv) > 10:
                shown += b" ... (%d more)" % (len(argv) - 11)  # (sic: Redis's count)
            self.log(b"<redis> " + shown)
            try:
                reply = call(argv)
            except ScriptRefusal as err:
                text = str(err)
                self.log(b"<error> " + _encoded(text[4:] if text.startswith("ERR ") else
                                                "-" + text))
                raise
            except CommandError as err:
                self._log_reply(err)
                raise
            self._log_reply(reply)
            return reply

        return watched

    def _log_reply(self, reply) -> None:
        if type(reply) is CommandError:
            self.log(b"<error> -" + _encoded(str(reply)))
        resp3 = self.run is not None and self.run.resp3
        self.log_trimmed(b"<reply> " + human_reply(encode(reply, resp3)))

    def breakpoint(self, *args) -> bool:
        self.luabp = True
        return True

    def debug(self, *args) -> None:
        self.log(b"<debug> line %d: " % self.currentline +
                 b", ".join(value_repr(value) for value in args))

    def eval_charge(self, instructions: int) -> bool:
        self.eval_instructions += instructions
        return self.eval_instructions > self.budget

    # -- stopping ----------------------------------------------------------------------------
    def on_event(self, is_count: bool, short_src: bytes, line: int) -> None:
        """luaLdbLineHook: a new line (or COUNT_STEP instructions) of the script. A line
        counts as one instruction: Lua drops the count events that fall due while the hook
        (Lua here, C in Redis) runs, which most of them do when every line calls it."""
        self.instructions += COUNT_STEP if is_count else 1
        timed_out = self.instructions >= self.budget
        if timed_out and self.client_gone:
            # nobody will ever stop it, whatever it stops at: it ends rather than run on
            raise TableError("timeout during Lua debugging with client closing connection")
        if b"user_script" not in short_src:
            return  # (this debugger's own Lua, run from a stop in a coroutine, too)
        self.currentline = line
        at_breakpoint = line in self.breakpoints or self.luabp
        timeout = False
        if not self.step and not at_breakpoint:
            if not timed_out:
                return
            timeout = self.step = True
        reason = "step over"
        if at_breakpoint:
            reason = "redis.breakpoint() called" if self.luabp else "break point"
        elif timeout:
            reason = "timeout reached, infinite loop?"
        self.step = self.luabp = False
        self.log(b"* Stopped at %d, stop reason = %s" % (line, reason.encode()))
        self.log_source_line(line)
        self.send_logs()
        if not self.repl():
            return  # the clock runs on, to the timeout above
        self.instructions = 0
        if self.keyspace is not None:
            self.keyspace.now_ms = time.time_ns() // 1_000_000

    # -- the dialogue --------------------------------------------------------------------------
    def repl(self) -> bool:
        """ldbRepl: run debugger commands until one resumes the script; False when the
        client is gone (the script then runs on without stopping)."""
        while True:
            argv = self._next_command()
            if argv is None:
                self.step = False
                self.breakpoints.clear()
                return False
            name = argv[0].lower()
            if name in (b"s", b"step", b"n", b"next"):
                self.step = True
                return True
            if name in (b"c", b"continue"):
                return True
            if name in (b"a", b"abort"):
                raise TableError("script aborted for user request")
            self._command(name, argv)
            self.send_logs()

    def _command(self, name: bytes, argv: list[bytes]) -> None:
        if name in (b"h", b"help"):
            for line in HELP:
                self.log(line.encode())
        elif name in (b"t", b"trace"):
            self.trace()
        elif name in (b"m", b"maxlen"):
            self.set_maxlen(argv)
        elif name in (b"b", b"break"):
            self.set_breakpoints(argv)
        elif name in (b"e", b"eval"):
            self.eval(b" ".join(argv[1:]))
        elif name in (b"r", b"redis") and len(argv) > 1:
            self.redis(argv[1:])
        elif name in (b"p", b"print"):
            if len(argv) == 2:
                self.print_variable(argv[1])
            else:
                self.print_locals()
        elif name in (b"l", b"list"):
            around, context = self.currentline, 5
            if len(argv) > 1 and _atoi(argv[1]) > 0:
                around = _atoi(argv[1])
            if len(argv) > 2:
                context = _atoi(argv[2])
            self.list(around, context)
        elif name in (b"w", b"whole"):
            self.list(1, 1_000_000)
        else:
            self.log(b"<error> Unknown Redis Lua debugger command or wrong number of "
                     b"arguments.")

    def _next_command(self) -> list[bytes] | None:
        """ldbReplParseCommand over what the client sent: one command (what came with it is
        dropped, as Redis drops it), or None once the client is gone."""
        while True:
            if self.buffer:
                argv = parse_command(self.buffer)
                if argv is not None:
                    self.buffer = b""
                    return argv
            if self.client_gone:
                return None
            data = self.receive()
            if data is None:
                self.client_gone = True
                return None
            self.buffer += data
            if len(self.buffer) > MAX_INPUT:
                self.buffer = b""
                raise TableError("max client buffer reached")

    # -- logs ------------------------------------------------------------------------------------
    def log(self, entry: bytes) -> None:
        self.logs.append(entry)

    def log_trimmed(self, entry: bytes) -> None:
        """ldbLogWithMaxLen: cut at maxlen, with a hint the first time."""
        if self.maxlen and len(entry) > self.maxlen:
            self.log(entry[:self.maxlen] + b" ...")
            if not self.maxlen_hint_sent:
                self.maxlen_hint_sent = True
                self.log(TRIM_HINT)
            return
        self.log(entry)

    def send_logs(self) -> None:
        """ldbSendLogs: the logs as an array of status strings (newlines as spaces)."""
        out = [b"*%d\r\n" % len(self.logs)]
        for entry in self.logs:
            out.append(b"+" + entry.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n")
        self.logs.clear()
        if not self.client_gone:
            self.send(b"".join(out))

    def end(self) -> None:
        """ldbEndSession: what is left of the logs, then <endsession>."""
        self.log(b"<endsession>")
        self.send_logs()

    def log_source_line(self, number: int) -> None:
        line = self.lines[number - 1] if 0 < number <= len(self.lines) else \
            b"<out of range source code line>"
        current, at_breakpoint = number == self.currentline, number in self.breakpoints
        prefix = (b"->#" if current and at_breakpoint else b"-> " if current
                  else b"  #" if at_breakpoint else b"   ")
        self.log(prefix + str(number).ljust(3).encode() + b" " + line)

    # -- the commands ----------------------------------------------------------------------------
    def list(self, around: int, context: int) -> None:
        for number in range(1, len(self.lines) + 1):
            if around == 0 or abs(around - number) <= context:
                self.log_source_line(number)

    def print_locals(self) -> None:
        names, values, count = self._frame_locals()
        for i in range(1, count + 1):
            self.log_trimmed(b"<value> " + names[i] + b" = " + value_repr(values[i]))
        if not count:
            self.log(b"No local variables in the current context.")

    def print_variable(self, name: bytes) -> None:
        found = self._find_local(name)
        if found[0]:
            self.log_trimmed(b"<value> " + value_repr(found[1]))
        else:
            self.log(b"No such variable.")

    def trace(self) -> None:
        found, count = self._frames()
        for i in range(1, count + 1, 3):
            depth, name, line = found[i], found[i + 1], found[i + 2]
            self.log(b"%s %s:" % (b"In" if depth == 0 else b"From", name or b"top level"))
            self.log_source_line(line)
        if not count:
            self.log(b"<error> Can't retrieve Lua stack.")

    def set_breakpoints(self, argv: list[bytes]) -> None:
        """ldbBreak: list, add (N), remove (-N) or clear (0) breakpoints."""
        if len(argv) == 1:
            if not self.breakpoints:
                self.log(b"No breakpoints set. Use 'b <line>' to add one.")
                return
            self.log(b"%d breakpoints set:" % len(self.breakpoints))
            for line in self.breakpoints:
                self.log_source_line(line)
            return
        for arg in argv[1:]:
            line = parse_int(arg)
            if line is None:
                self.log(b"Invalid argument:'" + arg + b"'")
            elif line == 0:
                self.breakpoints.clear()
                self.log(b"All breakpoints removed.")
            elif line > 0:
                if len(self.breakpoints) == MAX_BREAKPOINTS:
                    self.log(b"Too many breakpoints set.")
                elif 0 < line <= len(self.lines) and line not in self.breakpoints:
                    self.breakpoints.append(line)
                    self.list(line, 1)
                else:
                    self.log(b"Wrong line number.")
            elif -line in self.breakpoints:
                self.breakpoints.remove(-line)
                self.log(b"Breakpoint removed.")
            else:
                self.log(b"No breakpoint in the specified line.")

    def set_maxlen(self, argv: list[bytes]) -> None:
        if len(argv) == 2:
            value = _atoi(argv[1])
            self.maxlen_hint_sent = True  # the user knows about maxlen
            self.maxlen = 60 if value != 0 and value <= 60 else value
        if self.maxlen:
            self.log(b"<value> replies are truncated at %d bytes." % self.maxlen)
        else:
            self.log(b"<value> replies are unlimited.")

    def eval(self, code: bytes) -> None:
        self.eval_instructions = 0
        result = self._eval(code)
        ok, value = (result[0], result[1] if len(result) > 1 else None) \
            if type(result) is tuple else (result, None)
        if not ok:
            self.log(b"<error> " + _encoded(self.run.error_text(value)))
            return
        self.log_trimmed(b"<retval> " + value_repr(value))

    def redis(self, argv: list[bytes]) -> None:
        """ldbRedis: redis.call, logged as if stepping."""
        self.step = True
        try:
            self.run.pcall(*argv)
        finally:
            self.step = False


def parse_command(buffer: bytes) -> list[bytes] | None:
    """ldbReplParseCommand, as forgiving (and as strict: 1..1024 arguments of 1..1024
    bytes) as Redis's: a command, or None for more to read; raises on a protocol error."""
    start = buffer.find(b"*")
    if start < 0:
        raise TableError("protocol error")
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return None
    count = _atoi(buffer[start + 1:end])
    if not 0 < count <= 1024:
        raise TableError("protocol error")
    position, argv = end + 2, []
    while len(argv) < count:
        if position >= len(buffer):
            return None
        if buffer[position:position + 1] != b"$":
            raise TableError("protocol error")
        end = buffer.find(b"\r\n", position)
        if end < 0:
            return None
        length = _atoi(buffer[position + 1:end])
        if not 0 < length <= 1024:
            raise TableError("protocol error")
        position = end + 2
        if position + length + 2 > len(buffer):
            return None
        argv.append(buffer[position:position + length])
        position += length
        if buffer[position:position + 2] != b"\r\n":
            raise TableError("protocol error")
        position += 2
    return argv


# -- how values are shown ---------------------------------------------------------------------
_ESCAPES = {0x5C: b"\\\\", 0x22: b'\\"', 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t",
            0x07: b"\\a", 0x08: b"\\b"}


def quoted(text: bytes) -> bytes:
    """sdscatrepr: a quoted string, escaped as C would print it."""
    out = [b'"']
    for byte in text:
        escape = _ESCAPES.get(byte)
        if escape is not None:
            out.append(escape)
        elif 0x20 <= byte < 0x7F:
            out.append(bytes((byte,)))
        else:
            out.append(b"\\x%02x" % byte)
    out.append(b'"')
    return b"".join(out)


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def value_repr(value, level: int = 0) -> bytes:
    """ldbCatStackValueRec: a Lua value as the debugger shows it."""
    if level == MAX_VALUE_DEPTH:
        return b"<max recursion level reached! Nested table?>"
    kind = type(value)
    if kind is bytes:
        return quoted(value)
    if kind is bool:
        return b"true" if value else b"false"
    if kind is int or kind is float:
        return b"%g" % value
    if value is None:
        return b"nil"
    if is_table(value):
        as_array, as_map, expected, is_array = [], [], 1, True
        for key, item in value.items():
            if is_array and (type(key) not in (int, float) or key != expected):
                is_array = False
            shown = value_repr(item, level + 1)
            as_array.append(shown)
            as_map.append(b"[" + value_repr(key, level + 1) + b"]=" + shown)
            expected += 1
        return b"{" + b"; ".join(as_array if is_array else as_map) + b"}"
    kind_name = lua51.lua_type(value) or "unknown"
    address = _ADDRESS.search(repr(value))
    return b'"%s@%s"' % (kind_name.encode(), (address.group() if address else "0x0").encode())


def human_reply(data: bytes) -> bytes:
    """ldbRedisProtocolToHuman: a reply's RESP as the debugger logs it."""
    return _human(data, 0)[0]


def _human(data: bytes, position: int) -> tuple[bytes, int]:
    kind = data[position:position + 1]
    end = data.index(b"\r\n", position)
    head = data[position + 1:end]
    after = end + 2
    if kind == b":":
        return head, after
    if kind == b"$":
        length = int(head)
        if length == -1:
            return b"NULL", after
        return quoted(data[after:after + length]), after + length + 2
    if kind in (b"+", b"-"):
        return quoted(data[position:end]), after
    if kind == b"_":
        return b"(null)", after
    if kind == b"#":
        return (b"#true" if head == b"t" else b"#false"), after
    if kind == b",":
        return b"(double) " + head, after
    if kind in (b"*", b"~", b"%"):
        count = int(head)
        if count == -1:
            return b"NULL", after
        items = []
        for _ in range(count * 2 if kind == b"%" else count):
            shown, after = _human(data, after)
            items.append(shown)
        if kind == b"*":
            return b"[" + b",".join(items) + b"]", after
        if kind == b"~":
            return b"~(" + b",".join(items) + b")", after
        return b"{" + b",".join(items[i] + b" => " + items[i + 1]
                                for i in range(0, len(items), 2)) + b"}", after
    return b"", after  # types Redis 7.0's debugger does not show


def _atoi(text: bytes) -> int:
    """C's atoi: leading blanks, a sign, digits; 0 when there are none."""
    match = re.match(rb"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# -- the session ----------------------------------------------------------------------------
class DebugSession:
    """One EVAL under the debugger, on a thread of its own. The client's connection feeds
    ``feed`` (``abandon`` once it is closed); ``send`` writes to it from the thread (it
    must hand the bytes to the event loop); ``finish`` gets the EVAL's reply at the end."""

    def __init__(self, store: Store, dbnum: int, argv: list[bytes], *, user: bytes | None,
                 limits, send: Callable[[bytes], None], finish: Callable[[object], None],
                 client_name: str = "") -> None:
        self._input: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._queued = 0  # bytes fed and not read yet (bounded: see feed)
        self._queued_lock = threading.Lock()
        self.debugger = Debugger(argv[1], self._receive, send, scripting.instruction_budget)
        self._store, self._dbnum, self._argv = store, dbnum, argv
        self._user, self._limits = user, limits
        self._finish = finish
        self._client_name = client_name  # for the node's log
        self.thread = threading.Thread(target=self._main, name="rcache-ldb", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def feed(self, data: bytes) -> bool:
        """The client's bytes, for the debugger; False when more than MAX_INPUT wait unread
        (a client that sends while the script runs): the caller closes the connection."""
        with self._queued_lock:
            self._queued += len(data)
            if self._queued > MAX_INPUT:
                return False
        self._input.put(data)
        return True

    def _receive(self) -> bytes | None:
        data = self._input.get()
        if data is not None:
            with self._queued_lock:
                self._queued -= len(data)
        return data

    def abandon(self) -> None:
        self._input.put(None)

    def _main(self) -> None:
        log.warning("Lua debugging session started (client %s): its writes are rolled back",
                    self._client_name)
        try:
            reply = evaluate_debugged(self._context(), self._argv, self.debugger)
        except CommandError as err:
            reply = err
        except Exception:  # a bug must not leave the client waiting for its reply
            log.exception("debugging session failed")
            reply = CommandError("ERR internal error while debugging the script")
        self.debugger.end()
        self._finish(reply)
        log.warning("Lua debugging session ended (client %s)", self._client_name)

    def _context(self) -> EntryContext:
        """A private view of the data: the node's store under a Transaction nobody commits,
        at this node's clock, commands checked against the client's ACL user."""
        keyspace = Keyspace(self._store, Transaction(self._store, commits=False), self._dbnum,
                            time.time_ns() // 1_000_000, self._limits)
        self.debugger.keyspace = keyspace
        ctx = EntryContext(keyspace, None, None)
        ctx.seed = random.getrandbits(64)
        ctx.script_user = self._user
        return ctx
