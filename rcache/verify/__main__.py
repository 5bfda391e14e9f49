"""``python -m rcache.verify``: a linearizability run against a local cluster under faults.

Exit status: 0 no anomaly, 1 anomalies found, 2 the cluster did not recover from a fault.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checker import check_history, print_report
from .history import load_history
from .nemesis import NEMESES
from .runner import RunConfig, run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcache.verify",
        description="Start a local rcache cluster, run concurrent clients (GET, SET of unique "
                    "values, INCR) while nemeses inject faults, then check the recorded history "
                    "for linearizability and the final state of every node.")
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    parser.add_argument("--time", type=float, default=60, help="seconds of workload (default 60)")
    parser.add_argument("--nemesis", default=",".join(NEMESES),
                        help=f"comma-separated faults among {', '.join(NEMESES)}, or 'none' "
                             "(default: all, mixed)")
    parser.add_argument("--clients", type=int, default=5, help="concurrent clients (default 5)")
    parser.add_argument("--keys", type=int, default=5,
                        help="keys: even ones registers (GET/SET), odd ones counters (GET/INCR)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--read-consistency", default="linearizable",
                        choices=["linearizable", "default", "stale"],
                        help="read consistency the clients ask for (default linearizable)")
    parser.add_argument("--op-timeout", type=float, default=5.0,
                        help="client socket timeout in seconds; a write that times out is "
                             "recorded with an unknown outcome")
    parser.add_argument("--dir", type=Path, help="where node data, logs and the history go "
                                                 "(default: a new temporary directory)")
    parser.add_argument("--check", type=Path, metavar="HISTORY",
                        help="only check a saved history.jsonl, start nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.check:
        ops, final = load_history(args.check)
        report = check_history(ops, final)
        print_report(report)
        return 1 if report.anomalies else 0
    nemeses = [] if args.nemesis == "none" else [n.strip() for n in args.nemesis.split(",")]
    unknown = set(nemeses) - set(NEMESES)
    if unknown:
        _parser().error(f"unknown nemesis {', '.join(sorted(unknown))}; "
                        f"choose among {', '.join(NEMESES)}")
    result = run(RunConfig(nodes=args.nodes, seconds=args.time, nemeses=nemeses,
                           clients=args.clients, keys=args.keys, seed=args.seed,
                           read_consistency=args.read_consistency, op_timeout=args.op_timeout,
                           work_dir=args.dir))
    result.print_summary(sys.stdout)
    if result.anomalies:
        return 1
    return 2 if result.faults.problems else 0


if __name__ == "__main__":
    sys.exit(main())
