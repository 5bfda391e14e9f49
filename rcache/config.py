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
UINT_MAX, ULLONG_MAX = 2**32 - 1, 2**64 - 1
MIN_HZ, MAX_HZ = 1, 500  # Redis clamps hz into this range


EVICTION_POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                     "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def parse_memory(text: str) -> int:
    """Redis's memtoull: '512mb', '1gb', '100' (bytes); as in C, the number saturates at
    ULLONG_MAX (strtoull) and the product wraps around."""
    match = re.fullmatch(r"(\d{0,127})([a-z]*)", text.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError("argument must be a memory value")
    number = min(int(match.group(1) or "0"), ULLONG_MAX)  # (no digits: 0, as strtoull)
    return number * _UNITS[match.group(2)] & ULLONG_MAX


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


# loglevel -> the logging level of the root logger; Python has no NOTICE, Redis's default
# level (its start-up line): one between INFO (verbose) and WARNING.
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
_LOG_LEVELS = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": NOTICE}


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


def _octal(low: int, high: int) -> Callable[[str], int]:
    """An octal option (unixsocketperm) as Redis parses it: strtoll base 8, bounds in octal."""
    def parse(text: str) -> int:
        match = re.fullmatch(r"\s*([+-]?[0-7]*)", text)
        if match is None or match.group(1) in ("+", "-"):
            raise ValueError("argument couldn't be parsed as an octal number")
        value = int(match.group(1) or "0", 8)
        if not low <= value <= high:
            raise ValueError(f"argument must be between {low:o} and {high:o} inclusive")
        return value
    return parse


def _memory_or_percent(low: int, high: int) -> Callable[[str], int]:
    """maxmemory-clients: bytes, or a percentage of maxmemory kept as its negative."""
    def parse(text: str) -> int:
        try:
            return _check_range(parse_memory(text), low, high)
        except ValueError as err:
            if "between" in str(err):
                raise
        percent = parse_int(text[:-1].encode()) if text.endswith("%") else None
        if percent is None or percent < 0 or len(text) < 2:
            raise ValueError("argument must be a memory or percent value")
        if -percent < low:
            raise ValueError(f"percentage argument must be less or equal to {-low}")
        return -percent
    return parse


def _format_percent(value: int) -> str:
    return f"{-value}%" if value < 0 else str(value)


def _format_octal(value: int) -> str:
    return f"{value:o}"


def _flags(allowed: dict[str, int],
           check: Callable[[int], None] = lambda value: None) -> Callable[[str], int]:
    """A multi-word enum of bit flags (shutdown-on-sigterm 'save now'), split on single
    spaces as Redis splits it."""
    def parse(text: str) -> int:
        words = text.split(" ") if text else []
        if not words or any(word.lower() not in allowed for word in words):
            raise ValueError("argument(s) must be one of the following: " + ", ".join(allowed))
        value = 0
        for word in words:
            value |= allowed[word.lower()]
        check(value)
        return value
    return parse


def _flag_names(allowed: dict[str, int]) -> Callable[[int], str]:
    """Redis's configEnumGetName for bit flags: an exact name, else the flags' names."""
    def format_(value: int) -> str:
        exact = [name for name, bits in allowed.items() if bits == value]
        if exact:
            return exact[0]
        return " ".join(name for name, bits in allowed.items() if bits and value & bits == bits)
    return format_


SHUTDOWN_FLAGS = {"default": 0, "save": 1, "nosave": 2, "now": 4, "force": 8}


def _shutdown_flags_valid(value: int) -> None:
    if value & SHUTDOWN_FLAGS["save"] and value & SHUTDOWN_FLAGS["nosave"]:
        raise ValueError("shutdown options SAVE and NOSAVE can't be used simultaneously")


def _oom_score_adj_values(text: str) -> tuple[int, ...]:
    """Three oom_score_adj values (master, replica, background child), -2000 to 2000."""
    words = text.split(" ") if text else []
    if len(words) != 3:
        raise ValueError("wrong number of arguments")
    values = []
    for word in words:
        if word and not re.fullmatch(r"\s*[+-]?\d+", word) or (
                word and not -2000 <= int(word) <= 2000):
            raise ValueError("Invalid oom-score-adj-values, elements must be between -2000 and "
                             "2000.")
        values.append(int(word) if word else 0)
    return tuple(values)


def _format_numbers(values: tuple[int, ...]) -> str:
    return " ".join(map(str, values))


def _backlog_size(text: str) -> int:
    """Redis raises a repl-backlog-size below 16 KB to 16 KB."""
    return max(16 * 1024, _memory(1, LLONG_MAX)(text))


def _file_name(option: str, kind: str = "filename", empty: bool = True) -> Callable[[str], str]:
    """dbfilename, appendfilename, appenddirname: a name inside dir, not a path."""
    def parse(text: str) -> str:
        if not empty and not text:
            raise ValueError(f"{option} can't be empty")
        if "/" in text or "\\" in text:
            raise ValueError(f"{option} can't be a path, just a {kind}")
        return text
    return parse


def _hostname(text: str) -> str:
    if len(text) >= 256:
        raise ValueError("Hostnames must be less than 256 characters")
    if not re.fullmatch(r"[A-Za-z0-9.-]*", text):
        raise ValueError("Hostnames may only contain alphanumeric characters, hyphens or dots")
    return text


# What Redis's proc-title-template variables expand to when it validates a template (a
# server without cluster mode nor unix socket): the expansion must not be empty.
_TITLE_VARIABLES = {"title": "", "listen-addr": "*:6379", "server-mode": "",
                    "config-file": "-", "port": "6379", "tls-port": "0", "unixsocket": ""}


def _proc_title_template(text: str) -> str:
    """Redis's sdstemplate: {variable}, '{{' for a brace; unknown variables refused."""
    expanded, pos = [], 0
    while (start := text.find("{", pos)) >= 0:
        expanded.append(text[pos:start])
        if text[start + 1:start + 2] == "{":
            expanded.append("{")
            pos = start + 2
            continue
        end = text.find("}", start + 1)
        if end < 0 or text[start + 1:end] not in _TITLE_VARIABLES:
            expanded = []
            break
        expanded.append(_TITLE_VARIABLES[text[start + 1:end]])
        pos = end + 1
    else:
        expanded.append(text[pos:])
    if not "".join(expanded).strip(" "):
        raise ValueError("template format is invalid or contains unknown variables")
    return text


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
    protected: bool = False  # CONFIG SET only as enable-protected-configs allows

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
    Option("tls-cert-file", "", str, "server certificate (PEM) of the TLS port",
           mutable=True),
    Option("tls-key-file", "", str, "private key (PEM) of tls-cert-file", mutable=True),
    Option("tls-key-file-pass", "", str, "passphrase of tls-key-file, if it is encrypted",
           mutable=True),
    Option("tls-client-cert-file", "", str, "certificate (PEM) this node shows when it dials "
           "out (Raft links, follower-proxy and join links) if it differs from tls-cert-file, "
           "e.g. one issued for client authentication only"),
    Option("tls-client-key-file", "", str, "private key (PEM) of tls-client-cert-file"),
    Option("tls-client-key-file-pass", "", str, "passphrase of tls-client-key-file"),
    Option("tls-ca-cert-file", "", str, "CA certificates (PEM) that client certificates are "
           "checked against", mutable=True),
    Option("tls-ca-cert-dir", "", str, "directory of CA certificates (c_rehash layout)",
           mutable=True),
    Option("tls-auth-clients", "yes", _choice("yes", "no", "optional"), "TLS clients must "
           "present a certificate signed by a trusted CA (optional: checked if presented)",
           mutable=True),
    Option("tls-protocols", "", _tls_protocols, "TLS versions allowed, e.g. 'TLSv1.2 TLSv1.3' "
           "(default: both)", mutable=True),
    Option("tls-ciphers", "", str, "OpenSSL cipher list for TLSv1.2 and below", mutable=True),
    Option("tls-ciphersuites", "", str, "TLSv1.3 ciphersuites (accepted; Python's ssl keeps "
           "OpenSSL's TLSv1.3 defaults)", mutable=True),
    Option("tls-cluster", False, parse_bool, "Raft links between members use TLS, each member "
           "showing tls-cert-file and requiring a peer certificate signed by the tls-ca-cert-* "
           "CA (instead of, or besides, cluster-secret)", format=_format_bool),
    Option("tls-replication", False, parse_bool, "follower-proxy links to the leader use TLS "
           "(the leader's tls-port; this node shows tls-cert-file, checks the leader's "
           "against the tls-ca-cert-* CA)", format=_format_bool),
    Option("dir", "./rcache-data", str, "data directory (RocksDB, Raft log, snapshots)",
           protected=True),
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
    Option("busy-poll-us", 100, _integer(0, 1_000_000), "after answering, keep polling for "
           "the next request up to this many microseconds instead of sleeping at once (a "
           "sleeping vCPU wakes slowly); adapts to the traffic, as Linux's haltpoll: 0 turns "
           "it off", mutable=True),
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

# -- Redis 7.0's other parameters -----------------------------------------------------------
# Each is shown by CONFIG GET with Redis's default and refused or accepted by CONFIG SET as
# Redis does (type, bounds, error texts, aliases, immutable and protected ones). Those whose
# help starts with NO_EFFECT concern something rcache does not have (Redis replication, RDB
# and AOF files, its cluster bus, threads, jemalloc): they are kept and reported only, and
# rcache --help leaves out every option whose help starts with COMPATIBILITY_ONLY.
COMPATIBILITY_ONLY = "accepted for Redis compatibility"
NO_EFFECT = COMPATIBILITY_ONLY + ", no effect"
LONG_MAX = LLONG_MAX
_ACCESS = ("no", "yes", "local")  # enable-protected-configs and the like


def _allows(access: str, local: bool) -> bool:
    """Redis's allowProtectedAction: yes, or local and the connection is local."""
    return access == "yes" or (access == "local" and local)


def _yes_no(name: str, default: bool, help: str = NO_EFFECT, **kwargs: Any) -> Option:
    return Option(name, default, parse_bool, help, format=_format_bool,
                  **{"mutable": True, **kwargs})


def _number(name: str, default: int, low: int, high: int, help: str = NO_EFFECT,
            **kwargs: Any) -> Option:
    return Option(name, default, _integer(low, high), help, **{"mutable": True, **kwargs})


def _bytes(name: str, default: int, low: int, high: int, help: str = NO_EFFECT,
           **kwargs: Any) -> Option:
    return Option(name, default, _memory(low, high), help, **{"mutable": True, **kwargs})


def _text(name: str, default: str = "", help: str = NO_EFFECT, parse: Callable[[str], str] = str,
          **kwargs: Any) -> Option:
    return Option(name, default, parse, help, **{"mutable": True, **kwargs})


def _one_of(name: str, choices: tuple[str, ...], default: str, help: str = NO_EFFECT,
            **kwargs: Any) -> Option:
    return Option(name, default, _choice(*choices), help, **{"mutable": True, **kwargs})


REDIS_OPTIONS: list[Option] = [
    # the process, its logs and signals
    _text("pidfile", help="file the node writes its process id to at start and removes at a "
          "clean shutdown (empty: none)", mutable=False),
    _text("logfile", help="file the log goes to (empty: standard error)", mutable=False),
    _yes_no("syslog-enabled", False, "also log to the system logger (/dev/log)", mutable=False),
    _text("syslog-ident", "redis", "syslog identity of the log lines", mutable=False),
    _one_of("syslog-facility", ("user", *(f"local{n}" for n in range(8))), "local0",
            "syslog facility of the log lines", mutable=False),
    _one_of("oom-score-adj", ("no", "yes", "relative", "absolute"), "no", "set the process's "
            "/proc/self/oom_score_adj from oom-score-adj-values (relative/yes: added to the "
            "score the process started with)"),
    Option("oom-score-adj-values", (0, 200, 800), _oom_score_adj_values, "oom_score_adj of a "
           "leader, a follower (Redis's replica) and a background child (none in rcache)",
           mutable=True, format=_format_numbers),
    _yes_no("daemonize", False, mutable=False),
    _one_of("supervised", ("upstart", "systemd", "auto", "no"), "no", mutable=False),
    _yes_no("always-show-logo", False, mutable=False),
    _yes_no("set-proc-title", True, mutable=False),
    _text("proc-title-template", "{title} {listen-addr} {server-mode}",
          parse=_proc_title_template),
    _yes_no("crash-log-enabled", True),
    _yes_no("crash-memcheck-enabled", True),
    _yes_no("disable-thp", True, mutable=False),
    *(Option(f"shutdown-on-{signal}", 0, _flags(SHUTDOWN_FLAGS, _shutdown_flags_valid),
             NO_EFFECT + f": SIG{signal.upper()} stops the node at once whatever the choice, "
             "as SHUTDOWN does (every write is in the Raft log already)", mutable=True,
             format=_flag_names(SHUTDOWN_FLAGS)) for signal in ("sigint", "sigterm")),
    _number("shutdown-timeout", 10, 0, INT_MAX),
    _text("ignore-warnings"),
    _one_of("enable-protected-configs", _ACCESS, "no", "whether CONFIG SET may change the "
            "protected options (dir: immutable all the same, dbfilename)", mutable=False),
    _one_of("enable-debug-command", _ACCESS, "no", "whether DEBUG may run (local: from "
            "loopback or the unix socket only)", mutable=False),
    _one_of("enable-module-command", _ACCESS, "no", NO_EFFECT + " (no module can be loaded)",
            mutable=False),
    # client connections
    _number("tcp-backlog", 511, 0, INT_MAX, "listen backlog of the client ports and the unix "
            "socket (the kernel caps it at net.core.somaxconn)", mutable=False),
    _text("unixsocket", help="also serve clients on this unix socket path (empty: none)",
          mutable=False),
    Option("unixsocketperm", 0, _octal(0, 0o777), "permissions of the unix socket, octal (0: "
           "as the umask leaves them)", format=_format_octal),
    Option("client-query-buffer-limit", 1024**3, _memory(1024**2, LONG_MAX), "close a client "
           "whose unparsed input (a request still arriving) passes this size", mutable=True),
    Option("maxmemory-clients", 0, _memory_or_percent(-100, LONG_MAX), NO_EFFECT,
           mutable=True, format=_format_percent),
    _number("socket-mark-id", 0, 0, UINT_MAX, mutable=False),
    _text("bind-source-addr"),
    _number("io-threads", 1, 1, 128, mutable=False),
    _yes_no("io-threads-do-reads", False, mutable=False),
    *(_text(f"{what}_cpulist", mutable=False) for what in ("server", "bio", "aof_rewrite",
                                                          "bgsave")),
    # the keyspace: Redis's hash tables, expiry effort, allocator, defragmentation
    _yes_no("activerehashing", True),
    _yes_no("dynamic-hz", True),
    _number("active-expire-effort", 1, 1, 10),
    _yes_no("jemalloc-bg-thread", True),
    _number("active-defrag-cycle-min", 1, 1, 99),
    _number("active-defrag-cycle-max", 25, 1, 99),
    _number("active-defrag-threshold-lower", 10, 0, 1000),
    _number("active-defrag-threshold-upper", 100, 0, 1000),
    _bytes("active-defrag-ignore-bytes", 100 * 1024**2, 1, LLONG_MAX),
    _number("active-defrag-max-scan-fields", 1000, 1, LONG_MAX),
    _one_of("acl-pubsub-default", ("allchannels", "resetchannels"), "resetchannels", NO_EFFECT
            + ": users start with resetchannels (users are replicated state, the same on every "
            "node)"),
    _one_of("sanitize-dump-payload", ("no", "yes", "clients"), "no"),
    _one_of("propagation-error-behavior", ("ignore", "panic", "panic-on-replicas"), "ignore"),
    # RDB and AOF files: rcache keeps RocksDB, a Raft log and its snapshots in dir instead
    Option("dbfilename", "dump.rdb", _file_name("dbfilename"), NO_EFFECT + " (rcache writes "
           "no RDB file)", mutable=True, protected=True),
    _text("appendfilename", "appendonly.aof", NO_EFFECT + " (the Raft log is rcache's "
          "append-only file)", _file_name("appendfilename", empty=False), mutable=False),
    _text("appenddirname", "appendonlydir", NO_EFFECT, _file_name("appenddirname", "dirname",
          empty=False), mutable=False),
    _yes_no("stop-writes-on-bgsave-error", True, NO_EFFECT + ": a failing disk write of the "
            "Raft log or RocksDB refuses writes with MISCONF whatever its value, as Redis does "
            "for a failing AOF write"),
    _yes_no("rdbcompression", True),
    _yes_no("rdbchecksum", True, mutable=False),
    _yes_no("rdb-del-sync-files", False),
    _yes_no("rdb-save-incremental-fsync", True),
    _yes_no("aof-rewrite-incremental-fsync", True),
    _yes_no("no-appendfsync-on-rewrite", False),
    _yes_no("aof-load-truncated", True),
    _yes_no("aof-use-rdb-preamble", True),
    _yes_no("aof-timestamp-enabled", False),
    _yes_no("aof-disable-auto-gc", False),
    _number("auto-aof-rewrite-percentage", 100, 0, INT_MAX),
    _bytes("auto-aof-rewrite-min-size", 64 * 1024**2, 0, LLONG_MAX),
    # Redis replication: rcache's followers replicate through Raft instead
    _text("replicaof", alias="slaveof", mutable=False),
    _text("masterauth"),
    _text("masteruser"),
    _yes_no("replica-serve-stale-data", True, alias="slave-serve-stale-data"),
    _yes_no("replica-read-only", True, alias="slave-read-only"),
    _yes_no("replica-lazy-flush", False, alias="slave-lazy-flush"),
    _yes_no("replica-ignore-maxmemory", True, alias="slave-ignore-maxmemory"),
    _yes_no("replica-announced", True),
    _yes_no("replica-ignore-disk-write-errors", False),
    _number("replica-priority", 100, 0, INT_MAX, alias="slave-priority"),
    _text("replica-announce-ip", alias="slave-announce-ip"),
    _number("replica-announce-port", 0, 0, 65535, alias="slave-announce-port"),
    _number("min-replicas-to-write", 0, 0, INT_MAX, alias="min-slaves-to-write"),
    _number("min-replicas-max-lag", 10, 0, INT_MAX, alias="min-slaves-max-lag"),
    _yes_no("repl-diskless-sync", True),
    _number("repl-diskless-sync-delay", 5, 0, INT_MAX),
    _number("repl-diskless-sync-max-replicas", 0, 0, INT_MAX),
    _one_of("repl-diskless-load", ("disabled", "on-empty-db", "swapdb"), "disabled"),
    _yes_no("repl-disable-tcp-nodelay", False),
    _number("repl-timeout", 60, 1, INT_MAX),
    Option("repl-backlog-size", 1024**2, _backlog_size, NO_EFFECT, mutable=True),
    _number("repl-backlog-ttl", 3600, 0, LONG_MAX),
    # Redis Cluster's bus: rcache's members talk Raft instead (see raft-port)
    _text("cluster-config-file", "nodes.conf", mutable=False),
    _number("cluster-node-timeout", 15000, 0, LLONG_MAX),
    _number("cluster-port", 0, 0, 65535, mutable=False),
    *(_number(f"cluster-announce-{what}port", 0, 0, 65535) for what in ("", "bus-", "tls-")),
    _text("cluster-announce-hostname", parse=_hostname),
    _one_of("cluster-preferred-endpoint-type", ("ip", "hostname", "unknown-endpoint"), "ip"),
    _yes_no("cluster-require-full-coverage", True),
    _yes_no("cluster-allow-reads-when-down", False),
    _yes_no("cluster-allow-pubsubshard-when-down", True),
    _yes_no("cluster-allow-replica-migration", True),
    _yes_no("cluster-replica-no-failover", False, alias="cluster-slave-no-failover"),
    _number("cluster-replica-validity-factor", 10, 0, INT_MAX,
            alias="cluster-slave-validity-factor"),
    _number("cluster-migration-barrier", 1, 0, INT_MAX),
    _bytes("cluster-link-sendbuf-limit", 0, 0, ULLONG_MAX),
    _yes_no("tls-prefer-server-ciphers", False, "the TLS port picks a cipher in its own order, "
            "not the client's"),
    # TLS session details Python's ssl module leaves to OpenSSL's defaults
    _text("tls-dh-params-file"),
    _yes_no("tls-session-caching", True),
    _number("tls-session-cache-size", 20 * 1024, 0, INT_MAX),
    _number("tls-session-cache-timeout", 300, 0, INT_MAX),
]
OPTIONS += REDIS_OPTIONS
BY_NAME = {opt.name: opt for opt in OPTIONS}
BY_NAME.update((opt.alias, opt) for opt in OPTIONS if opt.alias)
# Options whose unset value stands for one derived from others: the Config property with it.
_DERIVED = {"id": "node_id", "raft-port": "raft_listen_port"}


# Options that decide ``Config.evicting``: maxmemory set, or a policy other than noeviction
_EVICTION_OPTIONS = frozenset({"maxmemory", "maxmemory_policy"})


def set_failed(name: str, reason: str) -> str:
    """Redis's CONFIG SET error for a value it refuses."""
    return f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"


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
        """CONFIG GET: a name without glob characters is looked up, and answered under the
        name as given (as Redis does); a pattern matches names and aliases."""
        if not any(c in pattern for c in b"[*?"):
            opt = BY_NAME.get(pattern.decode(errors="replace").lower())
            return {pattern: self.get(opt.name).encode()} if opt is not None else {}
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

    def set_at_runtime(self, pairs: list[tuple[bytes, bytes]], local: bool = False) -> None:
        """CONFIG SET: all or nothing, with Redis's error texts. As Redis, every name is
        checked (unknown, immutable, protected, repeated) before any value. ``local``: the
        client is on loopback or the unix socket (enable-protected-configs local)."""
        options = []
        for raw_name, _ in pairs:
            given = raw_name.decode(errors="replace")
            opt = BY_NAME.get(given.lower())
            if opt is None:
                raise CommandError(
                    f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'")
            if opt.protected and not _allows(self.enable_protected_configs, local):
                raise CommandError(set_failed(given, "can't set protected config"))
            if not opt.mutable:
                raise CommandError(set_failed(given, "can't set immutable config"))
            if any(given.lower() == name for name, _ in options):
                raise CommandError(set_failed(given, "duplicate parameter"))
            options.append((given.lower(), opt))
        staged = []
        for (name, opt), (_, raw_value) in zip(options, pairs, strict=True):
            try:
                value = self._parsed(opt, raw_value.decode(errors="replace"))
                check = self.runtime_checks.get(opt.name)
                if check is not None:
                    check(value)
                staged.append((opt, value))
            except ValueError as err:
                raise CommandError(set_failed(name, str(err))) from None
        for opt, value in staged:
            setattr(self, opt.attr, value)

    def debug_allowed(self, local: bool) -> bool:
        """May this connection (on loopback or the unix socket: ``local``) run DEBUG?"""
        return _allows(self.enable_debug_command, local)

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
