"""The libraries Redis bundles into its Lua: cjson, cmsgpack, bit and struct, in Python.

lupa's Lua 5.1 comes without them, and C modules cannot be loaded into it, so each is a
table of Python functions (no I/O, no state between calls). They follow the C libraries
Redis ships (lua-cjson, antirez's lua-cmsgpack, LuaBitOp, Roberto's struct) in what they
produce; error texts are the closest these functions can give. Lua strings arrive and leave
as bytes (the runtime runs with ``encoding=None``); numbers as int or float.
"""

from __future__ import annotations

import json
import math
import re
import struct as pystruct
from collections.abc import Callable

import lupa.lua51 as lua51

_LuaTable = type(lua51.LuaRuntime().table())


class LibraryError(Exception):
    """Raised to Lua as an error with this message, after the calling script's position."""


class ArgumentError(LibraryError):
    """luaL_argerror: 'bad argument #<position> to '<name>' (<reason>)', the function's name
    as its caller knows it ('?' when a C function such as pcall called it)."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.reason = reason

    def message(self, name: str) -> str:
        return f"bad argument #{self.position} to '{name}' ({self.reason})"


def type_name(args: tuple, index: int) -> str:
    """luaL_typename of an argument (0-based), 'no value' when it was not given."""
    if index >= len(args):
        return "no value"
    value = args[index]
    names = {type(None): "nil", bool: "boolean", bytes: "string", int: "number",
             float: "number"}
    return names.get(type(value)) or lua51.lua_type(value) or "userdata"


def check_int(args: tuple, index: int) -> int:
    """luaL_checkint of argument ``index`` (0-based): a number or a numeric string, truncated."""
    value = args[index] if index < len(args) else None
    number = value
    if type(value) is bytes:
        try:
            number = float(value)
        except ValueError:
            number = None
    if type(number) not in (int, float) or number != number:
        raise ArgumentError(index + 1, f"number expected, got {type_name(args, index)}")
    return int(number) if abs(number) < 2**63 else -2**63


def _optional_int(args: tuple, index: int) -> int:
    """luaL_optinteger: 0 when the argument is missing or nil."""
    return 0 if index >= len(args) or args[index] is None else check_int(args, index)


def check_string(args: tuple, index: int) -> bytes:
    """luaL_checkstring of argument ``index`` (0-based): a string, or a number as text."""
    value = args[index] if index < len(args) else None
    if type(value) is bytes:
        return value
    if type(value) in (int, float):
        return format_number(value)
    raise ArgumentError(index + 1, f"string expected, got {type_name(args, index)}")


def is_table(value: object) -> bool:
    return type(value) is _LuaTable


def array_length(table) -> int | None:
    """n if the table's keys are exactly 1..n (lua-cjson and cmsgpack call it an array)."""
    count = 0
    highest = 0
    for key in table.keys():
        if type(key) is float and key.is_integer():
            key = int(key)
        if type(key) is not int or key < 1:
            return None
        highest = max(highest, key)
        count += 1
    return highest if highest == count else None


def format_number(value: int | float) -> bytes:
    """Lua's own tostring of a number ('%.14g': Lua numbers are doubles, whole or not)."""
    if math.isnan(value):
        return b"nan" if math.copysign(1, value) > 0 else b"-nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return b"%.14g" % value


# -- cjson --------------------------------------------------------------------------------
_JSON_ESCAPES = {0x22: b'\\"', 0x5C: b"\\\\", 0x2F: b"\\/", 0x08: b"\\b", 0x0C: b"\\f",
                 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}


def _json_string(raw: bytes) -> bytes:
    out = bytearray(b'"')
    for byte in raw:
        escaped = _JSON_ESCAPES.get(byte)
        if escaped is not None:
            out += escaped
        elif byte < 0x20 or byte == 0x7F:
            out += b"\\u%04x" % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


_INT_MAX = 2**31 - 1


class Cjson:
    """lua-cjson as Redis bundles it: encode, decode and their settings, which last for the
    run (Redis keeps them in its Lua state until SCRIPT FLUSH; every run here starts afresh)."""

    def __init__(self, runtime, null) -> None:
        self.runtime = runtime
        self.null = null  # cjson.null: a light userdata in Lua, a sentinel here
        self.sparse_convert, self.sparse_ratio, self.sparse_safe = False, 2, 10
        self.encode_max_depth = self.decode_max_depth = 1000
        self.encode_invalid = 0  # 0 off, 1 on, 2 null
        self.decode_invalid = True
        self.precision = 14
        self.keep_buffer = True

    def functions(self) -> dict[bytes, Callable]:
        return {b"encode": self.encode, b"decode": self.decode,
                b"encode_sparse_array": self.encode_sparse_array,
                b"encode_max_depth": self.set_encode_max_depth,
                b"decode_max_depth": self.set_decode_max_depth,
                b"encode_number_precision": self.encode_number_precision,
                b"encode_keep_buffer": self.encode_keep_buffer,
                b"encode_invalid_numbers": self.encode_invalid_numbers,
                b"decode_invalid_numbers": self.decode_invalid_numbers}

    # -- settings: each returns the value it has after the call ---------------------------
    @staticmethod
    def _settings(args: tuple, count: int) -> tuple:
        if len(args) > count:
            raise ArgumentError(count + 1, "found too many arguments")
        return args + (None,) * (count - len(args))

    @staticmethod
    def _integer(args: tuple, index: int, current: int, lowest: int, highest: int) -> int:
        if args[index] is None:
            return current
        value = check_int(args, index) & 0xFFFFFFFF  # C's int
        value = value - 2**32 if value > _INT_MAX else value
        if not lowest <= value <= highest:
            raise ArgumentError(1, f"expected integer between {lowest} and {highest}")
        return value

    @staticmethod
    def _option(args: tuple, index: int, current: int, options: tuple = (b"off", b"on")):
        """-> (setting, what Lua gets back: a boolean for off/on, else the option's name)."""
        value = args[index]
        if type(value) is bool:
            current = int(value)
        elif value is not None:
            name = check_string(args, index)
            if name not in options:
                shown = name.decode("utf-8", "replace")
                raise ArgumentError(index + 1, f"invalid option '{shown}'")
            current = options.index(name)
        return current, bool(current) if current < 2 else options[current]

    def encode_sparse_array(self, *args):
        args = self._settings(args, 3)
        convert, shown = self._option(args, 0, int(self.sparse_convert))
        self.sparse_convert = bool(convert)
        self.sparse_ratio = self._integer(args, 1, self.sparse_ratio, 0, _INT_MAX)
        self.sparse_safe = self._integer(args, 2, self.sparse_safe, 0, _INT_MAX)
        return shown, self.sparse_ratio, self.sparse_safe

    def set_encode_max_depth(self, *args) -> int:
        args = self._settings(args, 1)
        self.encode_max_depth = self._integer(args, 0, self.encode_max_depth, 1, _INT_MAX)
        return self.encode_max_depth

    def set_decode_max_depth(self, *args) -> int:
        args = self._settings(args, 1)
        self.decode_max_depth = self._integer(args, 0, self.decode_max_depth, 1, _INT_MAX)
        return self.decode_max_depth

    def encode_number_precision(self, *args) -> int:
        self.precision = self._integer(self._settings(args, 1), 0, self.precision, 1, 14)
        return self.precision

    def encode_keep_buffer(self, *args) -> bool:
        """Kept and reported; the buffer it decides about is lua-cjson's own."""
        keep, shown = self._option(self._settings(args, 1), 0, int(self.keep_buffer))
        self.keep_buffer = bool(keep)
        return shown

    def encode_invalid_numbers(self, *args):
        self.encode_invalid, shown = self._option(self._settings(args, 1), 0,
                                                  self.encode_invalid, (b"off", b"on", b"null"))
        return shown

    def decode_invalid_numbers(self, *args) -> bool:
        invalid, shown = self._option(self._settings(args, 1), 0, int(self.decode_invalid))
        self.decode_invalid = bool(invalid)
        return shown

    # -- encoding ---------------------------------------------------------------------------
    def encode(self, *args) -> bytes:
        if len(args) != 1:
            raise ArgumentError(1, "expected 1 argument")
        out: list[bytes] = []
        self._encode(args[0], out, 0)
        return b"".join(out)

    def _encode(self, value, out: list[bytes], depth: int) -> None:
        kind = type(value)
        if value is None or lua51.lua_type(value) == "userdata":  # cjson.null
            out.append(b"null")
        elif kind is bool:
            out.append(b"true" if value else b"false")
        elif kind is int or kind is float:
            out.append(self._number(value))
        elif kind is bytes:
            out.append(_json_string(value))
        elif kind is _LuaTable:
            depth += 1
            if depth > self.encode_max_depth:
                raise LibraryError(f"Cannot serialise, excessive nesting ({depth})")
            length = self._array_length(value)
            if length > 0:
                out.append(b"[")
                for i in range(1, length + 1):
                    if i > 1:
                        out.append(b",")
                    self._encode(value[i], out, depth)
                out.append(b"]")
                return
            out.append(b"{")
            first = True
            for key, item in value.items():
                if not first:
                    out.append(b",")
                first = False
                if type(key) is bytes:
                    out.append(_json_string(key))
                elif type(key) in (int, float):
                    out.append(b'"' + self._number(key) + b'"')
                else:
                    name = lua51.lua_type(key) or "boolean"
                    raise LibraryError(f"Cannot serialise {name}: table key must be a number "
                                       "or string")
                out.append(b":")
                self._encode(item, out, depth)
            out.append(b"}")
        else:
            name = lua51.lua_type(value) or kind.__name__
            raise LibraryError(f"Cannot serialise {name}: type not supported")

    def _array_length(self, table) -> int:
        """The highest index if every key is a whole number >= 1, else -1 (an object);
        an excessively sparse array is an object or an error, as configured."""
        highest = items = 0
        for key in table.keys():
            if type(key) not in (int, float) or key < 1 or key != math.floor(key):
                return -1
            highest = max(highest, int(key))
            items += 1
        if self.sparse_ratio > 0 and highest > items * self.sparse_ratio \
                and highest > self.sparse_safe:
            if not self.sparse_convert:
                raise LibraryError("Cannot serialise table: excessively sparse array")
            return -1
        return highest

    def _number(self, value) -> bytes:
        if math.isnan(value) or math.isinf(value):
            if self.encode_invalid == 0:
                raise LibraryError("Cannot serialise number: must not be NaN or Inf")
            if self.encode_invalid == 2:
                return b"null"
            if math.isnan(value):
                return b"nan"
        return b"%.*g" % (self.precision, value)

    # -- decoding ---------------------------------------------------------------------------
    def decode(self, *args):
        if len(args) != 1:
            raise ArgumentError(1, "expected 1 argument")
        text = check_string(args, 0)
        if len(text) >= 2 and not (text[0] and text[1]):
            raise LibraryError("JSON parser does not support UTF-16 or UTF-32")
        if self.decode_max_depth >= _JSON_MAX_DEPTH:  # (json.loads knows no depth setting)
            try:  # strict JSON in UTF-8, read by Python's C parser as lua-cjson reads it
                return self._to_lua(json.loads(text.decode("utf-8"), parse_int=float,
                                               parse_constant=_no_constant))
            except (ValueError, RecursionError):  # the rest: lua-cjson's own reading or error
                pass
        tokens = _JsonTokens(text, self.decode_invalid)
        value = self._decode_value(tokens, tokens.next())
        tokens.expect(tokens.next(), "the end", "T_END")
        return value

    def _to_lua(self, value):
        """json.loads' value in Lua. A lone surrogate (from a \\u escape) fails to encode:
        lua-cjson refuses it, and the slow path gives its error."""
        if value is None:
            return self.null
        if type(value) is str:
            return value.encode("utf-8")
        if type(value) is list:
            table = self.runtime.table()
            for i, item in enumerate(value, 1):
                table[i] = self._to_lua(item)
            return table
        if type(value) is dict:
            table = self.runtime.table()
            for key, item in value.items():
                table[key.encode("utf-8")] = self._to_lua(item)
            return table
        return value  # a float (parse_int=float: every Lua number is a double) or a bool

    def _decode_value(self, tokens: _JsonTokens, token: tuple):
        """lua-cjson's recursive descent, with an explicit stack of the open containers
        ([table, next index or pending key])."""
        stack: list[list] = []
        while True:
            kind, _, value = token
            if kind == "T_OBJ_BEGIN" or kind == "T_ARR_BEGIN":
                if len(stack) == self.decode_max_depth:
                    raise LibraryError(f"Found too many nested data structures "
                                       f"({len(stack) + 1}) at character {tokens.pos}")
                value = self.runtime.table()
                token = tokens.next()
                if kind == "T_ARR_BEGIN" and token[0] != "T_ARR_END":
                    stack.append([value, 1])
                    continue
                if kind == "T_OBJ_BEGIN" and token[0] != "T_OBJ_END":
                    stack.append([value, tokens.key(token)])
                    token = tokens.next()
                    continue
            elif kind == "T_NULL":
                value = self.null
            elif kind not in ("T_STRING", "T_NUMBER", "T_BOOLEAN"):
                tokens.expect(token, "value", None)
            while stack:  # the value is complete: store it, go on with its container
                frame = stack[-1]
                table, slot = frame
                table[slot] = value
                token = tokens.next()
                if type(slot) is int:
                    if token[0] == "T_ARR_END":
                        value = stack.pop()[0]
                        continue
                    tokens.expect(token, "comma or array end", "T_COMMA")
                    frame[1] = slot + 1
                    token = tokens.next()
                else:
                    if token[0] == "T_OBJ_END":
                        value = stack.pop()[0]
                        continue
                    tokens.expect(token, "comma or object end", "T_COMMA")
                    frame[1] = tokens.key(tokens.next())
                    token = tokens.next()
                break
            else:
                return value


def _no_constant(name: str):
    raise ValueError(name)  # NaN, Infinity: lua-cjson reads them its own way


_JSON_MAX_DEPTH = 1000  # lua-cjson's decode_max_depth
_JSON_PUNCTUATION = {ord("{"): "T_OBJ_BEGIN", ord("}"): "T_OBJ_END", ord("["): "T_ARR_BEGIN",
                     ord("]"): "T_ARR_END", ord(","): "T_COMMA", ord(":"): "T_COLON"}
_JSON_UNESCAPES = {ord('"'): b'"', ord("\\"): b"\\", ord("/"): b"/", ord("b"): b"\b",
                   ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t"}
_JSON_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_JSON_PLAIN = re.compile(rb'[^"\\\0]+')
# What C's strtod reads (lua-cjson hands every number to it)
_STRTOD = re.compile(rb"[+-]?(?:inf(?:inity)?|nan(?:\([0-9a-z_]*\))?"
                     rb"|0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?"
                     rb"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)", re.IGNORECASE)
_HEX4 = re.compile(rb"[0-9a-fA-F]{4}")
_JSON_WORDS = ((b"true", "T_BOOLEAN", True), (b"false", "T_BOOLEAN", False),
               (b"null", "T_NULL", None))


class _JsonTokens:
    """lua-cjson's tokenizer: tokens are (type name, index, value); a T_ERROR's value is its
    text. A NUL byte ends the input, as it ends lua-cjson's C string."""

    def __init__(self, data: bytes, invalid_numbers: bool) -> None:
        self.data = data
        self.pos = 0
        self.invalid_numbers = invalid_numbers  # cjson.decode_invalid_numbers

    def next(self) -> tuple:
        data = self.data
        pos = _JSON_WHITESPACE.match(data, self.pos).end()
        self.pos = pos
        if pos >= len(data) or data[pos] == 0:
            return ("T_END", pos, None)
        char = data[pos]
        punctuation = _JSON_PUNCTUATION.get(char)
        if punctuation is not None:
            self.pos = pos + 1
            return (punctuation, pos, None)
        if char == 0x22:
            return self._string(pos)
        if char == 0x2D or 0x30 <= char <= 0x39:
            if not self.invalid_numbers and self._not_json(pos):
                return ("T_ERROR", pos, "invalid number")
            return self._number(pos)
        for word, kind, value in _JSON_WORDS:
            if data.startswith(word, pos):
                self.pos = pos + len(word)
                return (kind, pos, value)
        if self.invalid_numbers and self._not_json(pos):
            return self._number(pos)  # not JSON, but lua-cjson decodes them
        return ("T_ERROR", pos, "invalid token")

    def _not_json(self, pos: int) -> bool:
        """A number strtod reads but JSON has not: a leading +, hex, leading zeros, inf, nan."""
        rest = self.data[pos:pos + 4]
        if rest[:1] == b"+":
            return True
        if rest[:1] == b"-":
            rest = rest[1:]
        if rest[:1] == b"0":
            return rest[1:2].lower() == b"x" or rest[1:2].isdigit()
        return rest[:1] > b"9" and rest[:3].lower() in (b"inf", b"nan")

    def _number(self, pos: int) -> tuple:
        found = _STRTOD.match(self.data, pos)
        if found is None:
            return ("T_ERROR", pos, "invalid number")
        self.pos = found.end()
        text = found[0].decode()
        body = text.lstrip("+-")
        if body[:2].lower() == "0x":
            value = float.fromhex(body)
        elif body[:3].lower() == "nan":
            value = math.nan
        else:
            value = float(body)
        return ("T_NUMBER", pos, -value if text[0] == "-" else value)

    def _string(self, start: int) -> tuple:
        data = self.data
        pos = start + 1
        out = bytearray()
        while True:
            plain = _JSON_PLAIN.match(data, pos)
            if plain is not None:
                out += plain[0]
                pos = plain.end()
            if pos >= len(data) or data[pos] == 0:
                return ("T_ERROR", pos, "unexpected end of string")
            if data[pos] == 0x22:
                self.pos = pos + 1
                return ("T_STRING", start, bytes(out))
            escape = data[pos + 1] if pos + 1 < len(data) else 0
            if escape == 0x75:  # \uXXXX, or a surrogate pair of them
                decoded = _unicode_escape(data, pos)
                if decoded is None:
                    return ("T_ERROR", pos, "invalid unicode escape code")
                out += decoded[0]
                pos = decoded[1]
            elif escape in _JSON_UNESCAPES:
                out += _JSON_UNESCAPES[escape]
                pos += 2
            else:
                return ("T_ERROR", pos, "invalid escape code")

    def key(self, token: tuple) -> bytes:
        self.expect(token, "object key string", "T_STRING")
        colon = self.next()
        self.expect(colon, "colon", "T_COLON")
        return token[2]

    @staticmethod
    def expect(token: tuple, what: str, kind: str | None) -> None:
        if token[0] != kind:
            found = token[2] if token[0] == "T_ERROR" else token[0]
            raise LibraryError(f"Expected {what} but found {found} at character {token[1] + 1}")


def _unicode_escape(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """(UTF-8 bytes, position after) of the \\u escape at pos; None if lua-cjson refuses it
    (bad hex digits, a lone or reversed surrogate)."""
    if not _HEX4.fullmatch(data, pos + 2, pos + 6):
        return None
    code = int(data[pos + 2:pos + 6], 16)
    end = pos + 6
    if code & 0xF800 == 0xD800:
        if code & 0x400 or data[end:end + 2] != b"\\u" or not _HEX4.fullmatch(
                data, end + 2, end + 6):
            return None
        low = int(data[end + 2:end + 6], 16)
        if low & 0xFC00 != 0xDC00:
            return None
        code = ((code & 0x3FF) << 10 | low & 0x3FF) + 0x10000
        end += 6
    return chr(code).encode("utf-8"), end


# -- cmsgpack -----------------------------------------------------------------------------
def _survives_float32(value: float) -> bool:
    """lua-cmsgpack's test for packing a double as a float32, C's `(double)(float)d == d`:
    false for NaN, and for a double beyond float's range (C rounds it to an infinity, where
    Python's struct refuses it); both are packed as float64."""
    try:
        return pystruct.unpack(">f", pystruct.pack(">f", value))[0] == value
    except OverflowError:
        return False


class Cmsgpack:
    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def pack(self, *args) -> bytes:
        if not args:
            raise ArgumentError(0, "MessagePack pack needs input.")
        out = bytearray()
        for value in args:
            self._pack(value, out, 0)
        return bytes(out)

    def _pack(self, value, out: bytearray, depth: int) -> None:
        kind = type(value)
        if value is None:
            out.append(0xC0)
        elif kind is bool:
            out.append(0xC3 if value else 0xC2)
        elif kind is int or (kind is float and value.is_integer() and abs(value) < 2**63):
            self._pack_int(int(value), out)
        elif kind is float:
            if _survives_float32(value):
                out += b"\xca" + pystruct.pack(">f", value)
            else:
                out += b"\xcb" + pystruct.pack(">d", value)
        elif kind is bytes:
            size = len(value)
            if size < 32:
                out.append(0xA0 | size)
            elif size <= 0xFF:
                out += bytes((0xD9, size))
            elif size <= 0xFFFF:
                out += b"\xda" + pystruct.pack(">H", size)
            else:
                out += b"\xdb" + pystruct.pack(">I", size)
            out += value
        elif kind is _LuaTable and depth < 16:
            length = array_length(value)
            if length is not None:
                self._header(length, 0x90, 0xDC, out)
                for i in range(1, length + 1):
                    self._pack(value[i], out, depth + 1)
            else:
                items = list(value.items())
                self._header(len(items), 0x80, 0xDE, out)
                for key, item in items:
                    self._pack(key, out, depth + 1)
                    self._pack(item, out, depth + 1)
        else:
            out.append(0xC0)  # functions, userdata, tables nested too deep: nil

    @staticmethod
    def _header(count: int, fix: int, wide: int, out: bytearray) -> None:
        if count < 16:
            out.append(fix | count)
        elif count <= 0xFFFF:
            out += bytes((wide,)) + pystruct.pack(">H", count)
        else:
            out += bytes((wide + 1,)) + pystruct.pack(">I", count)

    @staticmethod
    def _pack_int(n: int, out: bytearray) -> None:
        if n >= 0:
            if n <= 127:
                out.append(n)
            elif n <= 0xFF:
                out += bytes((0xCC, n))
            elif n <= 0xFFFF:
                out += b"\xcd" + pystruct.pack(">H", n)
            elif n <= 0xFFFFFFFF:
                out += b"\xce" + pystruct.pack(">I", n)
            else:
                out += b"\xcf" + pystruct.pack(">Q", n)
        elif n >= -32:
            out += pystruct.pack(">b", n)
        elif n >= -128:
            out += b"\xd0" + pystruct.pack(">b", n)
        elif n >= -32768:
            out += b"\xd1" + pystruct.pack(">h", n)
        elif n >= -2**31:
            out += b"\xd2" + pystruct.pack(">i", n)
        else:
            out += b"\xd3" + pystruct.pack(">q", n)

    def unpack(self, *args):
        """Every value in the string."""
        return self._unpack_values(check_string(args, 0), 0, 0)

    def unpack_one(self, *args):
        """(next offset or -1 at the end, the value at the offset)."""
        return self._unpack_values(check_string(args, 0), 1, _optional_int(args, 1))

    def unpack_limit(self, *args):
        """(next offset or -1 at the end, up to ``limit`` values from the offset)."""
        data, limit = check_string(args, 0), check_int(args, 1)
        return self._unpack_values(data, limit, _optional_int(args, 2))

    def _unpack_values(self, data: bytes, limit: int, offset: int) -> tuple:
        everything = not limit and not offset
        if offset < 0 or limit < 0:
            raise LibraryError(f"Invalid request to unpack with offset of {offset} and limit "
                               f"of {len(data)}.")
        if offset > len(data):
            raise LibraryError(f"Start offset {offset} greater than input length "
                               f"{len(data)}.")
        values = []
        pos = offset
        while pos < len(data) and (everything or len(values) < limit):
            value, pos = self._unpack(data, pos)
            values.append(value)
        if everything:
            return tuple(values)
        return (-1 if pos == len(data) else pos, *values)

    def _unpack(self, data: bytes, pos: int):
        try:
            return self._unpack_one(data, pos)
        except (IndexError, pystruct.error):
            raise LibraryError("Missing bytes in input.") from None

    def _unpack_one(self, data: bytes, pos: int):
        head = data[pos]
        pos += 1
        if head <= 0x7F:
            return head, pos
        if head >= 0xE0:
            return head - 0x100, pos
        if 0xA0 <= head <= 0xBF:
            return self._take(data, pos, head & 0x1F)
        if 0x90 <= head <= 0x9F:
            return self._array(data, pos, head & 0x0F)
        if 0x80 <= head <= 0x8F:
            return self._map(data, pos, head & 0x0F)
        fixed = _MSGPACK_FIXED.get(head)
        if fixed is not None:
            fmt, size = fixed
            value = pystruct.unpack_from(fmt, data, pos)[0]
            if pos + size > len(data):
                raise IndexError
            return value, pos + size
        if head == 0xC0:
            return None, pos
        if head in (0xC2, 0xC3):
            return head == 0xC3, pos
        if head == 0xD9:  # Redis's lua-cmsgpack knows no bin (0xC4-0xC6) nor ext types
            return self._take(data, pos + 1, data[pos])
        if head == 0xDA:
            return self._take(data, pos + 2, pystruct.unpack_from(">H", data, pos)[0])
        if head == 0xDB:
            return self._take(data, pos + 4, pystruct.unpack_from(">I", data, pos)[0])
        if head == 0xDC:
            return self._array(data, pos + 2, pystruct.unpack_from(">H", data, pos)[0])
        if head == 0xDD:
            return self._array(data, pos + 4, pystruct.unpack_from(">I", data, pos)[0])
        if head == 0xDE:
            return self._map(data, pos + 2, pystruct.unpack_from(">H", data, pos)[0])
        if head == 0xDF:
            return self._map(data, pos + 4, pystruct.unpack_from(">I", data, pos)[0])
        raise LibraryError("Bad data format in input.")

    @staticmethod
    def _take(data: bytes, pos: int, size: int):
        if pos + size > len(data):
            raise IndexError
        return data[pos:pos + size], pos + size

    def _array(self, data: bytes, pos: int, count: int):
        table = self.runtime.table()
        for i in range(1, count + 1):
            table[i], pos = self._unpack_one(data, pos)
        return table, pos

    def _map(self, data: bytes, pos: int, count: int):
        table = self.runtime.table()
        for _ in range(count):
            key, pos = self._unpack_one(data, pos)
            table[key], pos = self._unpack_one(data, pos)
        return table, pos


# uint 64 (0xCF) reads as signed: Redis's lua-cmsgpack puts it in a signed lua_Integer
_MSGPACK_FIXED = {0xCA: (">f", 4), 0xCB: (">d", 8), 0xCC: (">B", 1), 0xCD: (">H", 2),
                  0xCE: (">I", 4), 0xCF: (">q", 8), 0xD0: (">b", 1), 0xD1: (">h", 2),
                  0xD2: (">i", 4), 0xD3: (">q", 8)}


# -- bit (LuaBitOp: 32-bit operations, signed results) ----------------------------------------
def _number_arg(args: tuple, index: int) -> int | float:
    """luaL_checknumber of argument ``index`` (0-based): a number or a numeric string."""
    value = args[index] if index < len(args) else None
    if type(value) is bytes:
        try:
            return float(value)
        except ValueError:
            pass
    if type(value) not in (int, float):
        raise ArgumentError(index + 1, f"number expected, got {type_name(args, index)}")
    return value


def _wrap(number: int) -> int:
    number &= 0xFFFFFFFF
    return number - 0x100000000 if number & 0x80000000 else number


def _bit_arg(args: tuple, index: int) -> int:
    """LuaBitOp's barg: the number rounded to an integer, as a signed 32-bit one."""
    value = _number_arg(args, index)
    if type(value) is float:
        if math.isnan(value) or math.isinf(value):
            return 0  # what LuaBitOp's 2^52+2^51 addition leaves of them
        value = round(value)  # to nearest, ties to even, as adding 2^52+2^51 does
    return _wrap(value)


def _tobit(*args) -> int:
    return _bit_arg(args, 0)


def _bits(fold: Callable[[int, int], int]) -> Callable[..., int]:
    def operation(*args) -> int:
        result = _bit_arg(args, 0)
        for index in range(1, len(args)):
            result = fold(result, _bit_arg(args, index))
        return _wrap(result)
    return operation


def _shift(how: Callable[[int, int], int]) -> Callable[..., int]:
    def operation(*args) -> int:
        value, count = _bit_arg(args, 0), _bit_arg(args, 1)
        return _wrap(how(value & 0xFFFFFFFF, count & 31))
    return operation


def _tohex(*args) -> bytes:
    number = _bit_arg(args, 0) & 0xFFFFFFFF
    digits = _bit_arg(args, 1) if len(args) > 1 else 8
    upper = digits < 0
    digits = min(abs(digits), 8)
    text = b"%0*x" % (digits, number & ((1 << (4 * digits)) - 1)) if digits else b""
    return text.upper() if upper else text


def _arshift(*args) -> int:
    value, count = _bit_arg(args, 0), _bit_arg(args, 1)
    return _wrap(value >> (count & 31))


def _rotate(value: int, count: int) -> int:
    return ((value << count) | (value >> (32 - count))) & 0xFFFFFFFF


BIT = {
    b"tobit": _tobit,
    b"tohex": _tohex,
    b"bnot": lambda *args: _wrap(~_bit_arg(args, 0)),
    b"band": _bits(lambda a, b: a & b),
    b"bor": _bits(lambda a, b: a | b),
    b"bxor": _bits(lambda a, b: a ^ b),
    b"lshift": _shift(lambda a, n: a << n),
    b"rshift": _shift(lambda a, n: a >> n),
    b"arshift": _arshift,
    b"rol": _shift(_rotate),
    b"ror": _shift(lambda a, n: _rotate(a, (32 - n) % 32)),
    b"bswap": lambda *args: _wrap(int.from_bytes(
        (_bit_arg(args, 0) & 0xFFFFFFFF).to_bytes(4, "little"), "big")),
}


# -- struct (Roberto Ierusalimschy's, as Redis bundles it: x86-64 sizes, little-endian) ----
_STRUCT_SIZES = {ord(c): size for c, size in (("b", 1), ("B", 1), ("h", 2), ("H", 2),
                                               ("l", 8), ("L", 8), ("T", 8), ("f", 4),
                                               ("d", 8), ("x", 1))}
_STRUCT_INTEGERS = frozenset(b"bBhHlLTiI")
_STRUCT_MAX_INT_SIZE = 32
_STRUCT_MAX_ALIGN = 8


class _StructFormat:
    """A format string read option by option (its endianness and alignment change as
    '<', '>' and '!' come)."""

    def __init__(self, fmt: bytes) -> None:
        self.fmt = fmt.split(b"\0", 1)[0]  # a C string
        self.pos = 0
        self.little = True
        self.align = 1

    def __iter__(self):
        """-> (option byte, its size) for each option."""
        while self.pos < len(self.fmt):
            option = self.fmt[self.pos]
            self.pos += 1
            yield option, self._size(option)

    def _number(self, default: int) -> int:
        start = self.pos
        while self.pos < len(self.fmt) and 48 <= self.fmt[self.pos] <= 57:
            self.pos += 1
        if self.pos == start:
            return default
        value = int(self.fmt[start:self.pos])
        if value > 2**31 - 1:
            raise LibraryError("integral size overflow")
        return value

    def _size(self, option: int) -> int:
        if option == ord("c"):
            return self._number(1)
        if option in (ord("i"), ord("I")):
            size = self._number(4)
            if size > _STRUCT_MAX_INT_SIZE:
                raise LibraryError(f"integral size {size} is larger than limit of "
                                   f"{_STRUCT_MAX_INT_SIZE}")
            return size
        return _STRUCT_SIZES.get(option, 0)

    def padding(self, length: int, option: int, size: int) -> int:
        if size == 0 or option == ord("c"):
            return 0
        size = min(size, self.align)
        return (size - (length & (size - 1))) & (size - 1)

    def control(self, option: int) -> None:
        """A non-data option: ' ', '<', '>', '!<n>'; anything else is an error."""
        if option == ord(" "):
            return
        if option in (ord("<"), ord(">")):
            self.little = option == ord("<")
            return
        if option == ord("!"):
            align = self._number(_STRUCT_MAX_ALIGN)
            if align <= 0 or align & (align - 1):
                raise LibraryError(f"alignment {align} is not a power of 2")
            self.align = align
            return
        raise ArgumentError(1, f"invalid format option '{chr(option)}'")


def _struct_pack(*args) -> bytes:
    fmt = _StructFormat(check_string(args, 0))
    args = args + (None,)  # the C code's mark: the first missing value reads as nil
    out = bytearray()
    arg = 2  # the next value's argument number
    for option, size in fmt:
        out += bytes(fmt.padding(len(out), option, size))
        if option in _STRUCT_INTEGERS:
            number = _number_arg(args, arg - 1)
            arg += 1
            value = (int(number) if math.isfinite(number) else 0) & (2**64 - 1)
            raw = bytes((value >> (8 * i)) & 0xFF if i < 8 else 0 for i in range(size))
            out += raw if fmt.little else raw[::-1]
        elif option == ord("x"):
            out.append(0)
        elif option in (ord("f"), ord("d")):
            number = float(_number_arg(args, arg - 1))
            arg += 1
            code = "f" if option == ord("f") else "d"
            if code == "f" and math.isfinite(number) and abs(number) > 3.4028234663852886e38:
                number = math.copysign(math.inf, number)  # what C's cast to float gives
            out += pystruct.pack(("<" if fmt.little else ">") + code, number)
        elif option in (ord("c"), ord("s")):
            text = check_string(args, arg - 1)
            arg += 1
            size = size or len(text)
            if len(text) < size:
                raise ArgumentError(arg, "string too short")
            out += text[:size]
            if option == ord("s"):
                out.append(0)
        else:
            fmt.control(option)
    return bytes(out)


def _struct_unpack(*args):
    fmt = _StructFormat(check_string(args, 0))
    data = check_string(args, 1)
    start = 1 if len(args) < 3 or args[2] is None else check_int(args, 2)
    if start == 0:
        raise ArgumentError(3, "offset must be 1 or greater")
    pos = (start - 1) % 2**64  # a size_t
    results: list = []
    for option, size in fmt:
        pos += fmt.padding(pos, option, size)
        if size > len(data) or pos > len(data) - size:
            raise ArgumentError(2, "data string too short")
        if option in _STRUCT_INTEGERS:
            raw = data[pos:pos + size]
            value = int.from_bytes(raw if fmt.little else raw[::-1], "little") & (2**64 - 1)
            if chr(option).islower() and value >> min(size * 8 - 1, 63) & 1:
                value -= 2**64 if size >= 8 else 2 ** (size * 8)
            results.append(float(value))
        elif option in (ord("f"), ord("d")):
            code = ("<" if fmt.little else ">") + ("f" if option == ord("f") else "d")
            results.append(pystruct.unpack_from(code, data, pos)[0])
        elif option == ord("c"):
            if size == 0:
                size = _previous_size(results)
                if size > len(data) or pos > len(data) - size:
                    raise ArgumentError(2, "data string too short")
            results.append(data[pos:pos + size])
        elif option == ord("s"):
            end = data.find(b"\0", pos)
            if end < 0:
                raise LibraryError("unfinished string in data")
            size = end - pos + 1
            results.append(data[pos:end])
        elif option != ord("x"):
            fmt.control(option)
        pos += size
    return (*results, pos + 1)


def _previous_size(results: list) -> int:
    """'c0': the value unpacked just before is the string's length."""
    previous = results.pop() if results else None
    if type(previous) is bytes:
        try:
            previous = float(previous)
        except ValueError:
            previous = None
    if type(previous) not in (int, float):
        raise LibraryError("format 'c0' needs a previous size")
    return int(previous)


def _struct_size(*args) -> int:
    fmt = _StructFormat(check_string(args, 0))
    pos = 0
    for option, size in fmt:
        pos += fmt.padding(pos, option, size)
        if option == ord("s"):
            raise ArgumentError(1, "option 's' has no fixed size")
        if option == ord("c") and size == 0:
            raise ArgumentError(1, "option 'c0' has no fixed size")
        if not bytes((option,)).isalnum():
            fmt.control(option)
        pos += size
    return pos


STRUCT = {b"pack": _struct_pack, b"unpack": _struct_unpack, b"size": _struct_size}
