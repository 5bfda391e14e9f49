"""The config center recipe (rcache/confcenter.py) against real nodes: atomic versions,
bounded history, and a watcher on a follower that misses no version across a leader kill
and its own node's restart."""

from __future__ import annotations

import hashlib
import threading

import redis

from rcache.confcenter import Config, ConfigCenter

from .conftest import LocalCluster, Node, wait_for


def test_publish_get_and_bounded_history(node: Node) -> None:
    center = ConfigCenter(node.client(), history=3)
    assert center.get("app", "db.yaml") is None
    first = center.publish("app", "db.yaml", "url: a")
    assert first == Config(b"url: a", hashlib.md5(b"url: a").hexdigest(), 1)
    for text in ("url: b", "url: c", "url: d"):
        last = center.publish("app", "db.yaml", text)
    assert last.version == 4
    assert center.get("app", "db.yaml") == last
    assert [c.version for c in center.history("app", "db.yaml")] == [2, 3, 4]
    stored = node.client().hgetall("config/app/db.yaml")
    assert stored == {b"content": b"url: d", b"md5": last.md5.encode(), b"version": b"4"}


def test_a_watcher_is_told_of_each_change_after_its_md5(node: Node) -> None:
    center = ConfigCenter(node.client())
    held = center.publish("app", "flags", "a=1")
    watcher = center.watch("app", "flags", held.md5, port=node.port, socket_timeout=5)
    try:
        assert watcher.next_change(timeout=1) is None  # up to date: nothing to tell
        published = [center.publish("app", "flags", f"a={n}") for n in range(2, 6)]
        told = [watcher.next_change(timeout=10) for _ in published]
        assert told == published
        # notify-keyspace-events was turned on for the watcher, keeping what was there
        assert set(node.client().config_get("notify-keyspace-events")
                   ["notify-keyspace-events"]) >= {"K", "h"}
    finally:
        watcher.close()
    # a watcher holding an old md5 (or none) starts with the current version
    for md5 in (held.md5, None, "not-an-md5"):
        late = center.watch("app", "flags", md5, port=node.port, socket_timeout=5)
        try:
            expected = published if md5 == held.md5 else published[-1:]
            assert [late.next_change(timeout=10) for _ in expected] == expected
        finally:
            late.close()


def _publish_until_done(cluster: LocalCluster, center_on, contents: list[str]) -> None:
    """Publish each content through whichever node leads, retrying while there is none."""
    for content in contents:
        def published(content: str = content) -> bool:
            try:
                center_on(cluster.leader(timeout=15)).publish("svc", "routes", content)
                return True
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                return False  # the leader died mid-way, MOVED, TRYAGAIN: find it again
        wait_for(published, 30, f"publishing {content}")


def test_a_follower_watcher_misses_no_version_across_a_leader_kill(
        cluster: LocalCluster) -> None:
    leader = cluster.leader()
    follower = cluster.followers()[0]

    def center_on(node: Node) -> ConfigCenter:
        return ConfigCenter(node.client(socket_timeout=5))

    watcher = ConfigCenter.watch("svc", "routes", None, port=follower.port, socket_timeout=5)
    seen: list[Config] = []
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(seen.append, stop), daemon=True)
    thread.start()
    try:
        _publish_until_done(cluster, center_on, [f"v{n}" for n in range(10)])
        wait_for(lambda: seen, 20, "the first change on the follower")
        leader.kill()  # SIGKILL
        _publish_until_done(cluster, center_on, [f"w{n}" for n in range(10)])
        leader.start()
        cluster.wait_converged()
        follower.kill()  # the watcher's own node: it reconnects, then reads what it missed
        _publish_until_done(cluster, center_on, [f"x{n}" for n in range(5)])
        follower.start()
        _publish_until_done(cluster, center_on, ["final"])
        last = center_on(cluster.leader()).get("svc", "routes")
        wait_for(lambda: seen and seen[-1].version == last.version, 30,
                 f"version {last.version} on the follower's watcher")
    finally:
        stop.set()
        thread.join(timeout=10)
    versions = [change.version for change in seen]
    assert versions == list(range(1, last.version + 1))  # every one, in order, once
    assert seen[-1] == last and last.content == b"final"
    assert {b"v0", b"w9", b"x4"} <= {change.content for change in seen}
    assert watcher.connections >= 2
