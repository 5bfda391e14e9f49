"""LCS: the longest common subsequence of two strings, with LEN, IDX, MINMATCHLEN and
WITHMATCHLEN, the same subsequence and the same match ranges as Redis 7.0's lcsCommand.

Redis fills a (len(a)+1) x (len(b)+1) table of uint32 and walks it back from the end. Here
each row of that table is a bit vector (Hyyrö's bit-parallel LCS: bit j of row i is clear
where LCS(i, j+1) = LCS(i, j) + 1), computed with Python integers: 32 times less memory and
one big-integer step per byte of ``a``. The walk back reads the table through those bits, so
it takes Redis's path exactly.

Cost per request is bounded: Redis's own limit stays (the table may not exceed
proto-max-bulk-len, 512 MB by default), and rcache refuses strings whose lengths add up to
more than ``MAX_TOTAL_LENGTH`` bytes, since building the rows is a Python loop over ``a`` and
the walk back one over both strings (at that size, about 0.3 s on a 2-core test machine;
Redis takes seconds for what it accepts).
"""

from __future__ import annotations

from .. import errors
from .. import strings_store as ss
from ..errors import CommandError
from ..storage import STRING_KINDS
from .args import int_arg
from .strings import max_bulk_len
from .table import Context, command

NOT_STRINGS = "ERR The specified keys must contain string values"
LEN_AND_IDX = "ERR If you want both the length and indexes, please just use IDX."
TABLE_TOO_BIG = ("ERR Insufficient memory, transient memory for LCS exceeds "
                 "proto-max-bulk-len")
MAX_TOTAL_LENGTH = 512 * 1024
TOO_LONG = (f"ERR LCS input too long for rcache: the two strings may hold at most "
            f"{MAX_TOTAL_LENGTH} bytes together")


class LcsTable:
    """The rows of Redis's LCS table, as bit vectors (one bytes object per row)."""

    def __init__(self, a: bytes, b: bytes) -> None:
        width = len(b)
        full = (1 << width) - 1
        masks: dict[int, int] = {}
        for byte in set(a):  # bit j set where b[j] == byte, built at C speed
            digits = bytearray(b"0" * 256)
            digits[byte] = ord("1")
            masks[byte] = int(b.translate(digits)[::-1] or b"0", 2)
        size = (width + 7) // 8
        row = full
        self.rows = [row.to_bytes(size, "little")]
        for byte in a:
            match = row & masks[byte]
            row = ((row + match) | (row - match)) & full
            self.rows.append(row.to_bytes(size, "little"))

    def value(self, i: int, j: int) -> int:
        """LCS(a[:i], b[:j]): the clear bits among the first j of row i."""
        row = self.rows[i]
        whole, rest = divmod(j, 8)
        ones = int.from_bytes(row[:whole], "little").bit_count()
        if rest:
            ones += (row[whole] & ((1 << rest) - 1)).bit_count()
        return j - ones

    def step(self, i: int, j: int) -> int:
        """1 if LCS(i, j) = LCS(i, j-1), 0 if it is one more."""
        return (self.rows[i][(j - 1) >> 3] >> ((j - 1) & 7)) & 1


def _string(ctx: Context, key: bytes) -> ss.StoredString | None:
    record = ctx.ks.lookup(key)
    if record is not None and record[0] not in STRING_KINDS:
        raise CommandError(NOT_STRINGS)
    return None if record is None else ss.from_record(ctx.ks, key, record)


@command("lcs", -3, "readonly", 1, 2, 1, group="string", since="7.0.0",
         summary="Find longest common substring",
         complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively")
def lcs(ctx: Context, argv: list[bytes]) -> object:
    stored_a, stored_b = _string(ctx, argv[1]), _string(ctx, argv[2])
    get_len = get_idx = with_match_len = False
    min_match_len = 0
    j = 3
    while j < len(argv):
        option = argv[j].lower()
        if option == b"idx":
            get_idx = True
        elif option == b"len":
            get_len = True
        elif option == b"withmatchlen":
            with_match_len = True
        elif option == b"minmatchlen" and j + 1 < len(argv):
            min_match_len = max(int_arg(argv[j + 1]), 0)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if get_len and get_idx:
        raise CommandError(LEN_AND_IDX)
    len_a = stored_a.length if stored_a else 0
    len_b = stored_b.length if stored_b else 0
    if (len_a + 1) * (len_b + 1) * 4 > max_bulk_len(ctx):
        raise CommandError(TABLE_TOO_BIG)
    if len_a + len_b > MAX_TOTAL_LENGTH:
        raise CommandError(TOO_LONG)
    a = stored_a.read() if stored_a else b""  # bounded by the checks above
    b = stored_b.read() if stored_b else b""
    if get_len:  # symmetric: one row per byte of the shorter string
        short, long = sorted((a, b), key=len)
        return LcsTable(short, long).value(len(short), len(long))
    table = LcsTable(a, b)
    total = table.value(len(a), len(b))
    common, matches = _walk_back(table, a, b, total, min_match_len, with_match_len)
    if get_idx:
        return {b"matches": matches, b"len": total}
    return common


def _walk_back(table: LcsTable, a: bytes, b: bytes, total: int, min_match_len: int,
               with_match_len: bool) -> tuple[bytes, list]:
    """lcsCommand's walk from the end: the subsequence and the matching ranges, last first.

    ``here`` is LCS(i, j) and ``above`` LCS(i-1, j), kept up to date as the walk moves (a
    full count only when i changes)."""
    common = bytearray(total)
    matches: list = []
    unset = len(a)  # Redis marks "no range yet" with arange_start == len(a)
    a_start, a_end, b_start, b_end = unset, 0, 0, 0
    i, j, left = len(a), len(b), total
    here = total
    above = table.value(i - 1, j) if i > 0 else 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            common[left - 1] = a[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            left -= 1
            i -= 1
            j -= 1
            here -= 1
            above = table.value(i - 1, j) if i > 0 else 0
        else:
            left_value = here - 1 + table.step(i, j)
            if above > left_value:
                i -= 1
                here = above
                above = table.value(i - 1, j) if i > 0 else 0
            else:
                above = above - 1 + table.step(i - 1, j)
                here = left_value
                j -= 1
            if a_start != unset:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if min_match_len == 0 or match_len >= min_match_len:
                match = [[a_start, a_end], [b_start, b_end]]
                if with_match_len:
                    match.append(match_len)
                matches.append(match)
            a_start = unset
    return bytes(common), matches
