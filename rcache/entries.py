"""The kinds of item a Raft entry carries (see rcache.statemachine for what each holds).

A leaf, so that command families, blocking pops and WATCH can build and read items without
importing the state machine that applies them.
"""

COMMAND, TRANSACTION, EXPIRE, MEMBER, LEASE_EXPIRY, EVICT, LEASE_PROMOTE = 0, 1, 2, 3, 4, 5, 6
OOM_AT_START = 1  # a COMMAND item's 4th element: a script submitted past maxmemory
