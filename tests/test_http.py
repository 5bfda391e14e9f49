"""The HTTP port against real node processes: the key API seen from redis-py and back,
redirects and relays from followers, membership, /health, /metrics, the password, start-up."""

from __future__ import annotations

import base64
import json
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rcache.verify.nodes import free_port

from .conftest import LocalCluster, Node, steadied, wait_for


class Reply:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> object:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the tests look at the 307 itself


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, body: bytes | dict | None = None,
         password: str | None = None, timeout: float = 30) -> Reply:
    """One request with urllib; any status comes back as a Reply (no exception)."""
    headers = {}
    if isinstance(body, dict):
        body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if password is not None:
        headers["Authorization"] = f"Bearer {password}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.headers, err.read())


def base(node: Node) -> str:
    return f"http://127.0.0.1:{node.http_port}"


@pytest.fixture
def http_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path, 3, http=True) as c:
        yield c


@pytest.fixture(scope="module")
def _module_http_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("http-cluster"), 3, http=True) as c:
        yield c


@pytest.fixture
def steady_http_cluster(_module_http_cluster: LocalCluster) -> LocalCluster:
    """As conftest's steady_cluster, with HTTP ports: for the tests that leave the nodes as
    they found them (each puts back the options it changes)."""
    return steadied(_module_http_cluster)


def test_key_crud_seen_from_redis_and_back(steady_http_cluster: LocalCluster) -> None:
    leader = steady_http_cluster.leader()
    url, r = base(leader), leader.client()

    put = http("PUT", f"{url}/v1/keys/user%3A1", b"alice")
    assert put.status == 200, put.body
    assert r.get("user:1") == b"alice"
    assert http("PUT", f"{url}/v1/keys/user%3A1", b"bob").status == 200  # edit
    assert r.get("user:1") == b"bob"
    assert http("PUT", f"{url}/v1/keys/session%2F7?ttl=100", b"x").status == 200
    assert 0 < r.ttl("session/7") <= 100

    r.set("user:2", "carol")
    r.hset("user:3", mapping={"name": "dave", "age": "40"})
    r.zadd("board", {"a": 1.5, "b": 2})
    got = http("GET", f"{url}/v1/keys/user%3A2")
    assert got.status == 200
    assert got.json() == {"key": "user:2", "db": 0, "type": "string", "ttl": None,
                          "value": "carol"}
    hashed = http("GET", f"{url}/v1/keys/user%3A3").json()
    assert (hashed["type"], hashed["value"], hashed["length"]) == (
        "hash", {"age": "40", "name": "dave"}, 2)
    assert http("GET", f"{url}/v1/keys/board").json()["value"] == [["a", 1.5], ["b", 2.0]]
    session = http("GET", f"{url}/v1/keys/session%2F7").json()
    assert 0 < session["ttl"] <= 100

    page = http("GET", f"{url}/v1/keys?prefix=user%3A&limit=2").json()
    assert [k["key"] for k in page["keys"]] == ["user:1", "user:2"]
    assert page["next"] == "user:2"
    rest = http("GET", f"{url}/v1/keys?prefix=user%3A&limit=2&after=user%3A2").json()
    assert rest["keys"] == [{"key": "user:3", "type": "hash", "ttl": None}]
    assert rest["next"] is None
    assert http("GET", f"{url}/v1/keys?limit=100000").status == 400  # bounded

    r3 = leader.client(db=3)
    assert http("PUT", f"{url}/v1/keys/k?db=3", b"in three").status == 200
    assert r3.get("k") == b"in three" and r.get("k") is None

    assert http("DELETE", f"{url}/v1/keys/user%3A1").status == 200
    assert r.exists("user:1") == 0
    assert http("DELETE", f"{url}/v1/keys/user%3A1").status == 404
    assert http("GET", f"{url}/v1/keys/user%3A1").status == 404

    big = b"v" * 4096
    assert http("PUT", f"{url}/v1/keys/big", big).status == 200
    assert r.get("big") == big
    default_limit = r.config_get("proto-max-bulk-len")["proto-max-bulk-len"]
    r.config_set("proto-max-bulk-len", "1mb")  # bodies are bounded as bulk strings are
    try:
        assert http("PUT", f"{url}/v1/keys/big", b"v" * (1024 * 1024 + 1)).status == 413
        assert r.get("big") == big
    finally:
        r.config_set("proto-max-bulk-len", default_limit)


def test_follower_redirects_or_relays_and_reads_by_level(steady_http_cluster: LocalCluster) -> None:
    leader = steady_http_cluster.leader()
    follower = steady_http_cluster.followers()[0]
    put = http("PUT", f"{base(follower)}/v1/keys/greeting?ttl=60", b"hi")
    assert put.status == 307
    assert put.headers["Location"] == f"{base(leader)}/v1/keys/greeting?ttl=60"
    assert http("PUT", put.headers["Location"], b"hi").status == 200
    assert http("DELETE", f"{base(follower)}/v1/keys/greeting").status == 307
    assert http("POST", f"{base(follower)}/v1/cluster/transfer-leader").status == 307

    # Reads: default and linearizable go to the leader, stale is served where asked.
    assert http("GET", f"{base(follower)}/v1/keys/greeting").status == 307
    assert http("GET", f"{base(leader)}/v1/keys/greeting?consistency=linearizable").json()[
        "value"] == "hi"
    wait_for(lambda: http("GET", f"{base(follower)}/v1/keys/greeting?consistency=stale"
                          ).status == 200, 10, "the write to reach the follower")
    assert http("GET", f"{base(follower)}/v1/keys/greeting?consistency=eventual").status == 400

    # follower-proxy yes: the follower relays to the leader instead.
    follower.client().config_set("follower-proxy", "yes")
    try:
        relayed = http("PUT", f"{base(follower)}/v1/keys/greeting", b"hello")
        assert relayed.status == 200, relayed.body
        assert leader.client().get("greeting") == b"hello"
        assert http("GET", f"{base(follower)}/v1/keys/greeting").json()["value"] == "hello"
    finally:
        follower.client().config_set("follower-proxy", "no")

    # The cluster view, from a follower: three members, one leader, everyone caught up.
    view = wait_for(lambda: (v := http("GET", f"{base(follower)}/v1/cluster").json())
                    and all(m.get("lag") == 0 for m in v["members"]) and v, 10, "lag 0")
    assert view["leader"] == leader.name and view["node"] == follower.name
    assert view["leader_http"] == base(leader)
    assert sorted(m["id"] for m in view["members"]) == ["n1", "n2", "n3"]
    roles = {m["id"]: m["role"] for m in view["members"]}
    assert roles[leader.name] == "leader" and list(roles.values()).count("follower") == 2
    assert {m["http"] for m in view["members"]} == {base(n) for n in steady_http_cluster.nodes}


def test_health_and_metrics(steady_http_cluster: LocalCluster) -> None:
    leader = steady_http_cluster.leader()
    steady_http_cluster.wait_converged()
    follower, other = steady_http_cluster.followers()
    assert http("GET", f"{base(follower)}/health").status == 200
    assert http("GET", f"{base(follower)}/health?role=leader").status == 503
    health = http("GET", f"{base(leader)}/health?role=leader")
    assert health.status == 200 and health.json()["role"] == "leader"

    leader.client().mset({"a": 1, "b": 2, "c": 3})
    families = {f.name: f for f in text_string_to_metric_families(
        http("GET", f"{base(leader)}/metrics").body.decode())}

    def value(name: str, **labels: str) -> float:
        return next(s.value for s in families[name].samples
                    if s.labels == labels and s.name in (name, name + "_total"))

    assert value("rcache_keys", db="0") == 3
    assert value("rcache_raft_role", role="leader") == 1
    assert value("rcache_raft_role", role="follower") == 0
    assert value("rcache_raft_term") >= 1
    assert value("rcache_raft_members") == 3
    assert value("rcache_write_commands") >= 1
    assert value("rcache_commands_processed") >= 1
    assert value("rcache_command_calls", command="mset") >= 1  # applied on the leader
    durations = families["rcache_command_duration_seconds"]
    assert any(s.name.endswith("_count") and s.labels == {"command": "mset"} and s.value >= 1
               for s in durations.samples)
    assert value("rcache_raft_applied_index") >= 1
    assert value("rcache_raft_log_fsyncs") >= 0
    assert value("process_resident_memory_bytes") > 0
    lags = {s.labels["follower"] for s in families["rcache_raft_follower_lag_entries"].samples}
    assert lags == {follower.name, other.name}

    # Cut the follower off from the others: it loses its leader, /health says 503.
    for node in (leader, other):
        node.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: http("GET", f"{base(follower)}/health", timeout=5).status == 503, 30,
                 "a cut-off node to report unhealthy")
        assert http("GET", f"{base(follower)}/health").json()["healthy"] is False
        assert http("PUT", f"{base(follower)}/v1/keys/k", b"v").status == 503  # no leader
        view = http("GET", f"{base(follower)}/v1/cluster").json()
        reachable = {m["id"]: m["reachable"] for m in view["members"]}
        assert reachable == {follower.name: True, leader.name: False, other.name: False}
    finally:
        for node in (leader, other):
            node.signal(signal.SIGCONT)
    wait_for(lambda: http("GET", f"{base(follower)}/health", timeout=5).status == 200, 30,
             "the node to be healthy again")


def test_password_is_required_when_set(steady_http_cluster: LocalCluster) -> None:
    leader = steady_http_cluster.leader()
    url = base(leader)
    leader.client().config_set("requirepass", "s3cret")
    try:
        for method, path in (("GET", "/v1/keys"), ("GET", "/v1/cluster"), ("GET", "/metrics"),
                             ("GET", "/health"), ("PUT", "/v1/keys/k")):
            denied = http(method, url + path, b"v" if method == "PUT" else None)
            assert denied.status == 401, (method, path)
            assert denied.headers["WWW-Authenticate"].startswith("Bearer")
        assert http("GET", f"{url}/v1/keys", password="wrong").status == 401
        assert http("PUT", f"{url}/v1/keys/k", b"v", password="s3cret").status == 200
        assert http("GET", f"{url}/v1/keys/k", password="s3cret").json()["value"] == "v"
        assert http("GET", f"{url}/").status == 200  # the page itself: it asks for the password
    finally:
        leader.client(password="s3cret").config_set("requirepass", "")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _as(method: str, url: str, authorization: str, body: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": authorization})
    try:
        with _OPENER.open(request, timeout=30) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.headers, err.read())


def test_acl_users_guard_the_http_api(steady_http_cluster: LocalCluster) -> None:
    """Basic or Bearer with user:password of an ACL user (replicated: any node knows it);
    what the user may do is what it may do on RESP, with the same NOPERM text."""
    leader = steady_http_cluster.leader()
    follower = steady_http_cluster.followers()[0]
    admin = leader.client()
    admin.execute_command("ACL", "SETUSER", "web", "on", ">pw", "+get", "+set", "~app:*")
    admin.config_set("requirepass", "s3cret")
    url = base(leader)
    try:
        for authorization in (_basic("web", "pw"), "Bearer web:pw"):
            put = _as("PUT", f"{url}/v1/keys/app:1", authorization, b"one")
            assert put.status == 200, put.body
            assert _as("GET", f"{url}/v1/keys/app:1", authorization).json()["value"] == "one"
        denied = _as("PUT", f"{url}/v1/keys/other", _basic("web", "pw"), b"x")
        assert denied.status == 403
        assert denied.json()["error"] == ("NOPERM this user has no permissions to access one "
                                          "of the keys used as arguments")
        refused = _as("DELETE", f"{url}/v1/keys/app:1", _basic("web", "pw"))
        assert refused.status == 403 and "'del' command" in refused.json()["error"]
        assert _as("GET", f"{url}/v1/keys", _basic("web", "pw")).status == 403  # no KEYS
        for wrong in (_basic("web", "nope"), _basic("nosuch", "pw"), "Bearer web:nope",
                      "Basic !!!", "Bearer wrong"):
            assert _as("GET", f"{url}/v1/keys/app:1", wrong).status == 401, wrong
        assert _as("DELETE", f"{url}/v1/keys/app:1", "Bearer s3cret").status == 200  # default
        assert leader.client(password="s3cret").exists("app:1") == 0

        # the user exists on every node (the follower has no requirepass: Basic still names it)
        wait_for(lambda: _as("GET", f"{base(follower)}/health", _basic("web", "pw")).status
                 in (200, 503), 30, "the follower to know the user")
        leader.client(password="s3cret").execute_command("ACL", "DELUSER", "web")
        wait_for(lambda: _as("GET", f"{base(follower)}/health", _basic("web", "pw")).status
                 == 401, 30, "the deleted user to be refused on the follower")
    finally:
        leader.client(password="s3cret").config_set("requirepass", "")


def test_members_join_and_leave_through_http(http_cluster: LocalCluster,
                                             tmp_path: Path) -> None:
    leader = http_cluster.leader()
    leader.client().set("before", "joining")
    newcomer = Node(tmp_path / "n4", None, "--id", "n4")  # its own one-node cluster
    newcomer.name = "n4"
    http_cluster.nodes.append(newcomer)  # stopped with the others
    newcomer.start()

    added = http("POST", f"{base(leader)}/v1/cluster/members",
                 {"address": f"127.0.0.1:{newcomer.port}", "learner": True}, timeout=120)
    assert added.status == 201, added.body
    assert {m["id"]: m["learner"] for m in added.json()["members"]}["n4"] is True
    reader = newcomer.client()
    reader.execute_command("READONLY")
    wait_for(lambda: reader.get("before") == b"joining", 30, "the new member to hold the data")
    assert http_cluster.info(leader)["raft_num_nodes"] == 4
    view = http("GET", f"{base(leader)}/v1/cluster").json()
    assert {m["id"]: m["learner"] for m in view["members"]} == {
        "n1": False, "n2": False, "n3": False, "n4": True}  # a learner until promoted

    removed = http("DELETE", f"{base(leader)}/v1/cluster/members/n4", timeout=60)
    assert removed.status == 200, removed.body
    wait_for(lambda: newcomer.proc.poll() is not None, 30, "the removed node to shut down")
    assert http_cluster.info(leader)["raft_num_nodes"] == 3
    assert http("DELETE", f"{base(leader)}/v1/cluster/members/n4").status == 400

    # The other form (RAFT.NODE ADD) checks the member answers on its Raft port first.
    port = free_port()
    refused = http("POST", f"{base(leader)}/v1/cluster/members",
                   {"id": "n5", "raft": f"127.0.0.1:{port + 10000}",
                    "client": f"127.0.0.1:{port}"}, timeout=60)
    assert refused.status == 400 and b"cannot connect to its Raft port" in refused.body
    assert http_cluster.info(leader)["raft_num_nodes"] == 3

    moved = http("POST", f"{base(leader)}/v1/cluster/transfer-leader", {}, timeout=60)
    assert moved.status == 200, moved.body
    assert moved.json()["leader"] != leader.name
    assert http_cluster.leader().name == moved.json()["leader"]


def test_a_taken_http_port_stops_start_up(make_node) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        node = make_node("--http-port", str(port), start=False)
        node.start(wait=False)
        assert node.proc.wait(timeout=60) != 0
    assert f"cannot listen for HTTP on 127.0.0.1:{port}" in node.log()


def _metrics(node: Node) -> dict[str, float]:
    """/metrics as {sample name: value} (unlabelled samples only), checking that every
    counter is exposed with Prometheus's ``_total`` suffix."""
    samples = {}
    text = http("GET", f"{base(node)}/metrics").body.decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.type == "counter" and sample.name.startswith("rcache_") and (
                    not sample.name.endswith("_created")):
                assert sample.name == family.name + "_total", sample.name
            if not sample.labels:
                samples[sample.name] = sample.value
    return samples


def test_http_reads_count_as_gets_and_metrics_show_info_stats(make_node) -> None:
    port = free_port()
    node = make_node("--http-port", str(port))
    node.http_port = port
    r = node.client()
    r.set("k", "v")
    r.rpush("list", "a", "b", "c")
    r.set("short", "lived", px=1)
    stats = r.info("stats")
    hits, misses = stats["keyspace_hits"], stats["keyspace_misses"]
    assert http("GET", f"{base(node)}/v1/keys/k").status == 200
    assert http("GET", f"{base(node)}/v1/keys/list").json()["length"] == 3  # one hit, as GET
    assert http("GET", f"{base(node)}/v1/keys/missing").status == 404
    assert http("GET", f"{base(node)}/v1/keys?prefix=").status == 200  # a listing: as KEYS
    stats = r.info("stats")
    assert (stats["keyspace_hits"], stats["keyspace_misses"]) == (hits + 2, misses + 1)

    wait_for(lambda: r.info("stats")["expired_keys"] >= 1, 30, "active expiry of 'short'")
    before = _metrics(node)
    stats = r.info("stats")
    after = _metrics(node)
    assert before["rcache_keyspace_hits_total"] == stats["keyspace_hits"] == hits + 2
    assert before["rcache_keyspace_misses_total"] == stats["keyspace_misses"] == misses + 1
    assert before["rcache_expired_keys_total"] == stats["expired_keys"] >= 1
    assert before["rcache_evicted_keys_total"] == stats["evicted_keys"] == 0
    # INFO's own request is counted before it runs, its reply once written
    assert 0 < before["rcache_net_input_bytes_total"] < stats["total_net_input_bytes"] \
        == after["rcache_net_input_bytes_total"]
    assert 0 < before["rcache_net_output_bytes_total"] <= stats["total_net_output_bytes"] \
        < after["rcache_net_output_bytes_total"]

    def busy() -> float:
        pipe = r.pipeline(transaction=False)
        for _ in range(200):
            pipe.ping()
        pipe.execute()
        return _metrics(node)["rcache_instantaneous_ops_per_second"]

    assert wait_for(busy, 30, "instantaneous_ops_per_second to see the pings") > 0
