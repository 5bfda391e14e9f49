"""The Raft link's connection (rcache.transport.FrameConnection) over a real TCP socket pair."""

from __future__ import annotations

import os
import socket
import time

from pysyncobj.poller import createPoller

from rcache.transport import FrameConnection, decode_frame


def test_a_frame_larger_than_the_socket_takes_goes_out_as_the_peer_reads() -> None:
    """What the socket could not take at once is sent when the poller reports room, not
    only with the connection's next frame (a heartbeat, up to a period later)."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    ours.setblocking(False)
    poller = createPoller("poll")
    connection = FrameConnection(poller, lambda: 1 << 24, sock=ours)
    try:
        poller.poll(0)  # the first writable event: nothing waits, writes are no longer watched
        payload = os.urandom(4 << 20)  # incompressible: the frame stays ~4 MiB
        connection.send({"type": "append_entries", "entries": [(payload, 7, 2)]})
        assert connection.getSendBufferSize() > 0, "the socket took the whole frame at once"
        received = bytearray()
        peer.settimeout(0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and connection.getSendBufferSize():
            poller.poll(0.05)
            try:
                received += peer.recv(1 << 20)
            except TimeoutError:
                pass
        assert connection.getSendBufferSize() == 0, "the rest waited for another send"
        peer.settimeout(5)
        while len(received) < 4 or len(received) < 4 + int.from_bytes(received[:4], "little"):
            chunk = peer.recv(1 << 20)
            assert chunk, "the connection closed before the frame was whole"
            received += chunk
        message, _ = decode_frame(bytes(received[4:]), 1 << 24)
        assert message["entries"][0][0] == payload
    finally:
        connection.disconnect()
        peer.close()
