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
from typing import Any

import lupa.lua51 as lua51

_LuaTable = type(lua51.LuaRuntime().table())


class LibraryError(Exception):
    """Raised to Lua as an error with this message, after the calling script's position."""


def is_table(value: object) -> bool:
    return type(value) is _LuaTable


_TYPE_NAMES = {type(None): "nil", bool: "boolean", bytes: "string", int: "number",
               float: "number"}


def lua_type_name(value: object) -> str:
    """luaL_typename of a value as it reaches Python."""
    return _TYPE_NAMES.get(type(value)) or lua51.lua_type(value) or "userdata"


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


class Cjson:
    def __init__(self, runtime, null) -> None:
        self.runtime = runtime
        self.null = null  # cjson.null: a light userdata in Lua, a sentinel here

    def encode(self, *args) -> bytes:
        if len(args) != 1:
            raise LibraryError("bad argument #1 to 'encode' (expected 1 argument)")
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
            if kind is float and (math.isnan(value) or math.isinf(value)):
                raise LibraryError("Cannot serialise number: must not be NaN or Inf")
            out.append(format_number(value))
        elif kind is bytes:
            out.append(_json_string(value))
        elif kind is _LuaTable:
            if depth >= 1000:
                raise LibraryError("Cannot serialise, excessive nesting (1001)")
            length = array_length(value)
            if length:
                out.append(b"[")
                for i in range(1, length + 1):
                    if i > 1:
                        out.append(b",")
                    self._encode(value[i], out, depth + 1)
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
                    out.append(b'"' + format_number(key) + b'"')
                else:
                    raise LibraryError("Cannot serialise table: table key must be a number "
                                       "or string")
                out.append(b":")
                self._encode(item, out, depth + 1)
            out.append(b"}")
        else:
            name = lua51.lua_type(value) or kind.__name__
            raise LibraryError(f"Cannot serialise {name}: type not supported")

    def decode(self, *args):
        if len(args) != 1 or type(args[0]) not in (bytes, int, float):
            raise LibraryError("bad argument #1 to 'decode' (expected 1 argument)")
        text = args[0] if type(args[0]) is bytes else format_number(args[0])
        if len(text) >= 2 and not (text[0] and text[1]):
            raise LibraryError("JSON parser does not support UTF-16 or UTF-32")
        try:  # strict JSON in UTF-8, read by Python's C parser as lua-cjson reads it
            return self._to_lua(json.loads(text.decode("utf-8"), parse_int=float,
                                           parse_constant=_no_constant))
        except (ValueError, RecursionError):  # the rest: lua-cjson's own reading or error
            pass
        tokens = _JsonTokens(text)
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
                if len(stack) == _JSON_MAX_DEPTH:
                    raise LibraryError(f"Found too many nested data structures "
                                       f"({_JSON_MAX_DEPTH + 1}) at character {tokens.pos}")
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

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

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
            return self._number(pos)
        for word, kind, value in _JSON_WORDS:
            if data.startswith(word, pos):
                self.pos = pos + len(word)
                return (kind, pos, value)
        if char == 0x2B or data[pos:pos + 3].lower() in (b"inf", b"nan"):
            return self._number(pos)  # not JSON, but lua-cjson decodes them
        return ("T_ERROR", pos, "invalid token")

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
            raise LibraryError("MessagePack pack needs input.")
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
        if len(args) != 1 or type(args[0]) is not bytes:
            raise LibraryError("MessagePack unpack needs a string")
        data = args[0]
        values = []
        pos = 0
        while pos < len(data):
            value, pos = self._unpack(data, pos)
            values.append(value)
        return tuple(values)

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
def _tobit(value) -> int:
    if type(value) not in (int, float):
        raise LibraryError("bad argument #1 (number expected)")
    number = int(math.floor(value + 0.5)) if type(value) is float else value
    number &= 0xFFFFFFFF
    return number - 0x100000000 if number & 0x80000000 else number


def _bits(fold: Callable[[int, int], int]) -> Callable[..., int]:
    def operation(first, *rest) -> int:
        result = _tobit(first)
        for value in rest:
            result = fold(result, _tobit(value))
        return _tobit(result)
    return operation


def _shift(how: Callable[[int, int], int]) -> Callable[[Any, Any], int]:
    def operation(value, count) -> int:
        return _tobit(how(_tobit(value) & 0xFFFFFFFF, _tobit(count) & 31))
    return operation


def _tohex(value, digits=8) -> bytes:
    number = _tobit(value) & 0xFFFFFFFF
    digits = _tobit(digits)
    upper = digits < 0
    digits = min(abs(digits), 8)
    text = b"%0*x" % (digits, number & ((1 << (4 * digits)) - 1)) if digits else b""
    return text.upper() if upper else text


def _arshift(value, count) -> int:
    return _tobit(_tobit(value) >> (_tobit(count) & 31))


def _rotate(value: int, count: int) -> int:
    return ((value << count) | (value >> (32 - count))) & 0xFFFFFFFF


BIT = {
    b"tobit": _tobit,
    b"tohex": _tohex,
    b"bnot": lambda value: _tobit(~_tobit(value)),
    b"band": _bits(lambda a, b: a & b),
    b"bor": _bits(lambda a, b: a | b),
    b"bxor": _bits(lambda a, b: a ^ b),
    b"lshift": _shift(lambda a, n: a << n),
    b"rshift": _shift(lambda a, n: a >> n),
    b"arshift": _arshift,
    b"rol": _shift(_rotate),
    b"ror": _shift(lambda a, n: _rotate(a, (32 - n) % 32)),
    b"bswap": lambda value: _tobit(int.from_bytes(
        (_tobit(value) & 0xFFFFFFFF).to_bytes(4, "little"), "big")),
}


# -- struct ---------------------------------------------------------------------------------
_STRUCT_SIZES = {"b": 1, "h": 2, "l": 8, "T": 8, "i": 4, "f": 4, "d": 8}


def _struct_items(fmt: bytes, function: str):
    """(endianness, [(code, size)]) of a struct format string; ``function`` names the caller
    in the error about an unknown option (struct.size counts one as 0 bytes, as Redis's)."""
    endian = "<"
    items = []
    i = 0
    text = fmt.decode("latin-1")
    while i < len(text):
        code = text[i]
        i += 1
        digits = ""
        while i < len(text) and text[i].isdigit():
            digits += text[i]
            i += 1
        if code in "<>=!":
            endian = {"<": "<", ">": ">", "=": "<", "!": endian}[code]
        elif code in " ":
            continue
        elif code.lower() in _STRUCT_SIZES or code in "cs x":
            size = int(digits) if digits else _STRUCT_SIZES.get(code.lower(), 1)
            items.append((code, size))
        elif function == "size":
            continue
        else:
            raise LibraryError(f"bad argument #1 to '{function}' (invalid format option "
                               f"'{code}')")
    return endian, items


def _struct_value(values: tuple, index: int, code: str):
    """Argument ``index`` (0-based, after the format) of struct.pack, checked as Lua's
    luaL_checknumber / luaL_checklstring would: a number or a numeric string, a string or a
    number."""
    value = values[index] if index < len(values) else None
    wanted = "string" if code in "sc" else "number"
    if type(value) in (int, float):
        return format_number(value) if wanted == "string" else value
    if type(value) is bytes:
        if wanted == "string":
            return value
        try:
            return float(value)  # a Lua number is a double
        except ValueError:
            pass
    raise LibraryError(f"bad argument #{index + 2} to 'pack' ({wanted} expected, got "
                       f"{lua_type_name(value)})")


def _struct_pack(fmt, *values) -> bytes:
    endian, items = _struct_items(fmt, "pack")
    out = bytearray()
    taken = 0
    for code, size in items:
        if code == "x":
            out += b"\0"
            continue
        value = _struct_value(values, taken, code)
        taken += 1
        if code in "fd":
            out += pystruct.pack(endian + code, float(value))
        elif code == "s":
            out += value + b"\0"
        elif code == "c":
            out += value[:size] if size else value
        else:
            number = int(value) % (1 << (8 * size))
            out += number.to_bytes(size, "little" if endian == "<" else "big")
    return bytes(out)


def _struct_unpack(fmt, data, start=1):
    endian, items = _struct_items(fmt, "unpack")
    pos = int(start) - 1
    results: list = []
    for code, size in items:
        if code == "x":
            pos += 1
            continue
        if code in "fd":
            results.append(pystruct.unpack_from(endian + code, data, pos)[0])
            pos += size
        elif code == "s":
            end = data.index(b"\0", pos)
            results.append(data[pos:end])
            pos = end + 1
        elif code == "c":
            size = size or int(results.pop())
            results.append(data[pos:pos + size])
            pos += size
        else:
            if pos + size > len(data):
                raise LibraryError("bad argument #2 to 'unpack' (data string too short)")
            results.append(int.from_bytes(data[pos:pos + size],
                                          "little" if endian == "<" else "big",
                                          signed=code.islower()))
            pos += size
    results.append(pos + 1)
    return tuple(results)


def _struct_size(fmt) -> int:
    _, items = _struct_items(fmt, "size")
    if any(code in "s" or (code == "c" and not size) for code, size in items):
        raise LibraryError("options 'c0' - 's' have undefined sizes")
    return sum(size for _, size in items)


STRUCT = {b"pack": _struct_pack, b"unpack": _struct_unpack, b"size": _struct_size}
