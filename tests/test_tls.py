"""TLS on the client port: certificates made by the test (a CA, a server certificate for
127.0.0.1, a client certificate), real clients (redis-cli --tls, redis-py, RedisCluster)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from redis.cluster import RedisCluster

from rcache.config import Config
from rcache.tls import server_context
from rcache.transport import PROBE, BadFrame, encode_frame, probe_raft_port
from rcache.verify.nodes import free_port

from .conftest import LocalCluster, Node, wait_for

TLS_OFFSET = 3000  # every node of the test cluster: tls-port = port + 3000


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: str, key, issuer_name: x509.Name, issuer_key, ca: bool = False,
           ip: str | None = None, purpose: x509.ObjectIdentifier | None = None
           ) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False)
    if purpose:  # OpenSSL then refuses the certificate for the other side of a handshake
        builder = builder.add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key) -> tuple[str, str]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("certs")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("rcache test CA", ca_key, _name("rcache test CA"), ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    server_cert = _issue("127.0.0.1", server_key, ca_cert.subject, ca_key, ip="127.0.0.1")
    client_cert = _issue("client", client_key, ca_cert.subject, ca_key)
    ca, _ = _write(base / "ca", ca_cert, ca_key)
    server, server_key_path = _write(base / "server", server_cert, server_key)
    client, client_key_path = _write(base / "client", client_cert, client_key)
    only_server_key, only_client_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    only_server, only_server_key_path = _write(base / "only-server", _issue(
        "127.0.0.1", only_server_key, ca_cert.subject, ca_key, ip="127.0.0.1",
        purpose=ExtendedKeyUsageOID.SERVER_AUTH), only_server_key)
    only_client, only_client_key_path = _write(base / "only-client", _issue(
        "member", only_client_key, ca_cert.subject, ca_key,
        purpose=ExtendedKeyUsageOID.CLIENT_AUTH), only_client_key)
    return {"ca": ca, "server": server, "server_key": server_key_path, "client": client,
            "client_key": client_key_path, "only_server": only_server,
            "only_server_key": only_server_key_path, "only_client": only_client,
            "only_client_key": only_client_key_path}


def _tls_args(certs: dict[str, str], auth_clients: str = "yes") -> list[str]:
    return ["--tls-cert-file", certs["server"], "--tls-key-file", certs["server_key"],
            "--tls-ca-cert-file", certs["ca"], "--tls-auth-clients", auth_clients]


def _tls_client(port: int, certs: dict[str, str], with_cert: bool = True,
                **kwargs) -> redis.Redis:
    extra = {"ssl_certfile": certs["client"], "ssl_keyfile": certs["client_key"]} \
        if with_cert else {}
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=certs["ca"],
                       socket_timeout=10, socket_connect_timeout=5, **extra, **kwargs)


def _free_port_pair() -> int:
    """A client port whose TLS twin (port + TLS_OFFSET) is free too."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + TLS_OFFSET))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def test_tls_port_beside_the_plain_port(make_node, certs) -> None:
    tls_port = free_port()
    node = make_node("--tls-port", str(tls_port), *_tls_args(certs))
    tls = _tls_client(tls_port, certs)
    assert tls.set("k", "over tls") is True
    assert node.client().get("k") == b"over tls"  # the plain port still works beside it
    assert tls.get("k") == b"over tls"

    with pytest.raises(redis.ConnectionError):  # no client certificate: refused
        _tls_client(tls_port, certs, with_cert=False).ping()

    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as plain:
        plain.sendall(b"*1\r\n$4\r\nPING\r\n")  # a plaintext client: the handshake fails
        assert b"PONG" not in plain.recv(1024)

    # plaintext redis-py on the TLS port is refused too
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=tls_port, socket_timeout=5).ping()


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed")
def test_redis_cli_and_tls_port_alone(make_node, certs) -> None:
    """port 0: only the TLS port listens, and the Raft port defaults to it + 10000."""
    tls_port = free_port()  # its +10000 twin is free too
    node = make_node("--tls-port", str(tls_port), "--port", "0", *_tls_args(certs, "no"),
                     start=False)
    node.start(wait=False)
    wait_for(lambda: _tls_client(tls_port, certs, with_cert=False).ping(), 30,
             "the TLS port to answer")
    out = subprocess.run(["redis-cli", "--tls", "--cacert", certs["ca"], "-p", str(tls_port),
                          "ping"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "PONG", out
    raft = _tls_client(tls_port, certs, with_cert=False).info("raft")
    assert raft["raft_node_id"] == f"127.0.0.1:{tls_port}"
    assert raft["raft_node0"] == {"id": f"127.0.0.1:{tls_port}", "addr": f"127.0.0.1:{tls_port}",
                                  "raft": f"127.0.0.1:{tls_port + 10000}", "role": "voter"}
    with pytest.raises(redis.ConnectionError):  # nothing listens on the plain port
        redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5).ping()


def test_tls_options_in_config_file_and_bad_files_stop_startup(make_node, certs,
                                                               tmp_path) -> None:
    tls_port = free_port()
    conf = tmp_path / "rcache.conf"
    conf.write_text(f"tls-port {tls_port}\ntls-cert-file {certs['server']}\n"
                    f"tls-key-file {certs['server_key']}\ntls-auth-clients optional\n"
                    f"tls-ca-cert-file {certs['ca']}\ntls-protocols \"TLSv1.2 TLSv1.3\"\n")
    node = make_node(str(conf))
    assert _tls_client(tls_port, certs, with_cert=False).ping()  # optional: none needed
    assert _tls_client(tls_port, certs).ping()
    assert node.client().config_get("tls-auth-clients") == {"tls-auth-clients": "optional"}

    bad = make_node("--tls-port", str(free_port()), "--tls-cert-file", certs["ca"] + ".nope",
                    "--tls-key-file", certs["server_key"], start=False)
    bad.start(wait=False)
    assert bad.proc.wait(timeout=30) != 0
    assert "TLS configuration" in bad.log()


def _tls_port_cluster(tmp_path, certs, size: int, *args: str) -> LocalCluster:
    """``size`` nodes (not started), each with a TLS port at its client port + TLS_OFFSET."""
    cluster = LocalCluster(tmp_path, 0)
    ports = [_free_port_pair() for _ in range(size)]
    for i, port in enumerate(ports, 1):
        join = ["--join", f"127.0.0.1:{ports[0]}"] if i > 1 else []
        node = Node(tmp_path / f"n{i}", port, "--id", f"n{i}", *join, *args,
                    "--tls-port", str(port + TLS_OFFSET), *_tls_args(certs))
        node.name = f"n{i}"
        cluster.nodes.append(node)
    return cluster


def test_tls_cluster_client_follows_moved_after_leader_kill(tmp_path, certs) -> None:
    with _tls_port_cluster(tmp_path, certs, 3) as cluster:
        follower = cluster.followers()[0]
        tls_follower = _tls_client(follower.port + TLS_OFFSET, certs)
        with pytest.raises(redis.exceptions.ResponseError) as moved:
            tls_follower.set("k", "v")
        leader = cluster.leader()
        assert str(moved.value).endswith(f"127.0.0.1:{leader.port + TLS_OFFSET}")
        slots = tls_follower.execute_command("CLUSTER", "SLOTS")
        assert slots[0][2][1] == leader.port + TLS_OFFSET
        assert follower.client().execute_command("CLUSTER", "SLOTS")[0][2][1] == leader.port

        rc = RedisCluster(host="127.0.0.1", port=follower.port + TLS_OFFSET, ssl=True,
                          ssl_ca_certs=certs["ca"], ssl_certfile=certs["client"],
                          ssl_keyfile=certs["client_key"])
        for i in range(20):
            rc.set(f"c{i}", i)
        leader.kill()
        cluster.leader(among=[n for n in cluster.nodes if n is not leader])
        wait_for(lambda: rc.set("after", "kill") is True, 30,
                 "the TLS RedisCluster client to write through the new leader")
        assert rc.get("c19") == b"19" and rc.get("after") == b"kill"
        rc.close()


def test_plain_ssl_module_handshake_needs_the_client_certificate(make_node, certs) -> None:
    """The refusal is the TLS handshake's, not a later error reply."""
    tls_port = free_port()
    make_node("--tls-port", str(tls_port), *_tls_args(certs))
    context = ssl.create_default_context(cafile=certs["ca"])
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
                conn.sendall(b"*1\r\n$4\r\nPING\r\n")
                reply = conn.recv(1024)  # TLS 1.3: the refusal arrives on the first read
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            reply = b""
    assert reply == b""


def test_nodes_with_only_tls_ports_form_a_cluster(tmp_path, certs) -> None:
    """port 0 everywhere: a node joins through the seed's TLS port, showing its certificate
    (tls-auth-clients yes), and MOVED names the leader's TLS port."""
    tls_ports = [free_port() for _ in range(2)]
    nodes = []
    try:
        for i, tls_port in enumerate(tls_ports, 1):
            join = ["--join", f"127.0.0.1:{tls_ports[0]}"] if i > 1 else []
            node = Node(tmp_path / f"n{i}", free_port(), "--port", "0", "--id", f"n{i}",
                        "--tls-port", str(tls_port), *join, *_tls_args(certs))
            nodes.append(node.start(wait=False))
            client = _tls_client(tls_port, certs)
            wait_for(lambda c=client: c.info("raft")["raft_leader_id"] == "n1", 60,
                     f"n{i} to follow n1")
        follower = _tls_client(tls_ports[1], certs)
        assert follower.info("raft")["raft_num_nodes"] == 2
        with pytest.raises(redis.exceptions.MovedError, match=f" 127.0.0.1:{tls_ports[0]}$"):
            follower.set("k", "v")
    finally:
        for node in nodes:
            node.stop()


# -- TLS on the Raft link (tls-cluster) and the follower-proxy link (tls-replication) ---------
@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory, certs) -> dict[str, str]:
    """A certificate for 127.0.0.1 from another CA, by a node that trusts the cluster's CA."""
    base = tmp_path_factory.mktemp("rogue")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("rogue CA", ca_key, _name("rogue CA"), ca_key, ca=True)
    cert, key_path = _write(base / "rogue", _issue("127.0.0.1", key, ca_cert.subject, ca_key,
                                                   ip="127.0.0.1"), key)
    return {**certs, "server": cert, "server_key": key_path}


def _raft_tls_cluster(tmp_path: Path, certs: dict[str, str], *extra: str) -> LocalCluster:
    return LocalCluster(tmp_path, 3, "--tls-cluster", "yes", *_tls_args(certs), *extra)


def _member_tls(certs: dict[str, str]) -> ssl.SSLContext:
    """What a member dials with: its certificate, the CA it trusts."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_cert_chain(certs["server"], certs["server_key"])
    context.load_verify_locations(certs["ca"])
    return context


def _raft_port(node: Node) -> int:
    return node.port + 10000


def test_raft_links_over_tls_survive_a_leader_kill(tmp_path, certs) -> None:
    with _raft_tls_cluster(tmp_path, certs) as cluster:
        leader = cluster.leader()
        info = leader.client().info("raft")
        assert (info["raft_link_tls"], info["raft_link_secret"]) == (1, 0)
        assert "Raft links: TLS" in leader.log()
        assert not (leader.dir / "cluster-secret").exists()  # TLS authenticates instead
        written = {f"k{i}": str(i) for i in range(50)}
        writer = leader.client()
        for key, value in written.items():
            assert writer.set(key, value) is True  # acknowledged: committed by a majority
        cluster.wait_converged()
        for node in cluster.followers():
            follower = node.client()
            follower.execute_command("READONLY")
            assert follower.get("k49") == b"49"

        leader.kill()  # SIGKILL
        survivors = [n for n in cluster.nodes if n is not leader]
        new_leader = cluster.leader(timeout=30, among=survivors)
        assert new_leader is not leader
        client = new_leader.client()
        assert client.mget(list(written)) == [v.encode() for v in written.values()]
        assert client.set("after", "kill") is True
        other = next(n for n in survivors if n is not new_leader).client()
        other.execute_command("READONLY")
        wait_for(lambda: other.get("after") == b"kill", 30, "the write to replicate over TLS")


def test_a_peer_without_a_cluster_ca_certificate_is_refused(tmp_path, certs, rogue) -> None:
    cluster = _raft_tls_cluster(tmp_path, certs).start()
    outsider = Node(tmp_path / "rogue", None, "--id", "rogue", "--tls-cluster", "yes",
                    *_tls_args(rogue))
    try:
        leader = cluster.leader()
        outsider.start()
        with pytest.raises(redis.ResponseError, match="cannot add rogue: its Raft port "
                           ".* failed the TLS handshake: certificate verify failed"):
            leader.client().execute_command("RAFT.NODE", "ADD", "rogue",
                                            f"127.0.0.1:{_raft_port(outsider)}",
                                            f"127.0.0.1:{outsider.port}")

        async def ask(context: ssl.SSLContext) -> str:
            return await probe_raft_port(f"127.0.0.1:{_raft_port(leader)}", tls=context)

        # The same question with the cluster's certificate is answered, the rogue's is not.
        assert asyncio.run(ask(_member_tls(certs))) == f"127.0.0.1:{_raft_port(leader)}"
        with pytest.raises((ssl.SSLError, ConnectionError, BadFrame)):
            asyncio.run(ask(_member_tls(rogue)))
        wait_for(lambda: "failed the TLS handshake" in leader.log(), 30,
                 "the leader to log the refused handshake")

        assert leader.client().info("raft")["raft_num_nodes"] == 3
        assert leader.client().set("still", "fine") is True
        cluster.wait_converged()
    finally:
        outsider.stop()
        cluster.stop()


def test_members_dial_with_tls_client_cert_file(tmp_path, certs) -> None:
    """Certificates issued for one purpose: each member serves with a server-only one and
    dials with a client-only one (tls-client-cert-file), which the others accept."""
    server_only = {**certs, "server": certs["only_server"],
                   "server_key": certs["only_server_key"]}
    with _raft_tls_cluster(tmp_path, server_only, "--tls-client-cert-file",
                           certs["only_client"], "--tls-client-key-file",
                           certs["only_client_key"]) as cluster:
        leader = cluster.leader()
        assert leader.client().set("k", "v") is True  # committed over the members' links
        cluster.wait_converged()
        follower = cluster.followers()[0].client()
        follower.execute_command("READONLY")
        assert follower.get("k") == b"v"

        async def ask(context: ssl.SSLContext) -> str:
            return await probe_raft_port(f"127.0.0.1:{_raft_port(leader)}", tls=context)

        # Dialing with the server-only certificate is refused: the option is what works.
        assert asyncio.run(ask(_member_tls({**certs, "server": certs["only_client"],
                                            "server_key": certs["only_client_key"]}))) \
            == f"127.0.0.1:{_raft_port(leader)}"
        with pytest.raises((ssl.SSLError, ConnectionError, BadFrame)):
            asyncio.run(ask(_member_tls(server_only)))


def test_tls_client_cert_file_without_its_key_stops_startup(make_node, certs) -> None:
    node = make_node("--tls-cluster", "yes", *_tls_args(certs), "--tls-client-cert-file",
                     certs["only_client"], start=False)
    node.start(wait=False)
    assert node.proc.wait(timeout=30) != 0
    assert "tls-client-cert-file and tls-client-key-file go together" in node.log()


def test_a_plaintext_peer_on_a_tls_raft_port_is_refused(tmp_path, certs) -> None:
    with _raft_tls_cluster(tmp_path, certs) as cluster:
        leader = cluster.leader()
        with socket.create_connection(("127.0.0.1", _raft_port(leader)), timeout=10) as plain:
            plain.sendall(encode_frame(PROBE))  # what a member without TLS would say
            answer = b""
            while chunk := plain.recv(4096):  # until the node closes (socket timeout: fails)
                answer += chunk
        assert PROBE.encode() not in answer
        with pytest.raises(BadFrame):
            asyncio.run(probe_raft_port(f"127.0.0.1:{_raft_port(leader)}"))
        wait_for(lambda: "failed the TLS handshake" in leader.log(), 30,
                 "the leader to log the refused handshake")
        assert leader.client().set("k", "v") is True
        cluster.wait_converged()
        assert cluster.leader() is leader


def test_follower_proxy_link_over_tls(tmp_path, certs) -> None:
    """tls-replication yes: a follower forwards to the leader's TLS port, showing its
    certificate (tls-auth-clients yes there)."""
    with _tls_port_cluster(tmp_path, certs, 2, "--follower-proxy", "yes",
                           "--tls-replication", "yes", "--tls-cluster", "yes") as cluster:
        follower = cluster.followers()[0]
        assert follower.client().info("raft")["raft_proxy_tls"] == 1
        assert follower.client().set("proxied", "over tls") is True
        leader = cluster.leader()
        assert leader.client().get("proxied") == b"over tls"
        proxy_links = [c for c in leader.client().client_list()
                       if c["laddr"].endswith(f":{leader.port + TLS_OFFSET}")]
        assert proxy_links, "the follower's proxy link did not come in on the TLS port"


def test_tls_link_options_from_file_env_and_flags(make_node, certs, tmp_path) -> None:
    conf = tmp_path / "rcache.conf"
    conf.write_text(f"tls-cluster yes\ntls-cert-file {certs['server']}\n"
                    f"tls-key-file {certs['server_key']}\ntls-ca-cert-file {certs['ca']}\n")
    node = make_node(str(conf), "--tls-port", str(free_port()),
                     env={"RCACHE_TLS_REPLICATION": "yes"})
    options = node.client().config_get("tls-*")
    assert (options["tls-cluster"], options["tls-replication"]) == ("yes", "yes")
    info = node.client().info("raft")
    assert (info["raft_link_tls"], info["raft_proxy_tls"]) == (1, 1)

    no_ca = make_node("--tls-cluster", "yes", "--tls-cert-file", certs["server"],
                      "--tls-key-file", certs["server_key"], start=False)
    no_ca.start(wait=False)
    assert no_ca.proc.wait(timeout=30) != 0
    assert "tls-ca-cert-file" in no_ca.log()
    no_port = make_node("--tls-replication", "yes", start=False)
    no_port.start(wait=False)
    assert no_port.proc.wait(timeout=30) != 0
    assert "tls-replication needs a tls-port" in no_port.log()


def _answers_ping(port: int, certs: dict[str, str], version: ssl.TLSVersion | None = None,
                  with_cert: bool = True) -> bool:
    """A fresh TLS connection (this TLS version only, if given) gets PONG."""
    context = ssl.create_default_context(cafile=certs["ca"])
    if with_cert:
        context.load_cert_chain(certs["client"], certs["client_key"])
    if version is not None:
        context.minimum_version = context.maximum_version = version
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64) == b"+PONG\r\n"
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return False


def test_tls_settings_change_at_run_time(make_node, certs, tmp_path) -> None:
    """As Redis: CONFIG SET of tls-auth-clients, tls-protocols, tls-key-file(-pass)... applies
    to the TLS port's next connections; settings that make no working TLS are refused with
    Redis's error and the previous ones stay."""
    tls_port = free_port()
    node = make_node("--tls-port", str(tls_port), *_tls_args(certs))
    admin = node.client(decode_responses=True)
    assert not _answers_ping(tls_port, certs, with_cert=False)
    assert admin.config_set("tls-auth-clients", "no")
    assert _answers_ping(tls_port, certs, with_cert=False)
    assert admin.config_set("tls-auth-clients", "yes")
    assert not _answers_ping(tls_port, certs, with_cert=False)

    assert admin.config_set("tls-protocols", "TLSv1.2")
    assert _answers_ping(tls_port, certs, ssl.TLSVersion.TLSv1_2)
    assert not _answers_ping(tls_port, certs, ssl.TLSVersion.TLSv1_3)

    with pytest.raises(redis.ResponseError) as refused:  # the client's key: no match
        admin.config_set("tls-key-file", certs["client_key"])
    assert str(refused.value) == ("CONFIG SET failed (possibly related to argument "
                                  "'tls-key-file') - Unable to update TLS configuration. "
                                  "Check server logs.")
    assert admin.config_get("tls-key-file") == {"tls-key-file": certs["server_key"]}
    assert _answers_ping(tls_port, certs)

    with open(certs["server_key"], "rb") as plain:
        key = serialization.load_pem_private_key(plain.read(), password=None)
    encrypted = tmp_path / "server-encrypted.key"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"1234")))
    with pytest.raises(redis.ResponseError, match="Unable to update TLS configuration"):
        admin.config_set("tls-key-file", str(encrypted))  # no passphrase (none asked for)
    assert admin.config_set("tls-key-file-pass", "1234")
    assert admin.config_set("tls-key-file", str(encrypted))
    assert _answers_ping(tls_port, certs, ssl.TLSVersion.TLSv1_2)


def test_server_cipher_preference_only_when_asked(certs) -> None:
    """Redis's tls-prefer-server-ciphers (default no: the client's order, where Python's ssl
    would take the server's)."""
    config = Config.load(None, {"RCACHE_TLS_CERT_FILE": certs["server"],
                                "RCACHE_TLS_KEY_FILE": certs["server_key"],
                                "RCACHE_TLS_CA_CERT_FILE": certs["ca"]}, {})
    assert not server_context(config).options & ssl.OP_CIPHER_SERVER_PREFERENCE
    config.tls_prefer_server_ciphers = True
    assert server_context(config).options & ssl.OP_CIPHER_SERVER_PREFERENCE
