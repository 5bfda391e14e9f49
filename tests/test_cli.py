"""The command line as a stranger uses it: flags, environment, config file, local cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import redis

from .conftest import ROOT, Node, free_port, wait_for


def test_help_explains_every_option() -> None:
    out = subprocess.run([sys.executable, "-m", "rcache", "--help"], capture_output=True,
                         text=True, timeout=30, cwd=ROOT, check=True).stdout
    for flag in ("--port", "--bind", "--dir", "--requirepass", "--join", "--appendfsync",
                 "--read-consistency", "--follower-proxy", "RCACHE_PORT"):
        assert flag in out


def test_help_prints_one_default_per_option() -> None:
    out = subprocess.run([sys.executable, "-m", "rcache", "--help"], capture_output=True,
                         text=True, timeout=30, cwd=ROOT, check=True).stdout
    flat = " ".join(out.split())
    assert "Raft port between nodes (default: port + 10000) (env RCACHE_RAFT_PORT)" in flat
    assert flat.count("(default:") == flat.count("(default: ") > 0
    assert "(default: none; env RCACHE_CLUSTER_ANNOUNCE_IP)" not in flat


def test_config_get_shows_the_derived_id_and_raft_port() -> None:
    """CONFIG GET of an option left unset whose value derives from others (the node id from
    the address, the Raft port from the client port) shows what the node uses."""
    from rcache.config import Config

    config = Config.load(None, {}, {"port": "7400"})
    assert (config.get("id"), config.get("raft-port")) == ("127.0.0.1:7400", "17400")
    config = Config.load(None, {}, {"port": "7400", "id": "n1", "raft-port": "9000"})
    assert (config.get("id"), config.get("raft-port")) == ("n1", "9000")


def test_config_file_then_environment_then_flags(tmp_path) -> None:
    conf = tmp_path / "rcache.conf"
    conf.write_text("# a Redis-style file\nrequirepass from-file\ndatabases 4\nhz 5\n")
    node = Node(tmp_path / "node", None, str(conf), "--hz", "7",
                env={"RCACHE_DATABASES": "8"})
    node.start()
    try:
        r = node.client(password="from-file", decode_responses=True)
        assert r.config_get("databases") == {"databases": "8"}  # env beats the file
        assert r.config_get("hz") == {"hz": "7"}  # a flag beats both
        r.config_set("hz", "9")
        assert r.execute_command("CONFIG", "REWRITE") == "OK"
        assert "hz 9" in conf.read_text()
    finally:
        node.stop()


def test_config_file_takes_redis_options_and_rewrites_them(tmp_path) -> None:
    """Redis's multi-word 'save' lines and *-ziplist-* names load; CONFIG REWRITE writes
    values that load back the same (quoted when they have spaces or are empty)."""
    from rcache.config import Config

    conf = tmp_path / "redis.conf"
    conf.write_text("save 900 1 300 10\nhash-max-ziplist-entries 64\nappendonly no\n")
    config = Config.load(str(conf), {}, {})
    assert (config.save, config.hash_max_listpack_entries, config.appendonly) == (
        "900 1 300 10", 64, False)
    config.set_at_runtime([(b"save", b""), (b"zset-max-ziplist-value", b"1kb")])
    config.rewrite()
    again = Config.load(str(conf), {}, {})
    assert (again.save, again.zset_max_listpack_value, again.hash_max_listpack_entries) == (
        "", 1024, 64)


def test_local_cluster_command(tmp_path) -> None:
    port = free_port(count=3)
    proc = subprocess.Popen([sys.executable, "-m", "rcache", "cluster", "start", "--nodes", "3",
                             "--port", str(port), "--dir", str(tmp_path / "cluster")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    try:
        lines: list[str] = []

        def announced() -> bool:
            lines.append(proc.stdout.readline())
            assert lines[-1] or proc.poll() is None, "".join(lines)  # exited: say why
            return "rcache cluster of 3 nodes" in lines[-1]

        wait_for(announced, 90, "the cluster to start")
        follower = redis.Redis(port=port + 1, socket_timeout=10)
        info = follower.info("raft")
        assert info["raft_num_nodes"] == 3 and info["raft_leader_id"] == "node1"
        assert redis.Redis(port=port, socket_timeout=10).set("k", "v")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
