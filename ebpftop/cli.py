"""Command line: argv -> Settings, environment checks, then the TUI, --batch or --doctor."""

from __future__ import annotations

import argparse
import os
import select
import sys
from typing import NoReturn

from ebpftop import __version__
from ebpftop.pids import parse_pids
from ebpftop.registry import NAMES
from ebpftop.settings import Settings

EXIT_USAGE = 2
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts grep it, people read it.
        self.exit(EXIT_USAGE, f"ebpftop: {message} (see ebpftop --help)\n")


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"interval must be a number of seconds, not {text!r}") from None
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(f"interval must be between {MIN_INTERVAL} and {MAX_INTERVAL:g} seconds, not {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"count must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"count must be at least 1, not {text}")
    return value


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"top must be a whole number, not {text!r}") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"top must be between 1 and 1000000, not {text}")
    return value


def _linger(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"linger must be a number of seconds, not {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"linger must be between 0 and 3600 seconds, not {text}")
    return value


def _probes(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown probe {unknown[0]!r} (known: {', '.join(NAMES)})")
    if not names:
        raise argparse.ArgumentTypeError(f"no probe named (known: {', '.join(NAMES)})")
    return names


def _pids(text: str) -> frozenset[int]:
    try:
        return parse_pids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ifaces(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise argparse.ArgumentTypeError("no interface named")
    if "all" in names:
        return ("all",)
    import socket

    known = {name for _index, name in socket.if_nameindex()}
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(f"no interface named {name!r} (have: {', '.join(sorted(known))})")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ebpftop",
        description="Live Linux monitor: hottest files, syscall rates, process tree and XDP counters, from eBPF.",
    )
    p.add_argument("-i", "--interval", type=_interval, default=1.0, metavar="S", help="refresh interval in seconds (default 1)")
    p.add_argument("--probes", type=_probes, default=NAMES, metavar="LIST", help=f"probes to start with (default: {','.join(NAMES)})")
    p.add_argument("--batch", action="store_true", help="no TUI: print one JSON object per interval (JSON lines)")
    p.add_argument("-n", "--count", type=_count, default=None, metavar="N", help="with --batch: stop after N intervals")
    p.add_argument(
        "--top",
        type=_top,
        default=None,
        metavar="N",
        help="with --batch: at most N entries in each list of a frame (hottest first; default: all)",
    )
    p.add_argument("-p", "--pid", type=_pids, default=None, metavar="PIDS", help="only these processes (PIDs or names, comma separated)")
    p.add_argument("--xdp", type=_ifaces, default=None, metavar="IFACES", help="attach the XDP counter to these interfaces (comma separated, or 'all')")
    p.add_argument("--xdp-mode", choices=("generic", "native"), default="generic", help="XDP attach mode (default generic: never touches the driver)")
    p.add_argument(
        "--linger",
        type=_linger,
        default=5.0,
        metavar="S",
        help="seconds an exited process stays (dimmed) in the tree (default 5)",
    )
    p.add_argument(
        "--bpf-stats",
        choices=("sampled", "always", "off"),
        default="sampled",
        help="measure the probes' own cost with BPF stats: one interval in ten (default), always, or never",
    )
    p.add_argument("--doctor", action="store_true", help="print what this machine supports and which probes can run, then exit")
    p.add_argument("-V", "--version", action="version", version=f"ebpftop {__version__}")
    return p


def parse(argv: list[str] | None = None) -> tuple[Settings, argparse.Namespace]:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.count is not None and not ns.batch:
        parser.error("--count only applies with --batch")
    if ns.top is not None and not ns.batch:
        parser.error("--top only applies with --batch")
    settings = Settings(
        interval=ns.interval,
        probes=ns.probes,
        batch=ns.batch,
        count=ns.count,
        pids=ns.pid,
        xdp_ifaces=ns.xdp,
        xdp_mode=ns.xdp_mode,
        bpf_stats=ns.bpf_stats,
        proc_linger=ns.linger,
        top=ns.top,
    )
    return settings, ns


def main(argv: list[str] | None = None) -> int:
    settings, ns = parse(argv)
    from ebpftop.env import checks

    if ns.doctor:
        from ebpftop.env import doctor

        return doctor.run()
    try:
        checks.preflight()
    except checks.EnvError as exc:
        print(f"ebpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if settings.batch:
        from ebpftop.output import batch

        return batch.run(settings)
    return run_tui(settings)


def run_tui(settings: Settings) -> int:
    """The TUI on the live sampler; every probe is detached before this returns."""
    from ebpftop.live import LiveSource
    from ebpftop.ui.app import EbpftopApp
    from ebpftop.ui.terminal import StderrCapture, driver_class

    source = LiveSource(settings)
    capture = StderrCapture()

    def on_hung(signum: int) -> None:
        # Signalled, and the app did not end within its grace time (its
        # terminal is gone or the UI is stuck): detach every probe from here,
        # give the terminal back as far as it still exists, and leave.
        try:
            source.stop(timeout=5.0)
            lines = capture.abandon()
            note = "\n".join([*lines, f"ebpftop: the UI did not end after signal {signum}; probes detached, exiting"])
            # Only what the terminal takes right now: one that stopped reading must not block the exit.
            if select.select([], [2], [], 0)[1]:
                os.write(2, b"\x1b[?1049l\x1b[?25h\x1b[0m" + note.encode() + b"\n")
        except (OSError, ValueError):
            pass  # the terminal is gone: nothing left to tell
        finally:
            os._exit(1)

    app = EbpftopApp(settings, source, driver_class=driver_class(capture.terminal), on_hung=on_hung)
    try:
        app.run()
    finally:
        app.cancel_hung_timer()
        source.stop()
        for line in capture.close():
            print(line, file=sys.stderr)
    if source.sampler is not None and source.sampler.error is not None:
        print(f"ebpftop: sampler failed: {source.sampler.error}", file=sys.stderr)
        return 1
    return app.return_code or 0
