"""The kinds of item a Raft entry carries (see rcache.statemachine for what each holds).

A leaf, so that command families, blocking pops and WATCH can build and read items without
importing the state machine that applies them.
"""

COMMAND, TRANSACTION, EXPIRE, MEMBER, LEASE_EXPIRY, EVICT, LEASE_PROMOTE = 0, 1, 2, 3, 4, 5, 6
# A COMMAND item may carry more (rcache.statemachine): True for a parked blocking command's
# wake-up try; for a script, False, the ACL user (None: default) whose permissions its
# commands need, and True if the leader found the dataset past maxmemory. A TRANSACTION item
# may carry a 3rd element: that user.
SCRIPT_COMMANDS = frozenset(("eval", "evalsha", "fcall", "eval_ro", "evalsha_ro", "fcall_ro"))
