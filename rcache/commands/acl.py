"""ACL: users, their rules and their permissions (see acl_rules.py). SETUSER and DELUSER
are writes: the leader logs them and every node applies them, so a user exists everywhere."""

from __future__ import annotations

import os
import secrets
import time

from .. import errors
from ..entries import TRANSACTION
from ..errors import CommandError
from ..resp import OK, OrderedSet, parse_int
from ..storage import ACL_PREFIX
from .acl_rules import (
    CATEGORIES,
    RuleError,
    User,
    denial,
    merge_selector_words,
    parse_acl_file,
    user_from_rules,
)
from .args import int_arg
from .table import Context, all_commands, command, container, help_reply, lookup

_G = "server"

container("acl", -2, "", group=_G, since="6.0.0", summary="A container for Access List Control "
          "commands")


def stored_user(ctx: Context, name: bytes) -> User | None:
    rules = ctx.ks.txn.get(ACL_PREFIX + name)
    return None if rules is None else user_from_rules(name, rules)


def _refuse_default(name: bytes) -> None:
    if name == b"default":
        raise CommandError("ERR rcache's default user follows requirepass: change it with "
                           "CONFIG SET requirepass")


@command("setuser", -3, "admin noscript loading stale replicated", group=_G, container="acl",
         since="6.0.0", summary="Modify or create the rules for a specific ACL user")
def acl_setuser(ctx: Context, argv: list[bytes]):
    name = argv[2]
    if any(c in b" \t\n\v\f\r\0" for c in name):  # C's isspace, or NUL
        raise CommandError("ERR Usernames can't contain spaces or null characters")
    _refuse_default(name)
    try:
        rules = merge_selector_words(argv[3:])
    except RuleError as err:
        raise CommandError(f"ERR {err}") from None
    user = stored_user(ctx, name) or User(name)
    for rule in rules:
        try:
            user.apply([rule])
        except RuleError as err:
            text = rule.decode(errors="replace")
            raise CommandError(f"ERR Error in ACL SETUSER modifier '{text}': {err}") from None
    ctx.ks.txn.set_acl_user(name, user.describe().encode())
    return OK


@command("deluser", -3, "admin noscript loading stale replicated", group=_G, container="acl",
         since="6.0.0", summary="Remove the specified ACL users and the associated rules")
def acl_deluser(ctx: Context, argv: list[bytes]):
    if b"default" in argv[2:]:
        raise CommandError("ERR The 'default' user cannot be removed")
    deleted = 0
    for name in dict.fromkeys(argv[2:]):
        if ctx.ks.txn.get(ACL_PREFIX + name) is not None:
            ctx.ks.txn.set_acl_user(name, None)
            deleted += 1
    return deleted


def _users(ctx: Context) -> dict[bytes, User]:
    return dict(sorted(ctx.server.users.all().items()))


def _user_or_error(ctx: Context, name: bytes) -> User:
    user = ctx.server.users.get(name)
    if user is None:
        raise CommandError(f"ERR User '{name.decode(errors='replace')}' not found")
    return user


@command("getuser", 3, "admin noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="Get the rules for a specific ACL user")
def acl_getuser(ctx: Context, argv: list[bytes]):
    user = ctx.server.users.get(argv[2])
    if user is None:
        return None
    return {b"flags": OrderedSet(flag.encode() for flag in user.flags()),
            b"passwords": [digest.encode() for digest in user.passwords],
            **user.details(),
            b"selectors": [selector.details() for selector in user.selectors]}


@command("list", 2, "admin noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="List the current ACL rules in ACL config file format")
def acl_list(ctx: Context, argv: list[bytes]):
    return [b"user " + name + b" " + user.describe().encode()
            for name, user in _users(ctx).items()]


@command("users", 2, "admin noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="List the username of all the configured ACL rules")
def acl_users(ctx: Context, argv: list[bytes]):
    return list(_users(ctx))


@command("whoami", 2, "noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="Return the name of the user associated to the current "
         "connection")
def acl_whoami(ctx: Context, argv: list[bytes]):
    return ctx.client.user_name


@command("cat", -2, "noscript loading stale node", group=_G, container="acl", since="6.0.0",
         summary="List the ACL categories or the commands inside a category")
def acl_cat(ctx: Context, argv: list[bytes]):
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "acl"))
    if len(argv) == 2:
        return [category.encode() for category in CATEGORIES]
    category = argv[2].decode(errors="replace").lower()
    if category not in CATEGORIES:
        raise CommandError(f"ERR Unknown category '{argv[2].decode(errors='replace')}'")
    return [cmd.full_name.encode() for cmd in all_commands() if category in cmd.acl_categories]


@command("genpass", -2, "noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="Generate a pseudorandom secure password to use for ACL users")
def acl_genpass(ctx: Context, argv: list[bytes]):
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "acl"))
    bits = parse_int(argv[2]) if len(argv) == 3 else 256
    if bits is None or not 0 < bits <= 4096:
        raise CommandError("ERR ACL GENPASS argument must be the number of bits for the output "
                           "password, a positive number up to 4096")
    chars = (bits + 3) // 4
    return secrets.token_hex((chars + 1) // 2)[:chars].encode()


@command("dryrun", -4, "admin noscript loading stale node", group=_G, container="acl",
         since="7.0.0", summary="Returns whether the user can execute the given command "
         "without executing the command.")
def acl_dryrun(ctx: Context, argv: list[bytes]):
    user = _user_or_error(ctx, argv[2])
    try:
        cmd = lookup(argv[3:])
    except CommandError as err:
        if str(err).startswith("ERR unknown command"):
            name = argv[3].decode(errors="replace")
            raise CommandError(f"ERR Command '{name}' not found") from None
        raise
    refused = denial(user, cmd, argv[3:])
    if refused is None:
        return OK
    kind, name = refused
    return f"This user has no permissions to {_what(kind, name)}".encode()


def _what(kind: str, name: str) -> str:
    return f"run the '{name}' command" if kind == "command" else f"access the '{name}' {kind}"


def noperm_reply(kind: str, name: str) -> CommandError:
    """The error a refused command answers (Redis 7.0's texts)."""
    if kind == "command":
        return CommandError(f"NOPERM this user has no permissions to run the '{name}' command")
    return CommandError(f"NOPERM this user has no permissions to access one of the {kind}s "
                        "used as arguments")



@command("log", -2, "admin noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="List latest events denied because of ACLs in place")
def acl_log(ctx: Context, argv: list[bytes]):
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "acl"))
    if len(argv) == 3 and argv[2].lower() == b"reset":
        ctx.server.acl_log.reset()
        return OK
    count = int_arg(argv[2]) if len(argv) == 3 else 10
    return ctx.server.acl_log.latest(count, time.time())


@command("help", 2, "loading stale node", group=_G, container="acl", since="6.0.0",
         summary="Show helpful text about the different subcommands")
def acl_help(ctx: Context, argv: list[bytes]):
    return help_reply("ACL", (
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the "
        "command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username."))


_NO_ACL_FILE = ("ERR This Redis instance is not configured to use an ACL file. You may want to "
                "specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
                "(assuming you have a Redis configuration file set) in order to store users in "
                "the Redis configuration.")


def _acl_file(ctx: Context) -> str:
    if not ctx.server.config.aclfile:
        raise CommandError(_NO_ACL_FILE)
    return ctx.server.config.aclfile


@command("save", 2, "admin noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="Save the current ACL rules in the configured ACL file")
def acl_save(ctx: Context, argv: list[bytes]):
    path = _acl_file(ctx)
    lines = b"".join(line + b"\n" for line in acl_list(ctx, argv))
    try:
        with open(path + ".tmp", "wb") as fh:
            fh.write(lines)
        os.replace(path + ".tmp", path)
    except OSError as err:
        raise CommandError(f"ERR There was an error trying to save the ACLs. Please check the "
                           f"server logs for more information ({err.strerror})") from None
    return OK


@command("load", 2, "admin noscript loading stale node", group=_G, container="acl",
         since="6.0.0", summary="Reload the ACLs from the configured ACL file")
def acl_load(ctx: Context, argv: list[bytes]):
    """The leader reads the file and logs one transaction that replaces every user by the
    file's, so every node ends with the same users (the file itself is this node's)."""
    server = ctx.server
    if not server.replicator.is_leader:
        return server.cluster.redirect(tls=ctx.client.tls)
    path = _acl_file(ctx)
    try:
        with open(path, encoding="utf-8") as fh:
            users = parse_acl_file(fh.read(), path)
    except OSError as err:
        raise CommandError(f"ERR Error loading ACLs, opening file '{path}': "
                           f"{err.strerror}") from None
    except RuleError as err:
        raise CommandError(f"ERR {err}") from None
    stored = [name for name in server.users.all() if name != b"default"]
    commands = [(0, [b"ACL", b"DELUSER", *stored])] if stored else []
    commands += [(0, [b"ACL", b"SETUSER", name, b"reset", *user.describe().encode().split()])
                 for name, user in users.items() if name != b"default"]
    if not commands:
        return OK

    async def replace_users() -> object:
        replies = await server.replicator.propose((TRANSACTION, commands))
        failed = [reply for reply in replies if isinstance(reply, CommandError)] \
            if isinstance(replies, list) else [replies]
        if failed:
            raise failed[0]
        return OK

    return ctx.client.run_async(replace_users())
