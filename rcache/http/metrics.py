"""/metrics: Prometheus text, built at scrape time from the node's own counters and Raft
state (a custom collector), so serving commands costs nothing extra.

Per-command counts and latencies are the ones INFO commandstats and latencystats show, kept
on each command's table entry (reads where they ran, writes where they were applied)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..commands.info import keyspace_hits_and_misses
from ..commands.table import all_commands
from ..interfaces import Node
from .state import follower_lag, local_state

ROLES = ("leader", "follower", "candidate")


class NodeCollector(Collector):
    def __init__(self, server: Node) -> None:
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
        yield counter("evicted_keys", "Keys evicted to stay under maxmemory",
                      server.eviction.evicted_keys)
        hits, misses = keyspace_hits_and_misses(server)
        yield counter("keyspace_hits", "Key lookups by reads served here that found the key "
                      "(INFO keyspace_hits)", hits)
        yield counter("keyspace_misses", "Key lookups by reads served here that found no key "
                      "(INFO keyspace_misses)", misses)
        yield counter("net_input_bytes", "Bytes read from client connections (INFO "
                      "total_net_input_bytes less total_net_repl_input_bytes)",
                      stats.net_input_bytes)
        yield counter("net_output_bytes", "Bytes written to client connections (INFO "
                      "total_net_output_bytes less total_net_repl_output_bytes)",
                      stats.net_output_bytes)
        repl = server.replicator.traffic.counts()
        yield counter("net_repl_input_bytes", "Raft frame bytes received from the other "
                      "members (INFO total_net_repl_input_bytes)", repl["bytes_in"])
        yield counter("net_repl_output_bytes", "Raft frame bytes sent to the other members "
                      "(INFO total_net_repl_output_bytes)", repl["bytes_out"])
        yield gauge("instantaneous_ops_per_second", "Commands per second over the last "
                    "samples (INFO instantaneous_ops_per_sec)", stats.ops_rate.per_second)
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
        yield from _per_command()


def _per_command() -> Iterator[Metric]:
    calls = CounterMetricFamily("rcache_command_calls", "Calls run, per command",
                                labels=["command"])
    failed = CounterMetricFamily("rcache_command_failed_calls", "Calls that answered an "
                                 "error, per command", labels=["command"])
    rejected = CounterMetricFamily("rcache_command_rejected_calls", "Calls refused before "
                                   "running (NOAUTH, MOVED...), per command", labels=["command"])
    latency = HistogramMetricFamily("rcache_command_duration_seconds", "Time a command took "
                                    "to run, per command (power-of-two microsecond buckets)",
                                    labels=["command"])
    for cmd in all_commands():
        if not (cmd.calls or cmd.rejected_calls):
            continue
        name = [cmd.full_name]
        calls.add_metric(name, cmd.calls)
        failed.add_metric(name, cmd.failed_calls)
        rejected.add_metric(name, cmd.rejected_calls)
        buckets, seen = [], 0
        for bucket, count in enumerate(cmd.latency):
            seen += count
            if count:
                buckets.append((f"{(1 << bucket) / 1e6:.6f}", seen))
        buckets.append(("+Inf", cmd.timed_calls))
        latency.add_metric(name, buckets, sum_value=cmd.usec / 1e6)
    yield from (calls, failed, rejected, latency)


def registry_for(server: Node) -> CollectorRegistry:
    """The node's metrics, plus the process's own (memory, CPU, open files: read from /proc
    at scrape time too)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(server))
    ProcessCollector(registry=registry)
    return registry
