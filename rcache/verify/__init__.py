"""Correctness under faults: record what concurrent clients saw while nemeses kill, pause and
reconfigure real rcache nodes, then check that history for linearizability.

* ``history``: the operations (invoke and complete times, outcome) and the clients that make them
* ``checker``: per-key linearizability (Wing & Gong / Lowe) and the final-state checks
* ``nodes``: a cluster of real ``python -m rcache`` processes, usable without pytest
* ``nemesis``: the faults
* ``runner``: workload + nemesis + checks in one run; ``python -m rcache.verify`` is its CLI
"""
