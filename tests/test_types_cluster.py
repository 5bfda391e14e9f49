"""HyperLogLog, geo and SORT on a 3-node cluster: every node applies the same writes to the
same bytes (the state machine is deterministic for them too), and PFCOUNT, which may rewrite
its value, is routed like a write.

Under load the cluster may change leader mid-test: writes here are idempotent and retried on
the leader of the moment when a node says they were not done (MOVED, TRYAGAIN).
"""

from __future__ import annotations

from redis.exceptions import MovedError

from .conftest import LocalCluster, wait_for


def _state(client) -> list:
    return [client.get("hll"), client.get("dense"), client.zrange("geo", 0, -1, withscores=True),
            client.zrange("near", 0, -1, withscores=True), client.lrange("sorted", 0, -1)]


def test_types_apply_identically_on_every_node(steady_cluster: LocalCluster) -> None:
    steady_cluster.on_leader("PFADD", "hll", *[f"e{i}" for i in range(500)])
    steady_cluster.on_leader("PFADD", "dense", *[f"d{i}" for i in range(5000)])
    # PFCOUNT stores the count in the value, everywhere
    assert steady_cluster.on_leader("PFCOUNT", "hll") > 0
    steady_cluster.on_leader("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269",
                             "37.502669", "Catania", "2.3522", "48.8566", "Paris")
    steady_cluster.on_leader("GEOSEARCHSTORE", "near", "geo", "FROMLONLAT", "15", "37",
                             "BYRADIUS", "300", "km", "STOREDIST")
    steady_cluster.on_leader("SADD", "nums", "3", "1", "2")
    steady_cluster.on_leader("SORT", "nums", "DESC", "STORE", "sorted")
    expected = _state(steady_cluster.leader().client())
    assert expected[0].startswith(b"HYLL\x01") and expected[1].startswith(b"HYLL\x00")
    assert expected[1][15] & 0x80 and not expected[0][15] & 0x80  # stale vs cached count
    assert [member for member, _ in expected[3]] == [b"Catania", b"Palermo"]
    assert expected[4] == [b"3", b"2", b"1"]
    for node in steady_cluster.live():
        client = node.client()
        client.execute_command("READONLY")
        wait_for(lambda c=client: _state(c) == expected, 10, f"the same values on {node.name}")


def test_pfcount_on_a_follower_is_redirected(steady_cluster: LocalCluster) -> None:
    steady_cluster.on_leader("PFADD", "h", "a")

    def redirected() -> bool:
        """True once a follower answers MOVED (one that became leader meanwhile answers)."""
        follower = steady_cluster.followers()[0].client()
        follower.execute_command("READONLY")
        assert follower.execute_command("GEORADIUS_RO", "nokey", "1", "2", "3", "km") == []
        try:
            follower.pfcount("h")
        except MovedError:
            return True
        return False

    wait_for(redirected, 30, "a follower's MOVED for PFCOUNT")
