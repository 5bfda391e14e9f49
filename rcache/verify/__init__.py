"""Correctness under faults: record what concurrent clients saw while nemeses kill, pause,
reconfigure and partition real rcache nodes, then check that history for linearizability.

* ``history``: the operations (invoke and complete times, outcome) and the clients that make them
* ``checker``: per-key linearizability (Wing & Gong / Lowe) and the final-state checks
* ``nodes``: a cluster of real ``python -m rcache`` processes, usable without pytest
* ``nemesis``: the faults
* ``netproxy``: the proxies on the Raft links that the partition nemesis cuts, drops and delays
* ``runner``: workload + nemesis + checks in one run; ``python -m rcache.verify`` is its CLI
"""
