"""The Raft channel between nodes: PySyncObj's TCP transport, with a codec that cannot run code.

PySyncObj frames every message as ``length + zlib(pickle)`` and unpickles whatever arrives,
before any authentication; it also unpickles every log entry it applies. An unpickler builds
any object a pickle names, so one frame to the Raft port could run code. Here:

* Messages and log entries are decoded by ``PlainUnpickler``, which refuses every global:
  only plain data (dict, list, tuple, set, str, bytes, int, float, bool, None) can come out.
  A cluster node travels as its address (PySyncObj rebuilds the node from it).
* A frame's declared length is checked before anything is buffered: a connection that has
  not yet said which member it is may send ``HANDSHAKE_FRAME_BYTES``, a member
  ``frame_limit()``; decompression is bounded by the same limit. Frames under
  ``COMPRESS_FROM`` bytes go uncompressed: zlib's set-up costs more than the rest of them.
  Buffers are bytearrays consumed from the front (linear, never re-copied per read).
* A peer that sends anything undecodable is disconnected, and logged at most once per
  ``_WARN_INTERVAL`` per reason.
* The Raft port binds when the node starts, or the node stops with ``PortUnavailable``
  (PySyncObj retried forever in a busy loop).
* ``tls-cluster yes``: every link runs over TLS (``ssl`` with memory buffers under the same
  non-blocking poller), both sides showing a certificate that the cluster's CA must have
  signed; a peer that fails the handshake (no certificate, another CA, plaintext) is
  disconnected before any frame of it is read.
* ``cluster-secret``: every frame is sealed with AES-256-GCM under a key derived from the
  secret (``FrameCipher``), which authenticates it too; PySyncObj's Fernet cost ~30 us of
  Python per frame each way, and a leader sends and receives four frames per write.
* ``probe_raft_port`` asks a would-be member's Raft port who it is, through the same
  handshake (and cluster secret) members use, before RAFT.NODE ADD proposes it.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import pickle
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from types import SimpleNamespace

import pysyncobj.syncobj
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.node import Node
from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import CONNECTION_STATE, set_keepalive
from pysyncobj.transport import TCPTransport

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<I")  # frame length (as PySyncObj: rcache.verify reads it), frame
HANDSHAKE_FRAME_BYTES = 4096  # a random key or a node address, encrypted: well under this
PROBE = "rcache-raft-probe"  # a connection's first message, asking the node who it is
_RAND_KEY_BYTES = 32
REGULAR_COMMAND = b"\x00"  # PySyncObj's entry type of a replicated call
_READ_BUDGET = 1 << 20  # bytes read per poll event: a fast sender cannot starve heartbeats
_WARN_INTERVAL = 10.0
_SECRET_SALT = b"\x15%q\xe6\xbb\x02\xa6\xf8\x13q\x90\xcf6+\x1e\xeb"  # PySyncObj's
# Frames from this size on are compressed (zlib level 3); smaller ones go as plain pickles.
COMPRESS_FROM = 16 * 1024
_PICKLE_START = b"\x80"  # pickle's PROTO opcode, the first byte of a protocol 2+ pickle
_SEALED_HEAD = struct.Struct(">BQ")  # format version, the sender's clock (seconds)
_SEALED_VERSION = 1
_NONCE_BYTES = 12


class PortUnavailable(Exception):
    """A port the node must listen on cannot be opened: the node must not start."""


class BadFrame(Exception):
    """A frame that is not a message of ours: its sender is disconnected."""


class RaftTraffic:
    """What INFO says of replication: Raft frame bytes received and sent (header included,
    before TLS), full snapshots sent, and followers caught up from the log or not. The tick
    thread adds; CONFIG RESETSTAT (the event loop) moves the zero instead of writing the
    counters, so that no addition is lost to the race."""

    FIELDS = ("bytes_in", "bytes_out", "full_syncs", "partial_ok", "partial_err")

    def __init__(self) -> None:
        self.bytes_in = self.bytes_out = 0
        self.full_syncs = self.partial_ok = self.partial_err = 0
        self._zero = dict.fromkeys(self.FIELDS, 0)

    def counts(self) -> dict[str, int]:
        """-> each counter since the last reset."""
        return {name: getattr(self, name) - self._zero[name] for name in self.FIELDS}

    def reset(self) -> None:
        self._zero = {name: getattr(self, name) for name in self.FIELDS}


# -- the codec -----------------------------------------------------------------------------------
class PlainUnpickler(pickle.Unpickler):
    """An unpickler that can only build plain data: every global (class, function) is refused,
    so no pickle can call anything. A persistent id is a cluster node's address."""

    def find_class(self, module: str, name: str):
        raise BadFrame(f"refused to load {module}.{name}")

    def persistent_load(self, pid):
        if isinstance(pid, str):
            return pid
        raise BadFrame("a persistent id that is not a node address")


class _NodesAsAddresses(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.id if isinstance(obj, Node) else None


def dumps(obj: object) -> bytes:
    """Protocol 5 writes bytes, sets and tuples natively (protocol 2, PySyncObj's, needed a
    global to rebuild bytes)."""
    out = io.BytesIO()
    _NodesAsAddresses(out, protocol=5).dump(obj)
    return out.getvalue()


def loads(data: bytes) -> object:
    try:
        return PlainUnpickler(io.BytesIO(data)).load()
    except BadFrame:
        raise
    except Exception as err:  # truncated or malformed pickles raise many kinds of errors
        raise BadFrame(f"undecodable ({type(err).__name__}: {err})") from None


def use_plain_codec_for_log() -> None:
    """PySyncObj pickles log entries (replicated calls, membership changes) and unpickles
    them on apply, also when they come from a leader: make it use this codec."""
    pysyncobj.syncobj.pickle = SimpleNamespace(dumps=dumps, loads=loads)


def frame_limit(max_entry_bytes: int, max_bulk_len: int) -> int:
    """The largest frame a member sends: a batch of entries (up to two batches' worth, as
    PySyncObj cuts a batch after the entry that crosses its size) or one entry holding a
    command as large as a client may send, compressed (never much larger) and encrypted
    (base64: 4/3), plus headers."""
    largest = 2 * max_entry_bytes + max_bulk_len
    return largest * 4 // 3 + 64 * 1024


class FrameCipher:
    """The cluster secret's cipher, in the interface PySyncObj's encryptor has
    (``encrypt_at_time``, ``extract_timestamp``, ``decrypt``). A sealed frame: version and
    the sender's clock (authenticated, not secret: the replay check reads it), a nonce, the
    AES-256-GCM ciphertext and tag. A nonce is this cipher's random 64-bit prefix and a
    32-bit counter, so never reused under the key (every node holds it): a counter that
    would wrap draws a new prefix."""

    def __init__(self, secret: str) -> None:
        kdf = PBKDF2HMAC(algorithm=SHA256(), length=32, salt=_SECRET_SALT, iterations=100_000)
        self._aead = AESGCM(kdf.derive(secret.encode()))
        self._lock = threading.Lock()  # the ticker seals frames, the event loop probes
        self._prefix, self._sealed = os.urandom(_NONCE_BYTES - 4), 0

    def _nonce(self) -> bytes:
        with self._lock:
            if self._sealed == 1 << 32:
                self._prefix, self._sealed = os.urandom(_NONCE_BYTES - 4), 0
            self._sealed += 1
            return self._prefix + (self._sealed - 1).to_bytes(4, "big")

    def encrypt_at_time(self, data: bytes, stamp: int) -> bytes:
        head = _SEALED_HEAD.pack(_SEALED_VERSION, stamp)
        nonce = self._nonce()
        return head + nonce + self._aead.encrypt(nonce, data, head)

    @staticmethod
    def extract_timestamp(data: bytes) -> int:
        version, stamp = _SEALED_HEAD.unpack_from(data)
        if version != _SEALED_VERSION:
            raise ValueError(f"sealed frame version {version}")
        return stamp

    def decrypt(self, data: bytes) -> bytes:
        cut = _SEALED_HEAD.size
        return self._aead.decrypt(data[cut:cut + _NONCE_BYTES], data[cut + _NONCE_BYTES:],
                                  data[:cut])


def encode_frame(message: object, encryptor=None, rand_key: bytes | None = None) -> bytes:
    """A frame's body is the pickle itself below COMPRESS_FROM bytes, else zlib of it: a
    zlib stream's set-up costs ~10 us whatever its size, more than the rest of a small
    frame's encoding (a leader sends several frames per write)."""
    if rand_key:
        message = (rand_key, message)
    data = pickle.dumps(message, protocol=5)  # messages hold no nodes
    if len(data) >= COMPRESS_FROM:
        data = zlib.compress(data, 3)
    if encryptor is not None:
        data = encryptor.encrypt_at_time(data, int(raft_clock()))
    return _HEADER.pack(len(data)) + data


def decode_frame(data: bytes, limit: int, encryptor=None) -> tuple[object, int]:
    """-> (message, the encryption timestamp or 0). Raises BadFrame."""
    stamp = 0
    if encryptor is not None:
        try:
            stamp = encryptor.extract_timestamp(data)
            data = encryptor.decrypt(data)
        except Exception:
            raise BadFrame("not encrypted with the cluster secret") from None
    if data[:1] == _PICKLE_START:  # a zlib stream starts with another byte (its method, 8)
        if len(data) > limit:
            raise BadFrame(f"a frame of more than {limit} bytes")
        return loads(data), stamp
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(data, limit)
    except zlib.error:
        raise BadFrame("not zlib data") from None
    if inflate.unconsumed_tail:
        raise BadFrame(f"decompresses to more than {limit} bytes")
    return loads(raw), stamp


class _RateLimitedWarnings:
    """One line per reason and interval: a peer sending garbage in a loop cannot flood the log."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def warn(self, reason: str, detail: str) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -_WARN_INTERVAL) < _WARN_INTERVAL:
            self._quiet[reason] = self._quiet.get(reason, 0) + 1
            return
        quiet = self._quiet.pop(reason, 0)
        self._last[reason] = now
        log.warning("%s%s", detail, f" ({quiet} more like it not logged)" if quiet else "")


_warnings = _RateLimitedWarnings()


# -- TLS under a connection ---------------------------------------------------------------------
class TlsSession:
    """One TLS session over memory buffers: the connection moves ciphertext between the socket
    and here, so the poller, timeouts and frame limits stay the same as in plaintext."""

    def __init__(self, context: ssl.SSLContext, server_side: bool) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side)
        self.established = False
        self._backlog = bytearray()  # plaintext sent before the handshake ended

    def start(self) -> None:
        """The client's first flight (ClientHello)."""
        self._handshake()

    def _handshake(self) -> None:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return
        self.established = True
        if self._backlog:
            self._tls.write(self._backlog)
            self._backlog.clear()

    def received(self, ciphertext: bytes) -> bytes:
        """-> the plaintext it carried. Raises ssl.SSLError (a failed handshake: bad or missing
        certificate, not TLS at all) and ssl.SSLEOFError/SSLZeroReturnError (closed)."""
        self._incoming.write(ciphertext)
        if not self.established:
            self._handshake()
            if not self.established:
                return b""
        plain = bytearray()
        while True:
            try:
                chunk = self._tls.read(1 << 16)
            except ssl.SSLWantReadError:
                return bytes(plain)
            if not chunk:
                raise ssl.SSLZeroReturnError("the peer closed the TLS session")
            plain += chunk

    def send(self, plaintext: bytes) -> None:
        if self.established:
            self._tls.write(plaintext)
        else:
            self._backlog += plaintext

    def outgoing(self) -> bytes:
        """Ciphertext to put on the wire (handshake messages, records, alerts)."""
        return self._outgoing.read()

    def describe(self) -> str:
        peer = self._tls.getpeercert() or {}
        subject = ", ".join(f"{key}={value}" for rdn in peer.get("subject", ())
                            for key, value in rdn)
        return f"{self._tls.version()}, peer certificate {subject or '?'}"


# -- one connection ------------------------------------------------------------------------------
class FrameConnection:
    """PySyncObj's TcpConnection interface (callbacks, send, state, the handshake's random
    keys) over bounded, linear buffers and the plain codec."""

    def __init__(self, poller, max_frame: Callable[[], int], sock: socket.socket | None = None,
                 timeout: float = 10.0, send_buffer: int = 2**16, recv_buffer: int = 2**16,
                 keepalive: tuple | None = None, tls: ssl.SSLContext | None = None,
                 traffic: RaftTraffic | None = None) -> None:
        self.sendRandKey = None  # noqa: N815 (PySyncObj's attribute names)
        self.recvRandKey = None  # noqa: N815
        self.recvLastTimestamp = 0  # noqa: N815
        self.encryptor = None
        self.max_frame = max_frame  # read per frame: CONFIG SET proto-max-bulk-len applies
        self._traffic = traffic or RaftTraffic()
        self._poller = poller
        self._timeout = timeout
        self._send_buffer = send_buffer
        self._recv_buffer = recv_buffer
        self._keepalive = keepalive
        self._tls_context = tls
        self._tls: TlsSession | None = None
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._last_read = raft_clock()
        self._on_message = self._on_connected = self._on_disconnected = None
        self._socket = sock
        self._fileno: int | None = None
        self._state = CONNECTION_STATE.DISCONNECTED
        self._write_watched = False  # the poller reports when the socket takes more bytes
        if sock is not None:
            self._peer = _peer_name(sock)
            self._state = CONNECTION_STATE.CONNECTED
            self._fileno = sock.fileno()
            if tls is not None:
                self._tls = TlsSession(tls, server_side=True)
            self._set_keepalive()
            self._watch(write=True)
        else:
            self._peer = "?"

    # PySyncObj's callback setters
    def setOnConnectedCallback(self, callback) -> None:  # noqa: N802
        self._on_connected = callback

    def setOnMessageReceivedCallback(self, callback) -> None:  # noqa: N802
        self._on_message = callback

    def setOnDisconnectedCallback(self, callback) -> None:  # noqa: N802
        self._on_disconnected = callback

    @property
    def state(self) -> int:
        return self._state

    def fileno(self) -> int | None:
        return self._fileno

    def getSendBufferSize(self) -> int:  # noqa: N802
        return len(self._outbox)

    def _set_keepalive(self) -> None:
        if self._keepalive is not None:
            set_keepalive(self._socket, *self._keepalive)

    def connect(self, host: str, port: int) -> bool:
        self._state = CONNECTION_STATE.DISCONNECTED
        self._fileno = None
        self._peer = f"{host}:{port}"
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            self._socket = socket.socket(family, socket.SOCK_STREAM)
        except (OSError, OverflowError):
            return False
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._recv_buffer)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._set_keepalive()
        self._socket.setblocking(False)
        self._inbox.clear()
        self._outbox.clear()
        self._tls = None
        self._last_read = raft_clock()
        try:
            self._socket.connect((host, port))
        except BlockingIOError:
            pass
        except (OSError, OverflowError):
            self._socket.close()
            self._socket = None
            return False
        self._fileno = self._socket.fileno()
        self._state = CONNECTION_STATE.CONNECTING
        self._watch(write=True)
        return True

    def _watch(self, write: bool) -> None:
        """Poll the socket for reads and errors, and for room to write while bytes wait."""
        mask = POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.ERROR
        self._poller.subscribe(self._fileno, self._on_event,
                               mask | POLL_EVENT_TYPE.WRITE if write else mask)
        self._write_watched = write

    def send(self, message: object) -> None:
        frame = encode_frame(message, self.encryptor, self.sendRandKey)
        self._traffic.bytes_out += len(frame)
        if self._tls is None:
            self._outbox += frame
        else:
            self._tls.send(frame)
            self._outbox += self._tls.outgoing()
        self._flush()

    def disconnect(self) -> None:
        notify = self._on_disconnected is not None and self._state != \
            CONNECTION_STATE.DISCONNECTED
        self.sendRandKey = self.recvRandKey = None
        self.recvLastTimestamp = 0
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._fileno is not None:
            self._poller.unsubscribe(self._fileno)
            self._fileno = None
        self._inbox.clear()
        self._outbox.clear()
        self._state = CONNECTION_STATE.DISCONNECTED
        if notify:
            self._on_disconnected()

    def _refuse(self, reason: str, detail: str) -> None:
        _warnings.warn(reason, f"Raft connection dropped: {self._peer} {detail}")
        self.disconnect()

    # -- events --------------------------------------------------------------------------------
    def _on_event(self, descr: int, event: int) -> None:
        if descr != self._fileno:
            self._poller.unsubscribe(descr)
            return
        if event & POLL_EVENT_TYPE.ERROR or self._timed_out():
            self.disconnect()
            return
        # A connected socket's errors come as POLLERR or from recv/send: only a connect's
        # outcome needs asking for (one system call less per event).
        if self._state == CONNECTION_STATE.CONNECTING \
                and self._socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.disconnect()
            return
        if self._state == CONNECTION_STATE.CONNECTING and self._tls is None:
            if self._tls_context is None:
                self._established()
                return
            self._tls = TlsSession(self._tls_context, server_side=False)
            self._tls.start()
            self._outbox += self._tls.outgoing()
            event |= POLL_EVENT_TYPE.WRITE  # send the ClientHello now
        if event & POLL_EVENT_TYPE.WRITE:
            self._flush()
            if self._state == CONNECTION_STATE.DISCONNECTED:
                return
            if not self._outbox:
                self._watch(write=False)
        if event & POLL_EVENT_TYPE.READ:
            self._read()

    def _established(self) -> None:
        """The outgoing link is up (TCP, and TLS if any): PySyncObj's handshake starts."""
        if self._on_connected is not None:
            self._on_connected()
        if self._state != CONNECTION_STATE.DISCONNECTED:
            self._state = CONNECTION_STATE.CONNECTED
            self._last_read = raft_clock()

    def _timed_out(self) -> bool:
        return raft_clock() - self._last_read > self._timeout

    def _flush(self) -> None:
        if self._timed_out():
            self.disconnect()
            return
        while self._outbox and self._socket is not None:
            try:
                sent = self._socket.send(self._outbox)
            except BlockingIOError:
                break
            except OSError:
                self.disconnect()
                return
            if sent <= 0:
                break
            del self._outbox[:sent]
        if self._outbox and not self._write_watched and self._fileno is not None:
            self._watch(write=True)  # the rest goes out as the peer reads, not with a later send

    def _read(self) -> None:
        """Read what the socket holds: a read shorter than asked for emptied it, so no
        further read (which would only fail with EAGAIN) follows; poll reports any more."""
        budget = _READ_BUDGET
        while budget > 0 and self._socket is not None:
            asked = min(budget, 1 << 16)
            try:
                chunk = self._socket.recv(asked)
            except BlockingIOError:
                break
            except OSError:
                self.disconnect()
                return
            if not chunk:
                self.disconnect()
                return
            emptied = len(chunk) < asked
            budget -= len(chunk)
            self._last_read = raft_clock()
            if self._tls is not None:
                chunk = self._decrypt(chunk)
                if chunk is None:
                    return
            self._inbox += chunk
            if not self._deliver() or emptied:
                return

    def _decrypt(self, ciphertext: bytes) -> bytes | None:
        """-> the plaintext, or None once the connection is closed (the peer failed the TLS
        handshake, or ended the session)."""
        tls = self._tls
        was_established = tls.established
        try:
            plain = tls.received(ciphertext)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.disconnect()
            return None
        except ssl.SSLError as err:
            self._outbox += tls.outgoing()  # the alert tells the peer why
            self._flush()
            self._refuse("tls", f"failed the TLS handshake: {err.reason or err}")
            return None
        self._outbox += tls.outgoing()
        if self._outbox:
            self._flush()
        if tls.established and not was_established:
            log.info("Raft TLS link with %s: %s", self._peer, tls.describe())
            if self._state == CONNECTION_STATE.CONNECTING:
                self._established()
        if self._state == CONNECTION_STATE.DISCONNECTED:
            return None
        return plain

    def _deliver(self) -> bool:
        """Hand over every complete frame; refuse an oversized one as soon as its length is
        known. -> False once the connection is closed."""
        inbox = self._inbox
        while len(inbox) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(inbox)
            limit = self.max_frame()
            if not 0 < size <= limit:
                self._refuse("length", f"declared a frame of {size} bytes (limit {limit})")
                return False
            end = _HEADER.size + size
            if len(inbox) < end:
                return True
            frame = bytes(inbox[_HEADER.size:end])
            del inbox[:end]
            self._traffic.bytes_in += end
            try:
                message = self._decode(frame, limit)
            except BadFrame as err:
                self._refuse("garbage", f"sent a frame that is not a Raft message of ours: {err}")
                return False
            if self._on_message is not None:
                self._on_message(message)
            if self._state != CONNECTION_STATE.CONNECTED:  # closed (and maybe reconnecting)
                return False
        return True

    def _decode(self, frame: bytes, limit: int) -> object:
        message, stamp = decode_frame(frame, limit, self.encryptor)
        if self.encryptor is not None:
            if stamp < self.recvLastTimestamp:
                raise BadFrame("an encrypted frame older than the previous one (replayed?)")
            self.recvLastTimestamp = stamp
        if self.recvRandKey:
            if not (isinstance(message, tuple) and len(message) == 2
                    and message[0] == self.recvRandKey):
                raise BadFrame("a frame without this connection's key (replayed?)")
            message = message[1]
        return message


def _peer_name(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "?"
    return f"{host}:{port}"


class _Listener:
    """The Raft port: accepts connections as FrameConnections that may send only a small
    first frame until the transport knows which member they are."""

    def __init__(self, poller, host: str, port: int, on_connection, make_connection) -> None:
        self._poller = poller
        self._on_connection = on_connection
        self._make_connection = make_connection
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            self._socket = socket.socket(family, socket.SOCK_STREAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(address)
            self._socket.listen(64)
        except (OSError, OverflowError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise PortUnavailable(f"cannot listen on Raft port {host}:{port}: {reason}") from None
        self._socket.setblocking(False)
        poller.subscribe(self._socket.fileno(), self._on_event,
                         POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.ERROR)

    def _on_event(self, _descr: int, event: int) -> None:
        if not event & POLL_EVENT_TYPE.READ:
            return
        try:
            sock, _ = self._socket.accept()
        except OSError:  # the peer gave up already, or too many open files: try next time
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._on_connection(self._make_connection(sock))

    def unbind(self) -> None:
        if self._socket.fileno() >= 0:
            self._poller.unsubscribe(self._socket.fileno())
        self._socket.close()


# -- the transport -------------------------------------------------------------------------------
def _handshake_limit() -> int:
    return HANDSHAKE_FRAME_BYTES


class ClusterTransport(TCPTransport):
    """PySyncObj's TCP transport over FrameConnections, without two doors rcache never uses:
    read-only nodes (any process announcing itself as one receives the whole log) and
    utility commands (any connection could add or remove members). Members authenticate
    with ``cluster-secret`` (``FrameCipher``: a key derived from it seals and authenticates
    every message). Members may send frames up to ``member_frame_limit()`` bytes (see
    ``frame_limit``), other connections ``HANDSHAKE_FRAME_BYTES``."""

    def __init__(self, syncObj, selfNode, otherNodes,  # noqa: N803 (PySyncObj's names)
                 member_frame_limit: Callable[[], int], tls=None) -> None:
        self.max_frame = member_frame_limit  # before PySyncObj's __init__ adds the members
        self.tls = tls  # tls.RaftContexts (tls-cluster yes) or None
        self.traffic = RaftTraffic()  # every connection's frames, both ways
        super().__init__(syncObj, selfNode, otherNodes)

    def _new_connection(self, sock: socket.socket | None,
                        max_frame: Callable[[], int]) -> FrameConnection:
        conf = self._syncObj.conf
        tls = None if self.tls is None else self.tls.server if sock else self.tls.client
        return FrameConnection(self._syncObj._poller, max_frame, sock, conf.connectionTimeout,
                               conf.sendBufferSize, conf.recvBufferSize, conf.tcp_keepalive, tls,
                               self.traffic)

    def _createServer(self) -> None:  # noqa: N802 (PySyncObj's name)
        """Bind now: a node that cannot open its Raft port stops with the reason."""
        host, port = (self._syncObj.conf.bindAddress or self._selfNode.address).rsplit(":", 1)
        self._server = _Listener(
            self._syncObj._poller, host.strip("[]"), int(port), self._onNewIncomingConnection,
            lambda sock: self._new_connection(sock, _handshake_limit))
        self._ready = True
        self._bindOverEvent.set()

    def addNode(self, node) -> None:  # noqa: N802
        """A member (voter or learner); one already known keeps its link (a learner that a
        snapshot lists as a voter, say)."""
        if node in self._nodes:
            return
        self._nodes.add(node)
        self._nodeAddrToNode[node.address] = node
        if self._shouldConnect(node):
            conn = self._new_connection(None, self.max_frame)
            conn.encryptor = self._syncObj.encryptor
            conn.setOnConnectedCallback(functools.partial(self._onOutgoingConnected, conn))
            conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, node))
            conn.setOnDisconnectedCallback(functools.partial(self._onDisconnected, conn))
            self._connections[node] = conn

    def _onIncomingMessageReceived(self, conn, message) -> None:  # noqa: N802
        encrypted = self._syncObj.encryptor is not None
        if encrypted and not conn.sendRandKey:
            if not (isinstance(message, bytes) and len(message) == _RAND_KEY_BYTES):
                self._drop(conn, "opened without a handshake key")
                return
            super()._onIncomingMessageReceived(conn, message)
            return
        if message == PROBE:
            conn.send({"rcache": PROBE, "raft": self._selfNode.address})
            return
        if not isinstance(message, str) or message == "readonly":
            self._drop(conn, "offered read-only mode" if message == "readonly"
                       else "offered a utility command or something else than a member address")
            return
        node = self._nodeAddrToNode.get(message)
        if node is not None and self._shouldConnect(node):
            # This node opens the connection to that member itself: a peer calling in under
            # its address is not it, and would take the place of the real link.
            self._drop(conn, "claimed the address of a member this node connects to")
            return
        previous = self._connections.get(node) if node is not None else None
        super()._onIncomingMessageReceived(conn, message)
        if node is not None and self._connections.get(node) is conn:
            conn.max_frame = self.max_frame
            conn.setOnMessageReceivedCallback(functools.partial(self._on_current, conn, node))
            if previous is not None and previous is not conn:
                previous.disconnect()

    def _drop(self, conn, why: str) -> None:
        _warnings.warn(why, f"refused a Raft connection that {why}")
        conn.disconnect()
        self._unknownConnections.discard(conn)

    def _on_current(self, conn, node, message) -> None:
        """A peer that reconnected may still have frames in flight on its old connection.
        PySyncObj would take them as the peer's latest word; they are dropped instead (as a
        lossy network may), so an old acknowledgement never counts toward a ReadIndex
        round on the new connection."""
        if self._connections.get(node) is conn:
            self._onMessageReceived(node, message)

    def _onMessageReceived(self, node, message) -> None:  # noqa: N802
        """Every member's message, on connections either side opened: PySyncObj reads
        ``message['type']`` unchecked, and would log any member's forwarded membership or
        version change (rcache's followers forward none)."""
        kind = message.get("type") if isinstance(message, dict) else None
        command = message.get("command") if kind == "apply_command" else REGULAR_COMMAND
        if not isinstance(kind, str) or not isinstance(command, bytes) \
                or command[:1] != REGULAR_COMMAND:
            conn = self._connections.get(node)
            if conn is not None:
                self._drop(conn, "sent a non-regular apply_command" if kind
                           else "sent something else than a message")
            return
        if message.get("transmission") == "start" and isinstance(message.get("data"), bytes):
            # PySyncObj appends each chunk of a large entry to the first one: as a bytearray
            # that is linear, as bytes it copies everything received so far per chunk.
            message["data"] = bytearray(message["data"])
        super()._onMessageReceived(node, message)


# -- asking a would-be member who it is ----------------------------------------------------------
async def probe_raft_port(address: str, encryptor=None, timeout: float = 3.0,
                          tls: ssl.SSLContext | None = None) -> str:
    """Connect to a Raft port as a member would (over TLS with tls-cluster, with the cluster
    secret's handshake, if any) and ask who it is. -> the Raft address it answers with.
    Raises OSError (ssl.SSLError: a failed TLS handshake) or BadFrame."""
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        host.strip("[]"), int(port), ssl=tls), timeout)

    async def receive() -> object:
        (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        if not 0 < size <= HANDSHAKE_FRAME_BYTES:
            raise BadFrame(f"answered with a frame of {size} bytes")
        return decode_frame(await reader.readexactly(size), HANDSHAKE_FRAME_BYTES, encryptor)[0]

    try:
        async with asyncio.timeout(timeout):
            their_key = None
            if encryptor is not None:
                our_key = os.urandom(_RAND_KEY_BYTES)
                writer.write(encode_frame(our_key, encryptor))
                answer = await receive()
                if not (isinstance(answer, tuple) and len(answer) == 2 and answer[0] == our_key):
                    raise BadFrame("answered the handshake with something else")
                their_key = answer[1]
            writer.write(encode_frame(PROBE, encryptor, their_key))
            answer = await receive()
            if their_key is not None:
                answer = answer[1] if isinstance(answer, tuple) and len(answer) == 2 else None
            if not (isinstance(answer, dict) and answer.get("rcache") == PROBE):
                raise BadFrame("answered, but not as an rcache node of this version")
            return str(answer.get("raft"))
    except (asyncio.IncompleteReadError, TimeoutError):
        raise BadFrame("closed the connection or did not answer (is it an rcache Raft port, "
                       "with the same cluster-secret and tls-cluster?)") from None
    finally:
        writer.close()
