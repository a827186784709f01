"""Command line: argv -> Settings, environment checks, then the TUI, --batch or --doctor."""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import sys
import threading
from typing import Any, NoReturn

from ebpftop import __version__, exit_on_signal
from ebpftop.pids import PidFilter, combine, is_cgroup_spec, parse_pids
from ebpftop.registry import NAMES
from ebpftop.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_PROBE = 0, 1, 2, 3
EXIT_CODES = """exit codes:
  0  ended normally: q, a signal (INT, TERM, HUP, QUIT), --count reached, or the reader of stdout closed it
  1  failed while running (the sampler failed, stdout could not be written, frames were left unwritten,
     or the process had to leave without its orderly shutdown); the reason is on stderr
  2  bad arguments, or an environment that cannot run ebpftop (privileges, missing capabilities,
     no terminal for the TUI, stdout closed for --batch, --metrics address that cannot be bound); one line on stderr
  3  --batch: no probe could be started (each probe's reason is on stderr); also a headless --metrics"""
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600.0
MIN_COUNT, MAX_COUNT = 1, 1_000_000
MIN_LINGER, MAX_LINGER = 0.0, 3600.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts grep it, people read it.
        self.exit(EXIT_USAGE, f"ebpftop: {message} (see ebpftop --help)\n")


# Numbers are ASCII digits only: int() and float() also take '１' or '٣',
# '1_000', 'nan' and 'infinity', none of which anyone means on a command line.
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_WHOLE = re.compile(r"[-+]?[0-9]+", re.ASCII)
_MAX_DIGITS = 30  # far past any range below; keeps int()/float() away from huge inputs


def _shown(value: float) -> str:
    # Plain digits: a range must be typeable as shown, and '1_000_000' is refused (see _WHOLE).
    return f"{value:.0f}" if value == int(value) else f"{value:g}"


def _number(text: str, what: str, lo: float, hi: float, whole: bool = False, unit: str = "") -> float:
    """One checked number in [lo, hi]; ArgumentTypeError with one line naming the range otherwise."""
    if not (_WHOLE if whole else _DECIMAL).fullmatch(text):
        kind = "a whole number" if whole else "a number"
        # !a (ascii()): a non-ASCII digit or a control character is shown escaped, never raw.
        raise argparse.ArgumentTypeError(f"{what} must be {kind}{unit and ' of' + unit} in ASCII digits, not {text!a}")
    value = (
        int(text) if whole and len(text) <= _MAX_DIGITS else float(text) if len(text) <= _MAX_DIGITS else float("inf")
    )
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(
            f"{what} must be between {_shown(lo)} and {_shown(hi)}{unit}, not {text[:24]}{'...' * (len(text) > 24)}"
        )
    return value


def _interval(text: str) -> float:
    return _number(text, "interval", MIN_INTERVAL, MAX_INTERVAL, unit=" seconds")


def _count(text: str) -> int:
    return int(_number(text, "count", MIN_COUNT, MAX_COUNT, whole=True))


def _top(text: str) -> int:
    return int(_number(text, "top", 1, 1_000_000, whole=True))


def _linger(text: str) -> float:
    return _number(text, "linger", MIN_LINGER, MAX_LINGER, unit=" seconds")


_SIZE = re.compile(r"([0-9]{1,12})([KMG]i?B?|B)?", re.ASCII | re.IGNORECASE)
MIN_RECORD_SIZE, MAX_RECORD_SIZE = 64 << 10, 1 << 40
MIN_KEEP, MAX_KEEP = 1, 1000


def _size(text: str) -> int:
    """'64M', '512KiB', '1G', '1048576': bytes (binary multiples)."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"size must be a number of bytes with K, M or G (64M), not {text[:24]!a}")
    unit = (m.group(2) or "B")[0].upper()
    value = int(m.group(1)) << {"B": 0, "K": 10, "M": 20, "G": 30}[unit]
    if not MIN_RECORD_SIZE <= value <= MAX_RECORD_SIZE:
        raise argparse.ArgumentTypeError(f"record size must be between 64K and 1T, not {text[:24]!a}")
    return value


def _keep(text: str) -> int:
    return int(_number(text, "files to keep", MIN_KEEP, MAX_KEEP, whole=True))


def _path(text: str) -> str:
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError("no file named")
    return text


def _probes(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown probe {unknown[0]!r} (known: {', '.join(NAMES)})")
    if not names:
        raise argparse.ArgumentTypeError(f"no probe named (known: {', '.join(NAMES)})")
    return names


def _cgroups(text: str) -> PidFilter:
    """--cgroup: cgroup paths, units, containers or pods; a bare word is a cgroup, never a process name."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("no cgroup named")
    try:
        return parse_pids(",".join(item if is_cgroup_spec(item) else f"cgroup:{item}" for item in items))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pids(text: str) -> PidFilter:
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


# --metrics (the Prometheus exporter, ebpftop/output/metrics.py): its parsers, flags and mode choice.
MIN_SERIES, MAX_SERIES = 1, 10_000_000
DEFAULT_SERIES = 10_000
MAX_PATHS = 100_000


def _listen(text: str) -> tuple[str, int]:
    """[HOST:]PORT, HOST a name, an IPv4 address or a bracketed IPv6 one ([::1]:9100); 127.0.0.1 if none."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"an IPv6 address goes in brackets ([::1]:9100), not {text[:60]!a}")
    if sep and not host:
        raise argparse.ArgumentTypeError(f"no host before the ':' in {text[:60]!a} (use PORT or HOST:PORT)")
    if not host.isprintable() or any(c.isspace() for c in host):
        raise argparse.ArgumentTypeError(f"bad host {host[:60]!a}")
    if not (port.isascii() and port.isdigit()) or len(port) > 5 or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"the metrics port must be a number from 1 to 65535, not {port[:24]!a}")
    return host, int(port)


def _series(text: str) -> int:
    return int(_number(text, "metrics-max-series", MIN_SERIES, MAX_SERIES, whole=True))


def _paths(text: str) -> int:
    return int(_number(text, "metrics-paths", 0, MAX_PATHS, whole=True))


def _metrics_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics",
        type=_listen,
        default=None,
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (HOST default 127.0.0.1); "
        "headless unless --tui or --batch is given too",
    )
    p.add_argument("--tui", action="store_true", help="with --metrics: show the TUI as well (default: headless)")
    p.add_argument(
        "--metrics-max-series",
        type=_series,
        default=DEFAULT_SERIES,
        metavar="N",
        help=f"with --metrics: labelled series kept at most; more are dropped and counted (default {DEFAULT_SERIES})",
    )
    p.add_argument(
        "--metrics-pid", action="store_true", help="with --metrics: a pid label on the syscall and file series"
    )
    p.add_argument(
        "--metrics-paths",
        type=_paths,
        default=0,
        metavar="N",
        help="with --metrics: per-path file series for up to N of the busiest paths (default 0: none)",
    )


def _metrics_check(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    if ns.metrics is None:
        for flag, given in (
            ("--tui", ns.tui),
            ("--metrics-pid", ns.metrics_pid),
            ("--metrics-paths", ns.metrics_paths),
            ("--metrics-max-series", ns.metrics_max_series != DEFAULT_SERIES),
        ):
            if given:
                parser.error(f"{flag} only applies with --metrics")
    elif ns.tui and ns.batch:
        parser.error("--tui and --batch exclude each other (--metrics goes with either)")


def _metrics_headless(settings: Settings) -> bool:
    return settings.metrics is not None and not settings.batch and not settings.metrics_tui


def _metrics_run(settings: Settings) -> int:
    """Serve --metrics next to the TUI, --batch, or alone (headless: batch's machinery, no frames on stdout)."""
    from ebpftop.output.metrics import Exporter, TappedSource, options

    assert settings.metrics is not None
    host, port = settings.metrics
    exporter = Exporter(host, port, options(settings))
    try:
        exporter.start()
    except OSError as exc:
        why = exc.strerror or str(exc)
        print(f"ebpftop: cannot serve metrics on {host}:{port}: {why}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if settings.metrics_tui:
            return run_tui(settings, TappedSource(settings, exporter))
        print(f"ebpftop: serving metrics at {exporter.url}", file=sys.stderr, flush=True)
        from ebpftop.output import batch

        return batch.run(settings, print_frames=settings.batch, on_each=exporter.sink)
    finally:
        exporter.stop()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ebpftop",
        description="Live Linux monitor: hottest files, syscall rates, process tree and XDP counters, from eBPF.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-i",
        "--interval",
        type=_interval,
        default=1.0,
        metavar="S",
        help=f"refresh interval in seconds, {MIN_INTERVAL:g} to {MAX_INTERVAL:g} (default 1)",
    )
    p.add_argument(
        "--probes",
        type=_probes,
        default=NAMES,
        metavar="LIST",
        help=f"probes to start with (default: {','.join(NAMES)})",
    )
    p.add_argument("--batch", action="store_true", help="no TUI: print one JSON object per interval (JSON lines)")
    p.add_argument(
        "-n",
        "--count",
        type=_count,
        default=None,
        metavar="N",
        help=f"with --batch or a headless --metrics: stop after N intervals, {MIN_COUNT} to {MAX_COUNT}",
    )
    p.add_argument(
        "--top",
        type=_top,
        default=None,
        metavar="N",
        help="with --batch: at most N entries in each list of a frame (hottest first; default: all)",
    )
    p.add_argument(
        "-p",
        "--pid",
        type=_pids,
        default=None,
        metavar="PIDS",
        help="only these processes (PIDs, names or cgroups, comma separated)",
    )
    p.add_argument(
        "--cgroup",
        type=_cgroups,
        default=None,
        metavar="CGROUPS",
        help="only processes in these cgroups or below them: a v2 path (/system.slice/nginx.service), a unit "
        "(nginx.service), a container (docker:3f2a9c) or a pod (pod:1234abcd), comma separated",
    )
    p.add_argument(
        "--xdp",
        type=_ifaces,
        default=None,
        metavar="IFACES",
        help="attach the XDP counter to these interfaces (comma separated, or 'all')",
    )
    p.add_argument(
        "--xdp-mode",
        choices=("generic", "native"),
        default="generic",
        help="XDP attach mode (default generic: never touches the driver)",
    )
    p.add_argument(
        "--linger",
        type=_linger,
        default=5.0,
        metavar="S",
        help=f"seconds an exited process stays (dimmed) in the tree, {MIN_LINGER:g} to {MAX_LINGER:g} (default 5)",
    )
    p.add_argument(
        "--bpf-stats",
        choices=("sampled", "always", "off"),
        default="sampled",
        help="measure the probes' own cost with BPF stats: one interval in ten (default), always, or never",
    )
    # -- record / replay (ebpftop/output/record.py, ebpftop/replay.py) --
    p.add_argument(
        "--record",
        type=_path,
        default=None,
        metavar="FILE",
        help="also write every frame to FILE (gzip JSON lines; an existing FILE is kept as FILE.1)",
    )
    p.add_argument(
        "--record-max-size",
        type=_size,
        default=64 << 20,
        metavar="SIZE",
        help="with --record: start a new file past SIZE compressed bytes (default 64M)",
    )
    p.add_argument(
        "--record-keep",
        type=_keep,
        default=4,
        metavar="N",
        help=f"with --record: files kept, FILE and FILE.1 .. FILE.<N-1> ({MIN_KEEP} to {MAX_KEEP}, default 4)",
    )
    p.add_argument(
        "--replay",
        type=_path,
        default=None,
        metavar="FILE",
        help="show a recording instead of the live probes (the TUI, or its JSON lines with --batch); no root needed",
    )
    # -- end of record / replay --
    p.add_argument(
        "--doctor", action="store_true", help="print what this machine supports and which probes can run, then exit"
    )
    _metrics_arguments(p)
    p.add_argument("-V", "--version", action="version", version=f"ebpftop {__version__}")
    return p


def parse(argv: list[str] | None = None) -> tuple[Settings, argparse.Namespace]:
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except OSError as exc:  # --help or --version into a full disk or a closed pipe (argparse lets it out)
        from ebpftop.env import streams

        raise SystemExit(streams.stdout_failed(exc)) from None
    if ns.count is not None and not ns.batch and not (ns.metrics is not None and not ns.tui):
        parser.error("--count only applies with --batch or a headless --metrics")
    if ns.top is not None and not ns.batch:
        parser.error("--top only applies with --batch")
    _metrics_check(parser, ns)
    if ns.replay is not None:
        if ns.record is not None:
            parser.error("--record and --replay do not go together")
        defaults = parser.parse_args([])
        # --cgroup too: a replay ignored it and printed every recorded row as if filtered.
        for dest in ("probes", "pid", "cgroup", "xdp", "xdp_mode", "interval", "linger", "bpf_stats", "metrics"):
            if getattr(ns, dest) != getattr(defaults, dest):
                flag = "--" + dest.replace("_", "-")
                parser.error(f"{flag} does not apply to --replay (a recording has its own; filter with / in the TUI)")
    if ns.record is None and (ns.record_max_size != 64 << 20 or ns.record_keep != 4):
        parser.error("--record-max-size and --record-keep only apply with --record")
    settings = Settings(
        interval=ns.interval,
        probes=ns.probes,
        batch=ns.batch,
        count=ns.count,
        pids=combine(ns.pid, ns.cgroup),
        xdp_ifaces=ns.xdp,
        xdp_mode=ns.xdp_mode,
        bpf_stats=ns.bpf_stats,
        proc_linger=ns.linger,
        top=ns.top,
        metrics=ns.metrics,
        metrics_tui=ns.tui,
        metrics_max_series=ns.metrics_max_series,
        metrics_pid=ns.metrics_pid,
        metrics_paths=ns.metrics_paths,
        record=ns.record,
        record_max_size=ns.record_max_size,
        record_keep=ns.record_keep,
        replay=ns.replay,
    )
    return settings, ns


def _ending_signals(handler: object) -> None:
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, handler)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    _ending_signals(exit_on_signal)  # until a mode installs its own: nothing is attached yet
    from ebpftop.env import streams

    closed = streams.plug_closed()
    settings, ns = parse(argv)
    from ebpftop.env import checks

    if ns.doctor:
        from ebpftop.env import doctor

        _ending_signals(doctor.on_signal)
        report = streams.Checked()
        try:
            code = doctor.run(report)  # type: ignore[arg-type]
            report.flush()
        except streams.StdoutError as exc:  # `--doctor | head -1`, `--doctor > /dev/full`
            return streams.stdout_failed(exc.error)
        return code
    # The TUI reads keys from stdin and draws through stdout/stderr: without a
    # terminal it can neither be seen nor quit (stdin at EOF spun at 80% CPU).
    if not settings.batch and not _metrics_headless(settings) and (problems := streams.not_terminals(closed)):
        print(
            f"ebpftop: the TUI needs a terminal, but {', '.join(problems)}: use --batch for JSON lines", file=sys.stderr
        )
        return EXIT_USAGE
    if settings.batch and 1 in closed:
        print("ebpftop: stdout is closed: --batch has nowhere to write its frames", file=sys.stderr)
        return EXIT_USAGE
    if settings.replay is not None:  # no probes, no root: none of the checks below apply
        return run_replay(settings)
    if settings.record is not None:
        from ebpftop.output.record import check_path

        if (problem := check_path(settings.record)) is not None:
            print(f"ebpftop: cannot record to {settings.record!a}: it {problem}", file=sys.stderr)
            return EXIT_USAGE
    from ebpftop.probes.loader import compile_timeout

    try:
        compile_timeout()  # read at each compile: a typo must stop here, not as a traceback or four failed probes
    except ValueError as exc:
        print(f"ebpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        checks.preflight(settings)
    except checks.EnvError as exc:
        print(f"ebpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PermissionError as exc:  # a check the capability list above did not foresee
        print(f"ebpftop: permission denied: {exc.filename or exc}: run it with sudo", file=sys.stderr)
        return EXIT_USAGE
    if settings.metrics is not None:
        return _metrics_run(settings)
    if settings.batch:
        from ebpftop.output import batch

        return batch.run(settings)
    return run_tui(settings)


def run_replay(settings: Settings) -> int:
    """--replay FILE: its JSON lines (--batch) or the TUI on it."""
    from ebpftop import replay

    assert settings.replay is not None
    if settings.batch:
        return replay.run_batch(settings.replay, settings.top, settings.count)
    try:
        recording = replay.load(settings.replay)
    except replay.ReplayError as exc:
        print(f"ebpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from ebpftop.ui.replayapp import ReplayApp

    head = recording.header
    interval = head.get("interval")
    probes = tuple(p for p in head.get("probes", ()) if p in NAMES) if isinstance(head.get("probes"), list) else NAMES
    shown = Settings(interval=interval if isinstance(interval, (int, float)) else 1.0, probes=probes or NAMES)
    try:
        source = replay.ReplaySource(recording)
    except replay.ReplayError as exc:
        print(f"ebpftop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_tui(shown, source, ReplayApp)


def run_tui(settings: Settings, source: Any = None, app_class: Any = None) -> int:
    """The TUI on the live sampler (or on ``source``: a replay, the exporter's tapped sampler); every probe
    is detached before this returns."""
    from ebpftop.sampler import LiveSource
    from ebpftop.ui.app import EbpftopApp
    from ebpftop.ui.terminal import StderrCapture, block_winch, driver_class

    recorder = None
    if source is None:
        source = LiveSource(settings)
    if settings.record is not None and settings.replay is None:
        from ebpftop.output import record

        recorder = record.start(settings)
        source = record.RecordingSource(source, recorder)
    app_class = app_class or EbpftopApp
    saved_mask = block_winch()  # before any thread starts, so every thread inherits it
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

    app = app_class(settings, source, driver_class=driver_class(capture.terminal, winch_thread=True), on_hung=on_hung)
    # From here a signal must let the app restore the terminal: it is kept
    # until the app's own handlers are in place, which act on it at once.
    _ending_signals(lambda signum, _frame: setattr(app, "pending_signal", signum))
    try:
        app.run()
    finally:
        app.cancel_hung_timer()
        source.stop()
        for line in capture.close():
            print(line, file=sys.stderr)
        if recorder is not None:
            from ebpftop.output.batch import DRAIN_AFTER_SIGNAL, RECORD_DRAIN

            unrecorded = recorder.close(RECORD_DRAIN if app.pending_signal is None else DRAIN_AFTER_SIGNAL)
            if unrecorded:
                print(f"ebpftop: {unrecorded} frames not recorded to {recorder.path!a}", file=sys.stderr)
        signal.pthread_sigmask(signal.SIG_SETMASK, saved_mask)  # type: ignore[arg-type]
    sampler = getattr(source, "sampler", None)
    if sampler is not None and sampler.error is not None:
        print(f"ebpftop: sampler failed: {sampler.error}", file=sys.stderr)
        return 1
    return app.return_code or 0
