"""/metrics: Prometheus text, built at scrape time from the node's own counters and Raft
state (a custom collector), so serving commands costs nothing extra.

rcache keeps no per-command counts: the command totals are for all commands together."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .state import follower_lag, local_state

if TYPE_CHECKING:
    from ..server import Server

ROLES = ("leader", "follower", "candidate")


class NodeCollector(Collector):
    def __init__(self, server: Server) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        server = self.server
        stats = server.stats

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"rcache_{name}", doc, value=value)

        def gauge(name: str, doc: str, value: float | None = None,
                  labels: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"rcache_{name}", doc, value=value, labels=labels)

        yield counter("commands_processed", "Commands received from clients (all kinds)",
                      stats.commands_processed)
        yield counter("write_commands", "Writes submitted to the Raft log by this node (a "
                      "MULTI block counts once)", stats.writes_submitted)
        yield counter("connections_received", "Client connections accepted",
                      stats.connections_received)
        yield counter("rejected_connections", "Connections refused (maxclients)",
                      stats.rejected_connections)
        yield counter("expired_keys", "Keys deleted by active expiry", stats.expired_keys)
        yield gauge("connected_clients", "Connected RESP clients", len(server.clients))
        yield gauge("blocked_clients", "Clients parked in a blocking pop",
                    server.blocking.parked)
        keys = gauge("keys", "Keys per logical database", labels=["db"])
        expires = gauge("keys_with_expiry", "Keys with a TTL per logical database", labels=["db"])
        for db in range(server.config.databases):
            keys.add_metric([str(db)], server.store.key_count(db))
            expires.add_metric([str(db)], server.store.expires_count(db))
        yield keys
        yield expires

        state = local_state(server)
        yield gauge("raft_term", "Raft term: each election seen raises it", state.term)
        role = gauge("raft_role", "1 for this node's current Raft role", labels=["role"])
        for name in ROLES:
            role.add_metric([name], 1 if state.role == name else 0)
        yield role
        yield gauge("raft_healthy", "1 if a leader is known and all it committed is applied",
                    int(state.healthy))
        yield gauge("raft_commit_index", "Highest log index known committed", state.commit_index)
        yield gauge("raft_applied_index", "Highest log index applied", state.applied_index)
        yield gauge("raft_members", "Members of the cluster", len(server.cluster.members()))
        replicator = server.replicator
        journal, snapshots = replicator.journal, replicator.snapshots
        yield gauge("raft_log_entries", "Entries in the Raft log (since the last snapshot)",
                    len(journal))
        yield gauge("raft_log_bytes", "Size of the Raft log", journal.bytes)
        yield counter("raft_log_fsyncs", "fsyncs of the Raft log", journal.fsyncs)
        yield gauge("raft_snapshot_index", "Log index of the last snapshot", snapshots.last_index)
        yield gauge("raft_snapshot_bytes", "Size of the last snapshot", snapshots.last_size)
        yield gauge("raft_snapshot_timestamp_seconds", "When the last snapshot was written",
                    snapshots.last_time)
        yield gauge("raft_snapshot_in_progress", "1 while a snapshot is written",
                    int(snapshots.in_progress))
        lag = gauge("raft_follower_lag_entries", "On the leader: log entries a follower lacks",
                    labels=["follower"])
        for node_id, entries in sorted(follower_lag(server).items()):
            lag.add_metric([node_id], entries)
        yield lag


def registry_for(server: Server) -> CollectorRegistry:
    """The node's metrics, plus the process's own (memory, CPU, open files: read from /proc
    at scrape time too)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(server))
    ProcessCollector(registry=registry)
    return registry
