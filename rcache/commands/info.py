"""INFO: Redis 7.0's sections and field names, filled from this node (and rcache's own Raft
section).

Sections: server clients memory persistence stats replication cpu modules errorstats cluster
raft keyspace by default; commandstats and latencystats too with ``all`` or ``everything``.
Per-command figures count reads where they are served and writes where they are applied
(every node, as a Redis replica counts what its master sends). Latency percentiles come
from power-of-two buckets, so they are upper bounds.
"""

from __future__ import annotations

import hashlib
import os
import platform
import resource
import sys
import time
from collections.abc import Callable

from .. import __version__
from ..config import format_percentiles
from ..interfaces import Node
from ..resp import Verbatim
from ..storage import SCRIPTS_BYTES_KEY, SCRIPTS_COUNT_KEY
from .connection import REDIS_VERSION
from .scripting import function_figures
from .table import Context, all_commands, command

_DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication",
                     "cpu", "modules", "errorstats", "cluster", "keyspace")


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss_bytes() -> int:
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, rss_bytes())


def human_bytes(n: int) -> str:
    """Redis's bytesToHuman: 512B, 1.50K, 12.00M ..."""
    if n < 1024:
        return f"{n}B"
    for unit in "KMGTP":
        n /= 1024
        if n < 1024 or unit == "P":
            return f"{n:.2f}{unit}"
    raise AssertionError("unreachable")


# Redis's build fields: no git build here (Redis prints these without one), and an id that
# names this rcache on this Python, as Redis's names its version and build.
_BUILD_ID = hashlib.blake2b(f"{__version__} {sys.version}".encode(), digest_size=8).hexdigest()
_COMPILER = platform.python_compiler()  # "GCC 12.2.0": the compiler of this interpreter
_GCC_VERSION = _COMPILER.split()[1] if _COMPILER.startswith("GCC ") else "0.0.0"
_MONOTONIC = ("POSIX clock_gettime"
              if time.get_clock_info("monotonic").implementation.startswith("clock_gettime")
              else time.get_clock_info("monotonic").implementation)
_LRU_CLOCK_MAX = (1 << 24) - 1  # Redis's LRU_CLOCK: seconds, in 24 bits


def _server(ctx: Context, now: float) -> dict[str, object]:
    server, config = ctx.server, ctx.server.config
    return {
        "redis_version": REDIS_VERSION, "redis_git_sha1": "00000000", "redis_git_dirty": 0,
        "redis_build_id": _BUILD_ID, "rcache_version": __version__,
        "redis_mode": "cluster" if config.cluster_enabled else "standalone",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "arch_bits": 64, "monotonic_clock": _MONOTONIC, "multiplexing_api": "asyncio",
        "atomicvar_api": "python-gil", "gcc_version": _GCC_VERSION,
        "python_version": platform.python_version(), "process_id": os.getpid(),
        "process_supervised": "no", "run_id": server.cluster.node_id, "tcp_port": config.port,
        "server_time_usec": int(now * 1e6), "uptime_in_seconds": int(now - server.started),
        "uptime_in_days": int((now - server.started) // 86400), "hz": config.hz,
        "configured_hz": config.hz, "lru_clock": int(now) & _LRU_CLOCK_MAX,
        "executable": os.path.abspath(os.sys.argv[0]),
        "config_file": config.config_file or "", "io_threads_active": 0,
    }


def _clients(ctx: Context) -> dict[str, object]:
    server = ctx.server
    return {"connected_clients": len(server.clients), "cluster_connections": 0,
            "maxclients": server.config.maxclients, "client_recent_max_input_buffer": 0,
            "client_recent_max_output_buffer": 0,
            "blocked_clients": server.blocking.parked + server.pause.held,  # as Redis counts
            "tracking_clients": server.tracker.tracking_clients, "clients_in_timeout_table": 0}


def _memory(ctx: Context) -> dict[str, object]:
    """``used_memory`` and ``used_memory_dataset`` are the dataset's logical size, what
    maxmemory bounds, the same on every node at the same index; the process's RSS stands for
    Redis's allocator figures (Python's heap is not one allocator's, and RocksDB's caches
    are in it), as Redis itself fills them when its allocator reports none (libc malloc).
    No Lua VM lives between scripts (each run gets a fresh one): the VM figures are 0."""
    server, config = ctx.server, ctx.server.config
    rss, peak = rss_bytes(), peak_rss_bytes()
    store = server.store
    dataset = store.used_bytes
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    scripts_bytes = store.stored_counter(SCRIPTS_BYTES_KEY)
    libraries, functions, functions_bytes = function_figures(ctx)
    clients = {"normal": 0, "slave": 0}
    for client in server.clients.values():  # query buffer and unsent replies, as Redis's
        output = client.output_class
        clients["slave" if output == "slave" else "normal"] += (client.reader.buffered()
                                                                + client.unsent_bytes)
    resident = active = rss  # what Redis's serverCron puts in when the allocator has none
    # Redis's RSS over used_memory (and, the allocator reporting nothing, its active over
    # allocated): here the process (interpreter, RocksDB's caches) over the dataset's logical
    # size, so well above Redis's for a small dataset
    fragmentation = f"{rss / dataset if dataset else 0:.2f}"
    return {
        "used_memory": dataset, "used_memory_human": human_bytes(dataset),
        "used_memory_rss": rss, "used_memory_rss_human": human_bytes(rss),
        "used_memory_peak": peak, "used_memory_peak_human": human_bytes(peak),
        "used_memory_peak_perc": f"{100 * rss / peak:.2f}%", "used_memory_overhead": 0,
        "used_memory_startup": 0, "used_memory_dataset": dataset,
        "used_memory_dataset_perc": "100.00%", "allocator_allocated": dataset,
        "allocator_active": active, "allocator_resident": resident,
        "total_system_memory": total, "total_system_memory_human": human_bytes(total),
        "used_memory_lua": 0, "used_memory_vm_eval": 0, "used_memory_lua_human": human_bytes(0),
        "used_memory_scripts_eval": scripts_bytes,
        "number_of_cached_scripts": store.stored_counter(SCRIPTS_COUNT_KEY),
        "number_of_functions": functions, "number_of_libraries": libraries,
        "used_memory_vm_functions": 0, "used_memory_vm_total": 0,
        "used_memory_vm_total_human": human_bytes(0), "used_memory_functions": functions_bytes,
        "used_memory_scripts": scripts_bytes + functions_bytes,
        "used_memory_scripts_human": human_bytes(scripts_bytes + functions_bytes),
        "maxmemory": config.maxmemory, "maxmemory_human": human_bytes(config.maxmemory),
        "maxmemory_policy": config.maxmemory_policy,
        "allocator_frag_ratio": fragmentation,
        "allocator_frag_bytes": active - dataset,
        "allocator_rss_ratio": f"{resident / active:.2f}",
        "allocator_rss_bytes": resident - active,
        "rss_overhead_ratio": f"{rss / resident:.2f}", "rss_overhead_bytes": rss - resident,
        "mem_fragmentation_ratio": fragmentation,
        "mem_fragmentation_bytes": rss - dataset,
        "mem_not_counted_for_evict": 0, "mem_replication_backlog": 0,
        "mem_total_replication_buffers": 0, "mem_clients_slaves": clients["slave"],
        "mem_clients_normal": clients["normal"], "mem_cluster_links": 0, "mem_aof_buffer": 0,
        "mem_allocator": "libc", "active_defrag_running": 0, "lazyfree_pending_objects": 0,
        "lazyfreed_objects": 0,
    }


def _persistence(ctx: Context) -> dict[str, object]:
    """Redis's RDB fields describe rcache's snapshots, its AOF fields the Raft log (in Redis
    7's multi-part AOF the base is a snapshot too). Nothing forks: the copy-on-write and
    fork fields are what Redis shows before its first fork, and no rewrite ever runs."""
    server = ctx.server
    journal = server.replicator.journal
    snapshots = server.replicator.snapshots
    applied = server.machine.applied_index
    return {
        "loading": 0, "async_loading": 0, "current_cow_peak": 0, "current_cow_size": 0,
        "current_cow_size_age": 0, "current_fork_perc": "0.00",
        "current_save_keys_processed": 0, "current_save_keys_total": 0,
        "rdb_changes_since_last_save": max(0, applied - snapshots.last_index),
        "rdb_bgsave_in_progress": int(snapshots.in_progress),
        "rdb_last_save_time": int(snapshots.last_time or server.started),
        "rdb_last_bgsave_status": "ok",
        "rdb_last_bgsave_time_sec": (round(snapshots.last_duration_ms / 1000)
                                     if snapshots.last_time else -1),
        "rdb_current_bgsave_time_sec": -1, "rdb_saves": snapshots.saves,
        "rdb_last_cow_size": 0,
        "rdb_last_load_keys_expired": 0, "rdb_last_load_keys_loaded": 0,  # RocksDB opens
        "aof_enabled": 1, "aof_rewrite_in_progress": 0, "aof_rewrite_scheduled": 0,
        "aof_last_rewrite_time_sec": -1, "aof_current_rewrite_time_sec": -1,
        "aof_last_bgrewrite_status": "ok", "aof_rewrites": 0,
        "aof_rewrites_consecutive_failures": 0, "aof_last_write_status": "ok",
        "aof_last_cow_size": 0, "module_fork_in_progress": 0, "module_fork_last_cow_size": 0,
        "aof_current_size": snapshots.last_size + journal.bytes,
        "aof_base_size": snapshots.last_size, "aof_pending_rewrite": 0,
        "aof_buffer_length": 0, "aof_pending_bio_fsync": 0, "aof_delayed_fsync": 0,
        "appendfsync": server.config.appendfsync,
        "raft_log_entries": len(journal), "raft_log_bytes": journal.bytes,
        "raft_log_fsyncs": journal.fsyncs, "raft_applied_index": applied,
        "raft_snapshot_index": snapshots.last_index,
        "raft_snapshot_time": int(snapshots.last_time),
        "raft_snapshot_bytes": snapshots.last_size,
        "raft_snapshot_in_progress": int(snapshots.in_progress),
        "raft_snapshot_last_duration_ms": round(snapshots.last_duration_ms, 1),
        "raft_snapshot_longest_pause_ms": round(snapshots.longest_pause_ms, 1),
    }


def keyspace_hits_and_misses(server: Node) -> tuple[int, int]:
    """INFO's keyspace_hits and keyspace_misses (also on /metrics): the reads this node
    served on its event loop and those inside the entries it applied for its own clients."""
    served, applied = server.keyspace_stats, server.machine.keyspace_stats
    return served.hits + applied.hits, served.misses + applied.misses


def _stats(ctx: Context) -> dict[str, object]:
    """Redis's order. Replication traffic is Raft's (RaftTraffic): its bytes count in the
    network totals and rates too, as in Redis 7.0; what rcache does not have (forks, defrag,
    I/O threads, reply buffers that resize) shows as in a Redis where it never ran."""
    server = ctx.server
    stats = server.stats
    repl = server.replicator.traffic.counts()
    hits, misses = keyspace_hits_and_misses(server)
    return {"total_connections_received": stats.connections_received,
            "total_commands_processed": stats.commands_processed,
            "instantaneous_ops_per_sec": stats.ops_rate.per_second,
            "total_net_input_bytes": stats.net_input_bytes + repl["bytes_in"],
            "total_net_output_bytes": stats.net_output_bytes + repl["bytes_out"],
            "total_net_repl_input_bytes": repl["bytes_in"],
            "total_net_repl_output_bytes": repl["bytes_out"],
            "instantaneous_input_kbps": f"{stats.input_rate.per_second / 1024:.2f}",
            "instantaneous_output_kbps": f"{stats.output_rate.per_second / 1024:.2f}",
            "instantaneous_input_repl_kbps": f"{stats.repl_input_rate.per_second / 1024:.2f}",
            "instantaneous_output_repl_kbps":
                f"{stats.repl_output_rate.per_second / 1024:.2f}",
            "rejected_connections": stats.rejected_connections,
            "sync_full": repl["full_syncs"], "sync_partial_ok": repl["partial_ok"],
            "sync_partial_err": repl["partial_err"],
            "expired_keys": stats.expired_keys, "expired_stale_perc": "0.00",
            "expired_time_cap_reached_count": 0,
            "expire_cycle_cpu_milliseconds": stats.expire_cycle_us // 1000,
            "evicted_keys": server.eviction.evicted_keys,
            "evicted_clients": 0, "total_eviction_exceeded_time": 0,
            "current_eviction_exceeded_time": 0,
            "keyspace_hits": hits, "keyspace_misses": misses,
            "pubsub_channels": len(server.hub.channels),
            "pubsub_patterns": len(server.hub.patterns),
            "pubsubshard_channels": len(server.hub.shard_channels),
            "latest_fork_usec": 0, "total_forks": 0,
            "migrate_cached_sockets": 0,  # MIGRATE opens a connection per call, keeps none
            "slave_expires_tracked_keys": 0, "active_defrag_hits": 0,
            "active_defrag_misses": 0, "active_defrag_key_hits": 0,
            "active_defrag_key_misses": 0, "total_active_defrag_time": 0,
            "current_active_defrag_time": 0,
            "tracking_total_keys": len(server.tracker.keys),
            "tracking_total_items": server.tracker.items,
            "tracking_total_prefixes": len(server.tracker.prefixes),
            "unexpected_error_replies": 0,
            "total_error_replies": sum(stats.error_replies.values()),
            "dump_payload_sanitizations": 0,
            "total_reads_processed": stats.reads_processed,
            "total_writes_processed": stats.writes_processed,
            "io_threaded_reads_processed": 0, "io_threaded_writes_processed": 0,
            "reply_buffer_shrinks": 0, "reply_buffer_expands": 0}


def _replication(ctx: Context) -> dict[str, object]:
    """The leader is the master, the followers its replicas; offsets are Raft indexes: the
    master's the index it applied, a replica's the last index it holds as the leader last
    heard (its match index); a replica's lag, the whole seconds since it last answered the
    leader (Redis's: since its last REPLCONF ACK, sent every second); a replica's
    master_last_io_seconds_ago, the whole seconds since the leader last reached it."""
    server = ctx.server
    cluster = server.cluster
    applied = server.machine.applied_index
    leader = server.replicator.is_leader
    replication: dict[str, object] = {"role": "master" if leader else "slave"}
    if leader:
        status = server.replicator.status()
        matched, answered = status.match_index, status.answered_ago_s
        followers = [(raft, client) for node, (raft, client) in cluster.members().items()
                     if node != cluster.leader_id()]
        replication["connected_slaves"] = len(followers)
        for i, (raft, client) in enumerate(followers):
            host, port = client.rsplit(":", 1)
            replication[f"slave{i}"] = (f"ip={host},port={port},state=online,"
                                        f"offset={matched.get(raft, 0)},"
                                        f"lag={int(answered.get(raft, 0))}")
        replication["master_failover_state"] = "no-failover"
    else:
        leader_client = cluster.leader_client_address()
        host, port = leader_client.rsplit(":", 1) if leader_client else ("", "0")
        link_up = bool(leader_client)
        status = server.replicator.status()
        heard = status.leader_heard_ago_s  # (heartbeats come every raft-heartbeat-period)
        replication.update(master_host=host, master_port=port,
                           master_link_status="up" if link_up else "down",
                           master_last_io_seconds_ago=int(heard) if link_up and heard is not None
                           else -1,
                           master_sync_in_progress=0,
                           slave_read_repl_offset=status.commit_index,
                           slave_repl_offset=applied, slave_priority=100, slave_read_only=1,
                           replica_announced=1, connected_slaves=0)
    # The Raft log is the backlog a follower catches up from; its bound is raft-log-max-bytes.
    # Offsets are log indexes, not bytes: no byte history to report (as an inactive backlog).
    replication.update(master_replid=cluster.node_id, master_replid2="0" * 40,
                       master_repl_offset=applied, second_repl_offset=-1,
                       repl_backlog_active=0, repl_backlog_size=server.config.raft_log_max_bytes,
                       repl_backlog_first_byte_offset=0, repl_backlog_histlen=0)
    return replication


def _cpu() -> dict[str, object]:
    """getrusage of the process, its children and (INFO runs on it) the event-loop thread."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    main = resource.getrusage(resource.RUSAGE_THREAD)
    return {"used_cpu_sys": f"{own.ru_stime:.6f}", "used_cpu_user": f"{own.ru_utime:.6f}",
            "used_cpu_sys_children": f"{children.ru_stime:.6f}",
            "used_cpu_user_children": f"{children.ru_utime:.6f}",
            "used_cpu_sys_main_thread": f"{main.ru_stime:.6f}",
            "used_cpu_user_main_thread": f"{main.ru_utime:.6f}"}


def _commandstats() -> dict[str, object]:
    return {f"cmdstat_{cmd.full_name}":
            f"calls={cmd.calls},usec={cmd.usec},usec_per_call={cmd.usec / max(cmd.calls, 1):.2f},"
            f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}"
            for cmd in all_commands() if cmd.calls or cmd.rejected_calls}


def _latencystats(ctx: Context) -> dict[str, object]:
    """The commands timed while latency-tracking was on, at latency-tracking-info-percentiles."""
    percentiles = ctx.server.config.latency_tracking_info_percentiles
    return {f"latency_percentiles_usec_{cmd.full_name}":
            ",".join(f"p{format_percentiles((p,))}={cmd.latency_percentile(p / 100):.3f}"
                     for p in percentiles)
            for cmd in all_commands() if cmd.timed_calls}


def _raft(ctx: Context) -> dict[str, object]:
    server = ctx.server
    cluster, replicator = server.cluster, server.replicator
    status = replicator.status()
    members = cluster.members()
    learners = cluster.learner_ids()
    role = ("leader" if replicator.is_leader else "follower" if cluster.leader_id()
            else "candidate")
    return {
        "raft_node_id": cluster.node_id, "raft_role": role, "raft_term": status.term,
        "raft_leader_id": cluster.leader_id() or "",
        "raft_leader_address": cluster.leader_client_address() or "",
        "raft_commit_index": status.commit_index, "raft_applied_index": status.applied_index,
        "raft_log_entries": status.log_entries, "raft_has_quorum": int(status.has_quorum),
        # voters and learners as Raft counts them now (the member records may run ahead)
        "raft_num_nodes": len(members),
        "raft_voters": len(replicator.voters()) + int(replicator.is_voter),
        "raft_learners": len(replicator.learners()) + int(cluster.node_id in learners),
        "raft_is_learner": int(cluster.node_id in learners),
        "raft_lease_remaining_ms": status.lease_remaining_ms if role == "leader" else 0,
        "raft_reads_by_lease": cluster.reads_by_lease,
        "raft_reads_by_read_index": cluster.reads_by_read_index,
        "raft_read_rounds": status.read_rounds,
        # how the Raft links are protected: TLS (tls-cluster), the cluster secret, or both
        "raft_link_tls": int(status.links_tls), "raft_link_secret": int(status.links_secret),
        "raft_proxy_tls": int(server.config.tls_replication),
        **{f"raft_node{i}": f"id={node},raft={raft},addr={client},"
                            f"role={'learner' if node in learners else 'voter'}"
           for i, (node, (raft, client)) in enumerate(sorted(members.items()))},
    }


def _keyspace(ctx: Context) -> dict[str, object]:
    store = ctx.server.store
    return {f"db{db}": f"keys={keys},expires={store.expires_count(db)},avg_ttl=0"
            for db in range(ctx.server.config.databases) if (keys := store.key_count(db))}


_SECTIONS: dict[str, Callable[[Context], dict[str, object]]] = {
    "Server": lambda ctx: _server(ctx, time.time()), "Clients": _clients,
    "Memory": _memory, "Persistence": _persistence, "Stats": _stats,
    "Replication": _replication, "CPU": lambda ctx: _cpu(), "Modules": lambda ctx: {},
    "Commandstats": lambda ctx: _commandstats(),
    "Errorstats": lambda ctx: {f"errorstat_{code}": f"count={count}"
                               for code, count in ctx.server.stats.error_replies.items()},
    "Latencystats": _latencystats,
    "Cluster": lambda ctx: {"cluster_enabled": int(ctx.server.config.cluster_enabled)},
    "Raft": _raft, "Keyspace": _keyspace,
}  # in Redis's order (Raft is rcache's own)


@command("info", -1, "loading stale node", group="server",
         summary="Get information and statistics about the server")
def info(ctx: Context, argv: list[bytes]) -> Verbatim:
    """Only the sections asked for are computed (tests and tools poll INFO raft)."""
    wanted = {a.decode(errors="replace").lower() for a in argv[1:]} or {"default"}
    if wanted & {"all", "everything"}:
        names = list(_SECTIONS)
    else:
        if "default" in wanted:
            wanted.update(_DEFAULT_SECTIONS)
        names = [name for name in _SECTIONS if name.lower() in wanted]
    blocks = []
    for name in names:
        lines = [f"# {name}"] + [f"{k}:{v}" for k, v in _SECTIONS[name](ctx).items()]
        blocks.append("\r\n".join(lines) + "\r\n")
    return Verbatim("\r\n".join(blocks).encode())
