"""``rcache cluster start --nodes 3``: a local cluster on one machine, for trying rcache out.

Node 1 bootstraps the cluster, the others join it through node 1. Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import redis


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"node on port {port} exited with code {proc.returncode}")
        try:
            if redis.Redis(port=port, socket_timeout=1).ping():
                return
        except redis.exceptions.RedisError:
            time.sleep(0.2)
    sys.exit(f"node on port {port} did not start within {timeout} s")


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
    args = parser.parse_args(argv)

    procs: list[subprocess.Popen] = []
    seed = f"127.0.0.1:{args.port}"
    try:
        for i in range(1, args.nodes + 1):
            port = args.port + i - 1
            data_dir = os.path.join(args.dir, str(i))
            flags = ["--id", f"node{i}", "--port", str(port), "--dir", data_dir]
            if i > 1 and not os.path.isdir(data_dir):
                flags += ["--join", seed]
            if args.http_port:
                flags += ["--http-port", str(args.http_port + i - 1)]
            procs.append(subprocess.Popen([sys.executable, "-m", "rcache", *flags]))
            _wait_ready(port, procs[-1])
        leader = redis.Redis(port=args.port).execute_command("INFO", "raft")
        print(f"\nrcache cluster of {args.nodes} nodes: ports "
              f"{args.port}-{args.port + args.nodes - 1}, leader "
              f"{leader.get('raft_leader_address', leader.get('raft_leader_id'))}")
        print(f"try: redis-cli -c -p {args.port} set hello world   (Ctrl-C stops the cluster)")
        if args.http_port:
            print(f"dashboard: http://127.0.0.1:{args.http_port}/")
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
