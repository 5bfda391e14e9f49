"""In-process checks of the algorithms behind HyperLogLog, geo and LCS, against plain
reference implementations and values read from Redis 7.0 (no server needed)."""

from __future__ import annotations

import random
from itertools import islice

from rcache.commands import geo, hyperloglog
from rcache.commands.lcs import LcsTable
from rcache.encodings import DEFAULT_LIMITS
from rcache.resp import DoubleText, encode

SPARSE_MAX = DEFAULT_LIMITS.hll_sparse_max_bytes


def _lcs_table(a: bytes, b: bytes) -> list[list[int]]:
    """Redis's uint32 table, filled the textbook way."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = (table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1]
                           else max(table[i - 1][j], table[i][j - 1]))
    return table


def test_lcs_rows_equal_the_full_table() -> None:
    rnd = random.Random(3)
    for _ in range(200):
        a = bytes(rnd.choice(b"abc\0") for _ in range(rnd.randrange(0, 25)))
        b = bytes(rnd.choice(b"abcd") for _ in range(rnd.randrange(0, 25)))
        expected, rows = _lcs_table(a, b), LcsTable(a, b)
        for i in range(len(a) + 1):
            for j in range(len(b) + 1):
                assert rows.value(i, j) == expected[i][j], (a, b, i, j)
                if j:
                    assert rows.step(i, j) == (expected[i][j] == expected[i][j - 1])


def test_dense_registers_round_trip() -> None:
    rnd = random.Random(5)
    registers = bytes(rnd.randrange(64) for _ in range(hyperloglog.REGISTERS))
    packed = hyperloglog.pack_dense(registers)
    assert len(packed) == hyperloglog.DENSE_SIZE - hyperloglog.HEADER
    assert bytes(hyperloglog.unpack_dense(packed)) == registers


def test_registers_max_is_bytewise_max() -> None:
    rnd = random.Random(7)
    edges = bytes(range(64)) * (hyperloglog.REGISTERS // 64)
    for _ in range(20):
        a = bytes(rnd.randrange(64) for _ in range(hyperloglog.REGISTERS))
        for b in (edges, a, bytes(rnd.randrange(64) for _ in range(hyperloglog.REGISTERS))):
            assert hyperloglog._registers_max(a, b) == bytes(map(max, a, b))


def test_hll_of_three_elements_is_redis_value() -> None:
    """PFADD h a b c on redis-server 7.0, then GET h: the sparse bytes, cached count stale."""
    hll = hyperloglog.empty_hll()
    assert [hyperloglog._add(hll, *hyperloglog.pattern(element), SPARSE_MAX)
            for element in (b"a", b"b", b"c")] == [1, 1, 1]
    hll[15] |= 0x80  # what PFADD does once it changed something
    assert bytes(hll) == (b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"
                          b"`\xf3\x80P\xb1\x84K\xfb\x80BZ")
    assert hyperloglog.estimate(hyperloglog.histogram(hyperloglog.registers_of(hll))) == 3


def _same_bytes_as_walk(hll: bytearray, elements: list[bytes], max_bytes: int = SPARSE_MAX
                        ) -> None:
    walked = bytearray(hll)
    grew, corrupt = hyperloglog._add_all(hll, elements, max_bytes)
    results = [hyperloglog._add(walked, *hyperloglog.pattern(e), max_bytes) for e in elements]
    walked[15] = hll[15]  # (the walk marks the cached count stale; PFADD does that after)
    assert (grew, corrupt) == (1 in results, False)
    assert hll == walked


def test_hll_batch_adds_equal_one_walk_per_element() -> None:
    """PFADD's bisected opcode list leaves the bytes the per-element walk of hllSparseSet
    leaves: random elements up to the turn to dense, elements crowding the first 64
    registers (merges of adjacent VALs), and a hand-written value of one-register XZEROs."""
    rnd = random.Random(11)
    for size in (1, 60, 400, 1500, 3000):
        _same_bytes_as_walk(hyperloglog.empty_hll(),
                            [b"%d" % rnd.randrange(10 ** 9) for _ in range(size)])
        _same_bytes_as_walk(hyperloglog.empty_hll(),  # hll-sparse-max-bytes 100
                            [b"%d" % rnd.randrange(10 ** 9) for _ in range(size)], 100)
    numbers = (b"%d" % n for n in range(10 ** 6))
    crowded = list(islice((e for e in numbers if hyperloglog.pattern(e)[0] < 64), 300))
    _same_bytes_as_walk(hyperloglog.empty_hll(), crowded)
    # 1400 XZEROs of one register, 2818 bytes: shrinking them leaves room for 120 more
    # elements before the sparse limit (3000), which only a kept byte count knows.
    ones = hyperloglog.empty_hll()
    ones[hyperloglog.HEADER:] = b"\x40\x00" * 1400 + hyperloglog._zeros(16384 - 1400)
    numbers = (b"%d" % n for n in range(10 ** 6))
    early = list(islice((e for e in numbers if hyperloglog.pattern(e)[0] < 1400), 300))
    _same_bytes_as_walk(ones, early + [b"%d" % rnd.randrange(10 ** 9) for _ in range(120)])
    assert ones[4] == hyperloglog.SPARSE


def test_geo_scores_and_positions_are_redis_values() -> None:
    """GEOADD Sicily 13.361389 38.115556 Palermo; ZSCORE and GEOPOS from redis-server 7.0."""
    hashed = geo.encode(13.361389, 38.115556, geo.STEP_MAX)
    assert geo.align52(hashed) == 3479099956230698
    lon, lat = geo.score_position(3479099956230698.0)
    assert (repr(lon), repr(lat)) == ("13.361389338970184", "38.1155563954963")
    catania = geo.score_position(3479447370796909.0)
    assert geo.format_distance(geo.distance(lon, lat, *catania)) == b"166274.1516"


def test_coordinates_are_bulk_in_resp2_and_doubles_in_resp3() -> None:
    """addReplyHumanLongDouble: the same text either way."""
    assert encode([DoubleText(b"13.36138933897018433")]) == b"*1\r\n$20\r\n13.36138933897018433\r\n"
    assert encode(DoubleText(b"-0.5"), resp3=True) == b",-0.5\r\n"
