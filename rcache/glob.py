"""Redis's glob (``stringmatchlen`` in util.c) with a cost bounded by pattern x subject.

Redis matches by recursion at every ``*``; a naive copy (or a backtracking regex) takes
exponential time on ``*a*a*a*...*b`` and stops the node (CVE-2022-36021). Every glob token
but ``*`` consumes exactly one byte, so the leftmost occurrence of each segment between stars
is always the best one: the compiled regex commits to it with atomic groups and never
backtracks into an earlier segment, so a match costs at most O(len(pattern) * len(subject)).

The pattern is tokenized by a transliteration of Redis's loop, so its quirks hold: an
unterminated ``[`` takes the rest of the pattern as its set, ``[a-]`` is the range a..],
reversed ranges are swapped, bytes compare as C's signed ``char``, ``nocase`` lowers ASCII
only (and after a range's swap), an empty subject matches only the empty pattern, and past
1000 nested stars Redis gives up (no match).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

_STAR = None  # a token: _STAR, or the frozenset of byte values one position accepts
_ALL = frozenset(range(256))
_MAX_NESTING = 1000  # Redis's "protection against abusive patterns"


def _signed(byte: int) -> int:
    """C's ``char`` on x86: bytes above 0x7f compare as negative numbers."""
    return byte - 256 if byte > 127 else byte


def _lower(value: int) -> int:
    """C's ``tolower`` in the C locale: ASCII letters only."""
    return value + 32 if 65 <= value <= 90 else value


def _same(pattern_byte: int, nocase: bool) -> frozenset[int]:
    if not nocase:
        return frozenset((pattern_byte,))
    wanted = _lower(pattern_byte)
    return frozenset(b for b in range(256) if _lower(b) == wanted)


def _in_range(start_byte: int, end_byte: int, nocase: bool) -> frozenset[int]:
    start, end = sorted((_signed(start_byte), _signed(end_byte)))
    if nocase:
        start, end = _lower(start), _lower(end)
        return frozenset(b for b in range(256) if start <= _lower(_signed(b)) <= end)
    return frozenset(b for b in range(256) if start <= _signed(b) <= end)


def tokenize(pattern: bytes, nocase: bool = False) -> list[frozenset[int] | None]:
    """The pattern as Redis's loop reads it: runs of stars collapse into one ``_STAR``."""
    tokens: list[frozenset[int] | None] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # '*'
            while i + 1 < n and pattern[i + 1] == 0x2A:
                i += 1
            tokens.append(_STAR)
        elif c == 0x3F:  # '?'
            tokens.append(_ALL)
        elif c == 0x5B:  # '['
            i += 1
            negate = i < n and pattern[i] == 0x5E  # '^'
            if negate:
                i += 1
            accepted: set[int] = set()
            while True:
                if i < n and pattern[i] == 0x5C and n - i >= 2:  # '\\' escapes one byte
                    i += 1
                    accepted.add(pattern[i])  # compared as is, even with nocase
                elif i < n and pattern[i] == 0x5D:  # ']'
                    break
                elif i >= n:  # unterminated: the set ends with the pattern
                    i -= 1
                    break
                elif n - i >= 3 and pattern[i + 1] == 0x2D:  # 'a-z' (even 'a-]')
                    accepted |= _in_range(pattern[i], pattern[i + 2], nocase)
                    i += 2
                else:
                    accepted |= _same(pattern[i], nocase)
                i += 1
            tokens.append(_ALL - accepted if negate else frozenset(accepted))
        else:
            if c == 0x5C and n - i >= 2:  # '\\': the next byte literally
                i += 1
            tokens.append(_same(pattern[i], nocase))
        i += 1
    return tokens


def _regex_class(accepted: frozenset[int]) -> bytes:
    if accepted == _ALL:
        return b"."
    if not accepted:
        return b"(?!)"
    if len(accepted) == 1:
        return b"\\x%02x" % next(iter(accepted))
    parts, values = [], sorted(accepted)
    start = prev = values[0]
    for value in [*values[1:], -2]:
        if value != prev + 1:
            single = start == prev
            parts.append(b"\\x%02x" % start if single else b"\\x%02x-\\x%02x" % (start, prev))
            start = value
        prev = value
    return b"[" + b"".join(parts) + b"]"


def _regex(tokens: list[frozenset[int] | None]) -> bytes:
    """``seg0 (?>.*?seg1) ... (?>.*?segN-1) .*segN \\Z``: each middle segment taken at its
    leftmost place and never revisited; the last one anchored at the end."""
    segments: list[bytes] = [b""]
    stars = 0
    for token in tokens:
        if token is _STAR:
            stars += 1
            segments.append(b"")
        else:
            segments[-1] += _regex_class(token)
    if stars == 0:
        return segments[0] + b"\\Z"
    if stars > _MAX_NESTING + 1 or (stars > _MAX_NESTING and tokens[-1] is not _STAR):
        return b"(?!)"  # Redis's recursion limit: what follows the 1001st star never matches
    middle = b"".join(b"(?>.*?" + seg + b")" for seg in segments[1:-1])
    return segments[0] + middle + b".*" + segments[-1] + b"\\Z"


# A compiled pattern costs ~25 bytes per pattern byte: only short ones are kept for reuse.
CACHED_PATTERN_MAX = 1024


def matcher(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """``matcher(pattern)(subject)`` is Redis's ``stringmatchlen(pattern, subject, nocase)``."""
    if len(pattern) <= CACHED_PATTERN_MAX:
        return _cached_matcher(pattern, nocase)
    match = _compiled_matcher(pattern, nocase)
    re.purge()  # re keeps its last 512 compiled patterns: not this one
    return match


@lru_cache(maxsize=256)
def _cached_matcher(pattern: bytes, nocase: bool) -> Callable[[bytes], bool]:
    if not pattern:
        return lambda subject: not subject
    return _compiled_matcher(pattern, nocase)


def _compiled_matcher(pattern: bytes, nocase: bool) -> Callable[[bytes], bool]:
    compiled = re.compile(_regex(tokenize(pattern, nocase)), re.DOTALL)
    return lambda subject: bool(subject) and compiled.match(subject) is not None


def literal_prefix(pattern: bytes) -> bytes:
    """The part of a glob before its first special character (lets KEYS seek, not scan all)."""
    cut = len(pattern)
    for special in (b"*", b"?", b"[", b"\\"):
        pos = pattern.find(special)
        if pos >= 0:
            cut = min(cut, pos)
    return pattern[:cut]
