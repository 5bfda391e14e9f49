"""Argument parsers every command family shares, with Redis's exact error texts.

A command's parser (``@command(..., parser=...)``) is built from these: the node a write
arrives at runs it before proposing it, so a malformed write is answered without reaching
the Raft log, and hands the result to its own apply of the entry; the other nodes (and a
replay after a restart) run the same pure function of argv on the entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

from .. import errors
from ..errors import CommandError
from ..resp import parse_int

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


# -- integers -------------------------------------------------------------------------------------
def int_arg(raw: bytes) -> int:
    """A 64-bit integer argument, strict as Redis's getLongLongFromObjectOrReply."""
    value = parse_int(raw)
    if value is None:
        raise CommandError(errors.NOT_INTEGER)
    return value


def int32_arg(raw: bytes, error: str | None = None) -> int:
    """getIntFromObjectOrReply: its own error text (if given) for both failure kinds."""
    value = parse_int(raw)
    if value is None:
        raise CommandError(error or errors.NOT_INTEGER)
    if not INT_MIN <= value <= INT_MAX:
        raise CommandError(error or errors.out_of_range(INT_MIN, INT_MAX))
    return value


def positive_arg(raw: bytes, error: str = errors.MUST_BE_POSITIVE) -> int:
    """getPositiveLongFromObjectOrReply: 0 or more, one error text for both failures."""
    value = parse_int(raw)
    if value is None or value < 0:
        raise CommandError(error)
    return value


def optional_count(argv: list[bytes], at: int) -> int | None:
    """The optional trailing count of SPOP, LPOP/RPOP, ZPOPMIN/ZPOPMAX: None if absent."""
    return None if len(argv) <= at else positive_arg(argv[at])


# -- floats and timeouts --------------------------------------------------------------------------
_ISSPACE = frozenset(b" \t\n\v\f\r")
_STRTOD = re.compile(rb"""[+-]?(?:
    0x(?P<hex>(?:[0-9a-f]+(?:\.[0-9a-f]*)?|\.[0-9a-f]+))(?:p[+-]?[0-9]+)?
  | (?P<inf>inf(?:inity)?)
  | (?P<nan>nan(?:\([0-9a-z_]*\))?)
  | (?P<dec>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?
)""", re.VERBOSE | re.IGNORECASE)
# Redis parses with strtold, adds in x86's 80-bit long double (64-bit significand) and prints
# with "%.17Lf". Emulating that exactly (rationals rounded to 64 bits) reproduces its digits,
# e.g. 1e10 + 0.1 -> 10000000000.09999999962747097, which no decimal precision would.
_LD_MIN_EXP = -16445  # the smallest subnormal long double is 2**-16445
_LD_MAX_EXP = 16320  # the largest long double is (2**64 - 1) * 2**16320
_MAX_LONG_DOUBLE_CHARS = 5 * 1024
_STRTOLD = re.compile(rb"""
    [+-]?(?:
        0x(?P<hex_int>[0-9a-f]*)(?:\.(?P<hex_frac>[0-9a-f]*))?(?:p(?P<hex_exp>[+-]?[0-9]+))?
      | (?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:e(?P<exp>[+-]?[0-9]+))?
      | (?P<inf>inf|infinity)
    )""", re.VERBOSE | re.IGNORECASE)


def strtod(raw: bytes) -> tuple[float, int, bool]:
    """C's strtod on raw: (value, bytes consumed, ERANGE). Leading white space is skipped;
    nothing parsed consumes 0 bytes; ERANGE means overflow, or underflow to zero."""
    pos = 0
    while pos < len(raw) and raw[pos] in _ISSPACE:
        pos += 1
    found = _STRTOD.match(raw, pos)
    if found is None:
        return 0.0, 0, False
    text = found.group().decode()
    if found["inf"]:
        return (-math.inf if text[0] == "-" else math.inf), found.end(), False
    if found["nan"]:
        return math.nan, found.end(), False
    if found["hex"] is not None:
        nonzero = found["hex"].strip(b"0.") != b""
        try:
            value = float.fromhex(text)
        except OverflowError:
            return (-math.inf if text[0] == "-" else math.inf), found.end(), True
    else:
        nonzero = found["dec"].strip(b"0.") != b""
        value = float(text)
    return value, found.end(), math.isinf(value) or (value == 0 and nonzero)


def string2d(raw: bytes) -> float | None:
    """Redis's string2d (getDoubleFromObject): the whole argument one finite-or-inf number."""
    if not raw or raw[0] in _ISSPACE:
        return None
    value, end, out_of_range = strtod(raw)
    if end != len(raw) or value != value or out_of_range:
        return None
    return value


def float_arg(raw: bytes, error: str = errors.NOT_FLOAT) -> float:
    """A double argument, strict as Redis's getDoubleFromObjectOrReply (its text, or error)."""
    value = string2d(raw)
    if value is None:
        raise CommandError(error)
    return value


def timeout_arg(raw: bytes) -> int:
    """A blocking command's timeout: seconds as strtold reads them, in milliseconds rounded
    up as Redis's ceill of their long double product does (0.0001 waits 1 ms, -0.0001
    rounds to 0); 0 waits forever."""
    seconds = parse_long_double(raw)
    if seconds is None:
        raise CommandError("ERR timeout is not a float or out of range")
    millis = None if seconds == math.inf else to_long_double(seconds * 1000)
    if millis is None or not 0 <= math.ceil(millis) < 2**63:  # an overflow's cast is negative
        raise CommandError("ERR timeout is negative")
    return math.ceil(millis)


# -- long double arithmetic, as Redis's INCRBYFLOAT does it -----------------------------------
def _exponent(raw: bytes | None) -> int:
    """An exponent's digits, clamped: beyond a billion only its sign matters."""
    if not raw:
        return 0
    digits = raw.lstrip(b"+-").lstrip(b"0")
    magnitude = int(digits or b"0") if len(digits) <= 9 else 10**9
    return -magnitude if raw.startswith(b"-") else magnitude


def parse_long_double(raw: bytes) -> Fraction | float | None:
    """Redis's string2ld: the whole string must be one strtold number, with no leading
    space, no NaN, and no overflow or underflow to zero.

    Returns the exact value of the long double it reads, ``math.inf`` for an infinity of
    either sign (any sum with it is NaN or infinite, which INCRBYFLOAT refuses), or None.
    """
    if not 0 < len(raw) < _MAX_LONG_DOUBLE_CHARS:
        return None
    found = _STRTOLD.fullmatch(raw)
    if found is None:
        return None
    sign = -1 if raw.startswith(b"-") else 1
    if found["inf"]:
        return math.inf
    if found["hex_int"] is not None:
        whole, fraction = found["hex_int"], found["hex_frac"] or b""
        if not whole and not fraction:
            return None
        mantissa = int(whole + fraction, 16)
        exp2 = _exponent(found["hex_exp"]) - 4 * len(fraction)
        if mantissa == 0:
            return Fraction(0)
        if not _LD_MIN_EXP - 2 <= mantissa.bit_length() + exp2 <= _LD_MAX_EXP + 65:
            return None  # certain overflow, or underflow to zero
        exact = mantissa * Fraction(2) ** exp2
    else:
        whole, fraction = found["int"], found["frac"] or b""
        if not whole and not fraction:
            return None
        digits = (whole + fraction).lstrip(b"0")
        if not digits:
            return Fraction(0)
        exp10 = _exponent(found["exp"]) - len(fraction)
        if not -4953 <= len(digits) + exp10 <= 4934:
            return None  # certain overflow, or underflow to zero
        exact = Fraction(Decimal(f"{digits.decode()}e{exp10}"))
    return to_long_double(sign * exact) or None  # zero here means it underflowed


def to_long_double(exact: Fraction) -> Fraction | None:
    """Round to the nearest long double, ties to even; None when it overflows."""
    num, den = abs(exact.numerator), exact.denominator
    if num == 0:
        return exact
    exp = max(num.bit_length() - den.bit_length() - 63, _LD_MIN_EXP)
    mantissa, rest, divisor = _scaled_divmod(num, den, exp)
    if mantissa < 1 << 63 and exp > _LD_MIN_EXP:  # the estimate was one binade high
        exp -= 1
        mantissa, rest, divisor = _scaled_divmod(num, den, exp)
    if 2 * rest > divisor or (2 * rest == divisor and mantissa & 1):
        mantissa += 1
        if mantissa == 1 << 64:
            mantissa, exp = 1 << 63, exp + 1
    if exp > _LD_MAX_EXP:
        return None
    signed = mantissa if exact > 0 else -mantissa
    return Fraction(signed << exp) if exp >= 0 else Fraction(signed, 1 << -exp)


def _scaled_divmod(num: int, den: int, exp: int) -> tuple[int, int, int]:
    """divmod(num / 2**exp, 1) in integers: (quotient, remainder, divisor)."""
    if exp >= 0:
        divisor = den << exp
        return *divmod(num, divisor), divisor
    return *divmod(num << -exp, den), den


# -- options --------------------------------------------------------------------------------------
def flag_options(options: list[bytes], words: frozenset[bytes],
                 error: Callable[[bytes], str] = lambda _: errors.SYNTAX) -> set[bytes]:
    """Flags (NX, XX, GT, LT...) in any case and number, upper-cased; any other word gets
    ``error``'s text. The caller refuses the combinations Redis refuses, with their texts."""
    found = set()
    for raw in options:
        word = raw.upper()
        if word not in words:
            raise CommandError(error(raw))
        found.add(word)
    return found


def leading_flags(argv: list[bytes], start: int, words: frozenset[bytes]
                  ) -> tuple[set[bytes], int]:
    """Flags before the arguments proper (ZADD's NX XX CH INCR GT LT, GEOADD's NX XX CH):
    (the flags, lower-cased; the index of the first other argument)."""
    end = start
    while end < len(argv) and argv[end].lower() in words:
        end += 1
    return {word.lower() for word in argv[start:end]}, end


def limit_args(argv: list[bytes], at: int) -> tuple[int, int]:
    """LIMIT offset count, argv[at] being LIMIT (the caller checked that both follow)."""
    return int_arg(argv[at + 1]), int_arg(argv[at + 2])
