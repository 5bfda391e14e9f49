"""Redis's error replies, word for word, in one place.

Clients match on these strings (redis-py maps prefixes to exception classes), so every
handler raises one of these instead of composing its own text.
"""


class CommandError(Exception):
    """An error reply. ``str(err)`` is the reply text without the leading '-'. ``counted``:
    INFO errorstats has it already (a script's error that a command it called raised)."""

    __slots__ = ()
    counted = False

    def __eq__(self, other: object) -> bool:
        return type(other) is CommandError and other.args == self.args

    def __hash__(self) -> int:
        return hash(self.args)


SYNTAX = "ERR syntax error"
# Redis 7.0's protected mode: what a client from beyond loopback reads before the close.
PROTECTED_MODE_DENIED = (
    "DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from "
    "the loopback interface. If you want to connect from external computers to Redis you may "
    "adopt one of the following solutions: 1) Just disable protected mode sending the command "
    "'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from "
    "the same host the server is running, however MAKE SURE Redis is not publicly accessible "
    "from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    "Alternatively you can just disable the protected mode by editing the Redis configuration "
    "file, and setting the protected mode option to 'no', and then restarting the server. 3) "
    "If you started the server manually just for testing, restart it with the "
    "'--protected-mode no' option. 4) Setup a an authentication password for the default "
    "user. NOTE: You only need to do one of the above things in order for the server to start "
    "accepting connections from the outside.")
NOT_INTEGER = "ERR value is not an integer or out of range"
MUST_BE_POSITIVE = "ERR value is out of range, must be positive"
NOT_FLOAT = "ERR value is not a valid float"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NO_SUCH_KEY = "ERR no such key"
OVERFLOW = "ERR increment or decrement would overflow"
NAN_OR_INF = "ERR increment would produce NaN or Infinity"
DB_INDEX = "ERR DB index is out of range"
SAME_OBJECT = "ERR source and destination objects are the same"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_RANGE = "ERR offset is out of range"
INVALID_CURSOR = "ERR invalid cursor"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NESTED_MULTI = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
EXECABORT_BECAUSE = "EXECABORT Transaction discarded because of: "  # + the refusal's text
OOM = "OOM command not allowed when used memory > 'maxmemory'."
CLUSTERDOWN = "CLUSTERDOWN The cluster is down"
READONLY_REPLICA = "READONLY You can't write against a read only replica."
CLUSTER_DISABLED = "ERR This instance has cluster support disabled"
# REPLICAOF and FAILOVER with cluster-enabled no: rcache's replicas follow the Raft leader.
REPLICATION_BY_RAFT = ("ERR replicas follow the Raft leader: choose the master with "
                       "RAFT.TRANSFER-LEADER, add replicas with RAFT.NODE ADD")
NO_SUCH_MASTER = "ERR No such master with that name"  # SENTINEL, for another master name
# rcache's own: what a client must know when Raft could not settle its command.
NOT_COMMITTED = "TRYAGAIN The write was not committed (leadership changed); retrying is safe"


def outcome_unknown(reason: str) -> str:
    return f"ERR The write may or may not have been committed ({reason})"


OUTCOME_UNKNOWN = outcome_unknown("leader unreachable")
NOT_LEADER_FOR_READ = "TRYAGAIN This node stopped leading before the read was confirmed"
READ_TIMEOUT = "TRYAGAIN Could not confirm leadership with a majority in time"
DECREMENT_OVERFLOW = "ERR decrement would overflow"
EXPIRE_NX_CONFLICT = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_LT_CONFLICT = "ERR GT and LT options at the same time are not compatible"
INVALID_FIRST_DB = "ERR invalid first DB index"
INVALID_SECOND_DB = "ERR invalid second DB index"


WRONG_ARITY_START = "ERR wrong number of arguments for "


def wrong_arity(name: str) -> str:
    return f"{WRONG_ARITY_START}'{name}' command"


def unknown_command(name: bytes, args: list[bytes]) -> str:
    shown = b""
    for arg in args:  # Redis lists arguments until the list reaches 128 bytes
        if len(shown) >= 128:
            break
        shown += b"'" + _c_string(arg)[:128 - len(shown)] + b"' "
    return (f"ERR unknown command '{_printable(name, 128)}', with args beginning with: "
            f"{_decode(shown)}")


def unknown_subcommand(sub: bytes, container: str) -> str:
    return f"ERR unknown subcommand '{_printable(sub, 128)}'. Try {container.upper()} HELP."


# A protected command (DEBUG) that enable-debug-command does not allow this connection.
DEBUG_NOT_ALLOWED = (
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.")


def subcommand_syntax(sub: bytes, container: str) -> str:
    """addReplySubcommandSyntaxError: a known subcommand with the wrong arguments."""
    return (f"ERR unknown subcommand or wrong number of arguments for "
            f"'{_printable(sub, 128)}'. Try {container.upper()} HELP.")


def no_latency_samples(event: bytes) -> str:
    return f"ERR No samples available for event '{_decode(_c_string(event))}'"


def invalid_expire(name: str) -> str:
    return f"ERR invalid expire time in '{name}' command"


def unsupported_option(option: bytes) -> str:
    return f"ERR Unsupported option {_printable(option, len(option))}"


def out_of_range(low: int, high: int) -> str:
    """getRangeLongFromObjectOrReply's reply (Redis's own wording, grammar included)."""
    return f"ERR value is out of range, value must between {low} and {high}"


def _c_string(raw: bytes) -> bytes:
    """What C's %s prints of an argument: up to its first NUL byte."""
    return raw.split(b"\0", 1)[0]


def _decode(raw: bytes) -> str:
    """Raw bytes carried inside an error text (the encoder sends them back unchanged)."""
    return raw.decode("utf-8", "surrogateescape")


def _printable(raw: bytes, limit: int) -> str:
    """Redis echoes at most `limit` bytes of an argument (%.128s)."""
    return _decode(_c_string(raw)[:limit])
