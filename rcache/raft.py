"""Raft glue: PySyncObj underneath, batches of writes on top.

* Every write that reaches the event loop in one turn (all connections, pipelined or not)
  goes into ONE Raft entry (``Replicator.submit``; a turn's writes past MAX_ENTRY_BYTES or
  MAX_ENTRY_ARGS into the next), applied by the state machine with one RocksDB WriteBatch;
  while ENTRIES_IN_FLIGHT entries of this node's are out, later turns' writes join the batch.
  A client's reply is sent only after its entry is committed and applied.
* PySyncObj runs with ``autoTick=False``: our own thread ticks it, and PySyncObj's pipe
  notifier wakes it when an entry is queued while it sleeps; a one-node cluster commits and
  applies an entry in the tick that appends it, a leader sends it to followers at once.
  Commit latency is then network latency, not PySyncObj's timers. The tick thread acts on
  a follower's answer (leader: commit, apply) or on AppendEntries (follower: apply) the
  moment its poll returns, and sleeps again if nothing else came: PySyncObj's whole tick
  runs on its timer, not once or twice per message (``poll_unless_queued``).
* Replies cross from the tick thread to asyncio with ``call_soon_threadsafe``; the event loop
  never waits for the tick thread.
* A lone voter (no other node) appends, commits and applies its entries on the event loop
  itself, while the tick thread sleeps (``RaftNode.append_alone``): no wake-up of either
  thread per entry. The loop is then busy for the entry's apply (bounded by MAX_ENTRY_BYTES
  and MAX_ENTRY_ARGS; scripts still go through the tick thread): no heartbeats to protect on
  a lone node. Once another voter or a learner joins, every entry goes through the tick
  thread again (which sends it on to them).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import pickle
import queue
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable

import pysyncobj.syncobj
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated
from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.node import TCPNode
from pysyncobj.syncobj import _RAFT_STATE
from pysyncobj.tcp_connection import CONNECTION_STATE

from .config import BY_NAME, NOTICE
from .durability import DurableJournal, Snapshots
from .entries import COMMAND, MEMBER, TRANSACTION
from .errors import NOT_COMMITTED, NOT_LEADER_FOR_READ, OUTCOME_UNKNOWN, READ_TIMEOUT, CommandError
from .faults import TickFaults
from .interfaces import PeerUnreachable, RaftStatus, ReplyHold
from .pending import Pending
from .pubsub import settle
from .resp import SimpleString
from .statemachine import Prepared, StateMachine, encode_entry
from .storage import VOTER
from .tls import RaftContexts, raft_contexts
from .transport import (
    REGULAR_COMMAND,
    BadFrame,
    ClusterTransport,
    FrameCipher,
    frame_limit,
    probe_raft_port,
    use_plain_codec_for_log,
)

log = logging.getLogger(__name__)

# Entries are applied on the tick thread, which also sends heartbeats and answers the
# leader's: while one entry is applied, no node of the cluster hears from this one. A loop
# turn's writes are so split into entries of at most MAX_ENTRY_BYTES of arguments and
# MAX_ENTRY_ARGS arguments (applying costs per argument: one HSET of 1000 fields is 2002),
# a single bigger command alone making one entry; and a tick stops applying once
# APPLY_BUDGET_S has passed, so that heartbeats and votes go out (the rest is applied on the
# next tick, which then comes at once). Measured under CPU load (2 cores, load ~5): 38 HSETs
# of 1000 fields, one entry, took 0.3-1.3 s to apply on each node, past the election timeout.
MAX_ENTRY_BYTES = 256 * 1024
MAX_ENTRY_ARGS = 4096
APPLY_BUDGET_S = 0.01
# Entries of this node's writes out at once (proposed, outcome not back): while as many are
# out, a loop turn's writes wait, joined by later turns' writes, and go out as one entry when
# one comes back. Fewer, larger entries: each costs both threads fixed work (a wake-up, a
# journal write, a RocksDB write, handing the replies back). Writes wait at most until the
# next write-expiry check (0.5 s) when none comes back.
ENTRIES_IN_FLIGHT = 1
# A leader with followers: when its entry comes back, the clients it answers usually write
# again within a round trip. The next batch (with the writes that waited meanwhile) waits
# for them, until it holds as many more items as the entry had, or RETURN_WAIT_S has passed:
# one entry then carries every client's write instead of two groups of clients alternating
# in two entries, and every entry costs the three nodes fixed work (frames, acknowledgements,
# ticks, a journal and a RocksDB write). A lone client's next write fills the count at once.
# Measured on 3 nodes, SET -P 1 -c 50: 25 -> ~40 SETs per entry, CPU per SET summed over the
# nodes ~74 -> ~61 us (-c 1 unchanged: its next write fills the count). A lone leader's
# entries cost little apart from their commands: no wait there.
RETURN_WAIT_S = 0.001
# A leader that has applied entries tells followers the new commit index in its next
# AppendEntries: the next entry's, or, if none comes within this delay, one of its own
# (a follower then applies, and answers READONLY reads, up to this much later). Under load
# the next entry comes later than 2 ms after a commit on a busy machine (the clients' replies,
# their next writes, RETURN_WAIT_S): at 2 ms ~28% of the entries cost a commit-only
# AppendEntries and its answer per follower besides their own (3 nodes SET -P1 -c50).
COMMIT_ANNOUNCE_DELAY_S = 0.01
# A leader with more followers than its majority needs sends a new entry at once only to as
# many as make that majority (those that answered last: likely up and quick); the others get
# the entries gathered meanwhile in one AppendEntries up to this much later (or with the next
# heartbeat or a commit announcement, whichever comes first). A commit needs only the
# majority's answers, and at low concurrency every entry otherwise costs every follower a
# frame to read, a journal write, an answer and an apply, and the leader that answer to
# handle: on 3 nodes, SET -c 1 (one entry per SET), the third node's work and its answer
# were ~1/3 of the cluster's CPU per write. A follower that is deferred lags the majority by
# at most this; if one of the majority does not answer, the entry reaches the others by then.
FOLLOWER_BATCH_S = 0.005
_NEVER = float("inf")
_BINBYTES8, _CALL_TAIL = b"\x8e", b"\x85\x86."  # pickle: bytes, 8-byte size; TUPLE1 TUPLE2 STOP
_FIRST_ENTRY = 1  # the index of the no-op PySyncObj writes into an empty log
# A lone leader appends, commits and applies an entry on the event loop itself
# (``RaftNode.append_alone``): no wake-up of either thread, no hand-over of the GIL. Entries
# are bounded (MAX_ENTRY_ARGS), so the loop's pause for one is too. Measured (SET -P 16,
# 50 clients, entries of ~2400 arguments): on the loop 16.4 us of CPU per SET against 19.2
# when the tick thread applied them, which only ever ran while the loop waited for the GIL.
# But not an entry whose bytes exceed MAX_ALONE_BYTES (one huge SET): the loop would serve no
# one while they are copied into the log and RocksDB (a 50 MB SET held other clients ~0.7 s).
MAX_ALONE_BYTES = 1024 * 1024
# ReadIndex rounds whose heartbeats are out at once: a loop turn's reads start a round of
# their own while fewer are in flight, else wait (with the reads of later turns) for one.
READ_ROUNDS_IN_FLIGHT = 2
# A round asks only as many followers as make a majority with the leader (those that
# answered most recently): each follower asked costs it and the leader's tick thread a frame
# each way (3 nodes, GET -P 1 -c 50: followers' CPU per read 6.6 -> 4.0 us). Unproven after
# this long (a follower paused or gone), it asks every follower.
READ_ASK_ALL_AFTER_S = 0.01
# A script may run up to its instruction budget when applied: each one ends its entry, so a
# tick runs at most one script past APPLY_BUDGET_S before heartbeats go out.
_SCRIPTS = frozenset({b"eval", b"evalsha", b"fcall"})

use_plain_codec_for_log()

_DEFINITE_FAILURES = {FAIL_REASON.QUEUE_FULL, FAIL_REASON.MISSING_LEADER,
                      FAIL_REASON.DISCARDED, FAIL_REASON.NOT_LEADER,
                      FAIL_REASON.REQUEST_DENIED}


class RaftNode(SyncObj):
    """The PySyncObj object: one replicated method that carries our batches, plus what
    PySyncObj lacks:

    * a follower that never drops log entries matching the leader's;
    * per-follower counts of AppendEntries sent and answered (ReadIndex's leadership proof);
    * a leader lease (Raft thesis 6.4.1): the leader knows when a majority last confirmed it,
      measured from when it *sent* the confirmed message, so it may answer reads from its
      own state until ``lease_until`` without asking anyone;
    * pre-vote (thesis 9.6) and ignoring vote requests while a leader is heard from (4.2.3):
      a node that was only slow or cut off cannot depose a healthy leader, and no new leader
      is elected while the old one's lease may still hold; a refused pre-vote carries the
      refuser's term (etcd's rule), or a voter behind a candidate it ignored would ask for
      that same term forever;
    * learners (non-voting members, etcd's name): known, authenticated peers that the leader
      sends the log and snapshots to, kept in PySyncObj's set of read-only nodes, which no
      majority counts (commit, elections, ReadIndex, the lease). Who is a learner follows the
      member records (``storage.member_roles``), applied from the log like any write, so
      every node changes its view at the same index of the log (etcd applies its membership
      changes so too); PySyncObj's own membership entries only remove voters. A learner
      never campaigns nor votes, and no candidate counts its vote; one promoted becomes a
      voter where its promotion is applied, a demoted voter a learner where its demotion is.
    """

    # The lease is shorter than the election timeout by this factor: a margin for clocks
    # that run at different rates on different machines.
    LEASE_FRACTION = 0.8

    def __init__(self, machine: StateMachine, self_address: str, partners: list[str],
                 conf: SyncObjConf, max_frame: Callable[[], int] | None = None,
                 tls: RaftContexts | None = None, secret: str | None = None) -> None:
        """partners: the other voters (learners come from the member records). secret: the
        cluster secret, which seals every frame (``FrameCipher``; PySyncObj's own
        ``password`` would use its slower cipher)."""
        self._machine = machine
        self.voting = True  # this node votes and may lead (sync_members)
        self._cipher = FrameCipher(secret) if secret else None  # the transport asks at once
        self._keep_log_tail = False
        self.before_ack: Callable[[], None] = lambda: None
        # After a follower's answer to AppendEntries is processed: a read round may be proven.
        self.after_append_answered: Callable[[], None] = lambda: None
        self.appends_sent: dict[str, int] = {}
        self.appends_acked: dict[str, int] = {}
        self._min_timeout = conf.raftMinTimeout
        self.lease_until = 0.0  # monotonic; written by the tick thread, read by the loop
        self._sent_at: dict[str, deque[float]] = {}  # AppendEntries not answered yet
        self._confirmed_at: dict[str, float] = {}  # follower -> send time it last answered
        self._lease_from = float("inf")  # no lease before this (a new leader waits)
        self.leader_heard = float("-inf")  # when a leader last reached us (follower)
        # When this node last knew a leader (one reached it, or it led; its start counts):
        # how long the cluster went without one is what a new leader's leases are owed.
        self._leader_seen = time.monotonic()
        self.leaderless = (0, 0)  # (Unix ms it began, its ms) before this node's term
        self.disconnected_at: dict[str, float] = {}  # peer -> monotonic time its link dropped
        self._resync_asked: dict[object, int] = {}  # follower -> index it last asked for
        self._prevote_term = 0
        self._prevotes = 0
        self._prevote_won = False
        self._role_logged: tuple = ()  # (state, leader, term) last written to the log
        self._campaign_transfer = False  # this tick's election was asked for by the leader
        self.commands_left = False  # writes the last tick left queued (too many to append)
        # This leader's own entries, id(command) -> (command, payload): applied without
        # decoding the command it encoded itself. Keyed by identity (the log hands apply the
        # very object queued, which the dict keeps alive, so no other has its id): hashing
        # the bytes cost a 50 MB SET's event loop ~30 ms. Emptied whenever this node does
        # not lead.
        self._own_payloads: dict[int, tuple[bytes, bytes]] = {}
        self._polling = False  # the tick thread waits in poll: a queued write must wake it
        self.announce_commit_at = _NEVER  # monotonic: AppendEntries due for the commit
        # monotonic: AppendEntries due to the followers a new entry was not sent to at once
        # (FOLLOWER_BATCH_S); _appending: the tick is appending queued entries.
        self.batch_followers_at = _NEVER
        self._appending = False
        self._answered = False  # a follower's answer came in the poll just ended
        self._tick_needed = False  # and something else that PySyncObj's tick must see
        self._appended = False  # (follower) AppendEntries were answered in that poll
        # The latest time (monotonic) a leader or follower that dealt with its wake-up may
        # sleep again until; 0: the owner of the tick thread has a call waiting for a tick.
        self.sleep_until: Callable[[], float] = lambda: _NEVER
        self._chosen: list = []  # the followers the last new entry went to at once
        if max_frame is None:
            max_frame = functools.partial(frame_limit, MAX_ENTRY_BYTES,
                                          BY_NAME["proto-max-bulk-len"].default)
        super().__init__(self_address, partners, conf, transportClass=functools.partial(
            ClusterTransport, member_frame_limit=max_frame, tls=tls))
        self.tls = tls
        transport = self._SyncObj__transport
        send = transport.send
        self.traffic = traffic = transport.traffic

        def counting_send(node, message) -> bool:
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "append_entries":
                self.announce_commit_at = _NEVER  # it carries the commit index
                if "serialized" in message and message["serialized"] \
                        and message["serialized"][1]:  # the first chunk of a snapshot
                    traffic.full_syncs += 1
                conn = transport._connections.get(node)
                if conn is not None and conn.state == CONNECTION_STATE.CONNECTED:
                    address = node.address
                    self.appends_sent[address] = self.appends_sent.get(address, 0) + 1
                    self._sent_at.setdefault(address, deque()).append(time.monotonic())
            elif kind == "next_node_idx":
                self.before_ack()  # appendfsync always: the entries are on disk first
            elif kind == "request_vote" and self._campaign_transfer:
                message = {**message, "transfer": True}  # voters may set their leader aside
            return send(node, message)

        transport.send = counting_send
        apply_entry_id = self._methodToID[self._getFuncName("apply_entry")]
        # Protocol 2 frames nothing: its int opcode, without PROTO and STOP, as is.
        self._command_head = (REGULAR_COMMAND + b"\x80\x05"
                              + pickle.dumps(apply_entry_id, protocol=2)[2:-1] + _BINBYTES8)
        logging.getLogger("pysyncobj.syncobj").addFilter(self._hide_kept_tail_warning)
        # Held by the thread that ticks (Replicator._tick_forever), except while it waits in
        # poll for something to happen: a lone leader's event loop takes it to append alone.
        self.tick_lock = threading.Lock()
        waits = self._poller._PollPoller__poll
        self._poller._PollPoller__poll = _WaitWithoutLock(waits, self.tick_lock)
        poll = self._poller.poll
        self._queued = queued = self._SyncObj__commandsQueue._FastQueue__queue

        def poll_unless_queued(timeout: float) -> None:
            """Writes queued while the tick thread was busy sent no wake-up (``_applyCommand``):
            it looks for them itself before it sleeps. A leader woken by followers' answers,
            new writes or reads (``_act_on_wake``, ``sleep_until``), or a follower by
            AppendEntries (``_apply_on_wake``), deals with them and sleeps again until the
            tick's time is up: a whole tick per wake-up (two per entry) cost CPU, and on a
            leader held the GIL while the event loop waited to send the replies. Votes, new
            terms and anything the tick loop must see end the sleep."""
            deadline = time.monotonic() + timeout
            while True:
                role = (self._SyncObj__raftState, self._SyncObj__raftLeader, self.raftCurrentTerm)
                self._polling = True
                try:
                    poll(0 if queued else timeout)
                finally:
                    self._polling = False
                state = self._SyncObj__raftState
                if state == _RAFT_STATE.LEADER:
                    handled = self._act_on_wake()
                elif state == _RAFT_STATE.FOLLOWER:
                    handled = self._apply_on_wake()
                else:
                    return
                if not handled or role != (state, self._SyncObj__raftLeader, self.raftCurrentTerm):
                    return
                timeout = min(deadline, self.announce_commit_at, self.batch_followers_at,
                              self.sleep_until()) - time.monotonic()
                if timeout <= 0:
                    return

        self._poller.poll = poll_unless_queued
        self.sync_members()
        machine.store.on_members_change = self.sync_members

    @property
    def encryptor(self) -> FrameCipher | None:
        """What PySyncObj's transport seals frames with (None: no cluster secret)."""
        return self._cipher

    def _hide_kept_tail_warning(self, record: logging.LogRecord) -> bool:
        """PySyncObj warns that it is truncating applied entries before it calls the delete
        that ``_keep_log_tail`` turns into a no-op: that warning is then untrue."""
        return not (self._keep_log_tail and "truncating already-applied" in str(record.msg))

    @replicated
    def apply_entry(self, payload: bytes) -> list | None:
        return self._apply_next(payload)

    def _apply_next(self, payload: bytes) -> list | None:
        return self._machine.apply(self._SyncObj__raftLastApplied + 1, payload)  # no property

    def propose(self, payload: bytes, callback: Callable[[list | None, int], None]) -> None:
        """Loop thread: queue an entry that applies ``payload`` (``apply_entry``'s, encoded
        as PySyncObj's replicated call would be); the leader applies it without decoding."""
        self._applyCommand(self._entry_command(payload), callback)

    def append_alone(self, payload: bytes, callback: Callable[[list | None, int], None]) -> bool:
        """Loop thread: as ``propose``, but a leader without other voters appends, commits and
        applies the entry here and now (``callback`` is called before this returns), instead
        of waking the tick thread, which would then have to wake the loop: two wake-ups and
        two hand-overs of the GIL per entry. The entry skips PySyncObj's command queue and
        apply loop (their bookkeeping is for entries that wait for followers). -> False,
        having done nothing, if other voters exist, entries wait in the queue or to be
        applied (a membership change, say, or a big entry: they go first, on the tick
        thread) or the tick thread is busy.
        The loop serves no one while it applies: acceptable for a lone node, which has no
        heartbeats to send or answer (an entry's apply is bounded: MAX_ENTRY_ARGS and
        MAX_ALONE_BYTES)."""
        lock = self.tick_lock
        if self._has_peers() or self._queued or not lock.acquire(blocking=False):
            return False
        try:
            index = self._SyncObj__raftCommitIndex
            if self._has_peers() or self._queued or self.raftLastApplied != index \
                    or self._SyncObj__raftState != _RAFT_STATE.LEADER:
                return False
            index += 1
            self._SyncObj__raftLog.add(self._encode_command(payload), index,
                                       self._SyncObj__raftCurrentTerm)
            self._commit_alone(index)
            result = self._machine.apply(index, payload)
            self._SyncObj__raftLastApplied = index
        finally:
            lock.release()
        callback(result, FAIL_REASON.SUCCESS)
        return True

    def _act_on_wake(self) -> bool:
        """Leader, tick thread, the poll that ends PySyncObj's tick just returned: commit
        and apply what a follower's answer made a majority's, and append and send the
        writes that woke it, now. PySyncObj does both in its next tick, after the tick
        thread's round (~40-70 us of Python each): both are on a write's path."""
        if self._tick_needed or not self._SyncObj__otherNodes:
            # A vote, a new term...: the tick's bookkeeping comes first (a new leader's
            # lease, say). A lone leader (learners only) commits in its tick.
            self._tick_needed = self._answered = False
            return False
        if self._answered:
            self._answered = False
            self._commit_answered()
        if self._queued:
            self._checkCommandsToApply()
        # Anything else that woke it (reads or a call handed over: sleep_until) or a poll
        # with nothing but part of a frame needs no tick either.
        return not self.commands_left and not self.behind() \
            and bool(self._SyncObj__otherNodes)  # (an apply may have removed the last)

    def _apply_on_wake(self) -> bool:
        """Follower, the same moment: the poll answered AppendEntries (in their handler);
        apply what they committed now, and sleep again if that was all (a whole tick
        after each, and one more as the apply left it behind, cost ~100 us a message)."""
        handled = self._appended
        self._appended = False
        if self._tick_needed:
            self._tick_needed = handled = False
        if handled and self.behind():
            self._SyncObj__applyLogEntries()
        return handled and not self.behind()

    def _commit_answered(self) -> None:
        """PySyncObj's commit rule, as its tick applies it: the highest index a majority
        (counting this leader, its log on disk first: appendfsync always) holds commits if
        its entry is of this term (terms only grow along the log, so no earlier one is)."""
        last = self._SyncObj__raftLog[-1][1]
        if last <= self._SyncObj__raftCommitIndex:
            return
        others = self._SyncObj__otherNodes
        matched = self._SyncObj__raftMatchIndex
        held = sorted((min(matched.get(node, 0), last) for node in others), reverse=True)
        index = held[_followers_for_majority(len(others)) - 1]  # (others: _act_on_wake)
        if index <= self._SyncObj__raftCommitIndex:
            return
        entries = self._SyncObj__getEntries(index, 1)
        if not entries or entries[0][2] != self.raftCurrentTerm:
            return
        self.before_ack()
        self._SyncObj__raftCommitIndex = self._SyncObj__leaderCommitIndex = index
        self._SyncObj__raftLog.setRaftCommitIndex(index)
        self._SyncObj__applyLogEntries()

    def _has_peers(self) -> bool:
        """Voters or learners: entries go through the tick thread, which sends them on."""
        return bool(self._SyncObj__otherNodes or self._SyncObj__readonlyNodes)

    def _encode_command(self, payload: bytes) -> bytes:
        """The log entry that applies ``payload``: PySyncObj's replicated call
        ``(apply_entry's id, (payload,))`` as pickle would encode it, unframed, with the
        payload copied once (pickle.dumps and the type byte before it made two copies: a
        50 MB SET held the event loop ~70 ms for them)."""
        return b"".join((self._command_head, len(payload).to_bytes(8, "little"), payload,
                         _CALL_TAIL))

    def _entry_command(self, payload: bytes) -> bytes:
        """``_encode_command``, remembered so that this node applies it without decoding."""
        command = self._encode_command(payload)
        self._own_payloads[id(command)] = (command, payload)
        return command

    def _applyCommand(self, command: bytes, callback, command_type: int | None = None) -> None:  # noqa: N802
        """PySyncObj's, except that the tick thread is woken only while it sleeps in poll
        (it looks at the queue before it does): a wake-up costs both threads a system call
        and a hand-over of the GIL."""
        if command_type is not None:
            command = bytes((command_type,)) + command
        try:
            self._SyncObj__commandsQueue.put_nowait((command, callback))
        except queue.Full:
            self._own_payloads.pop(id(command), None)
            self._SyncObj__callErrCallback(FAIL_REASON.QUEUE_FULL, callback)
            return
        if self._polling:
            self.wake()

    def _SyncObj__doApplyCommand(self, command: bytes):
        own = self._own_payloads.pop(id(command), None) if self._own_payloads else None
        if own is not None:
            return self._apply_next(own[1])
        if command.startswith(self._command_head):  # _encode_command's: sliced out, once
            return self._apply_next(command[len(self._command_head) + 8:-len(_CALL_TAIL)])
        return SyncObj._SyncObj__doApplyCommand(self, command)  # (written by PySyncObj)

    def start_election_now(self) -> None:
        """A lone node need not wait out an election timeout to lead its own cluster."""
        self._SyncObj__raftElectionDeadline = 0

    def wake(self) -> None:
        """Interrupt the tick thread's poll (PySyncObj's own pipe notifier)."""
        self._SyncObj__pipeNotifier.notify()

    def last_log_index(self) -> int:
        return self._SyncObj__raftLog[-1][1]

    def followers_at(self, index: int) -> int:
        """Leader: how many followers hold the log up to index (WAIT). Read off the tick
        thread: a stale count only makes WAIT look again."""
        return sum(1 for matched in list(self._SyncObj__raftMatchIndex.values())
                   if matched >= index)

    def term_committed(self) -> bool:
        """Has this leader committed an entry of its own term? (needed before ReadIndex)"""
        noop = self._SyncObj__noopIDx
        return noop is not None and self.raftCommitIndex >= noop

    def lease_holds(self) -> bool:
        """Does this node lead, and may it answer a read from its own state now? (any
        thread) A lone leader may always: no other node can be elected without its vote.
        (Every read asks: PySyncObj's ``otherNodes`` copies the set, its own is read here.)"""
        return self._isLeader() and (not self._SyncObj__otherNodes
                                     or self.lease_until > time.monotonic())

    def term_applied(self) -> bool:
        """Has this leader applied everything committed before its term? Until then its
        state may lack writes its predecessor acknowledged."""
        noop = self._SyncObj__noopIDx
        return noop is not None and self.raftLastApplied >= noop

    # -- elections: pre-vote, leader stickiness, lease ------------------------------------------
    def _onTick(self, timeToWait: float = 0.0) -> None:  # noqa: N802 (PySyncObj's name)
        was_leader = self._isLeader()
        if not self.voting:
            self._stay_out_of_elections()
        now = time.monotonic()
        if now >= self.announce_commit_at:
            self.announce_commit_at = _NEVER
            if was_leader:
                self._SyncObj__sendAppendEntries()
        if now >= self.batch_followers_at:
            self.batch_followers_at = _NEVER
            if was_leader:
                self._send_to_lagging()
        self._maybe_pre_vote()
        self._campaign_transfer = self._SyncObj__transferInProgress
        try:
            SyncObj._onTick(self, timeToWait)
        finally:
            self._campaign_transfer = False
        if self._prevote_won and self.raftCurrentTerm >= self._prevote_term:
            self._prevote_won = False  # the election it allowed has started
        leader = self._isLeader()
        now = time.monotonic()
        if leader and not was_leader:
            gap = now - self._leader_seen
            self.leaderless = (int((time.time() - gap) * 1000), int(gap * 1000))
            self._confirmed_at.clear()
            self._resync_asked.clear()
            # The previous leader's lease may hold up to one election timeout after the
            # voters last heard from it; ours starts after that.
            # (A one-node cluster has no other leader to wait out.)
            self._lease_from = now + (self._min_timeout if self.otherNodes else 0)
        if not leader:
            self.lease_until = 0.0
            self._own_payloads.clear()
            self.batch_followers_at = _NEVER
        else:
            self._leader_seen = now
            if not self.otherNodes:
                self._renew_lease()
        role = (self._SyncObj__raftState, self._SyncObj__raftLeader, self.raftCurrentTerm)
        if role != self._role_logged:
            self._role_logged = role
            self._log_role(*role)

    def _log_role(self, state: int, leader, term: int) -> None:
        """One line per change of this node's role, leader or term: an election's story."""
        name = {_RAFT_STATE.LEADER: "leader", _RAFT_STATE.CANDIDATE: "candidate"}.get(
            state, "follower")
        held = getattr(leader, "address", None) or "none"
        log.log(NOTICE, "%s in term %d, leader %s", name, term, held)

    def _stay_out_of_elections(self) -> None:
        """A learner (or a joining node not yet recorded) never campaigns: its election
        deadline only tells it that no leader has reached it for an election timeout, and
        that it knows no leader then (RAFT.NODE REMOVE's learner so asks who is a member)."""
        now = raft_clock()
        if self._SyncObj__raftElectionDeadline < now:
            self._SyncObj__raftLeader = None
            self._SyncObj__raftElectionDeadline = now + self._SyncObj__generateRaftTimeout()

    def _maybe_pre_vote(self) -> None:
        """Before PySyncObj starts an election (which raises the term and so deposes any
        leader), ask the others whether they would vote at all. Only a majority's yes lets
        the election run; a leadership transfer skips the question."""
        if self._prevote_won and self._prevote_term == self.raftCurrentTerm + 1:
            return  # won for this term: PySyncObj's election runs now
        self._prevote_won = False
        if (self._SyncObj__raftState == _RAFT_STATE.LEADER or not self.voting
                or not self.otherNodes or self._SyncObj__transferInProgress
                or self._SyncObj__raftElectionDeadline >= raft_clock()
                or not self._SyncObj__connectedToAnyone()):
            return
        self._SyncObj__raftElectionDeadline = raft_clock() + self._SyncObj__generateRaftTimeout()
        self._SyncObj__raftLeader = None  # not heard from for an election timeout: gone
        self._prevote_term = self.raftCurrentTerm + 1
        self._prevotes = 1
        request = {"type": "pre_vote", "term": self._prevote_term,
                   "last_log_index": self._SyncObj__getCurrentLogIndex(),
                   "last_log_term": self._SyncObj__getCurrentLogTerm()}
        for node in self.otherNodes:
            self._SyncObj__transport.send(node, request)

    def _on_pre_vote(self, node, message: dict) -> None:
        my_term = self._SyncObj__getCurrentLogTerm()
        log_ok = (message["last_log_term"], message["last_log_index"]) >= (
            my_term, self._SyncObj__getCurrentLogIndex())
        granted = (message["term"] > self.raftCurrentTerm and log_ok
                   and not self._leader_heard_recently())
        self._SyncObj__transport.send(node, {"type": "pre_vote_response", "term": message["term"],
                                             "granted": granted,
                                             "current_term": self.raftCurrentTerm})

    def _on_pre_vote_response(self, message: dict) -> None:
        if self._isLeader():
            return
        if not message.get("granted"):
            # Refused, maybe for a term we are behind: a candidate whose campaign we never
            # heard (ignored while we heard a leader) refuses every pre-vote of ours at its
            # term, while our longer log refuses all of its own: we would never elect
            # anyone. Its term, adopted, lets our next pre-vote ask for one above it.
            self._adopt_newer_term(message.get("current_term"))
            return
        if message["term"] != self._prevote_term or self._prevote_won:
            return
        self._prevotes += 1
        if self._prevotes > (len(self.otherNodes) + 1) / 2:
            self._prevote_won = True
            self._SyncObj__raftElectionDeadline = 0  # the next tick runs the election

    def _adopt_newer_term(self, term: object) -> None:
        """Raft's rule for any message of a newer term: take the term, as a follower."""
        if type(term) is int and term > self.raftCurrentTerm:
            self.lease_until = 0.0
            self._SyncObj__setCurrentTerm(term, None)
            self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
            self._SyncObj__raftLeader = None

    def _leader_heard_recently(self) -> bool:
        """A leader (maybe us) was in touch within the election timeout: its lease may hold."""
        if self._isLeader():
            return self.lease_until > time.monotonic() or not self.otherNodes
        return time.monotonic() - self.leader_heard < self._min_timeout

    def _on_append_answered(self, address: str) -> None:
        self.appends_acked[address] = self.appends_acked.get(address, 0) + 1
        sent = self._sent_at.get(address)
        if sent:  # answers come in send order; an unanswered send only makes this earlier
            self._confirmed_at[address] = sent.popleft()
            if self._isLeader():
                self._renew_lease()

    def _renew_lease(self) -> None:
        """Tick thread: the lease runs from the send time of the latest message that a
        majority (counting us) has answered, for LEASE_FRACTION of the election timeout."""
        now = time.monotonic()
        if now < self._lease_from or not self.term_applied():
            return
        needed = _followers_for_majority(len(self.otherNodes))
        if needed == 0:
            start = now
        else:
            confirmed = sorted((self._confirmed_at.get(n.address, 0.0) for n in self.otherNodes),
                               reverse=True)
            start = confirmed[needed - 1]
            if start < self._lease_from - self._min_timeout:
                return  # answered in an earlier term of ours
        self.lease_until = max(self.lease_until,
                               start + self.LEASE_FRACTION * self._min_timeout)

    def transferLeadership(self, node=None, callback=None) -> None:  # noqa: N802
        """Handing leadership over: another node may lead before our lease would lapse."""
        self.lease_until = 0.0
        self._lease_from = float("inf")
        SyncObj.transferLeadership(self, node, callback)

    # -- PySyncObj overrides (its private names, mangled) --------------------------------------
    def _SyncObj__onMessageReceived(self, node, message) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind != "next_node_idx" and kind != "append_entries":
            self._tick_needed = True
        if kind == "next_node_idx":
            self._on_append_answered(node.address)
            if message.get("reset") and self._isLeader():
                self._count_resync(node, message.get("next_node_idx"))
        elif kind == "append_entries" and message["term"] < self.raftCurrentTerm:
            # Raft answers a stale leader with the newer term, so that it steps down.
            # PySyncObj ignores it silently, and a live leader's followers ignore our
            # campaign (below): a node whose election raced the leader's return would stay
            # a candidate of a newer term forever, the leader never learning of it.
            self._SyncObj__transport.send(node, {"type": "newer_term",
                                                 "term": self.raftCurrentTerm})
            self._tick_needed = True
        elif kind == "newer_term":
            self._adopt_newer_term(message.get("term"))
            return
        elif kind == "append_entries":
            if "serialized" in message or "transmission" in message:
                self._tick_needed = True  # a snapshot, or an entry sent in pieces
            else:
                self._appended = True
            self.leader_heard = self._leader_seen = time.monotonic()
            self._prevote_won = False  # a leader is back: no election on an old yes
            if message.get("entries") and "transmission" not in message:
                self._skip_entries_we_hold(message)
        elif kind in ("pre_vote", "request_vote") and not self.voting:
            return  # a learner has no vote to give
        elif kind in ("pre_vote_response", "response_vote") \
                and node not in self._SyncObj__otherNodes:
            return  # nor does one count (PySyncObj counts any answer), a demoted voter say
        elif kind == "pre_vote":
            self._on_pre_vote(node, message)
            return
        elif kind == "pre_vote_response":
            self._on_pre_vote_response(message)
            return
        elif kind == "request_vote" and not message.get("transfer") \
                and self._leader_heard_recently():
            return  # thesis 4.2.3: a live leader's followers ignore campaigns
        try:
            SyncObj._SyncObj__onMessageReceived(self, node, message)
        finally:
            self._keep_log_tail = False
        if kind == "next_node_idx":
            if message.get("success") and not message.get("reset"):
                self._answered = True
            else:
                self._tick_needed = True
            self.after_append_answered()

    def _count_resync(self, node, asked: object) -> None:
        """A follower answered that its log lacks or contradicts ours from index ``asked``:
        Redis's partial resynchronisation request. Served from our log (sync_partial_ok),
        or, if compaction dropped that entry, only by a snapshot (sync_partial_err; the
        transfer counts as sync_full). A node whose log is empty (a new member) is not
        counted (its log holds only PySyncObj's first entry), as Redis does not count a
        replica's PSYNC ?. Appends already in flight
        bring the same answer again: one answer per follower and index counts."""
        if type(asked) is not int or asked <= _FIRST_ENTRY + 1 \
                or self._resync_asked.get(node) == asked:
            return
        self._resync_asked[node] = asked
        if asked > self._SyncObj__raftLog[0][1]:
            self.traffic.partial_ok += 1
        else:
            self.traffic.partial_err += 1

    def _skip_entries_we_hold(self, message: dict) -> None:
        """Raft truncates a follower's log only from the first entry whose term conflicts.
        PySyncObj deletes everything after prevLogIdx, even entries that match: a resent or
        reordered AppendEntries (e.g. after the leader's nextIndex moved back) would drop
        entries the leader already counts as replicated, so a committed write could be lost.
        Here the leading entries we already hold (same index and term) are cut from the
        message; if all of them match, our tail is kept and the commit index is capped at the
        last entry the message proved to match."""
        entries = message["entries"]
        held = 0
        for _, index, term in entries:
            ours = self._SyncObj__getEntries(index, 1)
            if not ours or ours[0][2] != term:
                break
            held += 1
        if not held:
            return
        _, last_index, last_term = entries[held - 1]
        message["entries"] = entries[held:]
        message["prevLogIdx"], message["prevLogTerm"] = last_index, last_term
        if not message["entries"]:
            self._keep_log_tail = True
            message["commit_index"] = min(message["commit_index"], last_index)

    def _SyncObj__applyLogEntries(self) -> bool:
        """Apply committed entries one at a time until APPLY_BUDGET_S has passed."""
        commit = self._SyncObj__raftCommitIndex
        deadline = time.monotonic() + APPLY_BUDGET_S
        need_send = False
        try:
            while self.raftLastApplied < commit and time.monotonic() < deadline:
                self._SyncObj__raftCommitIndex = self.raftLastApplied + 1
                need_send = SyncObj._SyncObj__applyLogEntries(self) or need_send
        finally:
            self._SyncObj__raftCommitIndex = commit
        # PySyncObj then sends AppendEntries at once, only to tell followers the new commit
        # index. The next entry's AppendEntries tells them, usually within a millisecond
        # under load: that spares a leader two frames and two answers per follower and
        # entry. If no entry comes, a commit-only one goes out after COMMIT_ANNOUNCE_DELAY_S.
        if need_send and self.announce_commit_at == _NEVER and self._SyncObj__otherNodes \
                and self._SyncObj__raftState == _RAFT_STATE.LEADER:
            self.announce_commit_at = time.monotonic() + COMMIT_ANNOUNCE_DELAY_S
        return False

    def _checkCommandsToApply(self) -> None:  # noqa: N802 (PySyncObj's name)
        """Append the queued entries; a lone leader is then their majority: it commits and
        applies them in this tick (once they are on disk, appendfsync always) instead of on
        the next one, one wake-up of the tick thread less per write. An empty queue is not
        looked at (PySyncObj's loop costs a raised queue.Empty per tick: a follower's every
        tick, a leader's tick for each answer)."""
        if self._queued:
            self._appending = True
            try:
                SyncObj._checkCommandsToApply(self)
            finally:
                self._appending = False
        # PySyncObj appends for at most a heartbeat period a tick: the rest waits for the next
        self.commands_left = bool(self._SyncObj__commandsQueue._FastQueue__queue)
        if self.otherNodes or self._SyncObj__raftState != _RAFT_STATE.LEADER:
            return
        _, last_index, last_term = self._SyncObj__raftLog[-1]
        if last_index <= self._SyncObj__raftCommitIndex or last_term != self.raftCurrentTerm:
            return
        self._commit_alone(last_index)
        self._SyncObj__applyLogEntries()

    def _commit_alone(self, index: int) -> None:
        """A lone leader is its own majority: the log up to ``index`` is committed once it
        is on disk (appendfsync always: before_ack syncs it first)."""
        self.before_ack()
        self._SyncObj__raftCommitIndex = self._SyncObj__leaderCommitIndex = index
        self._SyncObj__raftLog.setRaftCommitIndex(index)

    def _SyncObj__sendAppendEntries(self) -> None:
        """A new entry goes at once only to a majority's worth of followers, where it can
        (FOLLOWER_BATCH_S); any other send (heartbeats, commit announcements, catching up)
        goes to every follower as PySyncObj's does, and includes what was deferred."""
        if self._appending and self._send_to_majority():
            return
        self.batch_followers_at = _NEVER
        SyncObj._SyncObj__sendAppendEntries(self)

    def _send_to_majority(self) -> bool:
        """Send the entry just appended to as many voters as make a majority with us: those
        that hold every entry before it, the same as last time if they do (the others'
        entries then gather into fewer frames), else those whose answers were sent latest.
        -> False, having sent nothing, if every follower is needed for a majority, too few
        are linked, one of them is owed more than this entry, or the entry is too large for
        one frame (PySyncObj sends it in pieces)."""
        others = self._SyncObj__otherNodes
        needed = _followers_for_majority(len(others))
        if needed >= len(others) + len(self._SyncObj__readonlyNodes):
            return False
        connected = self._SyncObj__connectedNodes
        confirmed = self._confirmed_at
        last = self._SyncObj__getCurrentLogIndex()
        matched = self._SyncObj__raftMatchIndex
        before = self._chosen

        def preference(node) -> tuple:
            return (matched.get(node, 0) >= last - 1, node in before,
                    confirmed.get(node.address, 0.0))
        chosen = sorted((node for node in others if node in connected), reverse=True,
                        key=preference)[:needed]
        next_index = self._SyncObj__raftNextIndex
        if len(chosen) < needed or any(next_index.get(node) != last for node in chosen):
            return False
        self._chosen = chosen
        entries = self._SyncObj__getEntries(last, 1)
        if not entries or len(entries[0][0]) >= self._SyncObj__conf.appendEntriesBatchSizeBytes:
            return False
        self._send_entries(chosen, entries)
        if self.batch_followers_at == _NEVER:
            self.batch_followers_at = time.monotonic() + FOLLOWER_BATCH_S
        return True

    def _send_to_lagging(self) -> None:
        """FOLLOWER_BATCH_S after an entry was deferred: send the followers owed entries
        what they miss, in one frame each; anything less simple (a snapshot or a large
        entry to send in pieces, a batch past one frame) as PySyncObj sends it, to all."""
        last = self._SyncObj__getCurrentLogIndex()
        first = self._SyncObj__raftLog[0][1]
        limit = self._SyncObj__conf.appendEntriesBatchSizeBytes
        next_index = self._SyncObj__raftNextIndex
        connected = self._SyncObj__connectedNodes
        lagging = [node for node in self._SyncObj__otherNodes | self._SyncObj__readonlyNodes
                   if node in connected and next_index.get(node, last + 1) <= last]
        batches = []
        for node in lagging:
            if next_index[node] <= first:
                break
            entries = self._SyncObj__getEntries(next_index[node])
            if sum(len(entry[0]) for entry in entries) >= limit:
                break
            batches.append((node, entries))
        else:
            # A commit announcement due stays due: those sent to at once learn the commit
            # index with the next entry, or from the announcement if none comes in time.
            announce = self.announce_commit_at
            for node, entries in batches:
                self._send_entries([node], entries)
            self.announce_commit_at = announce
            return
        self._SyncObj__sendAppendEntries()

    def _send_entries(self, nodes: list, entries: list) -> None:
        """One AppendEntries of ``entries`` (which follow what each node was sent) to each."""
        next_index = self._SyncObj__raftNextIndex
        prev_index, prev_term = self._SyncObj__getPrevLogIndexTerm(entries[0][1])
        message = {"type": "append_entries", "term": self.raftCurrentTerm,
                   "commit_index": self._SyncObj__raftCommitIndex, "entries": entries,
                   "prevLogIdx": prev_index, "prevLogTerm": prev_term}
        send = self._SyncObj__transport.send
        for node in nodes:
            next_index[node] = entries[-1][1] + 1
            send(node, message)

    def behind(self) -> bool:
        """Committed entries are waiting to be applied."""
        return self.raftCommitIndex > self.raftLastApplied

    def _SyncObj__deleteEntriesFrom(self, from_index: int) -> None:
        if not self._keep_log_tail:
            SyncObj._SyncObj__deleteEntriesFrom(self, from_index)

    # -- learners ------------------------------------------------------------------------------
    def sync_members(self) -> None:
        """Applying thread, after an entry changed the member records (and at start): learners
        whose record is gone are dropped, promoted ones join the voters, new ones are added,
        and this node learns whether it votes. A node with no record of its own votes only
        if it is alone (it is starting a new cluster); a joining one waits for its record."""
        store = self._machine.store
        addresses, roles = store.members(), store.member_roles()
        me = self.selfNode.address
        learners = {raft for node, (raft, _) in addresses.items() if roles[node] != VOTER}
        voters = {raft for node, (raft, _) in addresses.items() if roles[node] == VOTER}
        others, readonly = self._SyncObj__otherNodes, self._SyncObj__readonlyNodes
        self.voting = me in voters if me in voters | learners else not others
        for node in [node for node in others if node.address in learners]:
            self._demoted(node)
        for node in list(readonly):
            if node.address in learners and node not in others:
                continue
            readonly.discard(node)
            if node.address in voters or node in others:
                self._promoted(node)
            else:
                self._SyncObj__raftNextIndex.pop(node, None)
                self._SyncObj__raftMatchIndex.pop(node, None)
                self._SyncObj__transport.dropNode(node)
        known = {node.address for node in others | readonly}
        for address in sorted(learners - known - {me}):
            self._add_learner(address)

    def _add_learner(self, address: str) -> None:
        node = TCPNode(address)
        self._SyncObj__readonlyNodes.add(node)
        self._SyncObj__raftNextIndex[node] = self._SyncObj__getCurrentLogIndex() + 1
        self._SyncObj__raftMatchIndex[node] = 0
        if self._isLeader():
            self._SyncObj__lastResponseTime[node] = raft_clock()
        self._SyncObj__transport.addNode(node)

    def _promoted(self, node) -> None:
        """A learner becomes a voter: its link and its match index stay."""
        self._SyncObj__otherNodes.add(node)
        self._SyncObj__raftNextIndex.setdefault(node, self._SyncObj__getCurrentLogIndex() + 1)
        self._SyncObj__raftMatchIndex.setdefault(node, 0)
        self._SyncObj__lastResponseTime.setdefault(node, raft_clock())

    def _demoted(self, node) -> None:
        """A voter becomes a learner: no majority counts it from here on; its link, its
        match index and the log it is sent stay."""
        self._SyncObj__otherNodes.discard(node)
        self._SyncObj__readonlyNodes.add(node)
        self._confirmed_at.pop(node.address, None)

    def _SyncObj__updateClusterConfiguration(self, newNodes) -> None:  # noqa: N802, N803
        """A snapshot was loaded (at start, or sent by the leader): its header lists the
        voters when it was taken, PySyncObj's only record of them; the member records (the
        snapshot's, or RocksDB's if newer) add the promotions and demotions since and list
        the learners: a member's record, where it has one, says whether it votes."""
        me = self.selfNode.address
        store = self._machine.store
        roles = store.member_roles()
        recorded = {raft: roles[node] == VOTER for node, (raft, _) in store.members().items()}
        voters = {address for address in map(str, newNodes) if recorded.get(address, True)} | {
            raft for raft, votes in recorded.items() if votes}
        voters.discard(me)
        readonly = self._SyncObj__readonlyNodes
        for node in [node for node in readonly if node.address in voters]:
            readonly.discard(node)  # promoted: PySyncObj adds it to the voters below
        SyncObj._SyncObj__updateClusterConfiguration(self, sorted(voters))
        self.sync_members()

    def learners(self) -> list[str]:
        """(any thread: a copy of the set is taken at once)"""
        return [node.address for node in list(self._SyncObj__readonlyNodes)]

    def caught_up(self, address: str, max_lag: int) -> bool:
        """Leader: does that learner hold the log up to max_lag entries short of the commit
        index, linked now and heard from within the election timeout? (loop thread)"""
        node = next((n for n in list(self._SyncObj__readonlyNodes) if n.address == address),
                    None)
        if node is None or not self._isLeader() or node not in self._SyncObj__connectedNodes:
            return False
        heard = self._SyncObj__lastResponseTime.get(node, float("-inf"))
        return (raft_clock() - heard < self._min_timeout
                and self._SyncObj__raftMatchIndex.get(node, 0) >= self.raftCommitIndex - max_lag)

    def _SyncObj__doChangeCluster(self, request, reverse: bool = False):
        if reverse and self._keep_log_tail:  # the entries are kept, so are their changes
            return False
        return SyncObj._SyncObj__doChangeCluster(self, request, reverse)

    def _SyncObj__onNodeConnected(self, node) -> None:
        self._forget_appends(node.address)
        self.disconnected_at.pop(node.address, None)
        SyncObj._SyncObj__onNodeConnected(self, node)

    def _SyncObj__onNodeDisconnected(self, node) -> None:
        self._forget_appends(node.address)
        self.disconnected_at.setdefault(node.address, time.monotonic())
        SyncObj._SyncObj__onNodeDisconnected(self, node)

    def _forget_appends(self, address: str) -> None:
        """A new connection: earlier sends will never be answered on it."""
        self.appends_sent[address] = self.appends_acked[address] = 0
        self._sent_at.pop(address, None)

    def send_heartbeats(self) -> dict[str, int]:
        """Send AppendEntries to every connected follower now; -> the acknowledgement count
        that proves each one still followed us after this moment."""
        return self._counted_sends(self._SyncObj__sendAppendEntries)

    def send_read_heartbeats(self) -> tuple[dict[str, int], bool]:
        """As ``send_heartbeats``, but only to as many followers as make a majority with us,
        those whose last answer was sent latest (likely up and quick): ReadIndex needs any
        majority, and each follower asked costs it a frame to read and one to answer, us
        its answer and a wake-up. If one of them is owed entries, every follower is sent
        its AppendEntries (``send_heartbeats``). -> (the counts, whether all were asked)."""
        others = self._SyncObj__otherNodes
        needed = _followers_for_majority(len(others))
        connected = self._SyncObj__connectedNodes
        confirmed = self._confirmed_at
        chosen = sorted((node for node in others if node in connected), reverse=True,
                        key=lambda node: confirmed.get(node.address, 0.0))[:needed]
        last = self._SyncObj__getCurrentLogIndex()
        next_index = self._SyncObj__raftNextIndex
        if len(chosen) < needed or any(next_index.get(node, 0) <= last for node in chosen):
            return self.send_heartbeats(), True
        term, commit = self.raftCurrentTerm, self._SyncObj__raftCommitIndex
        send = self._SyncObj__transport.send

        def send_chosen() -> None:
            for node in chosen:
                prev_index, prev_term = self._SyncObj__getPrevLogIndexTerm(next_index[node])
                send(node, {"type": "append_entries", "term": term, "commit_index": commit,
                            "entries": [], "prevLogIdx": prev_index, "prevLogTerm": prev_term})
        return self._counted_sends(send_chosen), len(chosen) == len(others)

    def _counted_sends(self, send: Callable[[], None]) -> dict[str, int]:
        """Run ``send``; -> for each follower it sent to, its send count after it (the
        acknowledgement count that proves the follower answered one of those sends)."""
        before = dict(self.appends_sent)
        send()
        voters = {node.address for node in self._SyncObj__otherNodes}  # a learner's answer
        return {addr: count for addr, count in self.appends_sent.items()  # proves nothing
                if count > before.get(addr, 0) and addr in voters}

    def majority_acknowledged(self, targets: dict[str, int]) -> bool:
        acked = 1 + sum(1 for addr, count in targets.items()
                        if self.appends_acked.get(addr, 0) >= count)
        return acked > (len(self.otherNodes) + 1) / 2

    def appends_forgotten(self, targets: dict[str, int]) -> bool:
        """Has a target's connection been replaced since (its counts restarted)? Its
        answer to the counted message will then never come."""
        return any(self.appends_sent.get(addr, 0) < count for addr, count in targets.items())


class _WaitWithoutLock:
    """PySyncObj's ``select.poll`` object, whose waits run without ``lock`` (the tick lock,
    which the ticking thread holds otherwise): PySyncObj's state is left to the event loop
    while the tick thread sleeps, and taken back before any event is handled."""

    def __init__(self, poll, lock: threading.Lock) -> None:
        self._poll = poll
        self._lock = lock
        self.register, self.unregister = poll.register, poll.unregister

    def poll(self, timeout_ms: float) -> list:
        if not timeout_ms:
            return self._poll.poll(0)
        self._lock.release()
        try:
            return self._poll.poll(timeout_ms)
        finally:
            self._lock.acquire()


def _followers_for_majority(followers: int) -> int:
    """How many of a leader's followers make a majority of the cluster with it."""
    return (followers + 1) // 2


def _not_used(*_args) -> None:
    raise AssertionError("PySyncObj's own log compaction is disabled")


@contextlib.contextmanager
def _journal_factory(factory: Callable[[str], DurableJournal]):
    """PySyncObj builds its journal itself; hand it ours for the duration of __init__."""
    original = pysyncobj.syncobj.createJournal
    pysyncobj.syncobj.createJournal = factory
    try:
        yield
    finally:
        pysyncobj.syncobj.createJournal = original


class _ReadRound:
    """Reads confirmed together: ``index`` is the commit index when the round started (after
    each of its reads arrived), ``targets`` the acknowledgement counts its heartbeats wait for."""

    __slots__ = ("waiters", "deadline", "index", "targets", "ask_all_at")

    def __init__(self, deadline: float) -> None:
        self.waiters: list[Pending] = []
        self.deadline = deadline
        self.index = 0
        self.targets: dict[str, int] = {}
        self.ask_all_at = _NEVER  # monotonic: asked some followers only, ask all then


def _weight(item: tuple) -> tuple[int, int]:
    """-> (argument bytes, argument count) of a transaction (what bounds an entry's apply
    time; ``submit`` weighs a single command itself); 0 for the node's own small items."""
    if item[0] == TRANSACTION:
        return (sum(sum(map(len, argv)) for _, argv in item[1]),
                sum(len(argv) for _, argv in item[1]))
    return 0, 0


_SETTLED = frozenset((SimpleString, int, bytes))  # replies settle returns as they are


def _resolve_all(waiters: list[Pending], value: object) -> None:
    for waiter in waiters:
        waiter.resolve(value)


class Replicator:
    """Owns the Raft node, its tick thread and the write batcher."""

    def __init__(self, machine: StateMachine, self_address: str, partners: list[str],
                 config, write_timeout: float = 10.0) -> None:
        self.machine = machine
        self.config = config
        election_timeout_ms = config.raft_election_timeout
        dump_path = os.path.join(config.dir, "raft.snapshot")
        self.snapshots = Snapshots(dump_path, machine.store)
        snapshot_index = 0
        if os.path.exists(dump_path):  # refuse a damaged snapshot before Raft reads it
            snapshot_index = self.snapshots.verify(dump_path)["raft_index"]
        self.journal = DurableJournal(os.path.join(config.dir, "raft.journal"),
                                      lambda: config.appendfsync, config.node_id)
        self.journal.check_complete(machine.applied_index, snapshot_index)
        conf = SyncObjConf(
            autoTick=False,
            appendEntriesUseBatch=False,  # send each entry at once, wake the ticker by pipe
            dynamicMembershipChange=True,
            commandsWaitLeader=False,
            journalFile=self.journal.path,
            fullDumpFile=dump_path,
            raftMinTimeout=election_timeout_ms / 1000,
            raftMaxTimeout=2 * election_timeout_ms / 1000,
            appendEntriesPeriod=config.raft_heartbeat_period / 1000,
            # A leader cut off from the majority steps down within one election timeout.
            leaderFallbackTimeout=2 * election_timeout_ms / 1000,
            connectionRetryTime=0.2,
            connectionTimeout=2 * election_timeout_ms / 1000,
            # Compaction is ours (``_compact``); PySyncObj only ships and loads the snapshot.
            logCompactionMinEntries=2**62,
            logCompactionMinTime=2**62,
            useFork=False,
            serializer=_not_used,
            deserializer=self._load_snapshot,
            bindAddress=config.raft_bind_address,
            appendEntriesBatchSizeBytes=2 * MAX_ENTRY_BYTES,
        )
        self._tick_wait = min(config.raft_heartbeat_period / 1000, 0.05)
        with _journal_factory(lambda _path: self.journal):
            self.node = RaftNode(machine, self_address, partners, conf,
                                 lambda: frame_limit(MAX_ENTRY_BYTES, config.proto_max_bulk_len),
                                 raft_contexts(config), config.cluster_secret or None)
        self.node.before_ack = self.journal.sync
        self.traffic = self.node.traffic
        self.lease_holds = self.node.lease_holds  # (Replication.lease_holds: every read asks)
        self.node.after_append_answered = self._read_acknowledged
        self.node.sleep_until = self._sleep_until
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expiry_task: asyncio.Task | None = None
        self._items: list[tuple] = []
        self._waiters: list[Pending] = []
        self._prepared: list[Prepared] = []  # per item: its commands looked up (and parsed)
        self._shown: list[object] = []  # per item: a monitored write's line (monitor.Submitted)
        # Sees every write, with its commands if the caller looked them up; may give what
        # the write's reply waits for.
        self.on_submit: Callable[[tuple, Prepared], ReplyHold | None] = (
            lambda item, prepared: None)
        # Once a write on_submit gave a hold for is queued: what it woke goes in right
        # behind it (blocking.Blocking.try_woken).
        self.on_woken: Callable[[], None] = lambda: None
        # After an entry's (or a read round's) replies are resolved: their clients write them
        # now, one write each, instead of one per reply.
        self.on_resolved: Callable[[], None] = lambda: None
        # Called on the event loop when this node stops leading, and when it starts.
        self.on_deposed: Callable[[], None] = lambda: None
        self.on_elected: Callable[[], None] = lambda: None
        # The leader this node last knew (Raft address; SENTINEL names it while there is
        # none), since when it knows it and when it last knew one (monotonic; tick thread).
        self.last_leader: str | None = None
        self.leader_since = self.leader_seen_at = time.monotonic()
        self._batch_bytes = self._batch_args = 0  # the batch's argument bytes and count
        # While the batch waits for the clients just answered (RETURN_WAIT_S): the item
        # count it goes out at, and the timer that sends it anyway.
        self._returning = 0
        self._return_timer: asyncio.TimerHandle | None = None
        self._awaited_seeds: set[int] = set()  # entries whose replies a client here awaits
        machine.replies_awaited = self._awaited_seeds.__contains__
        # This node's entries, by seed: their commands, so that applying them here looks up
        # and parses nothing again (a pure function of argv: any node computes the same).
        self._prepared_by_seed: dict[int, list[Prepared]] = {}
        machine.prepared_for = lambda seed: self._prepared_by_seed.pop(seed, None)
        # And, while this node had monitors, its writes' lines, shown when applied.
        self._shown_by_seed: dict[int, list[object]] = {}
        machine.submitted_for = lambda seed: self._shown_by_seed.pop(seed, None)
        self._unresolved: deque[tuple[float, list[Pending]]] = deque()
        self._write_timeout = write_timeout
        self.faults = TickFaults()
        self._stopped = False
        self._applying_alone = False  # the loop appends, commits and applies an entry now
        self._reads_this_turn: list[Pending] = []  # loop only: handed over a turn later
        self._read_requests: deque[list[Pending]] = deque()  # the loop's turns, for the ticker
        self._reads_in_flight: deque[_ReadRound] = deque()  # tick thread only: heartbeats sent
        self._read_next: _ReadRound | None = None  # tick thread only: waits for the one above
        self._read_timeout = 2 * election_timeout_ms / 1000
        self.read_rounds = 0  # rounds started (INFO: reads per round)
        self._tick_calls: deque[Callable[[], None]] = deque()
        self._snapshot_waiters: list[asyncio.Future] = []  # SAVE/BGSAVE (tick thread only)
        self._thread = threading.Thread(target=self._tick_forever, name="raft-tick", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if not self.node.otherNodes and self.node.voting:
            self.node.start_election_now()
        self._thread.start()
        self._expiry_task = loop.create_task(self._expire_writes())

    def stop(self) -> None:
        self._stopped = True
        if self._expiry_task is not None:
            self._expiry_task.cancel()
        self._end_return_wait()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.node.destroy()

    def _tick_forever(self) -> None:
        with self.node.tick_lock:  # released only while waiting (_WaitWithoutLock)
            self._tick_while_running()

    def _tick_while_running(self) -> None:
        node = self.node
        while not self._stopped:
            # Committed entries left to apply, or (one-node cluster) entries left to commit:
            # tick again at once. Otherwise sleep until a message, a write (PySyncObj's pipe
            # notifier: a lone leader commits and applies it in the tick that appends it) or
            # the next heartbeat is due.
            if node.behind() or not node.otherNodes and (
                    node.commands_left or node.last_log_index() > node.raftCommitIndex):
                wait = 0.0
            else:
                wait = 0.001 if self._reads_await_commit() else self._tick_wait
                if self._reads_in_flight:  # wake to ask every follower (_advance_reads)
                    wait = min(wait, min(round_.ask_all_at for round_ in self._reads_in_flight)
                               - time.monotonic())
                wait = max(0.0, min(wait, node.announce_commit_at - time.monotonic(),
                                    node.batch_followers_at - time.monotonic()))
            try:
                self.journal.sync()  # appendfsync always: durable before counted for commit
                leading = node._isLeader()
                node.doTick(wait)
                self._watch_leader(leading)
                self._compact()
                while self._tick_calls:
                    self._tick_calls.popleft()()
                self.faults.succeeded()
            except Exception as err:
                self.faults.failed(err)
                time.sleep(self._tick_wait)
            if self._reads_pending():  # even after a failed tick: a
                try:  # read gets its answer or its timeout, never a hang
                    self._serve_reads()
                except Exception:
                    log.exception("serving linearizable reads failed")

    def _watch_leader(self, was_leading: bool) -> None:
        """Tick thread: note the leader known now, and tell the loop when this node stops
        leading or starts."""
        node, now = self.node, time.monotonic()
        leader = node._getLeader()
        if leader is not None:
            if leader.address != self.last_leader:
                self.last_leader, self.leader_since = leader.address, now
            self.leader_seen_at = now
        leading = node._isLeader()
        if was_leading != leading:
            self._loop.call_soon_threadsafe(self.on_deposed if was_leading else self.on_elected)

    # -- snapshots -----------------------------------------------------------------------------
    def _compact(self) -> None:
        """Tick thread: snapshot when the log is long, then drop what the snapshot covers."""
        node, config = self.node, self.config
        done = self.snapshots.finished()
        if done is not None:
            node._SyncObj__deleteEntriesTo(done - 1)
            node._SyncObj__lastSerializedEntry = done - 1
            self._snapshot_done(True)
            return
        if self.snapshots.in_progress or (
                not self._snapshot_waiters and len(self.journal) <= config.raft_log_max_entries
                and self.journal.bytes <= config.raft_log_max_bytes):
            return
        if not self.snapshots.memtables_flushed():
            return
        index = node.raftLastApplied
        entries = node._SyncObj__getEntries(index - 1, 2)
        # Nothing the last snapshot does not hold already. (The log keeps the two entries
        # a snapshot ends with: if they alone outweigh raft-log-max-bytes, one large
        # write, the log stays over it until more entries are applied.)
        if len(entries) < 2 or index <= self.snapshots.last_index:
            self._snapshot_done(False)
            return
        cluster = sorted(n.address for n in node.otherNodes | {node.selfNode})
        self.snapshots.start({"raft_index": index, "applied_index": self.machine.applied_index,
                              "last": entries[1], "previous": entries[0], "cluster": cluster})

    def snapshot_now(self) -> asyncio.Future:
        """SAVE/BGSAVE: a snapshot whatever the log's size. The future says whether one was
        written (False: the log holds nothing newer than the last)."""
        done = self._loop.create_future()
        self.call_on_tick_thread(lambda: self._snapshot_waiters.append(done))
        return done

    def _snapshot_done(self, written: bool) -> None:
        waiters, self._snapshot_waiters = self._snapshot_waiters, []
        for done in waiters:
            self._loop.call_soon_threadsafe(
                lambda done=done: done.done() or done.set_result(written))

    def _load_snapshot(self, path: str) -> tuple:
        """PySyncObj's deserializer: on restart, and when a snapshot arrives from the leader."""
        header = self.snapshots.load(path)
        self.machine.reload()
        me = self.node.selfNode.address  # PySyncObj compares members to itself as nodes
        return header["last"], header["previous"], [a for a in header["cluster"] if a != me]

    def call_on_tick_thread(self, fn: Callable[[], None]) -> None:
        """PySyncObj's state is the tick thread's: run fn there, soon."""
        self._tick_calls.append(fn)
        self.node.wake()

    # -- roles (the rest of the node sees Raft through these: interfaces.Replication) --------
    @property
    def is_leader(self) -> bool:
        return self.node._isLeader()

    @property
    def leader_caught_up(self) -> bool:
        """This node leads and has applied everything committed before its term."""
        return self.node._isLeader() and self.node.term_applied()

    @property
    def leaderless(self) -> tuple[int, int]:
        """(Unix ms, ms): when the cluster last had a leader before this node's term began,
        and for how long it then had none, by this node's clock."""
        return self.node.leaderless

    @property
    def leader_address(self) -> str | None:
        """Raft address of the leader this node knows of, or None."""
        leader = self.node._getLeader()
        return leader.address if leader is not None else None

    @property
    def term(self) -> int:
        return self.node.raftCurrentTerm

    def status(self) -> RaftStatus:
        node = self.node
        status = node.getStatus()
        match_prefix = "match_idx_server_"
        leader = self.is_leader
        # (a copy: the tick thread changes it)
        answered = dict(node._SyncObj__lastResponseTime) if leader else {}
        now = raft_clock()
        return RaftStatus(
            term=status["raft_term"], commit_index=status["commit_idx"],
            applied_index=status["last_applied"],
            leader_commit_index=status["leader_commit_idx"], log_entries=status["log_len"],
            last_log_index=node.last_log_index(), has_quorum=bool(status["has_quorum"]),
            lease_remaining_ms=max(0, round((node.lease_until - time.monotonic()) * 1000))
            if leader else 0,
            links_tls=node.tls is not None, links_secret=node.encryptor is not None,
            read_rounds=self.read_rounds,
            match_index={key[len(match_prefix):]: value for key, value in status.items()
                         if key.startswith(match_prefix)},
            answered_ago_s={member.address: now - at for member, at in answered.items()},
            leader_heard_ago_s=None if leader or node.leader_heard == float("-inf")
            else time.monotonic() - node.leader_heard)

    def voters(self) -> list[str]:
        return [other.address for other in self.node.otherNodes]

    def reachable_voters(self) -> list[str]:
        node = self.node
        return [other.address for other in node.otherNodes if node.isNodeConnected(other)]

    @property
    def is_voter(self) -> bool:
        return self.node.voting

    def learners(self) -> list[str]:
        return self.node.learners()

    def reachable_peers(self) -> list[str]:
        """The members, voters or learners, this node has a Raft link to now."""
        node = self.node
        return [other.address for other in node.otherNodes | node.readonlyNodes
                if node.isNodeConnected(other)]

    def caught_up(self, raft_address: str, max_lag: int) -> bool:
        return self.node.caught_up(raft_address, max_lag)

    def disconnected_since(self, raft_address: str) -> float | None:
        """When (monotonic) this node lost its link to that member, if it is down now."""
        return self.node.disconnected_at.get(raft_address)

    def followers_at(self, index: int) -> int:
        return self.node.followers_at(index)

    @property
    def commit_index(self) -> int:
        return self.node.raftCommitIndex

    async def probe(self, raft_address: str) -> str:
        """The Raft address a would-be member answers as, over a connection authenticated
        with our cluster secret."""
        node = self.node
        try:
            return await probe_raft_port(raft_address, node.encryptor,
                                         tls=node.tls and node.tls.client)
        except BadFrame as err:
            raise PeerUnreachable(f"its Raft port {raft_address} {err}") from None
        except ssl.SSLError as err:  # tls-cluster: its certificate is not the cluster CA's
            detail = getattr(err, "verify_message", None)
            why = f"certificate verify failed: {detail}" if detail else err.reason or str(err)
            raise PeerUnreachable(f"its Raft port {raft_address} failed the TLS handshake: "
                                  f"{why}") from None
        except OSError as err:
            reason = os.strerror(err.errno) if err.errno else str(err) or "timed out"
            raise PeerUnreachable(f"cannot connect to its Raft port {raft_address}: "
                                  f"{reason}") from None

    # -- writes ----------------------------------------------------------------------------
    def submit(self, item: tuple, on_done: Callable[[Pending], None] | None = None,
               prepared: Prepared = None, shown: object = None) -> Pending:
        """Queue one state-machine item for the next entry; its reply resolves the Pending.
        ``prepared``: the item's commands as the caller found them (statemachine.Prepared);
        ``shown``: its MONITOR line, if monitored (monitor.Submitted)."""
        waiter = Pending(on_done)
        command = item[0] == COMMAND
        if command:  # a client's command, the common item: weighed here, without a call
            argv = item[2]
            size, count = sum(map(len, argv)), len(argv)
        else:
            size, count = _weight(item)
        self._enqueue(item, waiter, prepared, shown, size, count)
        if command and argv[0].lower() in _SCRIPTS or item[0] == MEMBER:
            # the scheduled flush then finds an empty batch. A member record changes Raft's
            # peers when applied: on the tick thread, which owns them.
            self._flush(alone=False)
        return waiter

    def submit_commands(self, db: int, commands: list[tuple[list[bytes], Prepared]],
                        on_done: Callable[[Pending], None]) -> list[Pending]:
        """``submit`` of a connection's run of commands, each (argv, prepared), that are
        neither scripts nor monitored (``Client._run_plain``), in one call: -> their
        Pendings, in order (none resolved yet: replies come from ``_resolve``)."""
        waiters = []
        for argv, prepared in commands:
            waiter = Pending(on_done)
            waiters.append(waiter)
            self._enqueue((COMMAND, db, argv), waiter, prepared, None, sum(map(len, argv)),
                          len(argv))
        return waiters

    def _enqueue(self, item: tuple, waiter: Pending, prepared: Prepared, shown: object,
                 size: int, count: int) -> None:
        """Queue ``item`` (``size`` bytes and ``count`` arguments) in the batch."""
        chain = self.on_submit(item, prepared)
        if self._items and (self._batch_bytes + size > MAX_ENTRY_BYTES
                            or self._batch_args + count > MAX_ENTRY_ARGS):
            self._flush()  # this item starts the next entry
        items = self._items
        if not items:
            self._batch_bytes = self._batch_args = 0
            if not self._returning:
                self._loop.call_soon(self._flush_unless_busy)
        items.append(item)
        # (a write that woke parked clients replies once they are served: blocking.Chain)
        self._waiters.append(waiter if chain is None else chain.hold(waiter))
        self._prepared.append(prepared)
        self._shown.append(shown)
        self._batch_bytes += size
        self._batch_args += count
        if self._returning and len(items) >= self._returning:
            self._returning = 0  # they are back: out at the end of this loop turn
            self._loop.call_soon(self._flush_returned)
        if chain is not None:
            self.on_woken()

    def after_submitted(self, callback: Callable[[], None]) -> bool:
        """Call back once every item submitted so far has its outcome (they resolve in log
        order, so the last one's is enough). -> True if that is already so (no callback)."""
        last = self._waiters[-1] if self._waiters else (
            self._unresolved[-1][1][-1] if self._unresolved else None)
        if last is None or last.done:
            return True
        then = last.on_done

        def chained(pending: Pending) -> None:
            if then is not None:
                then(pending)
            callback()
        last.on_done = chained
        return False

    async def propose(self, item: tuple) -> object:
        """Submit an item of the node's own (not a client's) and wait for its reply."""
        done = self._loop.create_future()
        self.submit(item, lambda pending: done.done() or done.set_result(pending.value))
        return await done

    def _flush_unless_busy(self) -> None:
        """End of a loop turn: propose the batch, unless ENTRIES_IN_FLIGHT entries are out
        (then ``_resolve`` proposes it)."""
        if len(self._unresolved) < ENTRIES_IN_FLIGHT:
            self._flush()

    def _flush(self, alone: bool = True) -> None:
        """Propose the batch as one entry; a lone leader appends, commits and applies it
        right here (``RaftNode.append_alone``) unless ``alone`` is False: a script runs up to
        its instruction budget, on the tick thread, so that the loop serves others meanwhile."""
        if not self._items:
            return
        self._end_return_wait()
        items, waiters, prepared, shown = self._items, self._waiters, self._prepared, self._shown
        self._items, self._waiters, self._prepared, self._shown = [], [], [], []
        seed = random.getrandbits(63)
        payload = encode_entry(int(time.time() * 1000), seed, items, self.config.encoding_limits)
        self._awaited_seeds.add(seed)
        if any(prepared):
            self._prepared_by_seed[seed] = prepared
        if any(shown):
            self._shown_by_seed[seed] = shown
        self._unresolved.append((time.monotonic() + self._write_timeout, waiters))

        def committed(result: list | None, error: int) -> None:
            self._committed(seed, waiters, result, error)

        node = self.node
        if alone and self._batch_bytes <= MAX_ALONE_BYTES:
            self._applying_alone = True
            try:
                if node.append_alone(payload, committed):
                    return
            except Exception as err:  # the journal's or RocksDB's: the entry's outcome is
                self.faults.failed(err)  # unknown (it may be in the log): _expire_writes
                return
            finally:
                self._applying_alone = False
        node.propose(payload, committed)

    def _committed(self, seed: int, waiters: list[Pending], result: list | None,
                   error: int) -> None:
        """Tick thread, or the loop applying alone: hand the outcome to the event loop. (The
        replies follow whatever the apply handed over before them: keyspace events, tracking
        invalidations.)"""
        if self._applying_alone:
            self._loop.call_soon(self._resolve, seed, waiters, result, error)
        else:
            self._loop.call_soon_threadsafe(self._resolve, seed, waiters, result, error)

    def _resolve(self, seed: int, waiters: list[Pending], result: list | None,
                 error: int) -> None:
        self._awaited_seeds.discard(seed)
        self._prepared_by_seed.pop(seed, None)  # applied after all (outcome unknown): looked up
        self._shown_by_seed.pop(seed, None)
        unresolved = self._unresolved
        if unresolved and unresolved[0][1] is waiters:  # entries resolve in log order
            unresolved.popleft()  # (else _expire_writes drops it, resolving nothing again)
        if self.node.otherNodes:
            self._await_returning(len(waiters))
        elif self._items:  # the writes that waited for an entry to come back
            self._flush_unless_busy()
        if error == FAIL_REASON.SUCCESS and result is not None:
            for waiter, value in zip(waiters, result, strict=True):
                # (settle has nothing to fill in in most replies: +OK, an integer, bytes)
                waiter.resolve(value if type(value) in _SETTLED else settle(value))
        else:
            _resolve_all(waiters, CommandError(
                NOT_COMMITTED if error in _DEFINITE_FAILURES else OUTCOME_UNKNOWN))
        self.on_resolved()

    def _await_returning(self, answered: int) -> None:
        """The next batch (with the writes that waited, if any) goes out once ``answered``
        more items joined it, or after RETURN_WAIT_S (see there)."""
        self._returning = len(self._items) + answered
        if self._return_timer is None:
            self._return_timer = self._loop.call_later(RETURN_WAIT_S, self._flush_returned)

    def _flush_returned(self) -> None:
        self._end_return_wait()
        self._flush_unless_busy()

    def _end_return_wait(self) -> None:
        if self._return_timer is not None:
            self._return_timer.cancel()
            self._return_timer = None
        self._returning = 0

    def _resolve_reads(self, waiters: list[Pending], outcome: object) -> None:
        _resolve_all(waiters, outcome)
        self.on_resolved()

    async def _expire_writes(self) -> None:
        """Fail writes whose entry neither committed nor failed in time (e.g. a leader cut
        off from its followers): the client gets an answer, an honest "unknown"."""
        unresolved = self._unresolved
        while not self._stopped:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            while unresolved and (unresolved[0][1][-1].done or unresolved[0][0] < now):
                waiters = unresolved.popleft()[1]
                if not waiters[-1].done:  # an entry's waiters all resolve together
                    _resolve_all(waiters, CommandError(self.faults.unknown_outcome()))
            self._flush()  # writes that waited half a second for an entry to come back

    # -- linearizable reads (ReadIndex) -----------------------------------------------------
    def read_barrier(self, on_done: Callable[[Pending], None]) -> Pending:
        """Resolves to True once a majority has confirmed, after this call, that we still
        lead, and the state machine has applied everything committed before it: a read
        served then is linearizable. The reads of this loop turn and the next share one
        confirmation round, handed to the tick thread with one wake-up: the next turn's
        reads are mostly the other clients' answers to the round before, and joining them
        makes rounds larger (3 nodes, GET -P 1 -c 50: ~28 -> ~31 reads per round, ~6% more
        reads per second), at the cost of one loop turn's wait."""
        waiter = Pending(on_done)
        if not self._reads_this_turn:
            loop = self._loop
            loop.call_soon(loop.call_soon, self._hand_over_reads)
        self._reads_this_turn.append(waiter)
        return waiter

    def _hand_over_reads(self) -> None:
        """The tick thread takes the reads when a round in flight finishes, without a
        wake-up (each costs both threads a hand-over of the GIL); only if none is in flight
        must it be woken. (It pops a round before it takes the reads: a round seen here
        still in flight has not yet been finished, and its end will find these reads.)"""
        reads, self._reads_this_turn = self._reads_this_turn, []
        self._read_requests.append(reads)
        if len(self._reads_in_flight) < READ_ROUNDS_IN_FLIGHT:
            self.node.wake()

    def _sleep_until(self) -> float:
        """Tick thread, woken and done without a tick: until when it may sleep again (0:
        not at all, a call waits for the tick loop). Linearizable reads handed over are
        served here; a round waits to ask every follower at ``ask_all_at``."""
        if self._tick_calls:
            return 0.0
        if not self._reads_pending():
            return _NEVER
        try:
            self._serve_reads()
        except Exception:
            log.exception("serving linearizable reads failed")
            return 0.0
        if self._reads_await_commit():
            return 0.0  # waiting for a new leader's first commit: as the tick loop does
        return min((round_.ask_all_at for round_ in self._reads_in_flight), default=_NEVER)

    def _reads_pending(self) -> bool:
        return bool(self._read_requests or self._reads_in_flight) or self._read_next is not None

    def _reads_await_commit(self) -> bool:
        """Reads wait for a new leader's first commit, which only a tick makes (a waiting
        round starts as soon as fewer are in flight otherwise): tick again soon."""
        return self._read_next is not None and not self._reads_in_flight

    def _serve_reads(self) -> None:
        """Tick thread: reads handed over join the round that waits (a round in flight
        started before they arrived, so cannot vouch for them); rounds that are proven
        finish, rounds past their deadline fail."""
        now = time.monotonic()
        flight = self._reads_in_flight
        if not self.node._isLeader():
            while flight:
                self._finish_round(flight.popleft(), CommandError(NOT_LEADER_FOR_READ))
            self._take_read_requests(now)
            if self._read_next is not None:
                self._finish_round(self._read_next, CommandError(NOT_LEADER_FOR_READ))
                self._read_next = None
            return
        while flight and now > flight[0].deadline:  # the oldest expires first
            self._finish_round(flight.popleft(), CommandError(READ_TIMEOUT))
        waiting = self._read_next
        if waiting is not None and now > waiting.deadline:
            self._finish_round(waiting, CommandError(READ_TIMEOUT))
            self._read_next = None
        self._advance_reads()

    def _take_read_requests(self, now: float) -> None:
        requests = self._read_requests
        if requests:
            waiting = self._read_next
            if waiting is None:
                waiting = self._read_next = _ReadRound(now + self._read_timeout)
            while requests:
                waiting.waiters += requests.popleft()

    def _read_acknowledged(self) -> None:
        """Tick thread, a follower's answer just processed: a round finishes the moment a
        majority has answered, and the waiting one may start then."""
        if self._reads_in_flight and self.node._isLeader():
            self._advance_reads()

    def _advance_reads(self) -> None:
        """Tick thread, as leader: finish the rounds that are proven; then start the waiting
        one if fewer are in flight: its index is the commit index now, after its reads
        arrived, and its heartbeats, sent now, prove leadership once a majority answers."""
        node = self.node
        flight = self._reads_in_flight
        # A proven round vouches for every older one: its heartbeats went out after their
        # reads arrived, and their indexes are no higher than its own.
        for newest in range(len(flight) - 1, -1, -1):
            round_ = flight[newest]
            if node.majority_acknowledged(round_.targets) \
                    and node.raftLastApplied >= round_.index:
                for _ in range(newest + 1):
                    self._finish_round(flight.popleft(), True)
                break
        self._take_read_requests(time.monotonic())  # after the pops (see _hand_over_reads)
        now = time.monotonic()
        # Answers that will never come (a connection replaced), or followers asked that have
        # not answered in time: ask every follower again.
        again = [round_ for round_ in flight
                 if now >= round_.ask_all_at or node.appends_forgotten(round_.targets)]
        if again:
            targets = node.send_heartbeats()
            for round_ in again:
                round_.targets = targets
                round_.ask_all_at = _NEVER
        waiting = self._read_next
        if waiting is None or len(flight) >= READ_ROUNDS_IN_FLIGHT or not node.term_committed():
            return
        waiting.index = node.raftCommitIndex
        waiting.targets, asked_all = node.send_read_heartbeats()
        self._read_next = None  # (after the send: should it fail, the round times out)
        if not asked_all:
            waiting.ask_all_at = now + READ_ASK_ALL_AFTER_S
        flight.append(waiting)
        self.read_rounds += 1
        if node.majority_acknowledged(waiting.targets):  # a lone node: no one to ask
            self._advance_reads()

    def _finish_round(self, round_: _ReadRound, outcome: object) -> None:
        self._loop.call_soon_threadsafe(self._resolve_reads, round_.waiters, outcome)

    # -- membership --------------------------------------------------------------------------
    async def remove_voter(self, raft_address: str, timeout: float = 10) -> None:
        """Remove a voting member through PySyncObj's membership entry (in effect once
        appended); waits for it to commit. Members join as learners, and become voters, by
        their member records instead (``RaftNode.sync_members``)."""
        loop = self._loop
        done = loop.create_future()

        def finished(_result, error) -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(error))

        self.node.removeNodeFromCluster(raft_address, callback=finished)
        error = await asyncio.wait_for(done, timeout)
        if error != FAIL_REASON.SUCCESS:
            raise CommandError(f"ERR membership change failed (reason {error}); another change "
                               "may be in progress or this node is not the leader")

    async def wait_applied_by(self, raft_address: str, index: int, timeout: float) -> bool:
        """Wait until a follower holds the log up to index and has been told it is committed
        (one heartbeat after it acknowledged it)."""
        deadline = time.monotonic() + timeout
        key = f"match_idx_server_{raft_address}"
        while time.monotonic() < deadline:
            if self.node.getStatus().get(key, 0) >= index:
                await asyncio.sleep(2 * self._tick_wait)
                return True
            await asyncio.sleep(0.01)
        return False

    def transfer_leadership(self, raft_address: str | None) -> None:
        self.call_on_tick_thread(lambda: self.node.transferLeadership(raft_address))

    async def wait_leader(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_leader or self.leader_address:
                return True
            await asyncio.sleep(0.02)
        return False
