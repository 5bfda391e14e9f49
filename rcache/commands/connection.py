"""Connection commands: PING ECHO HELLO AUTH QUIT RESET SELECT CLIENT ..."""

from __future__ import annotations

import time

from .. import errors
from ..errors import CommandError
from ..resp import NO_REPLY, OK, PONG, SimpleString, Verbatim, encode_command, parse_int
from .args import int_arg
from .keyspace import db_index_arg
from .table import Context, command, container, help_reply

REDIS_VERSION = "7.0.15"  # the Redis release whose commands and replies we follow

_G = "connection"


@command("ping", -1, "fast node pubsub_ok", group=_G, summary="Ping the server")
def ping(ctx: Context, argv: list[bytes]):
    if len(argv) > 2:
        raise CommandError(errors.wrong_arity("ping"))
    if ctx.client is not None and ctx.client.subscriptions and not ctx.client.resp3:
        return [b"pong", argv[1] if len(argv) == 2 else b""]  # RESP2 subscriber: as Redis
    return argv[1] if len(argv) == 2 else PONG


@command("echo", 2, "loading stale fast node", group=_G, summary="Echo the given string")
def echo(ctx: Context, argv: list[bytes]):
    return argv[1]


def _check_password(ctx: Context, username: bytes, password: bytes, via: str) -> None:
    user = ctx.server.users.get(username)
    if user is None or not user.check_password(password):
        ctx.server.log_acl_refusal(ctx.client, "auth", via, username)
        raise CommandError(errors.WRONGPASS)
    ctx.client.authenticate(user)


@command("auth", -2, "noscript loading stale fast no_auth allow_busy node", group=_G,
         summary="Authenticate to the server",
         redact=lambda argv: list(range(1, len(argv))))
def auth(ctx: Context, argv: list[bytes]):
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2 and not ctx.server.config.requirepass:
        raise CommandError("ERR AUTH <password> called without any password configured for "
                           "the default user. Are you sure your configuration is correct?")
    username = argv[1] if len(argv) == 3 else b"default"
    _check_password(ctx, username, argv[-1], "AUTH")
    return OK


def _hello_secrets(argv: list[bytes]) -> list[int]:
    """HELLO ... AUTH <user> <password>: both hidden from MONITOR, as Redis does."""
    return [j for i in range(2, len(argv) - 2) if argv[i].lower() == b"auth"
            for j in (i + 1, i + 2)]


@command("hello", -1, "noscript loading stale fast no_auth allow_busy node", group=_G,
         since="6.0.0", redact=_hello_secrets,
         summary="Handshake with Redis")
def hello(ctx: Context, argv: list[bytes]):
    client = ctx.client
    version = None
    if len(argv) > 1:
        version = parse_int(argv[1])
        if version is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if version not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    name = None
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        remaining = len(argv) - i - 1
        if option == b"auth" and remaining >= 2:
            _check_password(ctx, argv[i + 1], argv[i + 2], "HELLO")
            i += 3
        elif option == b"setname" and remaining >= 1:
            name = _valid_name(argv[i + 1])
            i += 2
        else:
            option_text = argv[i].decode(errors="replace")
            raise CommandError(f"ERR Syntax error in HELLO option '{option_text}'")
    if not client.reader.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, "
                           "otherwise the HELLO <proto> AUTH <user> <pass> option can be used "
                           "to authenticate the client and select the RESP protocol version "
                           "at the same time")
    if version is not None:
        client.resp3 = version == 3
    if name is not None:
        client.name = name
    return {
        b"server": b"redis", b"version": REDIS_VERSION.encode(),
        b"proto": 3 if client.resp3 else 2, b"id": client.id,
        b"mode": b"cluster" if ctx.server.config.cluster_enabled else b"standalone",
        b"role": b"master" if ctx.server.replicator.is_leader else b"replica",
        b"modules": [],
    }


@command("quit", -1, "noscript loading stale fast no_auth allow_busy node pubsub_ok multi_control",
         group=_G,
         summary="Close the connection")
def quit_(ctx: Context, argv: list[bytes]):
    ctx.client.quit()
    return OK


@command("reset", 1, "noscript loading stale fast no_auth allow_busy node pubsub_ok multi_control",
         group=_G,
         since="6.2.0", summary="Reset the connection")
def reset(ctx: Context, argv: list[bytes]):
    ctx.client.reset()
    return SimpleString("RESET")


@command("select", 2, "loading stale fast node", group=_G, summary="Change the selected database")
def select(ctx: Context, argv: list[bytes]):
    ctx.client.db = db_index_arg(ctx, argv[1])
    return OK


# -- CLIENT -----------------------------------------------------------------------------------
container("client", -2, "keeps_caching", group=_G, since="2.4.0",
          summary="A container for client connection commands")


def _valid_name(name: bytes) -> bytes:
    if any(c < 33 or c > 126 for c in name):
        raise CommandError(
            "ERR Client names cannot contain spaces, newlines or special characters.")
    return name


@command("setname", 3, "noscript loading stale node", group=_G, container="client",
         since="2.6.9", summary="Set the current connection name")
def client_setname(ctx: Context, argv: list[bytes]):
    ctx.client.name = _valid_name(argv[2])
    return OK


@command("getname", 2, "noscript loading stale node", group=_G, container="client",
         since="2.6.9", summary="Get the current connection name")
def client_getname(ctx: Context, argv: list[bytes]):
    return ctx.client.name or None


@command("id", 2, "noscript loading stale node", group=_G, container="client", since="5.0.0",
         summary="Returns the client ID for the current connection")
def client_id(ctx: Context, argv: list[bytes]):
    return ctx.client.id


@command("setinfo", 4, "noscript loading stale node", group=_G, container="client",
         since="7.2.0", summary="Set client or connection specific info")
def client_setinfo(ctx: Context, argv: list[bytes]):
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode(errors='replace')}'")
    if any(c < 33 or c > 126 for c in argv[3]):
        raise CommandError(f"ERR {attr.decode()} cannot contain spaces, newlines or special "
                           "characters.")
    if attr == b"lib-name":
        ctx.client.lib_name = argv[3]
    else:
        ctx.client.lib_ver = argv[3]
    return OK


def _flags(client) -> str:
    flags = (("O" if client.id in client.server.monitors.clients else "")
             + ("x" if client.multi is not None else "") + ("P" if client.subscriptions else ""))
    tracking = client.tracking
    if tracking is not None:  # Redis's t R B
        flags += "t" + ("R" if tracking.broken_redirect else "") + ("B" if tracking.bcast else "")
    flags += ("U" if client.unix else "") + ("e" if client.no_evict else "")
    return flags or "N"


def describe(client, now: float, running: list[bytes] | None = None) -> str:
    """One CLIENT LIST line, with Redis's field names. ``running``: the command this client
    runs now, which Redis still counts in its query buffer (qbuf)."""
    qbuf = client.reader.buffered() + (len(encode_command(running)) if running else 0)
    return (f"id={client.id} addr={client.addr} laddr={client.laddr} fd=-1 "
            f"name={client.name.decode(errors='replace')} age={int(now - client.created)} "
            f"idle={int(now - client.last_active)} flags={_flags(client)} db={client.db} "
            f"sub={len(client.channels)} psub={len(client.patterns)} "
            f"ssub={len(client.shard_channels)} "
            f"multi={len(client.multi) if client.multi is not None else -1} "
            f"qbuf={qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 "
            f"obl=0 oll=0 omem={client.unsent_bytes} tot-mem=0 events=r "
            f"cmd={client.last_command.full_name if client.last_command else 'NULL'} "
            f"user={client.user_name.decode(errors='replace')} "
            f"redir={client.tracking.redirect if client.tracking is not None else -1} "
            f"resp={3 if client.resp3 else 2} "
            f"lib-name={client.lib_name.decode(errors='replace')} "
            f"lib-ver={client.lib_ver.decode(errors='replace')}")


@command("list", -2, "admin noscript loading stale node", group=_G, container="client",
         since="2.4.0", summary="Get the list of client connections")
def client_list(ctx: Context, argv: list[bytes]):
    # not those closed already, whose transports have yet to report it (Redis frees at once)
    clients = [c for c in ctx.server.clients.values() if not c.closed or c is ctx.client]
    if len(argv) > 2:
        if len(argv) >= 4 and argv[2].lower() == b"id":
            wanted = set()
            for raw in argv[3:]:
                value = parse_int(raw)
                if value is None or value <= 0:
                    raise CommandError("ERR Invalid client ID")
                wanted.add(value)
            clients = [c for c in clients if c.id in wanted]
        elif len(argv) == 4 and argv[2].lower() == b"type":
            if argv[3].lower() not in (b"normal", b"master", b"replica", b"pubsub"):
                raise CommandError(f"ERR Unknown client type '{argv[3].decode(errors='replace')}'")
            clients = [c for c in clients if c.output_class.encode() == argv[3].lower()]
        else:
            raise CommandError(errors.SYNTAX)
    now = time.time()
    return Verbatim("".join(describe(c, now, argv if c is ctx.client else None) + "\n"
                            for c in clients).encode())


@command("info", 2, "noscript loading stale node", group=_G, container="client", since="6.2.0",
         summary="Returns information about the current client connection.")
def client_info(ctx: Context, argv: list[bytes]):
    return Verbatim((describe(ctx.client, time.time(), argv) + "\n").encode())


@command("kill", -3, "admin noscript loading stale node", group=_G, container="client",
         since="2.4.0", summary="Kill the connection of a client")
def client_kill(ctx: Context, argv: list[bytes]):
    clients = ctx.server.clients.values()
    if len(argv) == 3:  # old form: CLIENT KILL addr:port
        victims = [c for c in clients if c.addr == argv[2].decode(errors="replace")]
        if not victims:
            raise CommandError("ERR No such client")
        _kill(ctx, victims[0])
        return OK
    if len(argv) % 2:
        raise CommandError(errors.SYNTAX)
    victims, skip_me = list(clients), True
    for i in range(2, len(argv), 2):
        field, value = argv[i].lower(), argv[i + 1]
        if field == b"id":
            wanted = parse_int(value)
            if wanted is None or wanted <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            victims = [c for c in victims if c.id == wanted]
        elif field == b"addr":
            victims = [c for c in victims if c.addr == value.decode(errors="replace")]
        elif field == b"laddr":
            victims = [c for c in victims if c.laddr == value.decode(errors="replace")]
        elif field == b"user":
            if ctx.server.users.get(value) is None:
                raise CommandError(f"ERR No such user '{value.decode(errors='replace')}'")
            victims = [c for c in victims if c.user_name == value]
        elif field == b"type":
            kind = value.lower()
            if kind not in (b"normal", b"master", b"replica", b"slave", b"pubsub"):
                raise CommandError(f"ERR Unknown client type '{value.decode(errors='replace')}'")
            # no replicas or masters here; monitors count as normal clients, as in Redis
            victims = [c for c in victims if (b"pubsub" if c.subscriptions else b"normal") == kind]
        elif field == b"skipme":
            if value.lower() not in (b"yes", b"no"):
                raise CommandError(errors.SYNTAX)
            skip_me = value.lower() == b"yes"
        else:
            raise CommandError(errors.SYNTAX)
    if skip_me:  # Redis's default
        victims = [c for c in victims if c is not ctx.client]
    for victim in victims:
        _kill(ctx, victim)
    return len(victims)


def _kill(ctx: Context, victim) -> None:
    """Another client is closed now; the caller itself once this reply is out, as Redis."""
    if victim is ctx.client:
        victim.quit()
    else:
        victim.close()


@command("help", 2, "loading stale node", group=_G, container="client", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def client_help(ctx: Context, argv: list[bytes]):
    return help_reply("CLIENT", (  # Redis 7.0's text
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR", "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME", "    Return the name of the current connection.",
        "ID", "    Return the ID of the current connection.",
        "INFO", "    Return information about the current client connection.",
        "KILL <ip:port>", "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]", "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Kill connections by type.",
        "    * USER <username>", "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)", "      Skip killing current connection (default: yes).",
        "LIST [options ...]", "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Return clients of specified type.",
        "UNPAUSE", "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]", "    Control server assisted client side caching.",
        "TRACKINGINFO", "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)", "    Protect current client connection from eviction.",
    ))



@command("reply", 3, "noscript loading stale node", group=_G, container="client", since="3.2.0",
         summary="Instruct the server whether to reply to commands")
def client_reply(ctx: Context, argv: list[bytes]):
    """OFF and SKIP answer nothing themselves; ON answers OK (the Client applies the mode)."""
    client, mode = ctx.client, argv[2].lower()
    if mode == b"on":
        client.reply_mode = None
        return OK
    if mode == b"off":
        client.reply_mode = "off"
    elif mode == b"skip":
        if client.reply_mode != "off":
            client.reply_mode = "skip_next"
    else:
        raise CommandError(errors.SYNTAX)
    return NO_REPLY


@command("no-evict", 3, "admin noscript loading stale node", group=_G, container="client",
         since="7.0.0", summary="Set client eviction mode for the current connection")
def client_no_evict(ctx: Context, argv: list[bytes]):
    """Accepted and shown (flag e): rcache never evicts clients, so every one is safe."""
    mode = argv[2].lower()
    if mode not in (b"on", b"off"):
        raise CommandError(errors.SYNTAX)
    ctx.client.no_evict = mode == b"on"
    return OK


@command("pause", -3, "admin noscript loading stale node", group=_G, container="client",
         since="2.9.50", summary="Stop processing commands from clients for some time")
def client_pause(ctx: Context, argv: list[bytes]):
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "client"))
    timeout_ms = parse_int(argv[2])
    if timeout_ms is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if timeout_ms < 0:
        raise CommandError("ERR timeout is negative")
    mode = argv[3].lower() if len(argv) == 4 else b"all"
    if mode not in (b"write", b"all"):
        raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    ctx.server.pause.pause(timeout_ms, mode.decode())  # rcache.pause's WRITE or ALL
    return OK


@command("unpause", 2, "admin noscript loading stale node", group=_G, container="client",
         since="6.2.0", summary="Resume processing of clients that were paused")
def client_unpause(ctx: Context, argv: list[bytes]):
    ctx.server.pause.unpause()
    return OK


@command("unblock", -3, "admin noscript loading stale node", group=_G, container="client",
         since="5.0.0", summary="Unblock a client blocked in a blocking command from a "
                                "different connection")
def client_unblock(ctx: Context, argv: list[bytes]):
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "client"))
    client_id = int_arg(argv[2])
    error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    return int(ctx.server.blocking.unblock(client_id, error))
