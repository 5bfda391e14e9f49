"""The encoding options (Redis's ``*-max-listpack-*``, ``set-max-intset-entries``) that decide
which encoding OBJECT ENCODING reports for a collection, ``proto-max-bulk-len``, which
bounds the strings SETRANGE, APPEND, SETBIT and BITFIELD may grow, ``stream-node-max-*``,
which decide where a stream's radix-tree nodes end (what approximate trimming removes),
and ``hll-sparse-max-bytes``, past which a sparse HyperLogLog turns dense (its bytes are
the value, so they must agree).

rcache stores every collection the same way; it tracks only whether Redis would have
converted the value to its big encoding, which depends on these options when the value is
written. Applying an entry must not read node-local configuration, so the leader puts its
values in each entry (as it puts its clock), and every node decides the same.
"""

from __future__ import annotations

from typing import NamedTuple


class EncodingLimits(NamedTuple):
    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    set_max_intset_entries: int = 512
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    proto_max_bulk_len: int = 512 * 1024 * 1024
    stream_node_max_bytes: int = 4096  # where Redis closes a stream's node (rcache.streams_store)
    stream_node_max_entries: int = 100
    hll_sparse_max_bytes: int = 3000


DEFAULT_LIMITS = EncodingLimits()
