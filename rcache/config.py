"""Configuration: one declaration per option, read from defaults, a Redis-style config file
(``name value`` lines), ``RCACHE_<NAME>`` environment variables and command-line flags, in
that order of precedence (flags win). ``CONFIG GET``/``CONFIG SET`` and ``rcache --help``
read the same declarations.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import CommandError
from .resp import split_args

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
          "g": 1000**3, "gb": 1024**3}


def parse_memory(text: str) -> int:
    """Redis's memtoull: '512mb', '1gb', '100' (bytes)."""
    match = re.fullmatch(r"(\d+)([a-z]*)", text.strip().lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"argument must be a memory value: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("yes", "no"):
        raise ValueError("argument must be 'yes' or 'no'")
    return lowered == "yes"


def _port(lowest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        port = int(text)
        if not lowest <= port <= 65535:
            raise ValueError(f"argument must be between {lowest} and 65535 inclusive")
        return port
    return parse


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in allowed:
            raise ValueError(f"argument must be one of: {', '.join(allowed)}")
        return text.lower()
    return parse


def _format_bool(value: bool) -> str:
    return "yes" if value else "no"


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    mutable: bool = False  # CONFIG SET may change it at run time
    format: Callable[[Any], str] = str

    @property
    def env(self) -> str:
        return "RCACHE_" + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


OPTIONS: list[Option] = [
    Option("bind", "127.0.0.1", str, "address the client port listens on"),
    Option("port", 6379, _port(1), "client (RESP) port"),
    Option("dir", "./rcache-data", str, "data directory (RocksDB, Raft log, snapshots)"),
    Option("id", "", str, "node id, unique in the cluster (default: derived from bind:port)"),
    Option("raft-port", 0, _port(0), "Raft port between nodes (default: port + 10000)"),
    Option("cluster-announce-raft-port", 0, _port(0), "Raft port other nodes connect to, when "
           "something (NAT, a proxy) stands in front of raft-port (default: raft-port)"),
    Option("join", "", str, "host:port (client port) of a member of the cluster to join"),
    Option("cluster-announce-ip", "", str, "IP that other nodes and clients use for this node "
           "(default: bind address)"),
    Option("requirepass", "", str, "password clients must AUTH with (empty: none)", mutable=True),
    Option("cluster-secret", "", str, "shared secret that authenticates and encrypts Raft "
           "traffic between nodes (default: generated, see cluster-secret-generate)"),
    Option("cluster-secret-generate", True, parse_bool, "without cluster-secret, a node that "
           "starts a new cluster generates one (kept in <dir>/cluster-secret) and a node that "
           "joins receives it from the member it joins (CONFIG GET cluster-secret); 'no': "
           "unauthenticated Raft traffic", format=_format_bool),
    Option("databases", 16, int, "number of logical databases (same on every node)"),
    Option("proto-max-bulk-len", 512 * 1024 * 1024, parse_memory, "largest bulk string a "
           "client may send", mutable=True),
    Option("read-consistency", "default", _choice("default", "linearizable", "stale"),
           "consistency of reads: default (leader-local), linearizable (leader confirms "
           "leadership), stale (any node)", mutable=True),
    Option("follower-proxy", False, parse_bool, "followers forward commands to the leader "
           "instead of answering MOVED", mutable=True, format=_format_bool),
    Option("appendfsync", "everysec", _choice("always", "everysec", "no"), "when the Raft log "
           "reaches the disk", mutable=True),
    Option("raft-election-timeout", 300, int, "ms a follower waits for the leader before an "
           "election (randomized up to 2x)"),
    Option("raft-heartbeat-period", 50, int, "ms between leader heartbeats"),
    Option("raft-log-max-entries", 20000, int, "compact the log into a snapshot past this many "
           "entries", mutable=True),
    Option("raft-log-max-bytes", 16 * 1024 * 1024, parse_memory, "compact the log into a "
           "snapshot past this size", mutable=True),
    Option("hz", 10, int, "active expiry cycles per second", mutable=True),
    Option("maxclients", 10000, int, "maximum number of connected clients", mutable=True),
    Option("timeout", 0, int, "close idle clients after this many seconds (0: never)",
           mutable=True),
    Option("client-output-buffer-limit", 256 * 1024 * 1024, parse_memory, "close a client "
           "whose unread replies exceed this many bytes", mutable=True),
    Option("protected-mode", True, parse_bool, "warn when listening beyond loopback without "
           "a password", mutable=True, format=_format_bool),
    Option("loglevel", "notice", _choice("debug", "verbose", "notice", "warning"),
           "log verbosity", mutable=True),
]
BY_NAME = {opt.name: opt for opt in OPTIONS}
# Redis options whose answer is fixed by rcache's design (tools such as redis-benchmark ask):
# the Raft log is the append-only file, and there are no RDB save points.
_FIXED = {b"appendonly": b"yes", b"save": b""}


class Config:
    """Current values; attribute names use underscores (``config.proto_max_bulk_len``)."""

    def __init__(self, **values: Any) -> None:
        for opt in OPTIONS:
            setattr(self, opt.attr, opt.default)
        self.config_file: str | None = None
        for name, value in values.items():
            setattr(self, name, value)

    @classmethod
    def load(cls, config_file: str | None, env: dict[str, str], flags: dict[str, str]) -> Config:
        config = cls()
        if config_file:
            config.config_file = os.path.abspath(config_file)
            with open(config_file, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    words = split_args(line.strip().encode())
                    if not words or words[0].startswith(b"#"):
                        continue
                    if len(words) != 2:
                        raise ValueError(f"{config_file}:{lineno}: expected 'name value'")
                    config.set(words[0].decode(), words[1].decode())
        for opt in OPTIONS:
            if opt.env in env:
                config.set(opt.name, env[opt.env])
        for name, text in flags.items():
            config.set(name, text)
        if config.raft_listen_port > 65535:  # Redis Cluster refuses such a port too
            raise ValueError(f"the Raft port is the client port + 10000 = "
                             f"{config.raft_listen_port}, above 65535: use a client port of "
                             "55535 or less, or set raft-port")
        return config

    def set(self, name: str, text: str) -> None:
        opt = BY_NAME.get(name.lower())
        if opt is None:
            raise ValueError(f"unknown option '{name}'")
        try:
            setattr(self, opt.attr, opt.parse(text))
        except ValueError as err:
            raise ValueError(f"invalid value for '{opt.name}': {err}") from None

    def get(self, name: str) -> str:
        opt = BY_NAME[name]
        return opt.format(getattr(self, opt.attr))

    # -- CONFIG GET / CONFIG SET ------------------------------------------------------------
    def matching(self, pattern: bytes) -> dict[bytes, bytes]:
        from .storage import compile_pattern
        regex = compile_pattern(pattern.lower())
        found = {opt.name.encode(): self.get(opt.name).encode()
                 for opt in OPTIONS if regex.match(opt.name.encode())}
        found.update((name, value) for name, value in _FIXED.items() if regex.match(name))
        return found

    def set_at_runtime(self, pairs: list[tuple[bytes, bytes]]) -> None:
        """CONFIG SET: all or nothing, with Redis's error texts."""
        staged = []
        for raw_name, raw_value in pairs:
            name = raw_name.decode(errors="replace").lower()
            opt = BY_NAME.get(name)
            if opt is None:
                raise CommandError(
                    f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
            failed = f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
            if not opt.mutable:
                raise CommandError(failed + "can't set immutable config")
            try:
                staged.append((opt, opt.parse(raw_value.decode(errors="replace"))))
            except ValueError as err:
                raise CommandError(failed + str(err)) from None
        for opt, value in staged:
            setattr(self, opt.attr, value)

    def rewrite(self) -> None:
        if not self.config_file:
            raise CommandError("ERR The server is running without a config file")
        lines = [f"{opt.name} {self.get(opt.name) or chr(34) * 2}" for opt in OPTIONS
                 if getattr(self, opt.attr) != opt.default]
        tmp = self.config_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("# written by CONFIG REWRITE\n" + "\n".join(lines) + "\n")
        os.replace(tmp, self.config_file)

    @property
    def raft_address(self) -> str:
        """The Raft address this node announces (and is known by)."""
        return f"{self.announce_ip}:{self.cluster_announce_raft_port or self.raft_listen_port}"

    @property
    def raft_listen_port(self) -> int:
        return self.raft_port or self.port + 10000

    @property
    def raft_bind_address(self) -> str:
        return f"{self.bind}:{self.raft_listen_port}"

    @property
    def announce_ip(self) -> str:
        if self.cluster_announce_ip:
            return self.cluster_announce_ip
        return "127.0.0.1" if self.bind in ("0.0.0.0", "::", "localhost") else self.bind

    @property
    def client_address(self) -> str:
        return f"{self.announce_ip}:{self.port}"

    @property
    def node_id(self) -> str:
        return self.id or f"{self.announce_ip}:{self.port}"
