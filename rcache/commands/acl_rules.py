"""ACL users as Redis 7.0 has them (without selectors): rules, permission checks, the users
every node knows.

Users are replicated state: ACL SETUSER/DELUSER are writes whose apply stores a user's rules
(in the form ACL LIST prints them) under ``storage.ACL_PREFIX``, so snapshots carry them and
every node authenticates the same users. ``Users`` rebuilds its cache when an entry changed
them. The ``default`` user is not stored: it follows this node's ``requirepass``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..glob import matcher
from .table import Command, all_commands, find

if TYPE_CHECKING:
    from ..storage import Store

# Redis 7.0's ACL CAT, in its order.
CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
              "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
              "blocking", "dangerous", "connection", "transaction", "scripting")


_NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"


class RuleError(ValueError):
    """A rule ACL SETUSER refuses; the text follows Redis's."""


def glob_matches(pattern: bytes, value: bytes) -> bool:
    """Key and channel patterns: the keyspace's glob, called through this one function."""
    return matcher(pattern)(value)


def password_hash(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


def _commands_named(name: str) -> list[Command]:
    """'+get' -> GET; '+client' -> CLIENT and its subcommands; '+client|id' -> that one."""
    cmd = find(name.encode())
    if cmd is None:
        raise RuleError("Unknown command or category name in ACL")
    return [cmd, *cmd.subcommands.values()]


def _commands_in(category: str) -> list[Command]:
    if category == "all":
        return all_commands()
    if category not in CATEGORIES:
        raise RuleError("Unknown command or category name in ACL")
    return [cmd for cmd in all_commands() if category in cmd.acl_categories]


class User:
    def __init__(self, name: bytes) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        self.passwords: list[str] = []  # SHA-256 hex, in the order they were added
        self.all_commands_base = False  # +@all/allcommands came last of the resets
        self.command_rules: list[str] = []  # '+get', '-@hash'... since the last reset
        self.allowed: set[str] = set()  # full command names ('get', 'client|id')
        self.key_patterns: list[tuple[str, bytes]] = []  # ('RW' | 'R' | 'W', pattern)
        self.all_keys = False
        self.channel_patterns: list[bytes] = []
        self.all_channels = False

    # -- rules -------------------------------------------------------------------------------
    def apply(self, rules: Iterable[bytes]) -> None:
        for rule in rules:
            self._apply_one(rule)

    def _apply_one(self, raw: bytes) -> None:
        rule = raw.decode(errors="replace")
        lowered = rule.lower()
        simple = {"on": self._set_enabled(True), "off": self._set_enabled(False),
                  "nopass": self._set_nopass, "resetpass": self._reset_passwords,
                  "allkeys": lambda: self._add_key_pattern("RW", b"*"),
                  "resetkeys": self._reset_keys,
                  "allchannels": lambda: self._add_channel(b"*"),
                  "resetchannels": self._reset_channels,
                  "allcommands": lambda: self._reset_commands(True),
                  "nocommands": lambda: self._reset_commands(False), "reset": self.reset}
        if lowered in simple:
            simple[lowered]()
        elif rule[:1] in (">", "<"):
            self._change_password(password_hash(raw[1:]), add=rule[0] == ">")
        elif rule[:1] in ("#", "!"):
            digest = lowered[1:]
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise RuleError("The password hash must be exactly 64 characters and contain "
                                "only lowercase hexadecimal characters")
            self._change_password(digest, add=rule[0] == "#")
        elif rule[:1] == "~":
            self._add_key_pattern("RW", raw[1:])
        elif rule[:1] == "%":
            flags, tilde, pattern = rule[1:].partition("~")
            perms = "".join(sorted(set(flags.upper()), reverse=True))  # 'RW', 'R', 'W'
            if not tilde or not flags or set(flags.upper()) - {"R", "W"}:
                raise RuleError("Syntax error")
            self._add_key_pattern(perms, raw[raw.index(b"~") + 1:])
        elif rule[:1] == "&":
            self._add_channel(raw[1:])
        elif rule[:1] in ("+", "-") and len(rule) > 1:
            self._command_rule(lowered)
        else:
            raise RuleError("Syntax error")

    def _set_enabled(self, enabled: bool):
        def set_it() -> None:
            self.enabled = enabled
        return set_it

    def _set_nopass(self) -> None:
        self.nopass, self.passwords = True, []

    def _reset_passwords(self) -> None:
        self.nopass, self.passwords = False, []

    def _change_password(self, digest: str, add: bool) -> None:
        """>pass / #hash add one (and end nopass); <pass / !hash remove one that exists."""
        if add:
            self.nopass = False
            if digest not in self.passwords:
                self.passwords.append(digest)
        elif digest in self.passwords:
            self.passwords.remove(digest)
        else:
            raise RuleError(_NO_SUCH_PASSWORD)

    def _add_key_pattern(self, perms: str, pattern: bytes) -> None:
        if self.all_keys:
            raise RuleError("Adding a pattern after the * pattern (or the 'allkeys' flag) is "
                            "not valid and does not have any effect. Try 'resetkeys' to start "
                            "with an empty list of patterns")
        if pattern == b"*" and perms == "RW":
            self.all_keys, self.key_patterns = True, [("RW", b"*")]
        elif (perms, pattern) not in self.key_patterns:
            self.key_patterns.append((perms, pattern))

    def _reset_keys(self) -> None:
        self.all_keys, self.key_patterns = False, []

    def _add_channel(self, pattern: bytes) -> None:
        if self.all_channels:
            raise RuleError("Adding a pattern after the * pattern (or the 'allchannels' flag) "
                            "is not valid and does not have any effect. Try 'resetchannels' to "
                            "start with an empty list of channels")
        if pattern == b"*":
            self.all_channels, self.channel_patterns = True, [b"*"]
        elif pattern not in self.channel_patterns:
            self.channel_patterns.append(pattern)

    def _reset_channels(self) -> None:
        self.all_channels, self.channel_patterns = False, []

    def _reset_commands(self, allow: bool) -> None:
        self.all_commands_base, self.command_rules = allow, []
        self.allowed = {cmd.full_name for cmd in all_commands()} if allow else set()

    def _command_rule(self, rule: str) -> None:
        """'+get', '-@hash'; '+@all'/'-@all' reset. Like Redis 7.0, the rules keep their
        order, a later rule on the same name replaces the earlier one, and ACL LIST shows
        only the rules that change something."""
        allow, name = rule[0] == "+", rule[1:]
        if name == "@all":
            self._reset_commands(allow)
            return
        commands = _commands_in(name[1:]) if name.startswith("@") else _commands_named(name)
        self._set_allowed(commands, allow)
        self.command_rules = [r for r in self.command_rules if r[1:] != name] + [rule]

    def _set_allowed(self, commands: list[Command], allow: bool) -> None:
        names = {cmd.full_name for cmd in commands}
        if allow:
            self.allowed |= names
        else:
            self.allowed -= names

    def reset(self) -> None:
        self.__init__(self.name)  # 'reset': off, resetpass, resetkeys, resetchannels, -@all

    # -- what it may do ------------------------------------------------------------------------
    def may_run(self, cmd: Command) -> bool:
        return cmd.full_name in self.allowed

    def may_access(self, key: bytes, write: bool) -> bool:
        if self.all_keys:
            return True
        need = "W" if write else "R"
        return any(need in perms and glob_matches(pattern, key)
                   for perms, pattern in self.key_patterns)

    def may_use_channel(self, channel: bytes, is_pattern: bool = False) -> bool:
        """A pattern subscription needs that very pattern; a channel, any matching one."""
        if self.all_channels:
            return True
        if is_pattern:
            return channel in self.channel_patterns
        return any(glob_matches(pattern, channel) for pattern in self.channel_patterns)

    def check_password(self, password: bytes) -> bool:
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = password_hash(password)
        return any(hmac.compare_digest(digest, known) for known in self.passwords)

    # -- how it is shown --------------------------------------------------------------------
    def describe_commands(self) -> str:
        """The base (+@all or -@all) and, in order, the rules the result needs: a rule that
        later ones make redundant is left out, as Redis 7.0 shows them."""
        kept = list(self.command_rules)
        for rule in self.command_rules:
            without = [r for r in kept if r != rule]
            if self._replay(without) == self.allowed:
                kept = without
        return " ".join(["+@all" if self.all_commands_base else "-@all", *kept])

    def _replay(self, rules: list[str]) -> set[str]:
        probe = User(self.name)
        probe._reset_commands(self.all_commands_base)
        for rule in rules:
            probe._command_rule(rule)
        return probe.allowed

    def describe_keys(self) -> list[str]:
        return [("~" if perms == "RW" else f"%{perms}~") + pattern.decode(errors="replace")
                for perms, pattern in self.key_patterns]

    def describe_channels(self) -> list[str]:
        return ["&" + pattern.decode(errors="replace") for pattern in self.channel_patterns]

    def flags(self) -> list[str]:
        return ["on" if self.enabled else "off"] + (["nopass"] if self.nopass else [])

    def describe(self) -> str:
        """The rules as ACL LIST prints them (and as they are stored: replayed, they give
        this user back)."""
        parts = self.flags() + ["#" + digest for digest in self.passwords]
        parts += self.describe_keys()
        parts += self.describe_channels() if self.all_channels else \
            ["resetchannels", *self.describe_channels()]
        parts.append(self.describe_commands())
        return " ".join(parts)


_CHANNEL_COMMANDS = {"publish": (1, 2, False), "subscribe": (1, None, False),
                     "psubscribe": (1, None, True)}  # name -> (first, end, patterns)


def denial(user: User, cmd: Command, argv: list[bytes]) -> tuple[str, str] | None:
    """None if the user may run this; else what stops it: ('command', name), ('key', key)
    or ('channel', channel)."""
    if "no_auth" in cmd.flags:  # AUTH, HELLO, QUIT...: every user may (re)authenticate
        return None
    if not user.may_run(cmd):
        return "command", cmd.full_name
    if cmd.keyed and not user.all_keys:
        write = "write" in cmd.flags
        for key in cmd.keys(argv):
            if not user.may_access(key, write):
                return "key", key.decode(errors="replace")
    channels = _CHANNEL_COMMANDS.get(cmd.full_name)
    if channels is not None and not user.all_channels:
        first, end, patterns = channels
        for channel in argv[first:end]:
            if not user.may_use_channel(channel, patterns):
                return "channel", channel.decode(errors="replace")
    return None


def default_user(requirepass: str) -> User:
    user = User(b"default")
    user.apply([b"on", b"allkeys", b"allchannels", b"allcommands"])
    if requirepass:
        user.apply([b">" + requirepass.encode()])
    else:
        user.apply([b"nopass"])
    return user


class Users:
    """The users this node knows: the replicated ones, and ``default`` from requirepass."""

    def __init__(self, store: Store, requirepass) -> None:
        self._store = store
        self._requirepass = requirepass  # -> the current requirepass (CONFIG SET changes it)
        self._users: dict[bytes, User] = {}
        self._seen: tuple = ()

    @property
    def version(self) -> tuple:
        """Changes whenever a user may have changed: clients re-resolve theirs then."""
        return (self._store.generation, self._store.acl_version, self._requirepass())

    def all(self) -> dict[bytes, User]:
        version = self.version  # read first: the Raft thread may apply a change meanwhile
        if self._seen != version:
            users = {b"default": default_user(self._requirepass())}
            for name, rules in self._store.acl_users().items():
                user = users[name] = User(name)
                user.apply(rules.split(b" "))
            self._users, self._seen = users, version
        return self._users

    def get(self, name: bytes) -> User | None:
        return self.all().get(name)


_FILE_ERROR_END = ("WARNING: ACL errors detected, no change to the previously active ACL "
                   "rules was performed")


def parse_acl_file(text: str, path: str) -> dict[bytes, User]:
    """An aclfile's users ('user <name> <rules...>' lines), with Redis's error texts."""
    from ..resp import split_args
    users: dict[bytes, User] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        words = split_args(line.strip().encode())
        if not words:
            continue
        if len(words) < 2 or words[0] != b"user":
            raise RuleError(f"{path}:{lineno} should start with user keyword followed by the "
                            f"username. {_FILE_ERROR_END}")
        user = users[words[1]] = User(words[1])
        try:
            user.apply(words[2:])
        except RuleError as err:
            raise RuleError(f"{path}:{lineno}: {err}. {_FILE_ERROR_END}") from None
    return users


class AclLog:
    """ACL LOG: this node's refused commands and failed AUTHs, newest first. A refusal like
    one of the last ten (same reason, context, object and user, within a minute) counts
    into it instead of adding an entry, as Redis groups them."""

    GROUP_WITHIN_S = 60
    GROUP_AMONG = 10

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def record(self, reason: str, context: str, obj: str, username: bytes, client_info: str,
               now: float, max_len: int) -> None:
        identity = (reason, context, obj, username)
        for i, entry in enumerate(self.entries[:self.GROUP_AMONG]):
            if entry["identity"] == identity and now - entry["time"] < self.GROUP_WITHIN_S:
                entry.update(count=entry["count"] + 1, time=now, client_info=client_info)
                self.entries.insert(0, self.entries.pop(i))
                return
        self.entries.insert(0, {"identity": identity, "count": 1, "time": now,
                                "client_info": client_info})
        del self.entries[max_len:]

    def latest(self, count: int, now: float) -> list[dict]:
        return [{b"count": entry["count"], b"reason": entry["identity"][0].encode(),
                 b"context": entry["identity"][1].encode(),
                 b"object": entry["identity"][2].encode(), b"username": entry["identity"][3],
                 b"age-seconds": now - entry["time"],
                 b"client-info": entry["client_info"].encode()}
                for entry in self.entries[:max(count, 0)]]

    def reset(self) -> None:
        self.entries.clear()
