"""The Raft port and what reaches it: no pickle from the network builds anything but plain
data, a frame's declared length is bounded before anything is buffered, membership changes
are checked before they are proposed, a journal missing committed entries is refused, and
a port the node cannot open stops it with a message."""

from __future__ import annotations

import os
import pickle
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from rcache.transport import (
    COMPRESS_FROM,
    BadFrame,
    FrameCipher,
    decode_frame,
    dumps,
    encode_frame,
    loads,
    use_plain_codec_for_log,
)

from .conftest import ROOT, LocalCluster, free_port, wait_for

# Tests that assert "no leader change" make elections from a loaded machine unlikely; what
# they guard against (a tick thread blocked for seconds or minutes) still exceeds this.
_RARE_ELECTIONS = ("--raft-election-timeout", "1500")
_IMPOSTOR = "claimed the address of a member this node connects to"


class _CreatesFile:
    """A pickle that, if ever unpickled by a plain ``pickle.loads``, creates a file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _pysyncobj_frame(obj: object) -> bytes:
    """The frame as PySyncObj writes it (native int length, zlib, pickle)."""
    data = zlib.compress(pickle.dumps(obj))
    return struct.pack("i", len(data)) + data


def _our_frame(obj: object) -> bytes:
    """Our framing around an arbitrary pickle: it reaches the unpickler itself."""
    data = zlib.compress(pickle.dumps(obj))
    return struct.pack("<I", len(data)) + data


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _send(port: int, *chunks: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:  # the node closed the connection: what we want
                return


def test_log_codec_builds_only_plain_data(tmp_path: Path) -> None:
    import pysyncobj.syncobj
    from pysyncobj.node import TCPNode

    target = tmp_path / "created"
    with pytest.raises(BadFrame):
        loads(pickle.dumps(_CreatesFile(target)))
    with pytest.raises(BadFrame):
        loads(pickle.dumps(b"bytes at protocol 2 need a global", protocol=2))
    use_plain_codec_for_log()
    codec = pysyncobj.syncobj.pickle
    entry = (7, (b"payload",))  # a replicated call as PySyncObj logs it
    assert codec.loads(codec.dumps(entry)) == entry
    # a membership change carries its node as an address, rebuilt by PySyncObj
    change = ["add", "127.0.0.1:7001", TCPNode("127.0.0.1:7001")]
    assert codec.loads(codec.dumps(change)) == ["add", "127.0.0.1:7001", "127.0.0.1:7001"]
    with pytest.raises(BadFrame):
        codec.loads(pickle.dumps((0, (_CreatesFile(target),))))
    assert not target.exists()


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=512), st.builds(
    lambda body, cut: zlib.compress(body)[:cut], st.binary(max_size=256), st.integers(0, 300))))
def test_garbage_frames_raise_only_bad_frame(data: bytes) -> None:
    """Whatever a peer sends, decoding fails only with BadFrame (the connection is then
    dropped), never with an error that would escape into the Raft tick."""
    try:
        decode_frame(data, 4096)
    except BadFrame:
        pass
    try:
        decode_frame(zlib.compress(data), 4096)
    except BadFrame:
        pass


def test_decompression_is_bounded() -> None:
    bomb = zlib.compress(bytes(10 * 1024 * 1024))  # ~10 KB that inflate to 10 MB
    with pytest.raises(BadFrame, match="decompresses to more than"):
        decode_frame(bomb, 1024 * 1024)


def test_small_frames_go_as_plain_pickles_and_large_ones_compressed() -> None:
    """zlib's set-up costs more than a small frame: those go as the pickle itself; both kinds
    decode to what was sent, and a plain frame past the limit is refused."""
    small = {"type": "next_node_idx", "next_node_idx": 7, "reset": False, "success": True}
    large = {"type": "append_entries", "entries": [(b"\x00" + bytes(COMPRESS_FROM), 7, 2)]}
    small_body, large_body = encode_frame(small)[4:], encode_frame(large)[4:]
    assert small_body == pickle.dumps(small, protocol=5)
    assert len(large_body) < COMPRESS_FROM and zlib.decompress(large_body)
    assert decode_frame(small_body, 4096)[0] == small
    assert decode_frame(large_body, 2 * COMPRESS_FROM)[0] == large
    with pytest.raises(BadFrame, match="more than"):
        decode_frame(small_body, len(small_body) - 1)


def test_sealed_frames_open_only_unchanged_and_with_the_same_secret() -> None:
    """cluster-secret: a frame sealed by one node opens on another with the same secret, as
    it was sent; a changed byte, another secret or an unsealed frame is refused."""
    sender, receiver = FrameCipher("the-secret"), FrameCipher("the-secret")
    message = {"type": "append_entries", "entries": [(b"\x00payload", 7, 2)], "term": 2}
    body = encode_frame(message, sender)[4:]
    assert decode_frame(body, 4096, receiver)[0] == message
    for at in range(len(body)):
        tampered = bytearray(body)
        tampered[at] ^= 0x01
        with pytest.raises(BadFrame):
            decode_frame(bytes(tampered), 4096, receiver)
    with pytest.raises(BadFrame):
        decode_frame(body, 4096, FrameCipher("another-secret"))
    with pytest.raises(BadFrame):
        decode_frame(encode_frame(message)[4:], 4096, receiver)


def test_sealed_frames_never_share_a_nonce() -> None:
    cipher = FrameCipher("the-secret")
    nonces = {cipher.encrypt_at_time(b"same", 1)[9:21] for _ in range(1000)}
    assert len(nonces) == 1000
    assert FrameCipher("the-secret").encrypt_at_time(b"same", 1)[9:21] not in nonces


@pytest.mark.parametrize("secret", [None, "the-secret"])
def test_malicious_pickle_frames_create_nothing(tmp_path: Path, secret: str | None) -> None:
    args = ("--cluster-secret", secret) if secret else ("--cluster-secret-generate", "no")
    with LocalCluster(tmp_path, 1, *args) as cluster:
        node = cluster.nodes[0]
        raft_port = node.port + 10000
        created = tmp_path / "created"
        evil = _CreatesFile(created)
        member = f"127.0.0.1:{raft_port}"
        _send(raft_port, _pysyncobj_frame(evil))
        _send(raft_port, _our_frame(evil))
        _send(raft_port, _our_frame(("x" * 32, evil)))
        if secret is None:  # claiming to be a member first changes nothing
            _send(raft_port, encode_frame(member), _our_frame(evil))
            _send(raft_port, encode_frame(member), _our_frame(
                {"type": "append_entries", "term": 10**6, "commit_index": 10**6,
                 "prevLogIdx": 1, "prevLogTerm": 0, "entries": [(evil, 2, 10**6)]}))
        refusal = "not encrypted with the cluster secret" if secret else "refused to load"
        wait_for(lambda: refusal in node.log(), 10, "the frames to be refused")
        r = node.client()
        assert r.set("still", "serving")
        assert r.get("still") == b"serving"
        assert not created.exists()
        assert cluster.info(node)["raft_role"] == "leader"


def test_a_fake_leaders_entry_is_never_unpickled(tmp_path: Path) -> None:
    """Without a secret anyone can claim to be a member. A forwarded membership change is
    refused; an entry appended as the leader is decoded by the plain codec when applied
    (PySyncObj unpickled it). The forged entry has the real leader's term, so the follower
    keeps it and cannot apply past it (and, calling elections with the longer log, may hand
    it to the others): an unauthenticated channel cannot protect the log, only the process.
    That is why the channel is authenticated by default."""
    with LocalCluster(tmp_path, 3, "--cluster-secret-generate", "no", *_RARE_ELECTIONS) as cluster:
        leader = cluster.leader()
        leader.client().set("k", "v")
        cluster.wait_converged()
        follower, third = cluster.followers()
        change = b"\x02" + dumps(["add", "127.0.0.1:1", "127.0.0.1:1"])
        _send(leader.port + 10000, encode_frame(f"127.0.0.1:{third.port + 10000}"),
              encode_frame({"type": "apply_command", "command": change}))
        # Refused at the door (the leader dials that member itself), or when decoded.
        wait_for(lambda: _IMPOSTOR in leader.log()
                 or "sent a non-regular apply_command" in leader.log(), 10,
                 "the forwarded membership change to be refused")
        assert cluster.info(leader)["raft_voters"] == 3
        created = tmp_path / "created"
        entry = b"\x00" + pickle.dumps((0, (_CreatesFile(created),)), protocol=2)

        def forge() -> bool:
            """Append after the follower's last entry, as the leader (retried: the real
            leader's connection may win the race for the follower's ear)."""
            info = cluster.info(follower)
            index, term = info["raft_commit_index"], info["raft_term"]
            _send(follower.port + 10000, encode_frame(f"127.0.0.1:{leader.port + 10000}"),
                  encode_frame({"type": "append_entries", "term": term,
                                "commit_index": index + 1, "prevLogIdx": index,
                                "prevLogTerm": term, "entries": [(entry, index + 1, term)]}))
            return "refused to load io.open" in follower.log() or _IMPOSTOR in follower.log()

        wait_for(forge, 30, "the forged entry to be refused when applied", interval=0.5)
        assert not created.exists()
        assert all(n.proc.poll() is None for n in cluster.nodes)  # refused, nothing crashed


@pytest.mark.parametrize("secret", [None, "the-secret"])
def test_huge_declared_length_is_refused_at_once(tmp_path: Path, secret: str | None) -> None:
    args = ("--cluster-secret", secret) if secret else ("--cluster-secret-generate", "no")
    with LocalCluster(tmp_path, 3, *args, *_RARE_ELECTIONS) as cluster:
        leader = cluster.leader()
        term = cluster.info(leader)["raft_term"]
        rss_before = _rss_kb(leader.proc.pid)
        zeros = bytes(1 << 20)
        _send(leader.port + 10000, struct.pack("<I", 2**31 - 1), *([zeros] * 64))
        wait_for(lambda: "declared a frame of 2147483647 bytes" in leader.log(), 10,
                 "the frame to be refused")
        # the same after claiming to be a member (no secret: anyone can claim so)
        member = f"127.0.0.1:{cluster.nodes[1].port + 10000}"
        _send(leader.port + 10000, encode_frame(member), struct.pack("<I", 2**31 - 1),
              *([zeros] * 64))
        assert _rss_kb(leader.proc.pid) - rss_before < 32 * 1024
        assert cluster.leader() is leader
        assert cluster.info(leader)["raft_term"] == term
        leader.client().set("after", "ok")
        cluster.wait_converged()


def test_raft_channel_is_authenticated_by_default(tmp_path: Path) -> None:
    """Without flags, the first node generates a secret and joiners receive it."""
    with LocalCluster(tmp_path, 3) as cluster:
        secrets = {(n.dir / "cluster-secret").read_text() for n in cluster.nodes}
        assert len(secrets) == 1 and len(secrets.pop()) >= 32
        assert all((n.dir / "cluster-secret").stat().st_mode & 0o077 == 0 for n in cluster.nodes)
        leader = cluster.leader()
        _send(leader.port + 10000, encode_frame(f"127.0.0.1:{cluster.nodes[1].port + 10000}"))
        wait_for(lambda: "not encrypted with the cluster secret" in leader.log(), 10,
                 "an unauthenticated connection to be refused")
        leader.client().set("k", "v")
        cluster.wait_converged()
        follower = cluster.followers()[0]
        follower.restart()  # a member reads its secret back from its data dir
        cluster.wait_converged()
        assert cluster.info(leader)["raft_voters"] == 3


def test_node_add_refuses_unreachable_or_malformed_members(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 1) as cluster:
        node = cluster.nodes[0]
        r = node.client()
        before = r.execute_command("RAFT.CLUSTER", "INFO")
        dead = free_port()
        refusals = {
            ("bogus", f"127.0.0.1:{dead}", "127.0.0.1:40999"):
                f"cannot connect to its Raft port 127.0.0.1:{dead}: Connection refused",
            ("bogus", "127.0.0.1:99999", "127.0.0.1:40999"): "invalid raft address",
            ("bogus", "127.0.0.1:5000", "nohost"): "invalid client address",
            ("bogus", "127.0.0.1:0", "127.0.0.1:1"): "port between 1 and 65535",
            ("", "127.0.0.1:5000", "127.0.0.1:1"): "node id must not be empty",
        }
        for args, expected in refusals.items():
            with pytest.raises(redis.ResponseError) as err:
                r.execute_command("RAFT.NODE", "ADD", *args)
            assert expected in str(err.value), str(err.value)
        # a port that accepts connections but is not an rcache Raft port
        with socket.create_server(("127.0.0.1", 0)) as impostor:
            port = impostor.getsockname()[1]
            with pytest.raises(redis.ResponseError) as err:
                r.execute_command("RAFT.NODE", "ADD", "bogus", f"127.0.0.1:{port}",
                                  "127.0.0.1:40999")
            assert "did not answer" in str(err.value)
        assert r.execute_command("RAFT.CLUSTER", "INFO") == before
        assert cluster.info(node)["raft_voters"] == 1
        assert r.set("k", "v") and r.get("k") == b"v"
        # a real node is still added
        cluster.add_node()
        cluster.wait_converged()
        wait_for(lambda: cluster.info(node)["raft_voters"] == 2, 30,
                 "the new node, a learner, to be promoted")


@pytest.mark.parametrize("snapshot", [False, True])
def test_journal_missing_committed_entries_is_refused(make_node, snapshot: bool) -> None:
    node = make_node()  # appendfsync everysec: a clean stop records the commit index
    r = node.client()
    for i in range(300):
        r.set(f"k{i}", i)
        if snapshot and i == 100:
            r.save()
    node.stop()
    assert (node.dir / "raft.snapshot").exists() == snapshot
    journal = node.dir / "raft.journal"
    size = journal.stat().st_size
    with open(journal, "r+b") as fh:
        fh.truncate(size // 2)
    run = subprocess.run([sys.executable, "-m", "rcache", "--port", str(node.port),
                          "--dir", str(node.dir)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode != 0
    assert "raft.journal" in run.stderr and "committed entries are missing" in run.stderr, \
        run.stderr


def test_a_torn_last_record_is_still_accepted(make_node) -> None:
    node = make_node()
    r = node.client()
    r.set("kept", "yes")
    node.kill()
    with open(node.dir / "raft.journal", "ab") as fh:
        fh.write(struct.pack("<IIQQ", 1000, 0, 10**6, 1) + b"partial")
    node.start()
    assert "dropping a torn last record" in node.log()
    assert node.client().get("kept") == b"yes"


def _start(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rcache", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_ports_that_cannot_be_opened_stop_the_node(tmp_path: Path) -> None:
    run = _start("--port", "60000", "--dir", str(tmp_path / "a"))
    assert run.returncode != 0 and "above 65535" in run.stderr, run.stderr
    run = _start("--port", "70000", "--dir", str(tmp_path / "b"))
    assert run.returncode != 0 and "between 0 and 65535" in run.stderr, run.stderr
    run = _start("--port", "0", "--dir", str(tmp_path / "b"))  # 0 only beside a tls-port
    assert run.returncode != 0 and "port 0 needs a tls-port" in run.stderr, run.stderr
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        run = _start("--port", str(port), "--raft-port", str(free_port()),
                     "--dir", str(tmp_path / "c"))
        assert run.returncode != 0, run.stderr
        assert f"client port 127.0.0.1:{port}: Address already in use" in run.stderr
        run = _start("--port", str(free_port()), "--raft-port", str(port),
                     "--dir", str(tmp_path / "d"))
        assert run.returncode != 0, run.stderr
        assert f"Raft port 127.0.0.1:{port}: Address already in use" in run.stderr


def test_sigterm_stops_a_node_that_is_still_starting(make_node) -> None:
    """A node told to join a cluster nobody answers for keeps trying; SIGTERM ends it."""
    node = make_node("--join", f"127.0.0.1:{free_port()}", start=False)
    node.start(wait=False)
    wait_for(lambda: node.proc.poll() is None and os.path.exists(node.dir / "db"), 30,
             "the node to start")
    wait_for(lambda: "retrying" in node.log() or node.proc.poll() is not None, 60,
             "the node to try joining")
    node.proc.terminate()
    node.proc.wait(timeout=30)
    assert "stopped while starting" in node.log()
