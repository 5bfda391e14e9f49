#!/usr/bin/env python3
"""The floor under a Python server over RocksDB: uvloop, hiredis's parser and rocksdict with
rcache's own RocksDB options, answering GET, SET, DEL, PING and DBSIZE and nothing else: no
Raft log, no command table, no checks, no statistics.

`python bench/run.py` and `python bench/ab.py HEAD --floor` load it beside redis-server and
rcache in the same run. What it reaches is what these libraries and this store cost per
request on this machine before any feature: a goal of issue #14 above its ratio is out of
reach of trimming rcache's Python.

Usage: python bench/floor_server.py PORT DATA_DIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import hiredis
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's rcache

from rcache.storage import Store  # noqa: E402

OK = b"+OK\r\n"


class Connection(asyncio.Protocol):
    """One client: every request of a read event parsed by hiredis; the replies of a loop
    turn written together at its end, as rcache (and Redis's beforeSleep) does."""

    def __init__(self, db, due: list) -> None:
        self.db = db
        self.due = due
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        db, replies = self.db, []
        while (request := self.reader.gets()) is not False:
            name = request[0].upper()
            if name == b"GET":
                value = db.get(request[1])
                replies.append(b"$-1\r\n" if value is None
                               else b"$%d\r\n%s\r\n" % (len(value), value))
            elif name == b"SET":
                db[request[1]] = request[2]
                replies.append(OK)
            elif name == b"DEL":
                found = db.get(request[1]) is not None
                del db[request[1]]
                replies.append(b":%d\r\n" % found)
            elif name == b"PING":
                replies.append(b"+PONG\r\n")
            elif name == b"DBSIZE":  # once, after a run (a walk over every key)
                replies.append(b":%d\r\n" % sum(1 for _ in db.keys()))
            elif name == b"CONFIG":  # CONFIG GET <name> from redis-benchmark: an empty value
                name = request[-1]
                replies.append(b"*2\r\n$%d\r\n%s\r\n$0\r\n\r\n" % (len(name), name))
            else:
                replies.append(b"-ERR unknown command\r\n")
        if not self.due:
            asyncio.get_running_loop().call_soon(write_due, self.due)
        self.due.append((self.transport, b"".join(replies)))


def write_due(due: list) -> None:
    for transport, replies in due:
        transport.write(replies)
    due.clear()


async def serve(port: int, data_dir: str) -> None:
    db = Store(data_dir).db
    due: list = []
    server = await asyncio.get_running_loop().create_server(
        lambda: Connection(db, due), "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), sys.argv[2]))
