"""Configuration: one declaration per option, read from defaults, a Redis-style config file
(``name value`` lines), ``RCACHE_<NAME>`` environment variables and command-line flags, in
that order of precedence (flags win). ``CONFIG GET``/``CONFIG SET`` and ``rcache --help``
read the same declarations.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .encodings import EncodingLimits
from .errors import CommandError
from .glob import matcher
from .notify import format_flags, parse_flags
from .resp import LLONG_MAX, parse_int, split_args

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
          "g": 1000**3, "gb": 1024**3}
UINT_MAX = 2**32 - 1
MIN_HZ, MAX_HZ = 1, 500  # Redis clamps hz into this range


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
    """A numeric option as Redis parses it (string2ll, then its min and max)."""
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


def _hz(text: str) -> int:
    return min(MAX_HZ, max(MIN_HZ, _integer(0, INT_MAX)(text)))


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


# loglevel -> the logging level of the root logger (Python has no NOTICE: warnings and up).
_LOG_LEVELS = {"debug": logging.DEBUG, "verbose": logging.INFO}


def python_log_level(loglevel: str) -> int:
    return _LOG_LEVELS.get(loglevel, logging.WARNING)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in allowed:
            raise ValueError(f"argument(s) must be one of the following: {', '.join(allowed)}")
        return text.lower()
    return parse


def _tls_protocols(text: str) -> str:
    """Redis's tls-protocols: a space-separated subset of TLSv1 TLSv1.1 TLSv1.2 TLSv1.3."""
    words = text.split()
    known = ("tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3")
    for word in words:
        if word.lower() not in known:
            raise ValueError(f"Invalid tls-protocols specified: {word}")
    return " ".join(words)


def _percentiles(text: str) -> tuple[float, ...]:
    """latency-tracking-info-percentiles: numbers from 0 to 100, space-separated."""
    try:
        values = tuple(float(word) for word in text.split())
    except ValueError:
        raise ValueError("Invalid latency-tracking-info-percentiles parameters") from None
    if any(not 0.0 <= value <= 100.0 for value in values):
        raise ValueError("latency-tracking-info-percentiles parameters should sit between "
                         "[0.0,100.0]")
    return values


def format_percentiles(values: tuple[float, ...]) -> str:
    return " ".join(f"{value:g}" for value in values)


def _format_bool(value: bool) -> str:
    return "yes" if value else "no"


def _quoted(value: str) -> str:
    """A value as a config file line holds it: quoted when empty or when it has spaces."""
    if value and not any(c in value for c in ' "\\\''):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class OutputLimit:
    """One client class's output buffer limit: cut past ``hard`` bytes, or past ``soft``
    bytes for ``seconds`` in a row (0: no limit)."""
    hard: int
    soft: int
    seconds: int


OUTPUT_CLASSES = ("normal", "slave", "pubsub")
_CLASS_ALIASES = {"normal": "normal", "slave": "slave", "replica": "slave", "pubsub": "pubsub"}
DEFAULT_OUTPUT_LIMITS = {"normal": OutputLimit(0, 0, 0),
                         "slave": OutputLimit(256 * 1024**2, 64 * 1024**2, 60),
                         "pubsub": OutputLimit(32 * 1024**2, 8 * 1024**2, 60)}


def _c_int(value: int) -> int:
    """What a C ``int`` keeps of a number (Redis stores soft seconds in one)."""
    value &= UINT_MAX
    return value - 2**32 if value > INT_MAX else value


def parse_output_limits(text: str) -> dict[str, OutputLimit]:
    """``<class> <hard> <soft> <soft seconds>`` repeated; the classes named are replaced,
    the others keep their limits (Redis's setConfigClientOutputBufferLimitOption)."""
    words = text.split()
    if len(words) % 4:
        raise ValueError("Wrong number of arguments in buffer limit configuration.")
    limits = {}
    for i in range(0, len(words), 4):
        name = _CLASS_ALIASES.get(words[i].lower())
        if name is None:
            raise ValueError("Invalid client class specified in buffer limit configuration.")
        seconds = re.fullmatch(r"\+?(\d+)", words[i + 3])
        try:
            hard, soft = parse_memory(words[i + 1]), parse_memory(words[i + 2])
        except ValueError:
            seconds = None
        if seconds is None:
            raise ValueError("Error in hard, soft or soft_seconds setting in buffer limit "
                             "configuration.")
        limits[name] = OutputLimit(hard, soft, _c_int(min(int(seconds.group(1)), LLONG_MAX)))
    return limits


def _legacy_output_limit(text: str) -> str:
    """Before Redis's syntax, rcache took one size for every client (flags, environment and
    config files still may): the hard limit of each class."""
    hard = parse_memory(text)
    return " ".join(f"{name} {hard} 0 0" for name in OUTPUT_CLASSES)


def format_output_limits(limits: dict[str, OutputLimit]) -> str:
    return " ".join(f"{name} {limits[name].hard} {limits[name].soft} {limits[name].seconds}"
                    for name in OUTPUT_CLASSES)


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    mutable: bool = False  # CONFIG SET may change it at run time
    format: Callable[[Any], str] = str
    alias: str = ""  # Redis's older name for it, answered by CONFIG GET/SET too
    partial: bool = False  # parse gives a dict of updates to the current dict

    @property
    def env(self) -> str:
        return "RCACHE_" + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


OPTIONS: list[Option] = [
    Option("bind", "127.0.0.1", str, "address the client port listens on"),
    Option("port", 6379, _port(0), "client (RESP) port, plaintext (0: none, with tls-port)"),
    Option("tls-port", 0, _port(0), "client (RESP) port over TLS (0: off); in a cluster every node "
           "keeps the same tls-port - port offset, which TLS clients are redirected by"),
    Option("tls-cert-file", "", str, "server certificate (PEM) of the TLS port"),
    Option("tls-key-file", "", str, "private key (PEM) of tls-cert-file"),
    Option("tls-key-file-pass", "", str, "passphrase of tls-key-file, if it is encrypted"),
    Option("tls-client-cert-file", "", str, "certificate (PEM) this node shows when it dials "
           "out (Raft links, follower-proxy and join links) if it differs from tls-cert-file, "
           "e.g. one issued for client authentication only"),
    Option("tls-client-key-file", "", str, "private key (PEM) of tls-client-cert-file"),
    Option("tls-client-key-file-pass", "", str, "passphrase of tls-client-key-file"),
    Option("tls-ca-cert-file", "", str, "CA certificates (PEM) that client certificates are "
           "checked against"),
    Option("tls-ca-cert-dir", "", str, "directory of CA certificates (c_rehash layout)"),
    Option("tls-auth-clients", "yes", _choice("yes", "no", "optional"), "TLS clients must "
           "present a certificate signed by a trusted CA (optional: checked if presented)"),
    Option("tls-protocols", "", _tls_protocols, "TLS versions allowed, e.g. 'TLSv1.2 TLSv1.3' "
           "(default: both)"),
    Option("tls-ciphers", "", str, "OpenSSL cipher list for TLSv1.2 and below"),
    Option("tls-ciphersuites", "", str, "TLSv1.3 ciphersuites (accepted; Python's ssl keeps "
           "OpenSSL's TLSv1.3 defaults)"),
    Option("tls-cluster", False, parse_bool, "Raft links between members use TLS, each member "
           "showing tls-cert-file and requiring a peer certificate signed by the tls-ca-cert-* "
           "CA (instead of, or besides, cluster-secret)", format=_format_bool),
    Option("tls-replication", False, parse_bool, "follower-proxy links to the leader use TLS "
           "(the leader's tls-port; this node shows tls-cert-file, checks the leader's "
           "against the tls-ca-cert-* CA)", format=_format_bool),
    Option("dir", "./rcache-data", str, "data directory (RocksDB, Raft log, snapshots)"),
    Option("id", "", str, "node id, unique in the cluster (default: derived from bind:port)"),
    Option("http-port", 0, _port(0), "HTTP port: JSON API, dashboard, /metrics, /health, on "
           "the bind address (0: off)"),
    Option("raft-port", 0, _port(0), "Raft port between nodes (default: port + 10000)"),
    Option("cluster-announce-raft-port", 0, _port(0), "Raft port other nodes connect to, when "
           "something (NAT, a proxy) stands in front of raft-port (default: raft-port)"),
    Option("join", "", str, "host:port (client port) of a member of the cluster to join"),
    Option("join-learner", False, parse_bool, "a joining node stays a learner (receives the "
           "log, does not vote) until RAFT.NODE PROMOTE, e.g. a read replica in another zone; "
           "otherwise the leader promotes it once it has caught up", format=_format_bool),
    Option("cluster-announce-ip", "", str, "IP that other nodes and clients use for this node "
           "(default: bind address)"),
    Option("requirepass", "", str, "password clients must AUTH with (empty: none)", mutable=True),
    Option("aclfile", "", str, "file ACL SAVE writes the users to and ACL LOAD reads them "
           "from (the users themselves are replicated state, kept across restarts)"),
    Option("acllog-max-len", 128, _integer(0, LLONG_MAX), "entries ACL LOG keeps",
           mutable=True),
    Option("cluster-secret", "", str, "shared secret that authenticates and encrypts Raft "
           "traffic between nodes (default: generated, see cluster-secret-generate)"),
    Option("cluster-secret-generate", True, parse_bool, "without cluster-secret, a node that "
           "starts a new cluster generates one (kept in <dir>/cluster-secret) and a node that "
           "joins receives it from the member it joins (CONFIG GET cluster-secret); 'no': "
           "unauthenticated Raft traffic", format=_format_bool),
    Option("databases", 16, _integer(1, INT_MAX), "number of logical databases (same on "
           "every node)"),
    Option("proto-max-bulk-len", 512 * 1024 * 1024, _memory(1024 * 1024, LLONG_MAX),
           "largest bulk string a client may send", mutable=True),
    Option("read-consistency", "default", _choice("default", "linearizable", "stale"),
           "consistency of reads: default (leader-local under its lease), linearizable "
           "(leader confirms leadership), stale (any node)", mutable=True),
    Option("cluster-enabled", True, parse_bool, "yes: the cluster presents itself as one Redis "
           "Cluster shard (followers answer MOVED); no: as a Redis master and its replicas, "
           "for Sentinel and plain clients (followers answer writes with READONLY, CLUSTER "
           "commands are refused)", format=_format_bool),
    Option("follower-proxy", False, parse_bool, "followers forward commands to the leader "
           "instead of answering MOVED (READONLY)", mutable=True, format=_format_bool),
    Option("sentinel-master-name", "mymaster", str, "the master name SENTINEL answers for: "
           "Sentinel clients given this node as a sentinel find the leader under it",
           mutable=True),
    Option("appendfsync", "everysec", _choice("everysec", "always", "no"), "when the Raft log "
           "reaches the disk", mutable=True),
    Option("raft-election-timeout", 300, _integer(1, INT_MAX), "ms a follower waits for the "
           "leader before an election (randomized up to 2x)"),
    Option("raft-heartbeat-period", 50, _integer(1, INT_MAX), "ms between leader heartbeats"),
    Option("raft-log-max-entries", 20000, _integer(1, LLONG_MAX), "compact the log into a "
           "snapshot past this many entries", mutable=True),
    Option("raft-log-max-bytes", 16 * 1024 * 1024, _memory(1, LLONG_MAX), "compact the log into a "
           "snapshot past this size", mutable=True),
    Option("hz", 10, _hz, "active expiry cycles per second (kept within 1-500)", mutable=True),
    Option("maxclients", 10000, _integer(1, UINT_MAX), "maximum number of connected clients "
           "(lowered at start to what the open-files limit allows)", mutable=True),
    Option("timeout", 0, _integer(0, INT_MAX), "close clients idle this many seconds (0: never; "
           "not subscribers or blocked clients)",
           mutable=True),
    Option("tcp-keepalive", 300, _integer(0, INT_MAX), "seconds of silence before TCP "
           "keepalive probes on client connections (0: off)", mutable=True),
    Option("client-output-buffer-limit", DEFAULT_OUTPUT_LIMITS, parse_output_limits,
           "per class (normal, replica, pubsub): '<class> <hard> <soft> <seconds>'; a client "
           "whose unsent replies pass hard, or stay above soft that long, is disconnected",
           mutable=True, format=format_output_limits, partial=True),
    Option("protected-mode", True, parse_bool, "while no requirepass is set, refuse clients "
           "from beyond loopback (Redis's DENIED error)", mutable=True, format=_format_bool),
    Option("lua-instruction-budget", 5_000_000, int, "Lua instructions a script may run "
           "before it is aborted (same on every node; each redis.call counts 1000)"),
    Option("loglevel", "notice", _choice("debug", "verbose", "notice", "warning"),
           "log verbosity", mutable=True),
    Option("slowlog-log-slower-than", 10000, _integer(-1, LLONG_MAX), "log commands slower "
           "than this many microseconds in SLOWLOG (-1: none, 0: all)", mutable=True),
    Option("slowlog-max-len", 128, _integer(0, LLONG_MAX), "entries SLOWLOG keeps",
           mutable=True),
    Option("notify-keyspace-events", 0, parse_flags, "keyspace notification classes, as "
           "Redis's (K E g $ l s h z x e t m d n A; empty: off)", mutable=True,
           format=format_flags),
    Option("tracking-table-max-keys", 1_000_000, _integer(0, LLONG_MAX), "keys CLIENT "
           "TRACKING remembers on this node (past it the oldest are invalidated; 0: no limit)",
           mutable=True),
    Option("latency-monitor-threshold", 0, _integer(0, LLONG_MAX), "accepted for Redis "
           "compatibility (LATENCY records nothing)", mutable=True),
    Option("latency-tracking", True, parse_bool, "time each command into INFO latencystats "
           "and LATENCY HISTOGRAM", mutable=True, format=_format_bool),
    Option("latency-tracking-info-percentiles", (50.0, 99.0, 99.9), _percentiles,
           "the percentiles INFO latencystats prints", mutable=True, format=format_percentiles),
    # Eviction (see rcache/eviction.py): the limit bounds the dataset's logical size, which
    # every node counts the same; the leader alone evicts, through the log.
    Option("maxmemory", 0, _memory(0, LLONG_MAX), "bound on the dataset's logical size, in "
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
    Option("hash-max-listpack-entries", 512, _integer(0, LLONG_MAX), "hashes up to this many "
           "fields report listpack", mutable=True, alias="hash-max-ziplist-entries"),
    Option("hash-max-listpack-value", 64, _memory(0, LLONG_MAX), "hashes whose fields and "
           "values are up to this long report listpack", mutable=True,
           alias="hash-max-ziplist-value"),
    Option("set-max-intset-entries", 512, _integer(0, LLONG_MAX), "sets of up to this many "
           "integers report intset", mutable=True),
    Option("zset-max-listpack-entries", 128, _integer(0, LLONG_MAX), "sorted sets up to this "
           "many members report listpack", mutable=True, alias="zset-max-ziplist-entries"),
    Option("zset-max-listpack-value", 64, _memory(0, LLONG_MAX), "sorted sets whose members "
           "are up to this long report listpack", mutable=True, alias="zset-max-ziplist-value"),
    Option("list-max-listpack-size", -2, _integer(INT_MIN, INT_MAX), "accepted for Redis "
           "compatibility", mutable=True, alias="list-max-ziplist-size"),
    Option("list-compress-depth", 0, _integer(0, INT_MAX), "accepted for Redis compatibility",
           mutable=True),
    Option("hll-sparse-max-bytes", 3000, _memory(0, LLONG_MAX), "sparse HyperLogLogs that "
           "would grow past this many bytes turn dense", mutable=True),
    Option("stream-node-max-entries", 100, _integer(0, LLONG_MAX), "a stream's node (what "
           "approximate trimming removes whole) holds up to this many entries (0: any number)",
           mutable=True),
    Option("stream-node-max-bytes", 4096, _memory(0, LLONG_MAX), "a stream's node closes at "
           "this many bytes of Redis's listpack encoding (0: 1 GB)", mutable=True),
    # Options Redis test suites and tools set; rcache's Raft log is its append-only file and
    # its snapshots replace RDB save points, so these are validated and reported only.
    Option("save", "", _save_points, "accepted for Redis compatibility (snapshots follow "
           "raft-log-max-*)", mutable=True),
    Option("appendonly", True, parse_bool, "accepted for Redis compatibility (the Raft log is "
           "always on)", mutable=True, format=_format_bool),
    Option("busy-reply-threshold", 5000, _integer(0, LLONG_MAX), "accepted for Redis "
           "compatibility: scripts are bounded by lua-instruction-budget instead",
           mutable=True, alias="lua-time-limit"),
    *(Option(f"lazyfree-lazy-{what}", False, parse_bool, "accepted for Redis compatibility",
             mutable=True, format=_format_bool)
      for what in ("eviction", "expire", "server-del", "user-del", "user-flush")),
    Option("activedefrag", False, _no_defrag, "accepted for Redis compatibility (only 'no')",
           mutable=True, format=_format_bool),
    # Redis's replication pings (test harnesses set it); Raft's heartbeats replace them.
    Option("repl-ping-replica-period", 10, _integer(1, INT_MAX), "accepted for Redis "
           "compatibility", mutable=True, alias="repl-ping-slave-period"),
]
BY_NAME = {opt.name: opt for opt in OPTIONS}
BY_NAME.update((opt.alias, opt) for opt in OPTIONS if opt.alias)
# Options whose unset value stands for one derived from others: the Config property with it.
_DERIVED = {"id": "node_id", "raft-port": "raft_listen_port"}


# Options that decide ``Config.evicting``: maxmemory set, or a policy other than noeviction
_EVICTION_OPTIONS = frozenset({"maxmemory", "maxmemory_policy"})


class Config:
    """Current values; attribute names use underscores (``config.proto_max_bulk_len``)."""

    def __init__(self, **values: Any) -> None:
        for opt in OPTIONS:
            setattr(self, opt.attr, opt.default)
        self.config_file: str | None = None
        # CONFIG SET checks that depend on the running node (maxclients: the open-files limit)
        self.runtime_checks: dict[str, Callable[[Any], None]] = {}
        for name, value in values.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in _EVICTION_OPTIONS:
            # Kept as one flag: every client read event asks it (the server's plain path)
            super().__setattr__("evicting", bool(getattr(self, "maxmemory", 0)) or getattr(
                self, "maxmemory_policy", "noeviction") != "noeviction")

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
        if not config.main_port:
            raise ValueError("port 0 needs a tls-port: the node would listen nowhere")
        if config.tls_replication and not config.tls_port:
            raise ValueError("tls-replication needs a tls-port (the leader's TLS port is this "
                             "node's tls-port - port offset away from its port)")
        if bool(config.tls_client_cert_file) != bool(config.tls_client_key_file):
            raise ValueError("tls-client-cert-file and tls-client-key-file go together")
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
            if opt.name == "client-output-buffer-limit" and len(text.split()) == 1:
                text = _legacy_output_limit(text)
            setattr(self, opt.attr, self._parsed(opt, text))
        except ValueError as err:
            raise ValueError(f"invalid value for '{opt.name}': {err}") from None

    def _parsed(self, opt: Option, text: str) -> Any:
        value = opt.parse(text)
        return {**getattr(self, opt.attr), **value} if opt.partial else value

    def get(self, name: str) -> str:
        """An option's value as CONFIG GET shows it; one left unset whose value derives from
        others (``_DERIVED``) shows what the node uses."""
        opt = BY_NAME[name]
        value = getattr(self, opt.attr)
        if not value and name in _DERIVED:
            value = getattr(self, _DERIVED[name])
        return opt.format(value)

    # -- CONFIG GET / CONFIG SET ------------------------------------------------------------
    def matching(self, pattern: bytes) -> dict[bytes, bytes]:
        match = matcher(pattern, nocase=True)
        return {name.encode(): self.get(opt.name).encode()
                for name, opt in BY_NAME.items() if match(name.encode())}

    @property
    def encoding_limits(self) -> EncodingLimits:
        """The options the leader stamps on each Raft entry (rcache/encodings.py)."""
        return EncodingLimits(self.hash_max_listpack_entries, self.hash_max_listpack_value,
                              self.set_max_intset_entries, self.zset_max_listpack_entries,
                              self.zset_max_listpack_value, self.proto_max_bulk_len,
                              self.stream_node_max_bytes, self.stream_node_max_entries,
                              self.hll_sparse_max_bytes)

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
                value = self._parsed(opt, raw_value.decode(errors="replace"))
                check = self.runtime_checks.get(opt.name)
                if check is not None:
                    check(value)
                staged.append((opt, value))
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
        return self.raft_port or self.main_port + 10000

    @property
    def main_port(self) -> int:
        """The client port this node is known by: the plaintext one, else (port 0) TLS's."""
        return self.port or self.tls_port

    @property
    def tls_offset(self) -> int | None:
        """What a TLS client adds to a member's recorded port to reach its TLS port (every
        node of a cluster has the same layout); None when this node has no TLS port."""
        if not self.tls_port:
            return None
        return self.tls_port - self.port if self.port else 0

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
        return f"{self.announce_ip}:{self.main_port}"

    @property
    def node_id(self) -> str:
        return self.id or f"{self.announce_ip}:{self.main_port}"
