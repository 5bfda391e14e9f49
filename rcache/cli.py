"""Command line: ``rcache`` runs a node; ``rcache cluster start --nodes 3`` a local cluster."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys

from . import __version__
from .config import COMPATIBILITY_ONLY, OPTIONS, Config, python_log_level


def _node_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcache",
        description="Run an rcache node: a Redis-protocol, Raft-replicated, RocksDB-persistent "
                    "cache. With no flags: a single node on 127.0.0.1:6379, data in ./rcache-data."
                    " Every option can also come from a config file (Redis-style 'name value' "
                    "lines) or from an RCACHE_<NAME> environment variable.",
        epilog="Redis 7.0's other parameters (replication, RDB and AOF files, threads, "
               "defragmentation...) are accepted too, with no effect: README, Configuration. "
               "Local cluster for trying it out: rcache cluster start --nodes 3")
    parser.add_argument("config_file", nargs="?", help="Redis-style config file")
    parser.add_argument("--version", action="version", version=f"rcache {__version__}")
    for opt in OPTIONS:
        # An option whose help says its default itself (derived from another) has no
        # literal one to print
        default = "" if "(default: " in opt.help else (
            f"default: {opt.format(opt.default) or 'none'}; ")
        shown = not opt.help.startswith(COMPATIBILITY_ONLY)  # the epilog sums those up
        parser.add_argument(f"--{opt.name}", dest=opt.attr,
                            metavar=opt.name.upper().replace("-", "_"),
                            help=f"{opt.help} ({default}env {opt.env})" if shown
                            else argparse.SUPPRESS)
    return parser


def configure_logging(config: Config, syslog_address: str = "/dev/log") -> None:
    """The log goes to logfile (standard error when empty) and, with syslog-enabled, to the
    system logger too, as Redis's: ``<ident>[<pid>]: <message>`` with syslog-facility."""
    handler = (logging.FileHandler(config.logfile, encoding="utf-8") if config.logfile
               else logging.StreamHandler())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [handler]
    unreachable = None
    if config.syslog_enabled:
        try:
            handlers.append(_syslog_handler(config, syslog_address))
        except OSError as err:  # Redis's syslog() drops the lines silently
            unreachable = f"syslog-enabled: cannot reach {syslog_address}: {err}"
    logging.basicConfig(level=python_log_level(config.loglevel), handlers=handlers,
                        force=True)
    if unreachable:
        logging.warning("%s", unreachable)


def _syslog_handler(config: Config, address: str) -> logging.Handler:
    handler = logging.handlers.SysLogHandler(address, config.syslog_facility)
    handler.ident = f"{config.syslog_ident}[{os.getpid()}]: "
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.priority_map = {**handler.priority_map, "NOTICE": "notice"}
    return handler


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cluster"]:
        from .localcluster import main as cluster_main
        cluster_main(argv[1:])
        return
    args = _node_parser().parse_args(argv)
    flags = {opt.name: getattr(args, opt.attr) for opt in OPTIONS
             if getattr(args, opt.attr) is not None}
    try:
        config = Config.load(args.config_file, dict(os.environ), flags)
    except (OSError, ValueError) as err:
        sys.exit(f"rcache: {err}")
    try:
        configure_logging(config)
    except OSError as err:  # as Redis, a log file that cannot be opened stops the start
        sys.exit(f"rcache: Can't open the log file: {err.strerror or err}")
    if config.bind not in ("127.0.0.1", "::1", "localhost") and not config.requirepass:
        if config.protected_mode:
            logging.warning("listening on %s without requirepass: protected mode refuses "
                            "clients from other hosts until a password is set", config.bind)
        else:
            logging.warning("listening on %s without requirepass and protected-mode no: any "
                            "host that can reach this port can read and write everything",
                            config.bind)
    from .durability import CorruptFile
    from .http import HttpPortUnavailable
    from .server import run
    from .tls import TlsConfigError
    from .transport import PortUnavailable
    try:
        run(config)
    except CorruptFile as err:
        sys.exit(f"rcache: refusing to start, a data file is damaged: {err}")
    except (HttpPortUnavailable, PortUnavailable, TlsConfigError) as err:
        sys.exit(f"rcache: {err}")


if __name__ == "__main__":
    main()
