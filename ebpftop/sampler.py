"""The sampler thread: owns every probe (so every bcc call), reads them each interval, emits Frames."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import queue
import select
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ebpftop.cgroups import Cgroup, Cgroups
from ebpftop.model.frame import ERROR, LIVE, LOADING, OFF, UNAVAILABLE, Frame, ProbeState, ProbeStatus
from ebpftop.model.rates import average, counter_delta, rate
from ebpftop.pids import PidFilter, of_pids
from ebpftop.probes.base import Cancelled, Probe, ProbeCost, ProbeError
from ebpftop.registry import SPECS, ProbeSpec
from ebpftop.settings import Settings, StatsMode

FrameSink = Callable[[Frame], None]
StatusSink = Callable[[tuple[ProbeStatus, ...]], None]
NoticeSink = Callable[[str], None]


@dataclass(slots=True)
class _Slot:
    """The sampler's private state for one probe."""

    spec: ProbeSpec
    probe: Probe | None = None
    model: Any = None
    state: ProbeState = OFF
    reason: str | None = None
    since: float = 0.0  # monotonic time of the last read (or of enabling)
    cost: ProbeCost | None = None  # BPF stats at the start of the open stats window
    cost_since: float = 0.0
    measured: tuple[float | None, float, float] | None = None  # ns/event, CPU%, monotonic end of the stats window
    counted: float | None = None  # events/s this probe counted in its last read window
    window: tuple[float, float] | None = None  # that window: wall-clock start, measured length
    wanted: bool = False
    # A probe's maps (and so its kernel-side lost counters) are new at each
    # enable; what earlier enables lost is carried here, so the lost figure
    # counts from lost_since (the first time the probe went live in this run)
    # and never decreases across toggles.
    lost_base: int = 0
    lost_since: float | None = None
    runs_measured: int = 0  # run count and time over every closed BPF-stats window (ProbeStatus)
    run_ns_measured: int = 0


@dataclass(slots=True)
class _Clock:
    wall: float = field(default_factory=time.time)
    mono: float = field(default_factory=time.monotonic)
    cpu: float = field(default_factory=lambda: sum(os.times()[:2]))


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    """Our resident set from /proc/self/statm (one small read per frame); 0 if it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _with_lost_base(sample: Any, base: int) -> Any:
    """The sample with its cumulative loss counted from lost_since rather than from this enable."""
    if not base or not dataclasses.is_dataclass(sample) or isinstance(sample, type):
        return sample
    value = getattr(sample, "lost_total", None)
    if isinstance(value, int):
        return dataclasses.replace(sample, lost_total=value + base)
    return sample


class _Drainer(threading.Thread):
    """Calls a probe's collect() as soon as its wake fd fires, beside the sampler thread.

    A burst's frame takes the sampler seconds to decode and write (tens of
    thousands of files); the kernel's maps must be drained meanwhile or they
    fill. collect() only copies (see Probe.collect), so this thread needs the
    GIL for moments between system calls. It never touches a probe that is
    being torn down: Probe.disable() and collect() share the probe's
    _drain_lock, and forget() removes the fd before the probe is disabled.
    """

    BACKOFF = 0.02  # seconds to wait after a collect() that had no room, before the next

    def __init__(self) -> None:
        super().__init__(name="ebpftop-drain", daemon=True)
        self._poll = select.epoll()
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll.register(self._stop_r, select.EPOLLIN)
        self._lock = threading.Lock()
        self._probes: dict[int, Probe] = {}
        self.error: BaseException | None = None

    def watch(self, fd: int, probe: Probe) -> None:
        with self._lock:
            # Edge-triggered: one wakeup per request, not one per unread record.
            self._poll.register(fd, select.EPOLLIN | select.EPOLLET)
            self._probes[fd] = probe

    def forget(self, probe: Probe) -> None:
        with self._lock:
            for fd in [fd for fd, p in self._probes.items() if p is probe]:
                del self._probes[fd]
                try:
                    self._poll.unregister(fd)
                except OSError:
                    pass

    def run(self) -> None:
        try:
            while True:
                for fd, _events in self._poll.poll():
                    if fd == self._stop_r:
                        return
                    with self._lock:
                        probe = self._probes.get(fd)
                    if probe is None:
                        continue
                    try:
                        drained = probe.collect()
                    except Exception as exc:  # noqa: BLE001 - the sampler reports it; the probe's reads go on
                        self.error, drained = exc, False
                    if not drained:
                        time.sleep(self.BACKOFF)
        finally:
            self._poll.close()
            os.close(self._stop_r)

    def stop(self, timeout: float = 5.0) -> None:
        try:
            os.write(self._stop_w, b"\0")
        except OSError:
            pass
        if self.is_alive():
            self.join(timeout)
        os.close(self._stop_w)


class Sampler(threading.Thread):
    """Reads every enabled probe once per interval and hands each Frame to ``on_frame``.

    Every method other than the command helpers runs on this thread only; the
    UI and signal handlers talk to it through ``command()``, which is safe to
    call from any thread and from a signal handler (SimpleQueue.put is
    reentrant). Rates use the measured time since each probe's last read.
    """

    def __init__(
        self,
        specs: Iterable[ProbeSpec],
        enabled: Iterable[str],
        interval: float,
        on_frame: FrameSink,
        on_status: StatusSink | None = None,
        count: int | None = None,
        pids: PidFilter | frozenset[int] | None = None,
        stats: str = StatsMode.SAMPLED,
        stats_every: int = 10,
        settings: Any = None,
        on_notice: NoticeSink | None = None,
    ) -> None:
        super().__init__(name="ebpftop-sampler", daemon=True)
        self._slots = {s.name: _Slot(s) for s in specs}
        for name in enabled:
            self._slots[name].wanted = True
        self.interval = interval
        self._settings = settings  # handed to probes that take options (XDP interfaces)
        self._on_frame = on_frame
        self._on_status = on_status
        self._on_notice = on_notice
        self._count = count
        self._pids = of_pids(pids)  # a bare set of PIDs: the processes that have them now
        self._cgroups: Cgroups | None = None  # made on the first frame that names a cgroup
        self._commands: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._deadline = float("inf")  # the next frame's (monotonic); set when the loop starts
        self._clock: _Clock | None = None  # where the frame being counted began; set when the loop starts
        # The loop sleeps in epoll on a pipe command() writes to; the fds
        # probes give (wake_fd) to be drained early are the drain thread's.
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll = select.epoll()
        self._poll.register(self._wake_r, select.EPOLLIN)
        self._drainer: _Drainer | None = None
        self._stopping = False
        self._stop_asked = False  # set by command("stop") from any thread, read by a compile's wait
        self._flush = False
        # BPF run-time stats cost every BPF program on the box two clock reads
        # per run (~50 ns/event measured on this VM, more than the syscall
        # probe itself), so by default they are on for one interval in
        # stats_every: the header's cost figures are that window's.
        self.stats_mode = StatsMode(stats)
        self.stats_every = max(1, stats_every)
        self._stats_fd: int | None = None
        self.frames = 0
        self.error: BaseException | None = None

    # -- any thread ---------------------------------------------------------
    def command(self, *cmd: Any) -> None:
        if cmd[0] == "stop":
            self._stop_asked = True  # a compile in progress gives up (a plain store: signal-safe)
        self._commands.put(cmd)
        try:
            os.write(self._wake_w, b"\0")  # a plain write: safe from a signal handler
        except BlockingIOError:
            pass  # the pipe is full: the thread is woken already
        except OSError:
            pass  # EPIPE: the thread has ended

    def toggle(self, name: str) -> None:
        self.command("toggle", name)

    def set_interval(self, seconds: float) -> None:
        self.command("interval", seconds)

    def set_pids(self, pids: PidFilter | None) -> None:
        self.command("pids", pids)

    def probe_command(self, name: str, verb: str, *args: Any) -> None:
        """Run one of a probe's commands (its registry entry lists them) on this thread."""
        self.command("probe", name, verb, args)

    def stop(self, flush: bool = False) -> None:
        """Ask the thread to end; with flush, one last (partial-interval) frame is emitted first."""
        self.command("stop", flush)

    # -- sampler thread -----------------------------------------------------
    def run(self) -> None:
        try:
            self._stats_window(open_=self.stats_mode != StatsMode.OFF)
            # Probes compile one after another (seconds each): one still
            # waiting its turn is loading, not off.
            for slot in self._slots.values():
                if slot.wanted:
                    slot.state = LOADING
            self._publish_status()
            for slot in self._slots.values():
                if slot.wanted and not self._stop_asked:
                    self._enable(slot)
            self._clock = _Clock()
            self._deadline = self._clock.mono + self.interval
            while not self._stopping:
                timeout = self._deadline - time.monotonic()
                self._wait(max(0.0, timeout))
                self._drain_commands()
                now = time.monotonic()
                if self._stopping:
                    if self._flush:
                        self._emit(self._clock, final=True)
                    break
                if now >= self._deadline and self._emit_due(now):
                    break
        except BaseException as exc:  # noqa: BLE001 - reported to the owner, never lost
            self.error = exc
        finally:
            self._shutdown()

    def _emit_due(self, now: float) -> bool:
        """The frame that fell due; True once --count frames are out (the run ends)."""
        assert self._clock is not None
        self._clock = self._emit(self._clock)
        self._deadline += self.interval
        if self._deadline <= now:  # fell behind (suspend, slow read): do not burst
            self._deadline = now + self.interval
        return self._count is not None and self.frames >= self._count

    def _while_compiling(self) -> bool:
        """enable()'s cancel hook, called every 50 ms of a compile (seconds; minutes under emulation).

        True gives the compile up: ebpftop is stopping, or --count frames are out. Meanwhile the
        frames that fall due go out, the live probes read as always, so the other panes do not
        pause for a toggle's compile. (Commands wait for the compile: a nested toggle is not run.)
        Before the loop starts (the first compiles) there is no frame to make yet.
        """
        if self._stop_asked or self._stopping:
            return True
        now = time.monotonic()
        if self._clock is not None and now >= self._deadline and self._emit_due(now):
            self._stopping = True
            return True
        return False

    def _wait(self, timeout: float) -> None:
        """Sleep until a command or the timeout."""
        for fd, _events in self._poll.poll(timeout):
            if fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
        drainer = self._drainer
        if drainer is not None and drainer.error is not None:
            error, drainer.error = drainer.error, None
            # collect() failed on the drain thread: the probe's reads say the rest (or fail the same way).
            self._notice(f"early drain failed: {error}")

    def _watch(self, slot: _Slot, on: bool) -> None:
        """Watch (or forget) the probe's wake fd; forgotten before its maps close: no reused fd is watched."""
        if slot.probe is None:
            return
        if self._drainer is not None:
            self._drainer.forget(slot.probe)
        new = slot.probe.wake_fd() if on else None
        if new is not None:
            if self._drainer is None:
                self._drainer = _Drainer()
                self._drainer.start()
            self._drainer.watch(new, slot.probe)

    def _stats_window(self, open_: bool) -> None:
        """Open or close the BPF-stats window; costs are measured only across a whole open window."""
        from ebpftop.probes import libbpf

        if open_ and self._stats_fd is None:
            try:
                self._stats_fd = libbpf.enable_stats()
            except OSError:
                self.stats_mode = StatsMode.OFF  # cannot measure: costs read as zero (the doctor says why)
                return
            now = time.monotonic()
            for slot in self._slots.values():
                if slot.state == LIVE and slot.probe is not None:
                    slot.cost, slot.cost_since = slot.probe.stats(), now
        elif not open_ and self._stats_fd is not None:
            os.close(self._stats_fd)
            self._stats_fd = None
            for slot in self._slots.values():
                slot.cost = None

    def _shutdown(self) -> None:
        for slot in self._slots.values():
            self._disable(slot, state=OFF)
        if self._drainer is not None:
            self._drainer.stop()
        if self._stats_fd is not None:
            os.close(self._stats_fd)
            self._stats_fd = None
        self._poll.close()
        # The read end only: a command() that comes later (a signal) then gets EPIPE, and never
        # writes into another file that took a closed fd's number. The write end goes with us.
        os.close(self._wake_r)

    def __del__(self) -> None:
        try:
            os.close(self._wake_w)
        except (OSError, AttributeError):
            pass

    def _drain_commands(self) -> None:
        first = True
        while True:
            # One command at least, then a frame that is due goes out before
            # the next: a toggle compiles for seconds, and toggles that came in
            # faster (a held key) kept this loop from returning, every pane frozen.
            if not first and time.monotonic() >= self._deadline and not self._stopping:
                if not self._commands.empty():
                    try:
                        os.write(self._wake_w, b"\0")  # the rest right after the frame, not an interval later
                    except BlockingIOError:
                        pass
                return
            first = False
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            match cmd:
                case ("stop", flush):
                    self._stopping = True
                    self._flush = self._flush or bool(flush)
                case ("toggle", name) if name in self._slots:
                    slot = self._slots[name]
                    if slot.probe is not None and slot.probe.enabled:
                        slot.wanted = False
                        if slot.state == LIVE and self._clock is not None:
                            # What it counted since its last read goes out now, in a frame of its
                            # own (the other live probes are read too), not away with its maps.
                            self._clock = self._emit(self._clock, parting=slot)
                        self._disable(slot, state=OFF)
                    else:
                        slot.wanted = True
                        self._enable(slot)
                case ("interval", seconds):
                    self.interval = float(seconds)
                    # A shorter interval starts now, not at the old deadline (60 s -> 1 s waited 60 s).
                    self._deadline = min(self._deadline, time.monotonic() + self.interval)
                case ("probe", name, verb, args) if name in self._slots:
                    self._probe_command(self._slots[name], verb, args)
                case ("probe", name, verb, _args):
                    self._notice(f"no probe named {name!r} (for {verb!r})")
                case ("pids", pids):
                    self._pids = of_pids(pids)
                    for slot in self._slots.values():
                        if slot.probe is not None and slot.probe.enabled:
                            self._guard(slot, functools.partial(slot.probe.set_pid_filter, self._pids))

    def _probe_command(self, slot: _Slot, verb: str, args: tuple[Any, ...]) -> None:
        name = slot.spec.name
        command = slot.spec.command(verb)
        if command is None:
            self._notice(f"{name} probe has no command {verb!r}")
            return
        if command.switch_on and (slot.probe is None or not slot.probe.enabled):
            slot.wanted = True
            self._enable(slot)
        if slot.probe is None or not slot.probe.enabled:
            self._notice(f"{name} probe is {slot.state}: {slot.reason or 'it must be on'}")
            return
        method = getattr(slot.probe, verb, None)
        try:
            inspect.signature(method).bind(*args) if method is not None else None
        except TypeError as exc:  # the wrong arguments are the caller's fault, not the probe's
            self._notice(f"{name} {verb}: {exc}")
            return
        if method is None:
            self._notice(f"{name} probe has no method {verb!r}")
            return
        reason = self._guard(slot, lambda: method(*args))
        if slot.state != LIVE:  # the call failed and _guard turned the probe off
            self._notice(f"{name} {verb} failed: {slot.reason}")
        elif reason:
            self._notice(f"{name} {' '.join(map(str, args))}: {reason}")
        else:
            self._notice(command.done.format(*args))
        self._publish_status()

    def _notice(self, text: str) -> None:
        if self._on_notice is not None:
            self._on_notice(text)

    def _publish_status(self) -> None:
        if self._on_status is not None:
            self._on_status(tuple(self._status(s) for s in self._slots.values()))

    def _enable(self, slot: _Slot) -> None:
        if slot.probe is None:
            try:
                slot.probe = slot.spec.make_probe(self._settings)
            except (ProbeError, ImportError, OSError) as exc:
                slot.state, slot.reason = UNAVAILABLE, str(exc)
                self._publish_status()
                return
        reason = slot.probe.available()
        if reason:
            slot.state, slot.reason = UNAVAILABLE, reason
            self._publish_status()
            return
        slot.state, slot.reason = LOADING, None
        self._publish_status()
        try:
            slot.probe.enable(cancel=self._while_compiling)
            slot.probe.set_pid_filter(self._pids)
        except Cancelled:  # a stop came during the compile: not a failure, the probe is just not on
            slot.probe.disable()
            slot.state, slot.reason = OFF, None
            self._publish_status()
            return
        except Exception as exc:  # noqa: BLE001 - ProbeError, OSError and whatever a map operation raises
            slot.probe.disable()
            slot.state, slot.reason = ERROR, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._publish_status()
            return
        if slot.model is None:
            slot.model = slot.spec.make_model(self._settings)
        slot.state = LIVE
        self._watch(slot, on=True)
        if slot.lost_since is None:
            slot.lost_since = time.time()
        slot.since = time.monotonic()
        slot.measured = slot.counted = slot.window = None  # nothing measured yet: "–", not a stale 0
        slot.cost = slot.probe.stats() if self._stats_fd is not None else None
        slot.cost_since = slot.since
        self._publish_status()

    def _disable(self, slot: _Slot, state: ProbeState) -> None:
        self._watch(slot, on=False)
        if slot.probe is not None and slot.probe.enabled:
            try:
                slot.lost_base += slot.probe.lost()  # its maps go with it
            except Exception:  # noqa: BLE001 - a map that cannot be read lost nothing we can count
                pass
        if slot.probe is not None:
            try:
                slot.probe.disable()
            except Exception as exc:  # noqa: BLE001 - keep tearing the rest down
                slot.reason = f"detach failed: {exc}"
        if slot.state in (LIVE, LOADING):
            slot.state = state
        slot.cost = None
        self._publish_status()

    def _guard(self, slot: _Slot, fn: Callable[[], Any]) -> Any:
        """Run a probe call; a failure turns that probe to ERROR instead of ending the sampler."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            self._disable(slot, state=ERROR)
            slot.state, slot.reason = ERROR, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return None

    def _status(self, slot: _Slot) -> ProbeStatus:
        if slot.state != LIVE or slot.probe is None:
            return ProbeStatus(
                slot.spec.name,
                slot.state,
                slot.reason,
                lost_total=slot.lost_base,
                lost_since=slot.lost_since,
                runs_measured=slot.runs_measured,
                run_ns_measured=slot.run_ns_measured,
            )
        ns = cpu = age = None
        if slot.measured is not None:
            ns, cpu, closed = slot.measured
            age = max(0.0, time.monotonic() - closed)
        start, length = slot.window if slot.window is not None else (None, None)
        return ProbeStatus(
            slot.spec.name,
            slot.state,
            slot.reason,
            events_per_s=slot.counted,
            avg_ns=ns,
            cpu_pct=cpu,
            lost_total=slot.lost_base + slot.probe.lost(),
            lost_since=slot.lost_since,
            cost_age_s=age,
            window_start=start,
            window_s=length,
            runs_measured=slot.runs_measured,
            run_ns_measured=slot.run_ns_measured,
        )

    def _measure(self, slot: _Slot, now: float) -> None:
        """Close this probe's cost window if one is open: run count and time over its length."""
        if self._stats_fd is None or slot.cost is None or slot.probe is None:
            return
        cost = slot.probe.stats()
        window = now - slot.cost_since
        runs = counter_delta(slot.cost.run_cnt, cost.run_cnt)
        ns = counter_delta(slot.cost.run_time_ns, cost.run_time_ns)
        slot.runs_measured += runs
        slot.run_ns_measured += ns
        slot.measured = (average(ns, runs) if runs else None, rate(ns, window) / 1e7, now)
        slot.cost, slot.cost_since = cost, now

    def _emit(self, clock: _Clock, final: bool = False, parting: _Slot | None = None) -> _Clock:
        """One frame: every live probe read; final (the run ends) or parting (that probe is being
        switched off) first tells the probe its next read is its last, which must return everything."""
        now = _Clock()
        work_start = time.monotonic()
        panes: dict[str, Any] = {}
        statuses = []
        for slot in self._slots.values():
            if slot.state == LIVE and slot.probe is not None:
                if final or slot is parting:
                    self._guard(slot, slot.probe.finish)
                sample = _with_lost_base(self._guard(slot, slot.probe.read), slot.lost_base)
                read_at = time.monotonic()
                if slot.state == LIVE:
                    elapsed = read_at - slot.since
                    slot.window = (time.time() - (time.monotonic() - slot.since), elapsed)
                    slot.since = read_at
                    data = panes[slot.spec.pane_key] = slot.model.update(sample, elapsed, self._pids)
                    slot.counted = getattr(data, "events_per_s", None)
                    self._measure(slot, read_at)
            statuses.append(self._status(slot))
        elapsed = now.mono - clock.mono
        frame = Frame(
            time=now.wall,
            elapsed=elapsed,
            probes=tuple(statuses),
            panes=panes,
            cgroups=self._name_cgroups(panes),
            self_cpu_pct=rate(now.cpu - clock.cpu, elapsed) * 100.0,
            final=final,
            work_s=time.monotonic() - work_start,
            rss_bytes=_rss_bytes(),
        )
        self.frames += 1
        self._on_frame(frame)
        if self.stats_mode == StatsMode.SAMPLED:
            self._stats_window(open_=self.frames % self.stats_every == 0)
        return now

    def _name_cgroups(self, panes: dict[str, Any]) -> dict[int, Cgroup]:
        """Every cgroup id the frame's rows carry, with its path and name (looked up now; ids are never
        reused within a boot, so a path found is the path of the cgroup the kernel counted in)."""
        ids: set[int] = set()
        for data in panes.values():
            cgroup_ids = getattr(data, "cgroup_ids", None)
            if cgroup_ids is not None:
                ids.update(cgroup_ids())
        if not ids:
            return {}
        if self._cgroups is None:
            self._cgroups = Cgroups()
        return self._cgroups.resolve(ids)


class LiveSource:
    """The UI's FrameSource (ebpftop/ui/source.py) on a Sampler thread, made when the app starts it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sampler: Sampler | None = None

    def start(self, on_frame: FrameSink, on_status: StatusSink, on_notice: NoticeSink) -> None:
        self.sampler = Sampler(
            SPECS,
            self.settings.probes,
            self.settings.interval,
            on_frame,
            on_status=on_status,
            pids=self.settings.pids,
            stats=self.settings.bpf_stats,
            settings=self.settings,
            on_notice=on_notice,
        )
        self.sampler.start()

    def toggle(self, name: str) -> None:
        if self.sampler:
            self.sampler.toggle(name)

    def set_interval(self, seconds: float) -> None:
        if self.sampler:
            self.sampler.set_interval(seconds)

    def set_pids(self, pids: PidFilter | None) -> None:
        if self.sampler:
            self.sampler.set_pids(pids)

    def probe_command(self, name: str, verb: str, *args: Any) -> None:
        if self.sampler:
            self.sampler.probe_command(name, verb, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and wait until every probe is detached."""
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler.join(timeout)
