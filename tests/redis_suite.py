#!/usr/bin/env python3
"""Redis's own test suite (its Tcl unit files, in external-server mode) against rcache.

Redis's tests are not part of rcache: point --redis at a checkout of Redis 7.0, e.g.
`git clone --depth 1 --branch 7.0.15 https://github.com/redis/redis ../redis`. Each unit file
runs against a fresh single node of this checkout. The tests named in redis_suite_skips.txt
are left out, each under a comment saying why (Redis internals, DEBUG, replication, what
README lists as left out). Needs tclsh (Debian: tcl).

Usage: python tests/redis_suite.py --redis ../redis [UNIT ...]   (default: DEFAULT_UNITS)
Prints ok/err/exception counts per unit and the failures; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's rcache

from rcache.launch import RcacheNode, free_port  # noqa: E402

SKIPS = Path(__file__).resolve().parent / "redis_suite_skips.txt"
DEFAULT_UNITS = (
    "unit/type/string", "unit/type/incr", "unit/type/list", "unit/type/list-2",
    "unit/type/list-3", "unit/type/hash", "unit/type/set", "unit/type/zset",
    "unit/type/stream", "unit/type/stream-cgroups", "unit/expire", "unit/keyspace",
    "unit/scan", "unit/bitops", "unit/bitfield", "unit/dump", "unit/sort", "unit/other",
    "unit/lazyfree", "unit/geo",
    "unit/hyperloglog", "unit/multi", "unit/scripting", "unit/functions", "unit/pubsub",
    "unit/pubsubshard", "unit/acl", "unit/auth", "unit/introspection", "unit/introspection-2",
    "unit/info-command", "unit/tracking", "unit/slowlog", "unit/pause", "unit/protocol",
    "unit/acl-v2", "unit/info", "unit/maxmemory", "unit/querybuf", "unit/quit",
    "unit/limits", "unit/latency-monitor", "unit/obuf-limits", "unit/violations",
    "unit/memefficiency", "unit/printver",
)
# Tests tagged so need what an external server cannot give (a replica's stream). The node
# runs DEBUG (NODE_OPTIONS), so the needs:debug tests run.
DENIED_TAGS = "-needs:repl"
NODE_OPTIONS = ("--enable-debug-command", "yes")
# unit/scripting's needs:debug server block starts with DEBUG SET-DISABLE-DENY-SCRIPTS (scripts
# calling DEBUG, which scripts may not here): a failure outside any test, so the skip list cannot
# leave it out; the file runs without its needs:debug tests.
UNIT_DENIED_TAGS = {"unit/scripting": DENIED_TAGS + " -needs:debug"}
# Files Redis tags external:skip as a whole, though their tests run against a server they did
# not start: they run from a copy of the suite with that tag taken out (EXTERNAL_SKIP) of their
# first N server blocks (None: all). acl-v2's second block loads an ACL file from the server's
# own dir, which only a server the suite starts has.
LIFTED_UNITS = {"unit/acl-v2": 1, "unit/info": None, "unit/maxmemory": None,
                "unit/limits": None, "unit/obuf-limits": None, "unit/memefficiency": None}
EXTERNAL_SKIP = re.compile(r'\s*"external:skip"|\s*external:skip|external:skip\s*')
UNIT_TIMEOUT_S = 900
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_unit(redis_src: Path, unit: str, workdir: Path) -> tuple[dict[str, int], list[str]]:
    """One unit file against a fresh node: (count per outcome, the failures' lines)."""
    port = free_port()
    node = RcacheNode(port, workdir / unit.replace("/", "_"), *NODE_OPTIONS)
    node.start()
    try:
        run = subprocess.run(
            ["tclsh", "tests/test_helper.tcl", "--host", "127.0.0.1", "--port", str(port),
             "--single", unit, "--clients", "1", "--baseport", str(free_port()),
             "--tags", UNIT_DENIED_TAGS.get(unit, DENIED_TAGS), "--skipfile", str(SKIPS),
             "--timeout", "120"],
            cwd=redis_src, capture_output=True, text=True, timeout=UNIT_TIMEOUT_S)
        output = _ANSI.sub("", run.stdout + run.stderr)
    except subprocess.TimeoutExpired as timeout:
        output = _ANSI.sub("", str(timeout.stdout or "")) + "\n[exception]: unit timed out"
    finally:
        node.stop()
    counts = {outcome: len(re.findall(rf"^\[{outcome}\]:", output, re.M))
              for outcome in ("ok", "err", "exception", "skip", "ignore")}
    failures = [line for line in output.splitlines()
                if line.startswith(("[err]", "[exception]"))]
    return counts, failures


def _with_external_skip_lifted(redis_src: Path, copy: Path) -> Path:
    """A copy of the suite's tests/ in which LIFTED_UNITS carry no external:skip tag."""
    shutil.copytree(redis_src / "tests", copy / "tests")
    for unit, blocks in LIFTED_UNITS.items():
        path = copy / "tests" / f"{unit}.tcl"
        lines = path.read_text().splitlines(keepends=True)
        tagged = [i for i, line in enumerate(lines)
                  if line.lstrip().startswith("start_server") and "external:skip" in line]
        for i in tagged[:blocks]:
            lines[i] = EXTERNAL_SKIP.sub("", lines[i])
        path.write_text("".join(lines))
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", type=Path, required=True,
                        help="a checkout of Redis 7.0 (its tests/ directory is used)")
    parser.add_argument("units", nargs="*", default=DEFAULT_UNITS)
    args = parser.parse_args()
    if not (args.redis / "tests" / "test_helper.tcl").exists():
        parser.error(f"{args.redis}/tests/test_helper.tcl not found")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="rcache-redis-suite-") as tmp:
        lifted = _with_external_skip_lifted(args.redis.resolve(), Path(tmp) / "redis")
        for unit in args.units:
            source = lifted if unit in LIFTED_UNITS else args.redis.resolve()
            counts, failures = run_unit(source, unit, Path(tmp))
            skipped = counts["skip"] + counts["ignore"]
            print(f"{unit:28} {counts['ok']:4} ok {counts['err']:3} err "
                  f"{counts['exception']:2} exception {skipped:3} skipped", flush=True)
            for line in failures:
                print(f"    {line}")
            failed += counts["err"] + counts["exception"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
