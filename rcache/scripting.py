"""Lua scripts as Redis 7.0 runs them, made deterministic for a replicated state machine.

No I/O here: a ``LuaRun`` gets the script, its keys and arguments, and a ``call`` function
that runs one Redis command (the state machine's, inside the entry's transaction) and
returns its reply as the command table's handlers do. Every run gets a fresh Lua 5.1
runtime (lupa.lua51, ~50 us to create), so nothing a script leaves behind can reach the
next one, and a node that ran a read-only script locally stays identical to the others.

What makes a run a pure function of (script, keys, args, data, entry clock, entry seed):
``math.random`` is Redis's rand48 seeded from the entry's generator; TIME and SPOP inside
read the entry's clock and generator; ``collectgarbage``/``gcinfo`` report 0; and a
runaway script is cut by an instruction budget (a Lua count hook, plus a fixed cost per
``redis.call``), never by wall time, so every node aborts it at the same instruction.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from collections.abc import Callable

import lupa.lua51 as lua51

from . import lualibs
from .config import NOTICE
from .errors import CommandError
from .lualibs import ArgumentError, LibraryError, check_int, is_table, type_name
from .resp import (
    NULL_ARRAY,
    BigNumber,
    KeyedReplies,
    OrderedSet,
    Pairs,
    SimpleString,
    Verbatim,
    format_double,
)

log = logging.getLogger("rcache.script")

REDIS_VERSION = "7.0.15"
REDIS_VERSION_NUM = 0x07000F
# The instruction budget (configurable: lua-instruction-budget; the same on every node).
# ~15 ms of pure Lua on an idle core of this machine (~35 ms at load 16): cut long before an
# election timeout, even with APPLY_PER_TICK of them in one Raft tick.
DEFAULT_BUDGET = 5_000_000
instruction_budget = DEFAULT_BUDGET  # the node's lua-instruction-budget (set at start)
HOOK_STEP = 10_000  # instructions between two budget checks
# What one run may allocate: a few doubling concatenations would otherwise take the machine's
# memory in a handful of instructions. Allocation is deterministic, so is this error.
MAX_MEMORY = 64 * 1024 * 1024
CALL_COST = 1_000  # what one redis.call/pcall costs, in instructions
MAX_REPLY_DEPTH = 200  # nesting of a script's reply: within Python's recursion limit

EVAL_CHUNK = b"@user_script"
FUNCTION_CHUNK = b"@user_function"
LOAD_FAILED = "ERR Error registering functions: "
SCRIPT_NOT_ALLOWED = "ERR This Redis command is not allowed from script"
WRITE_IN_READ_ONLY = "ERR Write commands are not allowed from read-only scripts."
UNKNOWN_FROM_SCRIPT = "ERR Unknown Redis command called from script"
ARITY_FROM_SCRIPT = "ERR Wrong number of args calling Redis command from script"
LOG_LEVELS = (logging.DEBUG, logging.INFO, NOTICE, logging.WARNING)  # redis.LOG_*

_ALLOWED_GLOBALS = (
    b"_VERSION", b"assert", b"error", b"getmetatable", b"ipairs", b"load", b"loadstring",
    b"next", b"pairs", b"rawequal", b"rawget", b"rawset", b"select", b"setmetatable",
    b"tonumber", b"tostring", b"type", b"unpack", b"xpcall",
)
_READ_ONLY_LIBRARIES = (b"string", b"math", b"table", b"coroutine")

# Runs once per runtime, as chunk "=rcache" (the error handler skips these frames when it
# looks for the script line an error comes from). `api` holds the Python callbacks.
_BOOTSTRAP = r"""
local api = ...
local error, type, tostring, rawget, setmetatable, unpack, pcall, xpcall, loadstring, select =
      error, type, tostring, rawget, setmetatable, unpack, pcall, xpcall, loadstring, select
local G, pairs, ipairs, maxn, newproxy, setfenv = _G, pairs, ipairs, table.maxn, newproxy, setfenv
local getinfo, sethook = debug.getinfo, debug.sethook
local co_create, co_resume = coroutine.create, coroutine.resume
local charge, step = api.charge, api.step
local kill_error = {err = api.budget_error}

local function hook()
  if charge(step) then
    sethook(hook, "", 1)  -- from now on every instruction fails: pcall cannot hold it
    error(kill_error)
  end
end

local run_hook, run_mask, run_count = hook, "", step
if api.debug_hook then  -- under the debugger: its line hook, which counts the budget itself
  run_hook, run_mask, run_count = api.debug_hook, "l", api.debug_count
end

local mark = api.error_mark
local function lua_error(err)  -- a Python function's error: its text, or the table it names
  if type(err) == "userdata" then
    err = tostring(err)
    if err:sub(1, #mark) == mark then return api.error_table(err) end
  end
  return err
end

local function handler(err)
  err = lua_error(err)
  local level = 2
  local info = getinfo(level, "nSl")
  while info and (info.what == "C" or info.source == "=rcache") do
    level = level + 1
    info = getinfo(level, "nSl")
  end
  if type(err) ~= "table" then err = {err = "ERR " .. tostring(err)} end
  if info then
    err.source = info.source
    err.line = info.currentline
  end
  return err
end

local function readonly_error()
  error("Attempt to modify a readonly table", 2)
end

local readonly_tables = {}  -- Redis's tables are read-only in its Lua's C code: here proxies
local function readonly(t)
  local proxy = setmetatable({}, {__index = t, __newindex = readonly_error, __metatable = false})
  readonly_tables[proxy] = true
  return proxy
end

string.rep = api.string_rep  -- charged to the budget: it would loop in C, unseen by the hook

local function library(functions)
  local t = {}
  for name, f in pairs(functions) do t[name] = f end
  return t
end

local redis = {
  call = api.call, pcall = api.pcall, setresp = api.setresp, sha1hex = api.sha1hex,
  log = api.log, error_reply = api.error_reply, status_reply = api.status_reply,
  set_repl = api.set_repl, acl_check_cmd = api.acl_check_cmd,
  replicate_commands = function() return true end,
  breakpoint = api.breakpoint or function() return false end,  -- a debugger's (rcache.ldb)
  debug = api.debug or function() end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = api.version, REDIS_VERSION_NUM = api.version_num,
}

local math_copy = {}
for name, f in pairs(math) do math_copy[name] = f end
math_copy.random = api.random
math_copy.randomseed = api.randomseed
math = math_copy

local cjson = library(api.cjson)
cjson.null = newproxy()
api.set_null(cjson.null)

local coroutine_copy = {}
for name, f in pairs(coroutine) do coroutine_copy[name] = f end
coroutine_copy.create = function(f)
  local co = co_create(f)
  sethook(co, run_hook, run_mask, run_count)  -- hooks are per thread: a coroutine's too
  return co
end
coroutine_copy.wrap = function(f)
  local co = coroutine_copy.create(f)
  return function(...)
    local results = {co_resume(co, ...)}
    if not results[1] then error(results[2], 0) end
    return unpack(results, 2, maxn(results))
  end
end
coroutine = coroutine_copy

local G0 = {}
for _, name in ipairs(api.allowed) do G0[name] = G[name] end
for _, name in ipairs(api.readonly_libraries) do G0[name] = readonly(G[name]) end
G0.redis = readonly(redis)
G0.cjson = readonly(cjson)
G0.cmsgpack = readonly(library(api.cmsgpack))
G0.bit = readonly(library(api.bit))
G0.struct = readonly(library(api.struct))
G0.pcall = function(...)  -- Redis's pcall: an error table comes back as its message
  local results = {pcall(...)}
  if results[1] then return unpack(results, 1, maxn(results)) end
  local err = lua_error(results[2])  -- a library's error: its text, as a C library's is
  if type(err) == "table" and type(rawget(err, "err")) == "string" then
    return false, err.err
  end
  return false, err
end
G0.gcinfo = function() return 0 end
G0.collectgarbage = function() return 0 end
G0.__redis__err__handler = handler
G0._G = G
for name in pairs(G) do G[name] = nil end
local function missing_global(_, name)
  local caller = getinfo(2, "S")  -- lupa itself looks up `debug` from C: not an error
  if not caller or caller.what == "C" then return nil end
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
setmetatable(G0, {__index = missing_global, __metatable = false})
setmetatable(G, {__index = G0, __newindex = readonly_error, __metatable = false})
readonly_tables[G] = true

-- What sees through the proxies refuses them as Redis's C code does; what getmetatable shows
-- of _G and of strings is read-only too; and every chunk is read as text, as Redis's Lua
-- does (a binary one, string.dump's, fails to parse).
do
  local setmetatable, getmetatable, rawset, loadstring, load =
        setmetatable, getmetatable, rawset, loadstring, load
  local shown = {[G] = readonly({__index = missing_global, __newindex = readonly_error})}
  local string_metatable = readonly(getmetatable(""))

  -- A stand-in's error as the built-in's: at its caller's line (none when a C function such
  -- as pcall called it), under the name the caller knows it by.
  local function fail(message)
    if type(message) == "string" then
      local name = getinfo(2, "n").name or "?"
      message = message:gsub("^rcache:%d+: ", ""):gsub("^bad argument (#%d+) to '[^']*'",
                                                       "bad argument %1 to '" .. name .. "'")
    end
    error(message, 3)
  end
  local function packed(...) return {n = select("#", ...), ...} end
  local function stand_in(builtin, prepare)
    return function(...)
      local results = packed(pcall(builtin, prepare(...)))
      if not results[1] then fail(results[2]) end
      return unpack(results, 2, results.n)
    end
  end
  local function writable(t, ...)
    if readonly_tables[t] then error("Attempt to modify a readonly table", 0) end
    return t, ...
  end
  local function as_text(chunk)
    if type(chunk) == "string" and chunk:sub(1, 1) == "\27" then return " " .. chunk end
    return chunk
  end
  local function same(...) return ... end

  G0.setmetatable = stand_in(setmetatable, writable)
  G0.rawset = stand_in(rawset, writable)
  G0.getmetatable = stand_in(function(...)
    local value = ...
    if select("#", ...) > 0 then
      if readonly_tables[value] then return shown[value] end
      if type(value) == "string" then return string_metatable end
    end
    return getmetatable(...)
  end, same)
  G0.loadstring = stand_in(loadstring, function(...)
    local chunk = ...
    if type(chunk) ~= "string" then return ... end
    if select("#", ...) == 1 then return as_text(chunk), chunk end  -- the chunk names itself
    return as_text(chunk), select(2, ...)
  end)
  G0.load = stand_in(load, function(reader, ...)
    if type(reader) ~= "function" then return reader, ... end
    local first = true
    return function()
      local piece = reader()
      if first then first = false; piece = as_text(piece) end
      return piece
    end, ...
  end)
end

local function compile(body, chunk)
  local f, err = loadstring(body, chunk)
  return f, err
end

local function set_global(name, value)
  G0[name] = value
end

-- A function library runs with only redis.register_function and redis.log in reach while
-- it loads; its functions, when called, see what an EVAL script sees (KEYS/ARGV aside).
local loading = false
local function missing(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
local load_globals = {redis = setmetatable({
  register_function = api.register_function, log = api.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = api.version, REDIS_VERSION_NUM = api.version_num,
}, {__index = missing, __newindex = readonly_error, __metatable = false})}
local library_env = setmetatable({}, {__index = function(_, name)
  local value
  if loading then value = load_globals[name] else value = rawget(G0, name) end
  if value == nil then error("Script attempted to access nonexistent global variable '" ..
    tostring(name) .. "'", 2) end
  return value
end, __newindex = readonly_error, __metatable = false})

local function run(f, library, ...)
  local n, args = select("#", ...), {...}
  loading = library
  if library then setfenv(f, library_env) end
  sethook(run_hook, run_mask, run_count)
  local ok, result = xpcall(function() return (f(unpack(args, 1, n))) end, handler)
  sethook()
  loading = false
  return ok, result
end

-- Called from Python inside a library call: the caller's line (luaL_where) and the name the
-- caller calls the function by (luaL_argerror's; '?' when a C function such as pcall calls it).
local function where()
  local position, name = "", getinfo(2, "n").name or "?"
  local info = getinfo(3, "Sl")
  if info and info.currentline > 0 then
    position = info.short_src .. ":" .. info.currentline .. ": "
  end
  return position, name
end

return compile, set_global, run, where
"""


@functools.cache
def _bootstrap_bytecode() -> bytes:
    """The bootstrap compiled once (loading bytecode costs a quarter of parsing it)."""
    runtime = lua51.LuaRuntime(encoding=None)
    return runtime.eval("string.dump")(runtime.globals().loadstring(_BOOTSTRAP.encode(),
                                                                      b"=rcache"))


def sha1hex(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()


class Rand48:
    """Redis's redisLrand48 (rand.c) and the math.random built on it (its lmathlib)."""

    MAX = 2**31 - 1

    def __init__(self, seed: int = 0) -> None:
        self.seed(seed)

    def seed(self, value: int) -> None:
        self.state = ((value & 0xFFFFFFFF) << 16 | 0x330E) & (2**48 - 1)

    def next(self) -> int:
        self.state = (0x5DEECE66D * self.state + 0xB) & (2**48 - 1)
        return self.state >> 17

    def random(self, *args):
        r = (self.next() % self.MAX) / self.MAX
        if not args:
            return r
        if len(args) == 1:
            upper = check_int(args, 0)
            if upper < 1:
                raise ArgumentError(1, "interval is empty")
            return math.floor(r * upper) + 1
        if len(args) == 2:
            lower, upper = check_int(args, 0), check_int(args, 1)
            if lower > upper:
                raise ArgumentError(2, "interval is empty")
            return math.floor(r * (upper - lower + 1)) + lower
        raise LibraryError("wrong number of arguments")


def command_arg(value) -> bytes | None:
    """An argument of redis.call: strings as they are, numbers as '%.17g' (Redis 7)."""
    kind = type(value)
    if kind is bytes:
        return value
    if kind is int or kind is float:  # a Lua number is a double, whole or not
        return b"%.17g" % value
    return None


def lua_number_to_int(value: float | int) -> int:
    """(long long) of a Lua number: truncation; what C does with NaN, inf, huge: LLONG_MIN."""
    if type(value) is int:
        return value if -2**63 <= value < 2**63 else -2**63
    if math.isnan(value) or not -2**63 <= value < 2**63:
        return -2**63
    return int(value)


class LuaRun:
    """One script invocation in a fresh runtime. ``call(argv)`` runs a command and returns
    its reply value, or raises CommandError."""

    def __init__(self, call: Callable[[list[bytes]], object], *, seed: int, budget: int,
                 acl_check: Callable[[list[bytes]], bool], name: str = "",
                 register: Callable | None = None, debugger=None) -> None:
        self.runtime = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True,
                                        register_eval=False, register_builtins=False,
                                        attribute_filter=_no_attributes,
                                        max_memory=MAX_MEMORY)
        # A debugged run (rcache.ldb): its debugger sees each command and its reply.
        self.call_command = call if debugger is None else debugger.watch(call)
        self.acl_check = acl_check  # redis.acl_check_cmd
        self.name = name
        self.budget = budget
        self.used = 0
        self.killed = False
        self.resp3 = False
        self.rand = Rand48(seed)
        self.cjson = lualibs.Cjson(self.runtime, None)
        table = self.runtime.table_from
        api = table({
            b"call": self._guard(lambda *args: self._call(True, *args)),
            b"pcall": self._guard(lambda *args: self._call(False, *args)),
            b"charge": self._charge, b"step": HOOK_STEP,
            b"error_mark": _ERROR_MARK, b"error_table": self._raised_table,
            b"budget_error": f"ERR Script exceeded the instruction budget of {budget} "
                             "(lua-instruction-budget)".encode(),
            b"setresp": self._guard(self._setresp), b"sha1hex": self._guard(_sha1hex),
            b"log": self._guard(_log), b"error_reply": self._guard(self._error_reply),
            b"status_reply": self._guard(self._status_reply),
            b"set_repl": self._guard(self._set_repl),
            b"acl_check_cmd": self._guard(self._acl_check_cmd),
            b"random": self._guard(self.rand.random), b"randomseed": self._guard(self._randomseed),
            b"string_rep": self._guard(self._string_rep),
            b"version": REDIS_VERSION.encode(), b"version_num": REDIS_VERSION_NUM,
            b"cjson": table(self._guard_all(self.cjson.functions())),
            b"cmsgpack": table(self._guard_all(self._cmsgpack_functions())),
            b"bit": table(self._guard_all(lualibs.BIT)),
            b"struct": table(self._guard_all(lualibs.STRUCT)),
            b"set_null": self._set_null,
            b"allowed": table(_ALLOWED_GLOBALS),
            b"readonly_libraries": table(_READ_ONLY_LIBRARIES),
        })
        if register is not None:
            api[b"register_function"] = self._guard(register)
        self._raised: list = []  # error tables raised from Python, named by _ERROR_MARK + index
        lua_globals = self.runtime.globals()
        if debugger is not None:  # before the bootstrap hides the debug library
            debugger.attach(self, api, lua_globals)
        self._rawget = lua_globals.rawget  # a reply's fields, read past any metatable
        bootstrap = lua_globals.loadstring(_bootstrap_bytecode(), b"=rcache")
        self._compile, self._set_global, self._run, self._where = bootstrap(api)

    def _guard_all(self, functions: dict) -> dict:
        return {name: self._guard(function) for name, function in functions.items()}

    def _cmsgpack_functions(self) -> dict:
        packer = lualibs.Cmsgpack(self.runtime)
        return {b"pack": packer.pack, b"unpack": packer.unpack, b"unpack_one": packer.unpack_one,
                b"unpack_limit": packer.unpack_limit}

    def _set_null(self, null) -> None:
        self.cjson.null = null

    # -- compiling and running -------------------------------------------------------------
    def compile(self, body: bytes, chunk: bytes,
                failure: str = "Error compiling script (new function)"):
        """The compiled chunk, or raises CommandError with Lua's message."""
        function, error = self._compile(body, chunk)
        if function is None:
            raise CommandError(f"ERR {failure}: {_text(error)}")
        return function

    def set_global(self, name: bytes, value) -> None:
        self._set_global(name, value)

    def pcall(self, *args):
        """redis.pcall from Python (the debugger's `redis` command)."""
        return self._call(False, *args)

    def error_text(self, error) -> str:
        """A Lua error value as text: a string, an error table's err, a Python error's."""
        if type(error) is bytes:
            return _text(error)
        if is_table(error):
            return self._error_text(error)
        text = str(error)
        if text.startswith(_ERROR_MARK.decode()):
            return self._error_text(self._raised_table(text.encode()))
        return text

    def guard(self, function: Callable) -> Callable:
        """A Python function made callable from Lua, its errors raised as Lua errors."""
        return self._guard(function)

    def table(self, items: list[bytes]):
        return self.runtime.table_from(items)

    def load_library(self, function) -> None:
        """Run a library's code (its redis.register_function calls reach ``register``); one
        that runs out of budget fails as Redis's FUNCTION LOAD fails past its time limit."""
        try:
            ok, result = self._execute(function, True, ())
        except CommandError:
            if self.killed:
                raise CommandError(f"{LOAD_FAILED}ERR FUNCTION LOAD timeout") from None
            raise
        if not ok:
            raise CommandError(f"{LOAD_FAILED}{self._error_text(result)}")

    def run(self, function, *args):
        """Run a compiled function; -> its reply value (RESP), or raises CommandError."""
        ok, result = self._execute(function, False, args)
        if ok:
            return self.to_reply(result)
        message = self._error_text(result)
        source, line = result[b"source"], result[b"line"]
        if type(source) is bytes and line is not None:
            message += f" script: {self.name}, on {_text(source)}:{_number_text(line)}."
        raise _counted_if_called(CommandError(message), result)

    def _execute(self, function, library: bool, args: tuple):
        """-> (True, value) or (False, error table); raises CommandError when Lua fails
        outside the script (the budget ran out: the hook fires on every instruction)."""
        try:
            ok, result = self._run(function, library, *args)
        except lua51.LuaError as err:
            if not self.killed:
                raise CommandError(f"ERR Error running script {self.name}, "
                                   f"{_text(err.args[0] if err.args else b'')[:100]}") from None
            ok, result = False, None
        if self.killed:
            raise CommandError(self._budget_message())
        if not ok and not is_table(result):
            raise CommandError(f"ERR Error running script {self.name}, {_text(result)[:100]}")
        return ok, result

    @staticmethod
    def _error_text(table) -> str:
        message = table[b"err"]
        return _text(message) if type(message) is bytes else "ERR unknown error"

    def _budget_message(self) -> str:
        return (f"ERR Script exceeded the instruction budget of {self.budget} "
                f"(lua-instruction-budget) script: {self.name}")

    def _charge(self, instructions: int) -> bool:
        self.used += instructions
        if self.used > self.budget:
            self.killed = True
        return self.killed

    # -- redis.call / redis.pcall ----------------------------------------------------------
    def _call(self, raise_error: bool, *args):
        """redis.call (raises the error table) and redis.pcall (returns it)."""
        if self._charge(CALL_COST):
            raise TableError(self._budget_message())
        argv = _command_argv(args)
        if type(argv) is str:
            return self._fail(argv, raise_error)
        try:
            reply = self.call_command(argv)
        except CommandError as err:
            return self._fail("-" + str(err), raise_error)
        return self.to_lua(reply)

    def _acl_check_cmd(self, *args) -> bool:
        """redis.acl_check_cmd: may the script's user run this command (not run here)?"""
        argv = _command_argv(args)
        if type(argv) is str:
            raise TableError(argv)
        try:
            return self.acl_check(argv)
        except CommandError as err:
            raise TableError("-" + str(err)) from None

    def _fail(self, message: str, raise_error: bool):
        table = self.error_table(message)
        table[b"ignore_error_stats_update"] = True
        if raise_error:
            raise TableError(table)
        return table

    def error_table(self, buffer: str):
        """luaPushErrorBuff: '-CODE msg' or a bare 'msg' (code ERR) -> {err='CODE msg'}."""
        if buffer.startswith("-"):
            code, space, message = buffer[1:].partition(" ")
            if not space:
                code, message = "ERR", buffer[1:]
        else:
            code, message = "ERR", buffer
        text = f"{code} {message.strip(chr(13) + chr(10))}"
        return self.runtime.table_from({b"err": text.encode("utf-8", "surrogateescape")})

    def _guard(self, function: Callable) -> Callable:
        """A Python function Lua calls directly (a C function to Lua: a script's frame stays
        on the stack, so errors name its line). Errors leave as Lua errors: a library's
        with the caller's position, one Redis raises as a table as a marker naming it."""

        def guarded(*args):
            try:
                return function(*args)
            except LibraryError as err:
                position, name = self._where()
                message = err.message(name.decode()) if isinstance(err, ArgumentError) \
                    else str(err)
                raise LuaScriptError(position.decode() + message) from None
            except TableError as err:
                table = err.args[0]
                if type(table) is str:
                    table = self.error_table(table)
                self._raised.append(table)
                raise LuaScriptError(f"{_ERROR_MARK.decode()}{len(self._raised) - 1}") from None

        return guarded

    def _raised_table(self, marker: bytes):
        return self._raised[int(marker[len(_ERROR_MARK):])]

    # -- conversions -----------------------------------------------------------------------
    def to_lua(self, value):
        """A command's reply as Redis hands it to Lua (RESP2, or RESP3 after setresp(3))."""
        kind = type(value)
        if kind is bytes:
            return value
        if kind is int:
            return value
        if kind is SimpleString:
            return self.runtime.table_from({b"ok": value.encode("utf-8", "surrogateescape")})
        if value is None or value is NULL_ARRAY:
            return None if self.resp3 else False
        if kind is CommandError:
            return self.error_table("-" + str(value))
        if kind is bool:
            return value if self.resp3 else int(value)
        if kind is str or kind is Verbatim:
            text = value if kind is Verbatim else value.encode("utf-8", "surrogateescape")
            if self.resp3 and kind is Verbatim:
                inner = self.runtime.table_from({b"format": b"txt", b"string": bytes(text)})
                return self.runtime.table_from({b"verbatim_string": inner})
            return bytes(text)
        if kind is float:
            if self.resp3:
                return self.runtime.table_from({b"double": value})
            return format_double(value)
        if kind is dict:
            if self.resp3:
                inner = self.runtime.table()
                for key, item in value.items():
                    inner[self.to_lua(key)] = self.to_lua(item)
                return self.runtime.table_from({b"map": inner})
            flat = []
            for key, item in value.items():
                flat += (key, item)
            return self._array(flat)
        if kind is set or kind is frozenset or kind is OrderedSet:
            if self.resp3:
                inner = self.runtime.table()
                for item in value:
                    inner[self.to_lua(item)] = True
                return self.runtime.table_from({b"set": inner})
            return self._array(list(value))
        if kind is Pairs:
            if self.resp3:
                return self._array([list(pair) for pair in value])
            return self._array([item for pair in value for item in pair])
        if kind is KeyedReplies:
            return self.to_lua(dict(value) if self.resp3 else [list(pair) for pair in value])
        if kind is list or kind is tuple:
            return self._array(value)
        raise CommandError(f"ERR reply of type {kind.__name__} cannot be passed to a script")

    def _array(self, items) -> object:
        table = self.runtime.table()
        for i, item in enumerate(items, 1):
            converted = self.to_lua(item)
            if converted is not None:
                table[i] = converted
        return table

    def to_reply(self, value, depth: int = 0):
        """The script's return value as a reply (luaReplyToRedisReply). Tables nested deeper
        than MAX_REPLY_DEPTH (a table that contains itself) end in Redis's error for its Lua
        stack running out (Redis meets it ~8000 deep)."""
        if depth > MAX_REPLY_DEPTH:
            return CommandError("ERR reached lua stack limit")
        depth += 1
        kind = type(value)
        if kind is bytes:
            return value
        if kind is int or kind is float:
            return lua_number_to_int(value)
        if kind is bool:  # as the script's protocol says (redis.setresp), not the client's
            return value if self.resp3 else (1 if value else None)
        if not is_table(value):
            return None
        rawget = self._rawget  # as Redis reads them: lua_rawget, no __index called
        err = rawget(value, b"err")
        if type(err) is bytes:
            return _counted_if_called(CommandError(_text(err)), value)
        ok = rawget(value, b"ok")
        if type(ok) is bytes:
            return SimpleString(_text(ok).replace("\r", " ").replace("\n", " "))
        double = rawget(value, b"double")
        if type(double) in (int, float):
            return float(double)
        big = rawget(value, b"big_number")
        if type(big) is bytes:
            return BigNumber(big.replace(b"\r", b" ").replace(b"\n", b" "))
        verbatim = rawget(value, b"verbatim_string")
        if is_table(verbatim) and type(rawget(verbatim, b"string")) is bytes \
                and type(rawget(verbatim, b"format")) is bytes:
            return Verbatim(rawget(verbatim, b"string"))
        mapping = rawget(value, b"map")
        if is_table(mapping):
            return {_hashable(self.to_reply(k, depth)): self.to_reply(v, depth)
                    for k, v in mapping.items()}
        members = rawget(value, b"set")
        if is_table(members):
            return OrderedSet(self.to_reply(k, depth) for k in members.keys())
        items = []
        index = 1
        while True:
            item = rawget(value, index)
            if item is None:
                return items
            items.append(self.to_reply(item, depth))
            index += 1

    # -- the rest of the redis table -------------------------------------------------------
    def _setresp(self, *args):
        if len(args) != 1:
            raise TableError("redis.setresp() requires one argument.")
        version = int(args[0]) if type(args[0]) in (int, float) else 0
        if version not in (2, 3):
            raise TableError("RESP version must be 2 or 3.")
        self.resp3 = version == 3

    def _error_reply(self, *args):
        if len(args) != 1 or type(args[0]) is not bytes:
            return self.error_table("wrong number or type of arguments")
        text = args[0].decode("utf-8", "surrogateescape")
        return self.error_table(text if text.startswith("-") else "-" + text)

    def _status_reply(self, *args):
        if len(args) != 1 or type(args[0]) is not bytes:
            return self.error_table("wrong number or type of arguments")
        return self.runtime.table_from({b"ok": args[0]})

    @staticmethod
    def _set_repl(*args):
        if len(args) != 1:
            raise TableError("redis.set_repl() requires two arguments.")
        flags = args[0] if type(args[0]) in (int, float) else 0
        if int(flags) & ~3:
            raise TableError("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, "
                              "REPL_ALL or REPL_NONE.")

    def _string_rep(self, *args) -> bytes:
        """string.rep, its work charged first (a byte copied costs 1/8 of an instruction), so
        a huge one is refused before it runs instead of stalling the node in C."""
        if not args or type(args[0]) not in (bytes, int, float):
            raise ArgumentError(1, f"string expected, got {type_name(args, 0)}")
        text = args[0] if type(args[0]) is bytes else lualibs.format_number(args[0])
        count = check_int(args, 1)
        if count <= 0:
            return b""
        if self._charge(count + count * len(text) // 8):
            raise TableError(self._budget_message())
        return text * count

    def _randomseed(self, *args):
        self.rand.seed(check_int(args, 0))


class ScriptRefusal(CommandError):
    """A command the script may not run (unknown, wrong arity, not allowed, ACL, read-only):
    refused before it runs, as Redis's scriptCall refuses it."""


class TableError(Exception):
    """An error Redis raises as a table ({err='ERR ...'}: no position); the argument is the
    message or the table itself."""


class LuaScriptError(Exception):
    """What a Python function called by a script raises: becomes a Lua error (a string)."""


_ERROR_MARK = b"\x00rcache-error:"


def _command_argv(args: tuple) -> list[bytes] | str:
    """redis.call's arguments as a command, or the error Redis gives for them."""
    if not args:
        return "Please specify at least one argument for this redis lib call"
    argv = [command_arg(arg) for arg in args]
    if any(arg is None for arg in argv):
        return "Lua redis lib command arguments must be strings or integers"
    return argv


def _sha1hex(*args) -> bytes:
    if len(args) != 1:
        raise TableError("wrong number of arguments")
    value = args[0]
    raw = value if type(value) is bytes else (
        lualibs.format_number(value) if type(value) in (int, float) else b"")
    return sha1hex(raw).encode()


def _log(*args) -> None:
    if len(args) < 2:
        raise TableError("redis.log() requires two arguments or more.")
    if type(args[0]) not in (int, float):
        raise TableError("First argument must be a number (log level).")
    level = int(args[0])
    if not 0 <= level <= 3:
        raise TableError("Invalid debug level.")
    words = [arg if type(arg) is bytes else lualibs.format_number(arg)
             for arg in args[1:] if type(arg) in (bytes, int, float)]  # lua_tolstring's
    log.log(LOG_LEVELS[level], "%s", b" ".join(words).decode("utf-8", "replace"))


def _hashable(value):
    return tuple(value) if type(value) is list else value


def _number_text(value) -> str:
    return str(lua_number_to_int(value)) if type(value) in (int, float) else _text(value)


def _counted_if_called(error: CommandError, table) -> CommandError:
    """An error table that redis.call or redis.pcall made (the command's error, counted in
    INFO errorstats when it happened): the script's reply made of it is not counted again."""
    if table[b"ignore_error_stats_update"] is True:
        error.counted = True
    return error


def _text(raw) -> str:
    if type(raw) is bytes:
        return raw.decode("utf-8", "surrogateescape")
    return str(raw)


def _no_attributes(obj, name, is_setting):
    """Lua code never reaches into Python objects."""
    raise AttributeError("access denied")
