"""rcache: a Redis-protocol, Raft-replicated, RocksDB-persistent key-value cache."""

__version__ = "0.1.0"
