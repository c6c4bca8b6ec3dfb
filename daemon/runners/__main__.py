"""`python -m daemon.runners NAME --config PATH [--index N]`: one runner of `oneassist run`.

The master (daemon/master.py) starts each runner this way, as its own interpreter, and
passes its end of the link in ONEASSIST_LINK_FD. Started by hand (no link), a runner
works alone until SIGTERM or Ctrl-C. This entry loads only the runner's own imports:
neither the CLI nor the other stages, which keeps each process's RSS to its job.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

RUNNERS = ("fetch", "ingest", "outbox", "scheduler")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m daemon.runners", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runner", choices=RUNNERS)
    p.add_argument("--config", help="config file (default: $ONEASSIST_CONFIG)")
    p.add_argument("--index", type=int, default=1, help="which ingest worker (1..run.ingest_workers)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)

    from daemon.clock import SystemClock
    from daemon.config import load
    from daemon.core.errors import OneAssistError
    from daemon.logsetup import setup_logging
    from daemon.runners import loops
    from daemon.runners.link import Link
    from store.db import init_db

    link = Link.from_env()
    link.install_signals()
    name = f"ingest-{args.index}" if args.runner == "ingest" else args.runner
    try:
        settings = load(args.config)
        setup_logging("DEBUG" if args.verbose else settings.log_level, tag=name)
        init_db(settings.store_url)
    except OneAssistError as exc:
        print(f"oneassist {name}: error: {exc}", file=sys.stderr)
        return 2
    log = logging.getLogger("oneassist.runner")
    clock = SystemClock()
    try:
        if args.runner == "fetch":
            loops.fetch(settings, clock, link)
        elif args.runner == "ingest":
            loops.ingest(settings, clock, link, args.index)
        elif args.runner == "outbox":
            loops.outbox(settings, clock, link)
        else:
            loops.scheduler(settings, clock, link)
    except Exception:  # noqa: BLE001 - through our formatter: an exception text may quote mail
        log.exception("runner %s failed", name)
        return 1
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
