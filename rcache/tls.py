"""TLS (Redis's ``tls-*`` options) with the standard library's ``ssl``: the client port, the
Raft link between members (``tls-cluster``) and follower-proxy links (``tls-replication``)."""

from __future__ import annotations

import ssl
from typing import NamedTuple

from .config import Config

_VERSIONS = {"tlsv1": ssl.TLSVersion.TLSv1, "tlsv1.1": ssl.TLSVersion.TLSv1_1,
             "tlsv1.2": ssl.TLSVersion.TLSv1_2, "tlsv1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"yes": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "no": ssl.CERT_NONE}


def _load_trust(context: ssl.SSLContext, config: Config) -> None:
    if config.tls_ca_cert_file or config.tls_ca_cert_dir:
        context.load_verify_locations(cafile=config.tls_ca_cert_file or None,
                                      capath=config.tls_ca_cert_dir or None)


def _restrict(context: ssl.SSLContext, config: Config) -> None:
    versions = sorted(_VERSIONS[word.lower()] for word in config.tls_protocols.split())
    if versions:
        context.minimum_version, context.maximum_version = versions[0], versions[-1]
    if config.tls_ciphers:
        context.set_ciphers(config.tls_ciphers)


class TlsConfigError(ValueError):
    """The tls-* options do not make a working TLS port: start-up stops with the reason."""


def server_context(config: Config) -> ssl.SSLContext:
    """The TLS port's context."""
    if not config.tls_cert_file or not config.tls_key_file:
        raise TlsConfigError("tls-port needs tls-cert-file and tls-key-file")
    try:
        return _server_context(config)
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        raise TlsConfigError(f"TLS configuration: {err}") from None


def _server_context(config: Config) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*identity(config))
    context.verify_mode = _VERIFY[config.tls_auth_clients]
    if context.verify_mode != ssl.CERT_NONE:
        if not (config.tls_ca_cert_file or config.tls_ca_cert_dir):
            raise TlsConfigError("tls-auth-clients needs tls-ca-cert-file or tls-ca-cert-dir "
                             "(or tls-auth-clients no)")
        _load_trust(context, config)
    _restrict(context, config)
    if config.tls_prefer_server_ciphers:  # (Python sets it by default; Redis does not)
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


# CONFIG SET of these changes the TLS port's context (Redis reconfigures its SSL_CTX).
RELOADED = frozenset({"tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-ca-cert-file",
                      "tls-ca-cert-dir", "tls-auth-clients", "tls-protocols", "tls-ciphers",
                      "tls-ciphersuites", "tls-prefer-server-ciphers"})


def reload_server_context(live: ssl.SSLContext, config: Config) -> None:
    """The TLS port's listener keeps its context object, so the new settings go into it, for
    the connections accepted from now on, once a fresh context built from them has shown they
    work (TlsConfigError, nothing changed, otherwise). A CA loaded before stays trusted:
    OpenSSL cannot take one out of a context."""
    fresh = server_context(config)
    live.load_cert_chain(*identity(config))
    _load_trust(live, config)
    live.verify_mode = fresh.verify_mode
    live.minimum_version, live.maximum_version = fresh.minimum_version, fresh.maximum_version
    live.set_ciphers(":".join(cipher["name"] for cipher in fresh.get_ciphers()))
    live.options = fresh.options


class Identity(NamedTuple):
    cert_file: str
    key_file: str
    password: str


def identity(config: Config, dialing: bool = False) -> Identity:
    """The certificate a node shows: tls-cert-file, or when it dials out tls-client-cert-file
    if set (Redis's option, for certificates issued for one purpose only)."""
    # (An empty passphrase rather than none: OpenSSL would ask for one on the terminal.)
    if dialing and config.tls_client_cert_file:  # (the config checked its key is there)
        return Identity(config.tls_client_cert_file, config.tls_client_key_file,
                        config.tls_client_key_file_pass)
    return Identity(config.tls_cert_file, config.tls_key_file, config.tls_key_file_pass)


def client_options(config: Config) -> dict:
    """redis-py's TLS options for a node that has only a TLS port (port 0) calling another
    one (joining): it trusts the tls-ca-cert-* CAs and shows its own certificate, as Redis's
    tls-replication does. Members are addressed by IP: the CA vouches, not the host name."""
    shown = identity(config, dialing=True)
    return {"ssl": True, "ssl_certfile": shown.cert_file,
            "ssl_keyfile": shown.key_file, "ssl_password": shown.password,
            "ssl_ca_certs": config.tls_ca_cert_file or None,
            "ssl_ca_path": config.tls_ca_cert_dir or None, "ssl_check_hostname": False,
            "ssl_cert_reqs": "required", "ssl_ciphers": config.tls_ciphers or None}


class RaftContexts(NamedTuple):
    """``tls-cluster yes``: a member accepts (server) and dials (client) Raft links over TLS,
    each side showing its certificate (tls-cert-file; dialing, tls-client-cert-file if set)
    and requiring a peer certificate the cluster's CA signed."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def raft_contexts(config: Config) -> RaftContexts | None:
    """None unless tls-cluster is on."""
    if not config.tls_cluster:
        return None
    if not config.tls_cert_file or not config.tls_key_file:
        raise TlsConfigError("tls-cluster needs tls-cert-file and tls-key-file")
    try:
        return RaftContexts(_member_context(config, ssl.PROTOCOL_TLS_SERVER),
                            _member_context(config, ssl.PROTOCOL_TLS_CLIENT))
    except (OSError, ValueError) as err:
        raise TlsConfigError(f"TLS configuration (tls-cluster): {err}") from None


def replication_context(config: Config) -> ssl.SSLContext | None:
    """``tls-replication yes``: the context of a follower's proxy link to the leader's TLS
    port. None unless the option is on."""
    if not config.tls_replication:
        return None
    try:
        return _member_context(config, ssl.PROTOCOL_TLS_CLIENT)
    except (OSError, ValueError) as err:
        raise TlsConfigError(f"TLS configuration (tls-replication): {err}") from None


def _member_context(config: Config, protocol: int) -> ssl.SSLContext:
    """Mutual authentication by the cluster's CA: both sides show their certificate and
    require the other's. Members are addressed by IP: the CA vouches, not a host name."""
    if not (config.tls_ca_cert_file or config.tls_ca_cert_dir):
        raise TlsConfigError("tls-cluster and tls-replication need tls-ca-cert-file or "
                             "tls-ca-cert-dir (the CA that signs the members' certificates)")
    context = ssl.SSLContext(protocol)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(*identity(config, dialing=protocol == ssl.PROTOCOL_TLS_CLIENT))
    _load_trust(context, config)
    _restrict(context, config)
    return context
