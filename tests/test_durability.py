"""Acknowledged writes survive kill -9; nothing is applied twice on replay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rcache import durability
from rcache.durability import DurableJournal

from .conftest import Node


@pytest.mark.parametrize("limit", ["few buffers per call", "short writes"])
def test_journal_writes_records_in_pieces_and_reads_them_back(
        tmp_path: Path, monkeypatch, limit: str) -> None:
    """_write_out's writev, with fewer buffers per call than records, and with the kernel
    writing a few bytes at a time: every record reads back whole, in order."""
    if limit == "few buffers per call":
        monkeypatch.setattr(durability, "_IOV_MAX", 7)
    else:
        writev = os.writev
        monkeypatch.setattr(durability.os, "writev",
                            lambda fd, parts: writev(fd, [memoryview(parts[0])[:5]]))
    path = str(tmp_path / "journal")
    journal = DurableJournal(path, lambda: "everysec", "n1")
    entries = [(bytes([i % 256]) * (i % 50 + 1), i + 1, 1) for i in range(600)]
    for entry in entries[:300]:
        journal.add(*entry)
    journal.sync(force=True)
    for entry in entries[300:]:
        journal.add(*entry)
    journal.sync(force=True)
    assert journal.bytes == os.path.getsize(path)
    reopened = DurableJournal(path, lambda: "everysec", "n1")
    assert [reopened[i] for i in range(len(reopened))] == entries


def test_data_survives_sigkill(node: Node) -> None:
    r = node.client()
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"k{i}", f"v{i}")
    pipe.set("ttl", "x", ex=1000)
    pipe.execute()
    node.kill()
    node.start()
    r = node.client()
    values = r.mget([f"k{i}" for i in range(2000)])
    assert values == [f"v{i}".encode() for i in range(2000)]
    assert 990 < r.ttl("ttl") <= 1000
    assert r.dbsize() == 2001


def test_incr_exact_across_kill_restart_cycles(node: Node) -> None:
    acknowledged = 0
    for _ in range(5):
        r = node.client()
        for _ in range(50):
            r.incr("counter")
            acknowledged += 1
        pipe = r.pipeline(transaction=False)
        for _ in range(200):
            pipe.incr("counter")
        acknowledged += len(pipe.execute())
        node.kill()
        node.start()
        assert int(node.client().get("counter")) == acknowledged
