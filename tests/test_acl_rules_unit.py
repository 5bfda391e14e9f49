"""ACL command rules as ACL LIST shows them: however the rules were given, the description
(computed as Redis 7.0 computes it) gives back exactly the same permissions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rcache.commands.acl_rules import CATEGORIES, user_from_rules

_NAMES = ["get", "set", "hget", "hset", "lpush", "zadd", "client", "client|id", "client|kill",
          "config", "config|get", "xinfo|stream", "select", "flushall", "publish", "eval"]
_RULES = st.one_of(
    st.sampled_from(["+@all", "-@all"]),
    st.builds(lambda sign, category: f"{sign}@{category}", st.sampled_from("+-"),
              st.sampled_from(CATEGORIES)),
    st.builds(lambda sign, name: f"{sign}{name}", st.sampled_from("+-"),
              st.sampled_from(_NAMES)),
    st.sampled_from(["+select|0", "+select|1"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_RULES, max_size=8))
def test_a_description_gives_back_the_same_permissions(rules: list[str]) -> None:
    user = user_from_rules(b"u", " ".join(["reset", *rules]).encode())
    described = user.describe_commands()
    again = user_from_rules(b"u", f"reset {described}".encode())
    assert (again.allowed, again.first_args) == (user.allowed, user.first_args)
    assert again.describe_commands() == described


def test_categories_come_before_single_commands_in_best_fit_order() -> None:
    """The category that fits best first, whatever the order given (Redis 7.0)."""
    user = user_from_rules(b"u", b"reset -@all +@string -get +@hash")
    assert user.describe_commands() == "-@all +@hash +@string -get"
    user = user_from_rules(b"u", b"reset +@all -@hash -get +hget")
    assert user.describe_commands() == "+@all -@hash -get +hget"
