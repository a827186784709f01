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


def entry() -> int:
    """The `ebpftop` command and `python -m ebpftop`: the start-up handlers first, then the CLI.

    Before the CLI's imports, which take time: a signal during them ends ebpftop quietly.
    """
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, exit_on_signal)
    from ebpftop.cli import main

    return main()
