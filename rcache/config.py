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

from .encodings import EncodingLimits
from .errors import CommandError
from .resp import parse_int, split_args

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
          "g": 1000**3, "gb": 1024**3}


LONG_MAX = 2**63 - 1
EVICTION_POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                     "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def parse_memory(text: str) -> int:
    """Redis's memtoull: '512mb', '1gb', '100' (bytes)."""
    match = re.fullmatch(r"(\d+)([a-z]*)", text.strip().lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError("argument must be a memory value")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _check_range(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"argument must be between {low} and {high} inclusive")
    return value


def _integer(low: int, high: int) -> Callable[[str], int]:
    """Redis's numeric configs: a strict integer within [low, high], its error texts."""
    def parse(text: str) -> int:
        value = parse_int(text.encode())
        if value is None:
            raise ValueError("argument couldn't be parsed into an integer")
        return _check_range(value, low, high)
    return parse


def _memory(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        return _check_range(parse_memory(text), low, high)
    return parse


def _save_points(text: str) -> str:
    """'<seconds> <changes> ...' as Redis validates it (kept and reported; rcache's Raft log
    and snapshots replace RDB save points)."""
    words = text.split()
    numbers = [parse_int(word.encode()) for word in words]
    if len(words) % 2 or any(n is None or n < (0 if i % 2 else 1)
                             for i, n in enumerate(numbers)):
        raise ValueError("Invalid save parameters")
    return " ".join(str(n) for n in numbers)


def _no_defrag(text: str) -> bool:
    if parse_bool(text):
        raise ValueError("Active defragmentation cannot be enabled: it requires a Redis server "
                         "compiled with a modified Jemalloc like the one shipped by default with "
                         "the Redis source distribution")
    return False


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("yes", "no"):
        raise ValueError("argument must be 'yes' or 'no'")
    return lowered == "yes"


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in allowed:
            raise ValueError(f"argument(s) must be one of the following: {', '.join(allowed)}")
        return text.lower()
    return parse


def _format_bool(value: bool) -> str:
    return "yes" if value else "no"


def _quoted(value: str) -> str:
    """A value as a config file line holds it: quoted when empty or when it has spaces."""
    if value and not any(c in value for c in ' "\\\''):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    mutable: bool = False  # CONFIG SET may change it at run time
    format: Callable[[Any], str] = str
    alias: str = ""  # Redis's older name for it, answered by CONFIG GET/SET too

    @property
    def env(self) -> str:
        return "RCACHE_" + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


OPTIONS: list[Option] = [
    Option("bind", "127.0.0.1", str, "address the client port listens on"),
    Option("port", 6379, int, "client (RESP) port"),
    Option("dir", "./rcache-data", str, "data directory (RocksDB, Raft log, snapshots)"),
    Option("id", "", str, "node id, unique in the cluster (default: derived from bind:port)"),
    Option("http-port", 0, int, "HTTP port: JSON API, dashboard, /metrics, /health, on the "
           "bind address (0: off)"),
    Option("raft-port", 0, int, "Raft port between nodes (default: port + 10000)"),
    Option("cluster-announce-raft-port", 0, int, "Raft port other nodes connect to, when "
           "something (NAT, a proxy) stands in front of raft-port (default: raft-port)"),
    Option("join", "", str, "host:port (client port) of a member of the cluster to join"),
    Option("cluster-announce-ip", "", str, "IP that other nodes and clients use for this node "
           "(default: bind address)"),
    Option("requirepass", "", str, "password clients must AUTH with (empty: none)", mutable=True),
    Option("cluster-secret", "", str, "shared secret that authenticates and encrypts Raft "
           "traffic between nodes"),
    Option("databases", 16, int, "number of logical databases (same on every node)"),
    Option("proto-max-bulk-len", 512 * 1024 * 1024, parse_memory, "largest bulk string a "
           "client may send", mutable=True),
    Option("read-consistency", "default", _choice("default", "linearizable", "stale"),
           "consistency of reads: default (leader-local under its lease), linearizable "
           "(leader confirms leadership), stale (any node)", mutable=True),
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
    Option("slowlog-log-slower-than", 10000, _integer(-1, LONG_MAX), "log commands slower "
           "than this many microseconds in SLOWLOG (-1: none, 0: all)", mutable=True),
    Option("slowlog-max-len", 128, _integer(0, LONG_MAX), "entries SLOWLOG keeps",
           mutable=True),
    Option("latency-monitor-threshold", 0, _integer(0, LONG_MAX), "accepted for Redis "
           "compatibility (LATENCY records nothing)", mutable=True),
    # Eviction (see rcache/eviction.py): the limit bounds the dataset's logical size, which
    # every node counts the same; the leader alone evicts, through the log.
    Option("maxmemory", 0, _memory(0, LONG_MAX), "bound on the dataset's logical size, in "
           "bytes (0: none)", mutable=True),
    Option("maxmemory-policy", "noeviction", _choice(*EVICTION_POLICIES), "what the leader "
           "evicts past maxmemory (noeviction: writes answer OOM)", mutable=True),
    Option("maxmemory-samples", 5, _integer(1, INT_MAX), "keys sampled per eviction pick",
           mutable=True),
    Option("maxmemory-eviction-tenacity", 10, _integer(0, 100), "accepted for Redis "
           "compatibility", mutable=True),
    Option("lfu-log-factor", 10, _integer(0, INT_MAX), "LFU counter growth: higher, slower",
           mutable=True),
    Option("lfu-decay-time", 1, _integer(0, INT_MAX), "minutes per halving step of an idle "
           "key's LFU counter (0: never)", mutable=True),
    # Redis's encoding options: the leader's values travel in each Raft entry and decide the
    # encodings OBJECT ENCODING reports (rcache stores every type the same way).
    Option("hash-max-listpack-entries", 512, _integer(0, LONG_MAX), "hashes up to this many "
           "fields report listpack", mutable=True, alias="hash-max-ziplist-entries"),
    Option("hash-max-listpack-value", 64, _memory(0, LONG_MAX), "hashes whose fields and "
           "values are up to this long report listpack", mutable=True,
           alias="hash-max-ziplist-value"),
    Option("set-max-intset-entries", 512, _integer(0, LONG_MAX), "sets of up to this many "
           "integers report intset", mutable=True),
    Option("zset-max-listpack-entries", 128, _integer(0, LONG_MAX), "sorted sets up to this "
           "many members report listpack", mutable=True, alias="zset-max-ziplist-entries"),
    Option("zset-max-listpack-value", 64, _memory(0, LONG_MAX), "sorted sets whose members "
           "are up to this long report listpack", mutable=True, alias="zset-max-ziplist-value"),
    Option("list-max-listpack-size", -2, _integer(INT_MIN, INT_MAX), "accepted for Redis "
           "compatibility", mutable=True, alias="list-max-ziplist-size"),
    Option("list-compress-depth", 0, _integer(0, INT_MAX), "accepted for Redis compatibility",
           mutable=True),
    Option("hll-sparse-max-bytes", 3000, _memory(0, LONG_MAX), "accepted for Redis "
           "compatibility", mutable=True),
    Option("stream-node-max-entries", 100, _integer(0, LONG_MAX), "accepted for Redis "
           "compatibility", mutable=True),
    Option("stream-node-max-bytes", 4096, _memory(0, LONG_MAX), "accepted for Redis "
           "compatibility", mutable=True),
    # Options Redis test suites and tools set; rcache's Raft log is its append-only file and
    # its snapshots replace RDB save points, so these are validated and reported only.
    Option("save", "", _save_points, "accepted for Redis compatibility (snapshots follow "
           "raft-log-max-*)", mutable=True),
    Option("appendonly", True, parse_bool, "accepted for Redis compatibility (the Raft log is "
           "always on)", mutable=True, format=_format_bool),
    Option("busy-reply-threshold", 5000, _integer(0, LONG_MAX), "accepted for Redis "
           "compatibility", mutable=True, alias="lua-time-limit"),
    *(Option(f"lazyfree-lazy-{what}", False, parse_bool, "accepted for Redis compatibility",
             mutable=True, format=_format_bool)
      for what in ("eviction", "expire", "server-del", "user-del", "user-flush")),
    Option("activedefrag", False, _no_defrag, "accepted for Redis compatibility (only 'no')",
           mutable=True, format=_format_bool),
]
BY_NAME = {opt.name: opt for opt in OPTIONS}
BY_NAME.update((opt.alias, opt) for opt in OPTIONS if opt.alias)


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
                    if len(words) < 2:
                        raise ValueError(f"{config_file}:{lineno}: expected 'name value'")
                    # several words are one value, as Redis reads "save 900 1 300 10"
                    config.set(words[0].decode(), b" ".join(words[1:]).decode())
        for opt in OPTIONS:
            if opt.env in env:
                config.set(opt.name, env[opt.env])
        for name, text in flags.items():
            config.set(name, text)
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
        return {name.encode(): self.get(opt.name).encode()
                for name, opt in BY_NAME.items() if regex.match(name.encode())}

    @property
    def encoding_limits(self) -> EncodingLimits:
        """The encoding options the leader stamps on each Raft entry."""
        return EncodingLimits(self.hash_max_listpack_entries, self.hash_max_listpack_value,
                              self.set_max_intset_entries, self.zset_max_listpack_entries,
                              self.zset_max_listpack_value)

    def set_at_runtime(self, pairs: list[tuple[bytes, bytes]]) -> None:
        """CONFIG SET: all or nothing, with Redis's error texts."""
        staged = []
        seen = set()
        for raw_name, raw_value in pairs:
            name = raw_name.decode(errors="replace").lower()
            opt = BY_NAME.get(name)
            if opt is None:
                raise CommandError(
                    f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
            failed = f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
            if name in seen:
                raise CommandError(failed + "duplicate parameter")
            seen.add(name)
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
        lines = [f"{opt.name} {_quoted(self.get(opt.name))}" for opt in OPTIONS
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
