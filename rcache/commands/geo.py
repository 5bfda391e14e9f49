"""Geo commands on sorted sets: GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEOSEARCHSTORE and
the GEORADIUS family, as Redis 7.0's geo.c, geohash.c and geohash_helper.c compute them.

A member's score is its 52-bit geohash: latitude (-85.05112878..85.05112878) and longitude
(-180..180) each cut into 2**26 steps, bits interleaved (latitude in the even bits). A search
walks the geohash box around the centre and its eight neighbours, at the precision Redis
estimates from the radius, in Redis's order, and keeps the points inside the shape by the
same haversine distance (earth radius 6372797.560856 m). The same libm and the same double
arithmetic give the same coordinates, distances and digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from .. import collections_store as cs
from .. import errors
from ..errors import CommandError
from ..resp import NULL_ARRAY, DoubleText
from ..storage import ZSET, Keyspace
from .args import float_arg, int_arg, leading_flags
from .strings import format_long_double
from .table import Context, command
from .zsets import ZaddArgs, store_sorted_set, zadd

_G = "geo"
LONG_MIN, LONG_MAX = -180.0, 180.0
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
STEP_MAX = 26
_D_R = math.pi / 180.0
EARTH_RADIUS = 6372797.560856
_MERCATOR_MAX = 20037726.37
_M64 = 0xFFFFFFFFFFFFFFFF
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA
_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"

BAD_UNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"
NO_MEMBER = "ERR could not decode requested zset member"
COUNT_POSITIVE = "ERR COUNT must be > 0"
ANY_NEEDS_COUNT = "ERR the ANY argument requires COUNT argument"

Hash = tuple[int, int]  # (bits, step); (0, 0) is "no box"
Area = tuple[float, float, float, float]  # lon min, lon max, lat min, lat max


# -- geohash.c ------------------------------------------------------------------------------------
def _spread(value: int) -> int:
    """The bits of a 32-bit value moved to the even positions."""
    value &= 0xFFFFFFFF
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF),
                        (4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333), (1, _EVEN)):
        value = (value | (value << shift)) & mask
    return value


def _squash(value: int) -> int:
    """The even bits of a 64-bit value packed into 32."""
    value &= _EVEN
    for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F),
                        (4, 0x00FF00FF00FF00FF), (8, 0x0000FFFF0000FFFF), (16, 0xFFFFFFFF)):
        value = (value | (value >> shift)) & mask
    return value


def encode(lon: float, lat: float, step: int, lat_min: float = LAT_MIN,
           lat_max: float = LAT_MAX) -> Hash:
    """geohashEncode (the longitude range is always -180..180)."""
    if not (LONG_MIN <= lon <= LONG_MAX and LAT_MIN <= lat <= LAT_MAX):
        return 0, step
    lat_offset = (lat - lat_min) / (lat_max - lat_min) * float(1 << step)
    lon_offset = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * float(1 << step)
    return _spread(int(lat_offset)) | (_spread(int(lon_offset)) << 1), step


def decode(hashed: Hash) -> Area:
    """geohashDecode: the box a hash stands for."""
    bits, step = hashed
    lat_cells, lon_cells = _squash(bits), _squash(bits >> 1)
    lat_scale, lon_scale = LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN
    cells = float(1 << step)
    return (LONG_MIN + (lon_cells * 1.0 / cells) * lon_scale,
            LONG_MIN + (((lon_cells + 1) & 0xFFFFFFFF) * 1.0 / cells) * lon_scale,
            LAT_MIN + (lat_cells * 1.0 / cells) * lat_scale,
            LAT_MIN + (((lat_cells + 1) & 0xFFFFFFFF) * 1.0 / cells) * lat_scale)


def _to_uint64(score: float) -> int:
    """C's (uint64_t) of a double as gcc does it on x86-64, out-of-range values included: below
    2**63 a signed conversion (2**63 when it overflows), above it one of score - 2**63 with the
    top bit flipped (so 1e300 and inf give 0)."""
    if not score >= 2.0**63:
        return int(score) & _M64 if -(2.0**63) <= score < 2.0**63 else 1 << 63
    return int(score) & _M64 if score < 2.0**64 else 0


def score_position(score: float) -> tuple[float, float]:
    """decodeGeohash: (longitude, latitude) of a member, the centre of its box, clamped."""
    lon_min, lon_max, lat_min, lat_max = decode((_to_uint64(score), STEP_MAX))
    lon = min(max((lon_min + lon_max) / 2, LONG_MIN), LONG_MAX)
    lat = min(max((lat_min + lat_max) / 2, LAT_MIN), LAT_MAX)
    return lon, lat


def _move(hashed: Hash, dx: int, dy: int) -> Hash:
    """geohash_move_x then geohash_move_y."""
    bits, step = hashed
    for delta, moving_mask in ((dx, _ODD), (dy, _EVEN)):
        if not delta:
            continue
        moving, fixed = bits & moving_mask, bits & (moving_mask ^ _M64)
        zz = (moving_mask ^ _M64) >> (64 - step * 2)
        if delta > 0:
            moving = (moving + zz + 1) & _M64
        else:
            moving = ((moving | zz) - (zz + 1)) & _M64
        bits = (moving & (moving_mask >> (64 - step * 2))) | fixed
    return bits, step


def align52(hashed: Hash) -> int:
    bits, step = hashed
    return (bits << (52 - step * 2)) & _M64


# -- geohash_helper.c -----------------------------------------------------------------------------
def _nan_outside_domain(function):
    """C's libm returns NaN where Python's math raises (cos(inf), asin(1.0000000000000002))."""

    def call(x: float) -> float:
        try:
            return function(x)
        except ValueError:
            return math.nan

    return call


_cos, _asin = _nan_outside_domain(math.cos), _nan_outside_domain(math.asin)


def _lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS * abs(lat2 * _D_R - lat1 * _D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance: haversine."""
    lon1r, lon2r = lon1 * _D_R, lon2 * _D_R
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return _lat_distance(lat1, lat2)
    lat1r, lat2r = lat1 * _D_R, lat2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * _asin(math.sqrt(a))


def _estimate_steps(range_meters: float, lat: float) -> int:
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < _MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), 26)


class Shape:
    """A search area: a circle (radius) or a box (width, height), in the unit's meters."""

    __slots__ = ("lon", "lat", "radius", "width", "height", "conversion", "box")

    def __init__(self) -> None:
        self.lon = self.lat = self.radius = self.width = self.height = 0.0
        self.conversion = 1.0
        self.box = False

    def bounds(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: lon min, lat min, lon max, lat max."""
        height = self.conversion * (self.height / 2 if self.box else self.radius)
        width = self.conversion * (self.width / 2 if self.box else self.radius)
        lat_delta = height / EARTH_RADIUS / _D_R
        top = width / EARTH_RADIUS / _cos((self.lat + lat_delta) * _D_R) / _D_R
        bottom = width / EARTH_RADIUS / _cos((self.lat - lat_delta) * _D_R) / _D_R
        lon_delta = bottom if self.lat < 0 else top
        return (self.lon - lon_delta, self.lat - lat_delta, self.lon + lon_delta,
                self.lat + lat_delta)

    def distance_if_inside(self, lon: float, lat: float) -> float | None:
        """geoWithinShape: the distance from the centre, None when outside."""
        if not self.box:
            found = distance(self.lon, self.lat, lon, lat)
            return None if found > self.radius * self.conversion else found
        if _lat_distance(self.lat, lat) > self.height * self.conversion / 2:
            return None
        if distance(lon, lat, self.lon, lat) > self.width * self.conversion / 2:
            return None
        return distance(self.lon, self.lat, lon, lat)

    def boxes(self) -> list[Hash]:
        """geohashCalculateAreasByShapeWGS84: the centre box, then N S E W NE NW SE SW;
        (0, 0) for a neighbour the search cannot reach."""
        min_lon, min_lat, max_lon, max_lat = self.bounds()
        if self.box:
            radius = math.sqrt((self.width / 2) * (self.width / 2)
                               + (self.height / 2) * (self.height / 2))
        else:
            radius = self.radius
        steps = _estimate_steps(radius * self.conversion, self.lat)
        centre = encode(self.lon, self.lat, steps)
        north, south = decode(_move(centre, 0, 1)), decode(_move(centre, 0, -1))
        east, west = decode(_move(centre, 1, 0)), decode(_move(centre, -1, 0))
        if steps > 1 and (north[3] < max_lat or south[2] > min_lat or east[1] < max_lon
                          or west[0] > min_lon):
            steps -= 1
            centre = encode(self.lon, self.lat, steps)
        area = decode(centre)
        moves = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)]
        found = [centre] + [_move(centre, dx, dy) for dx, dy in moves]
        if steps >= 2:
            for outside, direction in ((area[2] < min_lat, (None, -1)),
                                       (area[3] > max_lat, (None, 1)),
                                       (area[0] < min_lon, (-1, None)),
                                       (area[1] > max_lon, (1, None))):
                if outside:
                    for i, (dx, dy) in enumerate(moves, 1):
                        if dx == direction[0] or dy == direction[1]:
                            found[i] = (0, 0)
        return found


# -- arguments ------------------------------------------------------------------------------------
def _lon_lat(raw_lon: bytes, raw_lat: bytes) -> tuple[float, float]:
    """extractLongLatOrReply."""
    lon, lat = float_arg(raw_lon), float_arg(raw_lat)
    if not (LONG_MIN <= lon <= LONG_MAX and LAT_MIN <= lat <= LAT_MAX):
        raise CommandError(f"ERR invalid longitude,latitude pair {lon:f},{lat:f}")
    return lon, lat


def _unit(raw: bytes) -> float:
    unit = _UNITS.get(raw.lower())
    if unit is None:
        raise CommandError(BAD_UNIT)
    return unit


def _radius(shape: Shape, raw: bytes, unit: bytes) -> None:
    """extractDistanceOrReply."""
    radius = float_arg(raw, "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    shape.radius, shape.conversion, shape.box = radius, _unit(unit), False


def _box(shape: Shape, raw_width: bytes, raw_height: bytes, unit: bytes) -> None:
    """extractBoxOrReply."""
    width = float_arg(raw_width, "ERR need numeric width")
    height = float_arg(raw_height, "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    shape.width, shape.height, shape.conversion, shape.box = width, height, _unit(unit), True


def _member_position(ks: Keyspace, meta: cs.Meta, member: bytes) -> tuple[float, float]:
    score = cs.zset_score(ks, meta, member)
    if score is None:
        raise CommandError(NO_MEMBER)
    return score_position(score)


def _read(ks: Keyspace, key: bytes) -> cs.Meta | None:
    return cs.lookup(ks, key, ZSET)


def format_distance(value: float) -> bytes:
    """fixedpoint_d2string(4): llrint(value * 10000), with four decimals."""
    if value == 0:
        return b"0.0000"
    scaled = -(2**63)  # what llrint gives on x86 for NaN and out-of-range values
    if math.isfinite(value * 10000.0) and abs(round(value * 10000.0)) < 2**63:
        scaled = round(value * 10000.0)
    whole, fraction = divmod(abs(scaled), 10000)
    return b"%s%d.%04d" % (b"-" if scaled < 0 else b"", whole, fraction)


def _coordinate(value: float) -> DoubleText:
    return DoubleText(format_long_double(Fraction(value)))


# -- commands -------------------------------------------------------------------------------------
@command("geoadd", -5, "write denyoom", 1, 1, 1, group=_G, since="3.2.0",
         summary="Add one or more geospatial items in the geospatial index represented using a "
                 "sorted set",
         complexity="O(log(N)) for each item added, where N is the number of elements in the "
                    "sorted set.", parser=lambda argv: _as_zadd(argv))
def geoadd(ctx: Context, args: ZaddArgs) -> object:
    return zadd(ctx, args)


_GEOADD_FLAGS = frozenset((b"nx", b"xx", b"ch"))


def _as_zadd(argv: list[bytes]) -> ZaddArgs:
    """GEOADD as ZADD with the geohashes as scores (and NX XX CH passed on)."""
    options, first = leading_flags(argv, 2, _GEOADD_FLAGS)
    if (len(argv) - first) % 3 or first == len(argv) or {b"nx", b"xx"} <= options:
        raise CommandError(errors.SYNTAX)  # (no point at all: ZADD's syntax error)
    scores = [float(align52(encode(*_lon_lat(argv[i], argv[i + 1]), STEP_MAX)))
              for i in range(first, len(argv), 3)]
    return ZaddArgs(argv[1], frozenset(options), False, scores, argv[first + 2::3])


@command("geopos", -2, "readonly", 1, 1, 1, group=_G, since="3.2.0",
         summary="Returns longitude and latitude of members of a geospatial index",
         complexity="O(N) where N is the number of members requested.")
def geopos(ctx: Context, argv: list[bytes]) -> list:
    ks = ctx.ks
    meta = _read(ks, argv[1])
    positions: list = []
    for member in argv[2:]:
        score = None if meta is None else cs.zset_score(ks, meta, member)
        if score is None:
            positions.append(NULL_ARRAY)
        else:
            positions.append([_coordinate(value) for value in score_position(score)])
    return positions


@command("geodist", -4, "readonly", 1, 1, 1, group=_G, since="3.2.0",
         summary="Returns the distance between two members of a geospatial index",
         complexity="O(log(N))")
def geodist(ctx: Context, argv: list[bytes]) -> bytes | None:
    if len(argv) > 5:
        raise CommandError(errors.SYNTAX)
    unit = _unit(argv[4]) if len(argv) == 5 else 1.0
    ks = ctx.ks
    meta = _read(ks, argv[1])
    if meta is None:
        return None
    first, second = cs.zset_score(ks, meta, argv[2]), cs.zset_score(ks, meta, argv[3])
    if first is None or second is None:
        return None
    return format_distance(distance(*score_position(first), *score_position(second)) / unit)


@command("geohash", -2, "readonly", 1, 1, 1, group=_G, since="3.2.0",
         summary="Returns members of a geospatial index as standard geohash strings",
         complexity="O(log(N)) for each member requested, where N is the number of elements in "
                    "the sorted set.")
def geohash(ctx: Context, argv: list[bytes]) -> list[bytes | None]:
    """The standard geohash (latitude -90..90), 11 characters, the last always '0'."""
    ks = ctx.ks
    meta = _read(ks, argv[1])
    hashes: list[bytes | None] = []
    for member in argv[2:]:
        score = None if meta is None else cs.zset_score(ks, meta, member)
        if score is None:
            hashes.append(None)
            continue
        bits = encode(*score_position(score), 26, -90.0, 90.0)[0]
        hashes.append(bytes(_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(10))
                      + b"0")
    return hashes


RADIUS_COORDS, RADIUS_MEMBER, NOSTORE, SEARCH, SEARCHSTORE = 1, 2, 4, 8, 16


@dataclass(slots=True)
class Search:
    """A GEOSEARCH/GEORADIUS request, parsed."""

    shape: Shape = field(default_factory=Shape)
    withdist: bool = False
    withhash: bool = False
    withcoord: bool = False
    any: bool = False
    sort: str = ""  # "", "asc" or "desc"
    count: int = 0  # 0: no limit
    store_key: bytes | None = None
    store_dist: bool = False


def _parse_search(ks: Keyspace, meta: cs.Meta | None, argv: list[bytes], flags: int
                  ) -> Search:
    """georadiusGeneric's parsing, its errors in its order (a missing source key still has
    its options checked; the centre member is looked up only when the key exists)."""
    search = Search()
    shape = search.shape
    if flags & RADIUS_COORDS:
        base = 6
        shape.lon, shape.lat = _lon_lat(argv[2], argv[3])
        _radius(shape, argv[4], argv[5])
    elif flags & RADIUS_MEMBER:
        base = 5
        if meta is not None:
            shape.lon, shape.lat = _member_position(ks, meta, argv[2])
            _radius(shape, argv[3], argv[4])
    else:
        base = 3 if flags & SEARCHSTORE else 2
        if flags & SEARCHSTORE:
            search.store_key = argv[1]
    from_member = from_lonlat = by_radius = by_box = False
    i = base
    while i < len(argv):
        arg, more = argv[i].lower(), len(argv) - i - 1
        if arg == b"withdist":
            search.withdist = True
        elif arg == b"withhash":
            search.withhash = True
        elif arg == b"withcoord":
            search.withcoord = True
        elif arg == b"any":
            search.any = True
        elif arg in (b"asc", b"desc"):
            search.sort = arg.decode()
        elif arg == b"count" and more >= 1:
            search.count = int_arg(argv[i + 1])
            if search.count <= 0:
                raise CommandError(COUNT_POSITIVE)
            i += 1
        elif arg in (b"store", b"storedist") and more >= 1 and not flags & (NOSTORE | SEARCH):
            search.store_key, search.store_dist = argv[i + 1], arg == b"storedist"
            i += 1
        elif arg == b"storedist" and flags & SEARCHSTORE:
            search.store_dist = True
        elif arg == b"frommember" and more >= 1 and flags & SEARCH and not from_lonlat:
            if meta is not None:
                shape.lon, shape.lat = _member_position(ks, meta, argv[i + 1])
            from_member = True
            i += 1
        elif arg == b"fromlonlat" and more >= 2 and flags & SEARCH and not from_member:
            shape.lon, shape.lat = _lon_lat(argv[i + 1], argv[i + 2])
            from_lonlat = True
            i += 2
        elif arg == b"byradius" and more >= 2 and flags & SEARCH and not by_box:
            _radius(shape, argv[i + 1], argv[i + 2])
            by_radius = True
            i += 2
        elif arg == b"bybox" and more >= 3 and flags & SEARCH and not by_radius:
            _box(shape, argv[i + 1], argv[i + 2], argv[i + 3])
            by_box = True
            i += 3
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if search.store_key is not None and (search.withdist or search.withhash or search.withcoord):
        what = "GEOSEARCHSTORE" if flags & SEARCHSTORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD "
                           "options")
    name = argv[0].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if flags & SEARCH and not (from_member or from_lonlat):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for "
                           f"{name}")
    if flags & SEARCH and not (by_radius or by_box):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if search.any and not search.count:
        raise CommandError(ANY_NEEDS_COUNT)
    return search


def _store_event(argv: list[bytes]) -> bytes:
    """The keyspace event of a search that stores its result, as Redis names it."""
    return b"geosearchstore" if argv[0].lower() == b"geosearchstore" else b"georadiusstore"


def _search(ctx: Context, argv: list[bytes], source: int, flags: int) -> object:
    """georadiusGeneric: parse, then the boxes, the points inside, sorted, replied or
    stored. COUNT without ANY sorts nearest first unless told otherwise."""
    ks = ctx.ks
    with ks.reads_counted():  # a STORE search's source too, as Redis counts reads
        meta = _read(ks, argv[source])
    search = _parse_search(ks, meta, argv, flags)
    if meta is None:
        if search.store_key is not None:  # deleted, as for an empty result
            return store_sorted_set(ks, search.store_key, {}, _store_event(argv))
        return []
    sort = search.sort or ("asc" if search.count and not search.any else "")
    points = _points(ks, meta, search.shape, search.count if search.any else 0)
    if sort:
        points.sort(key=lambda point: point[1], reverse=sort == "desc")
    if search.count:
        points = points[:search.count]
    conversion = search.shape.conversion
    if search.store_key is not None:
        return store_sorted_set(ks, search.store_key, {
            member: dist / conversion if search.store_dist else score
            for member, dist, score in points}, _store_event(argv))
    return [_result(point, conversion, search) for point in points]


def _points(ks: Keyspace, meta: cs.Meta, shape: Shape, limit: int
            ) -> list[tuple[bytes, float, float]]:
    """membersOfAllNeighbors: (member, distance, score) of the points inside the shape, box
    by box (a box equal to the one searched just before is skipped, as in Redis), each in
    score order; at most ``limit`` (0: all)."""
    found: list[tuple[bytes, float, float]] = []
    last = None
    for index, box in enumerate(shape.boxes()):
        if box == (0, 0):
            continue
        if last and box == last:
            continue
        if limit and len(found) >= limit:
            break
        low, high = align52(box), align52((box[0] + 1, box[1]))
        for member, score in cs.iter_zset(ks, meta, False, (float(low), False),
                                          (float(high), True)):
            dist = shape.distance_if_inside(*score_position(score))
            if dist is not None:
                found.append((member, dist, score))
            if limit and len(found) >= limit:
                break
        last = box if index else None
    return found


def _result(point: tuple[bytes, float, float], conversion: float, search: Search) -> object:
    member, dist, score = point
    if not (search.withdist or search.withhash or search.withcoord):
        return member
    item: list = [member]
    if search.withdist:
        item.append(format_distance(dist / conversion))
    if search.withhash:
        item.append(int(score))
    if search.withcoord:
        item.append([_coordinate(value) for value in score_position(score)])
    return item


def _store_keys(start: int):
    """Key positions as Redis's key specs give them (COMMAND GETKEYS): the source, then the
    key after the first STORE and after the first STOREDIST from ``start`` on."""

    def find(argv: list[bytes]) -> list[int]:
        found = [1]
        for keyword in (b"store", b"storedist"):
            for i in range(start, len(argv) - 1):
                if argv[i].lower() == keyword:
                    found.append(i + 1)
                    break
        return found

    return find


_SEARCH_COMPLEXITY = ("O(N+log(M)) where N is the number of elements in the grid-aligned "
                      "bounding box area around the shape provided as the filter and M is the "
                      "number of items inside the shape")


@command("georadius", -6, "write denyoom", 1, 1, 1, group=_G, since="3.2.0",
         key_finder=_store_keys(6), complexity=_SEARCH_COMPLEXITY,
         summary="Query a sorted set representing a geospatial index to fetch members matching "
                 "a given maximum distance from a point")
def georadius(ctx: Context, argv: list[bytes]) -> object:
    return _search(ctx, argv, 1, RADIUS_COORDS)


@command("georadiusbymember", -5, "write denyoom", 1, 1, 1, group=_G, since="3.2.0",
         key_finder=_store_keys(5), complexity=_SEARCH_COMPLEXITY,
         summary="Query a sorted set representing a geospatial index to fetch members matching "
                 "a given maximum distance from a member")
def georadiusbymember(ctx: Context, argv: list[bytes]) -> object:
    return _search(ctx, argv, 1, RADIUS_MEMBER)


@command("georadius_ro", -6, "readonly", 1, 1, 1, group=_G, since="3.2.10",
         complexity=_SEARCH_COMPLEXITY,
         summary="A read-only variant for GEORADIUS")
def georadius_ro(ctx: Context, argv: list[bytes]) -> object:
    return _search(ctx, argv, 1, RADIUS_COORDS | NOSTORE)


@command("georadiusbymember_ro", -5, "readonly", 1, 1, 1, group=_G, since="3.2.10",
         complexity=_SEARCH_COMPLEXITY,
         summary="A read-only variant for GEORADIUSBYMEMBER")
def georadiusbymember_ro(ctx: Context, argv: list[bytes]) -> object:
    return _search(ctx, argv, 1, RADIUS_MEMBER | NOSTORE)


@command("geosearch", -7, "readonly", 1, 1, 1, group=_G, since="6.2.0",
         complexity=_SEARCH_COMPLEXITY,
         summary="Query a sorted set representing a geospatial index to fetch members inside an "
                 "area of a box or a circle.")
def geosearch(ctx: Context, argv: list[bytes]) -> object:
    return _search(ctx, argv, 1, SEARCH)


@command("geosearchstore", -8, "write denyoom", 1, 2, 1, group=_G, since="6.2.0",
         complexity=_SEARCH_COMPLEXITY,
         summary="Query a sorted set representing a geospatial index to fetch members inside an "
                 "area of a box or a circle, and store the result in another key.")
def geosearchstore(ctx: Context, argv: list[bytes]) -> object:
    return _search(ctx, argv, 2, SEARCH | SEARCHSTORE)
