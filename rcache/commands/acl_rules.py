"""ACL users as Redis 7.0 has them (with selectors): rules, permission checks, the users
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

from ..acl_keys import key_needs
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


_CHANNEL_COMMANDS = {"publish": (1, 2, False), "subscribe": (1, None, False),
                     "spublish": (1, 2, False), "ssubscribe": (1, None, False),
                     "psubscribe": (1, None, True)}  # name -> (first, end, patterns)


class Selector:
    """What a set of permissions allows: commands, keys, channels. A user's root permissions
    are one; each ``(...)`` selector (Redis 7.0) is another."""

    def __init__(self) -> None:
        self.all_commands_base = False  # +@all/allcommands came last of the resets
        self.allowed: set[str] = set()  # full command names ('get', 'client|id')
        # '+select|0': a command not allowed otherwise, allowed with these first arguments
        # (lowercased -> as given), as Redis 7.0 still accepts (deprecated) for SELECT, DEBUG
        self.first_args: dict[str, dict[str, str]] = {}
        self.key_patterns: list[tuple[str, bytes]] = []  # ('RW' | 'R' | 'W', pattern)
        self.all_keys = False
        self.channel_patterns: list[bytes] = []
        self.all_channels = False

    # -- rules -------------------------------------------------------------------------------
    def _apply_one(self, raw: bytes) -> None:
        rule = raw.decode(errors="replace")
        lowered = rule.lower()
        simple = {"allkeys": lambda: self._add_key_pattern("RW", b"*"),
                  "resetkeys": self._reset_keys,
                  "allchannels": lambda: self._add_channel(b"*"),
                  "resetchannels": self._reset_channels,
                  "allcommands": lambda: self._reset_commands(True),
                  "nocommands": lambda: self._reset_commands(False)}
        if lowered in simple:
            simple[lowered]()
        elif rule[:1] == "~":
            self._add_key_pattern("RW", raw[1:])
        elif rule[:1] == "%":
            flags, tilde, pattern = rule[1:].partition("~")
            perms = "".join(sorted(set(flags.upper())))  # 'RW' (as '~'), 'R', 'W'
            if not tilde or not flags or set(flags.upper()) - {"R", "W"}:
                raise RuleError("Syntax error")
            self._add_key_pattern(perms, raw[raw.index(b"~") + 1:])
        elif rule[:1] == "&":
            self._add_channel(raw[1:])
        elif rule[:1] in ("+", "-") and len(rule) > 1:
            self._command_rule(rule)
        else:
            raise RuleError("Syntax error")

    def _add_key_pattern(self, perms: str, pattern: bytes) -> None:
        if self.all_keys:
            raise RuleError("Adding a pattern after the * pattern (or the 'allkeys' flag) is "
                            "not valid and does not have any effect. Try 'resetkeys' to start "
                            "with an empty list of patterns")
        if pattern == b"*" and perms == "RW":
            self.all_keys, self.key_patterns = True, [("RW", b"*")]
            return
        for i, (had, known) in enumerate(self.key_patterns):
            if known == pattern:  # one entry per pattern, its permissions joined (as Redis)
                self.key_patterns[i] = ("".join(sorted(set(had + perms))), pattern)
                return
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
        self.all_commands_base = allow
        self.allowed = {cmd.full_name for cmd in all_commands()} if allow else set()
        self.first_args = {}

    def _command_rule(self, rule: str) -> None:
        """'+get', '-@hash', '+select|0'; '+@all'/'-@all' reset."""
        allow, name = rule[0] == "+", rule[1:].lower()
        if name == "@all":
            self._reset_commands(allow)
        elif not (allow and "|" in name and not name.startswith("@") and self._first_arg(rule)):
            commands = _commands_in(name[1:]) if name.startswith("@") else _commands_named(name)
            self._set_allowed(commands, allow)

    def _first_arg(self, rule: str) -> bool:
        """'+select|0' (a command without subcommands, then an argument): allows that first
        argument; False for '+client|id', a subcommand. As Redis splits at the last '|'."""
        parent_name, _, arg = rule[1:].rpartition("|")
        parent = find(parent_name.lower().encode())
        if parent is None:
            raise RuleError("Unknown command or category name in ACL")
        if parent.container is not None:
            raise RuleError("Allowing first-arg of a subcommand is not supported")
        if not arg:
            raise RuleError("Syntax error")
        if parent.subcommands:
            return False
        if parent.full_name not in self.allowed:  # else moot, and not shown (as Redis)
            self.first_args.setdefault(parent.full_name, {}).setdefault(arg.lower(), arg)
        return True

    def _set_allowed(self, commands: list[Command], allow: bool) -> None:
        names = {cmd.full_name for cmd in commands}
        if allow:
            self.allowed |= names
        else:
            self.allowed -= names
        for name in names:  # a rule on the whole command ends its first-argument exceptions
            self.first_args.pop(name, None)

    # -- what it may do ------------------------------------------------------------------------
    def may_run(self, cmd: Command) -> bool:
        return cmd.full_name in self.allowed

    def may_access(self, key: bytes, need: str) -> bool:
        """need: 'R', 'W', 'RW' or '' (see acl_keys): a pattern with those permissions
        must match the key."""
        if self.all_keys:
            return True
        return any(set(need) <= set(perms) and glob_matches(pattern, key)
                   for perms, pattern in self.key_patterns)

    def may_use_channel(self, channel: bytes, is_pattern: bool = False) -> bool:
        """A pattern subscription needs that very pattern; a channel, any matching one."""
        if self.all_channels:
            return True
        if is_pattern:
            return channel in self.channel_patterns
        return any(glob_matches(pattern, channel) for pattern in self.channel_patterns)

    def refusal(self, cmd: Command, argv: list[bytes]) -> tuple[int, int] | None:
        """None if this selector allows the command; else (what refuses it: _DENIED_*, the
        position in argv of the key or channel refused), as Redis's ACLSelectorCheckCmd."""
        if "no_auth" not in cmd.flags and not self.may_run(cmd) and not (
                len(argv) > 1 and argv[1].decode(errors="replace").lower()
                in self.first_args.get(cmd.full_name, ())):
            return _DENIED_COMMAND, 0
        if cmd.keyed and not self.all_keys:
            indexes = cmd.key_indexes(argv)
            needs = key_needs(cmd.full_name, argv, indexes, "write" in cmd.flags)
            for index, need in zip(indexes, needs, strict=True):
                if not self.may_access(argv[index], need):
                    return _DENIED_KEY, index
        channels = _CHANNEL_COMMANDS.get(cmd.full_name)
        if channels is not None and not self.all_channels:
            first, end, patterns = channels
            for index in range(first, len(argv) if end is None else min(end, len(argv))):
                if not self.may_use_channel(argv[index], patterns):
                    return _DENIED_CHANNEL, index
        return None

    # -- how it is shown --------------------------------------------------------------------
    def describe_commands(self) -> str:
        """The rules that give what this selector allows, found as Redis 7.0 finds them
        (ACLDescribeSelectorCommandRules), whatever rules built it: +@all or -@all, then,
        greedily, the category that best fits what is left to describe, then single commands
        and first arguments for the rest. Redis lists those single commands in its command
        table's hash order, which a random seed per process decides (two redis-servers list
        them differently); here they come in name order, subcommands after their command."""
        additive = not self.all_commands_base
        shown = Selector()  # what the rules described so far allow
        shown._reset_commands(not additive)
        unexplained = Selector()  # the allowed commands, each chosen category taken back
        unexplained.allowed = set(self.allowed)
        rules = ["-@all" if additive else "+@all"]
        categories = list(CATEGORIES)
        while True:
            best, best_diff, best_same = None, 0, 0
            for category in categories:
                names = {cmd.full_name for cmd in _commands_in(category)}
                on = len(names & unexplained.allowed)
                diff, same = (len(names) - on, on) if additive else (on, len(names) - on)
                if same > diff and (best is None or diff < best_diff
                                    or (diff == best_diff and same > best_same)):
                    best, best_diff, best_same = category, diff, same
            if best is None:
                break
            categories.remove(best)
            shown._set_allowed(_commands_in(best), additive)
            unexplained._set_allowed(_commands_in(best), not additive)
            rules.append(("+@" if additive else "-@") + best)
        for cmd in sorted(all_commands(), key=lambda cmd: cmd.full_name.split("|")):
            allowed = cmd.full_name in self.allowed
            if allowed != (cmd.full_name in shown.allowed):
                rules.append(("+" if allowed else "-") + cmd.full_name)
                shown._set_allowed(_commands_named(cmd.full_name), allowed)
            if not allowed:
                rules.extend(f"+{cmd.full_name}|{arg}"
                             for arg in self.first_args.get(cmd.full_name, {}).values())
        return " ".join(rules)

    def describe_keys(self) -> list[str]:
        return [("~" if perms == "RW" else f"%{perms}~") + pattern.decode(errors="replace")
                for perms, pattern in self.key_patterns]

    def describe_channels(self) -> list[str]:
        return ["&" + pattern.decode(errors="replace") for pattern in self.channel_patterns]

    def describe_permissions(self) -> list[str]:
        channels = self.describe_channels() if self.all_channels else \
            ["resetchannels", *self.describe_channels()]
        return [*self.describe_keys(), *channels, self.describe_commands()]

    def details(self) -> dict[bytes, bytes]:
        """ACL GETUSER's commands, keys and channels fields."""
        return {b"commands": self.describe_commands().encode(),
                b"keys": " ".join(self.describe_keys()).encode(),
                b"channels": " ".join(self.describe_channels()).encode()}


# What stops a command, in Redis's order: of the selectors that all refuse a command, the
# reply names what the highest-ranked refusal names (Redis's ACL_DENIED_*).
_DENIED_COMMAND, _DENIED_KEY, _DENIED_CHANNEL = 1, 2, 4
_DENIED_KIND = {_DENIED_COMMAND: "command", _DENIED_KEY: "key", _DENIED_CHANNEL: "channel"}


class User(Selector):
    """A user: on/off and passwords, its root permissions, and its selectors."""

    def __init__(self, name: bytes) -> None:
        super().__init__()
        self.name = name
        self.enabled = False
        self.nopass = False
        self.passwords: list[str] = []  # SHA-256 hex, in the order they were added
        self.selectors: list[Selector] = []
        # "sanitize-payload", "skip-sanitize-payload" or unset: shown as Redis shows them;
        # RESTORE checks every payload whole whichever it is (decoding it is the check).
        self.payload_flag: str | None = None

    # -- rules -------------------------------------------------------------------------------
    def apply(self, rules: Iterable[bytes]) -> None:
        """Rules as ACL SETUSER takes them, after ``merge_selector_words``."""
        for rule in rules:
            self._apply_one(rule)

    def _apply_one(self, raw: bytes) -> None:
        rule = raw.decode(errors="replace")
        lowered = rule.lower()
        simple = {"on": self._set_enabled(True), "off": self._set_enabled(False),
                  "nopass": self._set_nopass, "resetpass": self._reset_passwords,
                  "clearselectors": self.selectors.clear, "reset": self.reset,
                  "sanitize-payload": self._set_payload_flag("sanitize-payload"),
                  "skip-sanitize-payload": self._set_payload_flag("skip-sanitize-payload")}
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
        elif rule[:1] == "(" and rule[-1:] == ")":
            selector = Selector()
            for word in raw[1:-1].split():
                selector._apply_one(word)
            self.selectors.append(selector)
        else:
            super()._apply_one(raw)

    def _set_enabled(self, enabled: bool):
        def set_it() -> None:
            self.enabled = enabled
        return set_it

    def _set_payload_flag(self, flag: str):
        def set_it() -> None:
            self.payload_flag = flag
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

    def reset(self) -> None:
        """'reset': off, resetpass, resetkeys, resetchannels, clearselectors, -@all,
        sanitize-payload."""
        self.__init__(self.name)
        self.payload_flag = "sanitize-payload"

    def check_password(self, password: bytes) -> bool:
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = password_hash(password)
        return any(hmac.compare_digest(digest, known) for known in self.passwords)

    # -- how it is shown --------------------------------------------------------------------
    def flags(self) -> list[str]:
        return (["on" if self.enabled else "off"] + (["nopass"] if self.nopass else [])
                + ([self.payload_flag] if self.payload_flag else []))

    def describe(self) -> str:
        """The rules as ACL LIST prints them (and as they are stored: replayed, they give
        this user back)."""
        parts = self.flags() + ["#" + digest for digest in self.passwords]
        parts += self.describe_permissions()
        parts += ["(" + " ".join(selector.describe_permissions()) + ")"
                  for selector in self.selectors]
        return " ".join(parts)


def merge_selector_words(words: list[bytes]) -> list[bytes]:
    """Rules split at spaces (redis-cli arguments, an aclfile line, stored rules): the words
    from one that opens a selector, '(', to the one that closes it, ')', are one rule, as
    Redis's ACLMergeSelectorArguments joins them."""
    merged: list[bytes] = []
    opened: list[bytes] | None = None
    for word in words:
        if opened is None and word[:1] == b"(" and word[-1:] != b")":
            opened = [word]
        elif opened is not None:
            opened.append(word)
            if word[-1:] == b")":
                merged.append(b" ".join(opened))
                opened = None
        else:
            merged.append(word)
    if opened is not None:
        raise RuleError(f"Unmatched parenthesis in acl selector starting at "
                        f"'{opened[0].decode(errors='replace')}'.")
    return merged


def user_from_rules(name: bytes, rules: bytes) -> User:
    """A user from its stored rules (``User.describe``'s words)."""
    user = User(name)
    user.apply(merge_selector_words(rules.split(b" ")))
    return user


def denial(user: User, cmd: Command, argv: list[bytes]) -> tuple[str, str] | None:
    """None if the user's root permissions or one of its selectors allow this command (its
    name, keys and channels, all within that one selector); else what stops it: ('command',
    name), ('key', key) or ('channel', channel), chosen among the selectors' refusals as
    Redis's ACLCheckAllUserCommandPerm chooses."""
    worst, worst_index = _DENIED_COMMAND, 0
    for selector in (user, *user.selectors):
        refused = selector.refusal(cmd, argv)
        if refused is None:
            return None
        if refused > (worst, worst_index):
            worst, worst_index = refused
    if worst == _DENIED_COMMAND:
        return "command", cmd.full_name
    return _DENIED_KIND[worst], argv[worst_index].decode(errors="replace")


def sort_option_refusal(user: User, argv: list[bytes]) -> str | None:
    """SORT's BY (with a pattern) and GET read keys no key argument names: as Redis, they
    need a selector that allows the SORT and reads every key; else the error to answer."""
    cmd = find(argv[0])
    if cmd is None or any(selector.refusal(cmd, argv) is None and _reads_every_key(selector)
                          for selector in (user, *user.selectors)):
        return None
    i = 2
    while i < len(argv) - 1:  # options as SORT reads them, up to the first that needs keys
        option = argv[i].lower()
        if (option == b"by" and b"*" in argv[i + 1]) or option == b"get":
            return (f"ERR {option.decode().upper()} option of SORT denied due to insufficient "
                    "ACL permissions.")
        i += {b"limit": 3, b"store": 2, b"by": 2}.get(option, 1)
    return None


def _reads_every_key(selector: Selector) -> bool:
    return selector.all_keys or any("R" in perms and pattern == b"*"
                                    for perms, pattern in selector.key_patterns)


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
                users[name] = user_from_rules(name, rules)
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
            user.apply(merge_selector_words(words[2:]))
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
