"""``rcache cluster start --nodes 3``: a local cluster on one machine, for trying rcache out.

Node 1 bootstraps the cluster, the others join it through node 1 (rcache/launch.py starts
them); node i logs to DIR/i.log. Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import redis

from . import launch

READY_TIMEOUT_S = 60.0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="rcache cluster", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start a local cluster and wait (Ctrl-C stops it)")
    start.add_argument("--nodes", type=int, default=3)
    start.add_argument("--port", type=int, default=7001, help="client port of node 1; "
                       "node i uses port+i-1 (Raft: +10000)")
    start.add_argument("--dir", default="./rcache-cluster", help="node i keeps data in DIR/i")
    start.add_argument("--http-port", type=int, default=0, help="HTTP port (dashboard, API) of "
                       "node 1; node i uses http-port+i-1 (default: no HTTP)")
    start.add_argument("--cluster-enabled", choices=("yes", "no"), default="yes",
                       help="no: a Redis master and replicas, for Sentinel clients")
    args = parser.parse_args(argv)

    nodes: list[launch.RcacheNode] = []
    for i in range(1, args.nodes + 1):
        data_dir = Path(args.dir).resolve() / str(i)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        join_port = args.port if i > 1 and not data_dir.is_dir() else None
        http = ["--http-port", str(args.http_port + i - 1)] if args.http_port else []
        nodes.append(launch.RcacheNode(args.port + i - 1, data_dir,
                                       *launch.cluster_node_args(
                                           f"node{i}", join_port, *http,
                                           "--cluster-enabled", args.cluster_enabled),
                                       name=f"node{i}"))
    # Ctrl-C stops the cluster even if this process was started with SIGINT ignored (as a
    # background job of a shell without job control).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        try:
            launch.start_cluster(nodes, READY_TIMEOUT_S)
        except launch.StartFailed as err:
            sys.exit(str(err))
        leader = redis.Redis(port=args.port).execute_command("INFO", "raft")
        print(f"\nrcache cluster of {args.nodes} nodes: ports "
              f"{args.port}-{args.port + args.nodes - 1}, leader "
              f"{leader.get('raft_leader_address', leader.get('raft_leader_id'))}")
        print(f"logs: {Path(args.dir) / '<n>.log'}")
        follow = "-c " if args.cluster_enabled == "yes" else ""
        print(f"try: redis-cli {follow}-p {args.port} set hello world   (Ctrl-C stops the "
              "cluster)")
        if args.http_port:
            print(f"dashboard: http://127.0.0.1:{args.http_port}/")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        launch.stop_all(nodes)

