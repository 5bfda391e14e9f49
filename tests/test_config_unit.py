"""rcache.config in process: Redis's value parsing (memtoull, octal, bit-flag enums), CONFIG
SET's order of checks, protected options, and a CONFIG REWRITE file read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from rcache.config import ULLONG_MAX, Config, parse_memory
from rcache.errors import CommandError


@pytest.mark.parametrize(("text", "value"), [
    ("100", 100), ("1KB", 1024), ("2m", 2_000_000), ("", 0), ("kb", 0),
    ("99999999999999999999", ULLONG_MAX), ("18446744073709551616gb", ULLONG_MAX * 1024**3 % 2**64)])
def test_memory_values_parse_as_memtoull(text: str, value: int) -> None:
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["-1", "1.5", "1 kb", "1tb", "1" * 128])
def test_memory_values_refused_as_by_memtoull(text: str) -> None:
    with pytest.raises(ValueError, match="argument must be a memory value"):
        parse_memory(text)


def _set(config: Config, *words: str, local: bool = False) -> None:
    encoded = [word.encode() for word in words]
    config.set_at_runtime(list(zip(encoded[::2], encoded[1::2], strict=True)), local=local)


def test_names_are_checked_before_values() -> None:
    config = Config()
    with pytest.raises(CommandError, match="'Daemonize'\\) - can't set immutable config"):
        _set(config, "maxclients", "x", "Daemonize", "no")
    with pytest.raises(CommandError, match="'slave-read-only'\\) - argument must be 'yes'"):
        _set(config, "SLAVE-READ-ONLY", "maybe")
    _set(config, "slave-read-only", "no", "min-slaves-to-write", "3")
    assert (config.replica_read_only, config.min_replicas_to_write) == (False, 3)


def test_protected_options_follow_enable_protected_configs() -> None:
    config = Config()
    with pytest.raises(CommandError, match="can't set protected config"):
        _set(config, "dbfilename", "x.rdb", local=True)
    config.set("enable-protected-configs", "local")
    with pytest.raises(CommandError, match="can't set protected config"):
        _set(config, "dbfilename", "x.rdb")
    _set(config, "dbfilename", "x.rdb", local=True)
    with pytest.raises(CommandError, match="'dbfilename'\\) - dbfilename can't be a path"):
        _set(config, "dbfilename", "a/x.rdb", local=True)
    with pytest.raises(CommandError, match="can't set immutable config"):
        _set(config, "dir", "/tmp", local=True)
    assert config.matching(b"DBFILENAME") == {b"DBFILENAME": b"x.rdb"}  # the name as given


def test_flag_enums_and_octal_values_read_back_after_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "rcache.conf"
    path.write_text("unixsocketperm 750\nshutdown-on-sigterm now save\n")
    config = Config.load(str(path), {}, {})
    assert config.matching(b"unixsocketperm") == {b"unixsocketperm": b"750"}
    assert config.matching(b"shutdown-on-sigterm") == {b"shutdown-on-sigterm": b"save now"}
    _set(config, "oom-score-adj-values", "1 +2 -3", "maxmemory-clients", "10%")
    config.rewrite()
    again = Config.load(str(path), {}, {})
    assert again.matching(b"*") == config.matching(b"*")
    assert again.matching(b"oom-score-adj-values") == {b"oom-score-adj-values": b"1 2 -3"}
    assert again.matching(b"maxmemory-clients") == {b"maxmemory-clients": b"10%"}
