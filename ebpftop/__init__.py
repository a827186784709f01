"""ebpftop: a live Linux monitor whose every pane is fed by its own eBPF program."""

import os

__version__ = "0.1.0"


def exit_on_signal(_signum: int, _frame: object) -> None:
    """The INT/TERM/HUP/QUIT handler until a mode installs its own: nothing is attached yet, so end now.

    At once, with os._exit(0), not SystemExit: a signal lands between any two bytecodes, and a
    SystemExit raised in the middle of an import can come out as another exception (a class
    body's __set_name__ wraps it in a RuntimeError: a traceback and exit 1) or be printed and
    ignored (in a __del__), so the signal would not end the process. Whatever start-up made so
    far (a compile child, a recording just opened) goes with the process; the compile child has
    PR_SET_PDEATHSIG.
    """
    os._exit(0)


def _ignore_ending_signals() -> int:
    """The run is over (every probe detached): a signal from here on must not change how it ends.

    Python's own shutdown puts every signal it handles back to the default action, so a
    TERM/INT/HUP landing there killed ebpftop by that signal (status -15, 130, ...; QUIT dumped
    a core) after a clean run. Ignored ones stay ignored. stdout and stderr are flushed first,
    with the mode's handler still in place: a flush blocked on a reader that is gone can still
    be ended by a signal. All of ebpftop's threads are daemons, so nothing is left to wait for.

    Returns 1 when stdout could not take what was still buffered (said on stderr; 0 for a reader
    that went away, as --batch ends), else 0.
    """
    import signal
    import sys

    failed = 0
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as exc:  # what --help or --version printed met a full disk or a reader gone
        from ebpftop.env.streams import stdout_failed

        failed = stdout_failed(exc)
    except ValueError:
        pass  # closed
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass  # nothing left to tell it with
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    return failed


def entry() -> int:
    """The `ebpftop` command and `python -m ebpftop`: the start-up handlers first, then the CLI.

    Before the CLI's imports, which take time: a signal during them ends ebpftop quietly.
    """
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, exit_on_signal)
    from ebpftop.cli import main

    try:
        code = main()
    except SystemExit as exc:  # argparse's exit 2, --help, --version
        if _ignore_ending_signals() and not exc.code:
            raise SystemExit(1) from None
        raise
    failed = _ignore_ending_signals()
    return code or failed
