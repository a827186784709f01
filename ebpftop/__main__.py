"""`python -m ebpftop` entry point."""

import signal


def _quiet_exit(_signum: int, _frame: object) -> None:
    raise SystemExit(0)  # nothing is loaded yet; cli.main() takes over from here


# Before any import that takes time: a signal during start-up ends it quietly, not with a traceback.
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(_sig, _quiet_exit)

from ebpftop.cli import main  # noqa: E402

raise SystemExit(main())
