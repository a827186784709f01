"""Compiles run in a child process (probes/compiler.py): ebpftop never maps clang or LLVM, and a compile
that dies, hangs or outlives ebpftop leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.kernel.helpers import (
    ROOT,
    batch,
    ebpftop_cmd,
    loaded_prog_ids,
    orphaned,
    our_prog_names,
    prog_ids_of,
    prog_names,
    scaled,
)

COMPILER_LIBS = ("libbcc", "libLLVM", "libclang")


def _marked(mark: str) -> list[int]:
    """PIDs of live processes whose environment carries mark (ebpftop and its compiler children)."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if mark.encode() in (proc / "environ").read_bytes():
                    out.append(int(proc.name))
            except OSError:
                continue
    return out


def _compilers(mark: str) -> list[int]:
    out = []
    for pid in _marked(mark):
        try:
            if b"compiler.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
        except OSError:
            continue
    return out


@pytest.fixture(scope="module")
def our_names() -> set[str]:
    """The kernel names of every program ebpftop loads (all probes), as test_signals takes them."""
    return our_prog_names()


def test_ebpftop_with_every_probe_live_maps_no_compiler_and_holds_its_programs() -> None:
    with batch("--interval", "0.5") as run:
        run.wait_frames(2)
        for probe in ("files", "syscalls", "proctree", "xdp"):
            run.wait_live(probe)
        maps = Path(f"/proc/{run.proc.pid}/maps").read_text()
        held = set(prog_ids_of(run.proc.pid))
        names = set(prog_names(held).values())
        frames = run.stop()
    assert not [lib for lib in COMPILER_LIBS if lib in maps], "ebpftop mapped a compiler library"
    # Every program of the four probes is held by ebpftop itself (the compiler has exited).
    assert len(names) >= 8 and "xdp_count" in names, names
    assert all(f["probes"][p]["state"] == "live" for f in frames[-1:] for p in ("files", "syscalls", "proctree"))


def test_a_compile_past_its_time_fails_with_one_line_and_leaves_nothing(our_names: set[str]) -> None:
    mark = f"EBPFTOP_TEST_MARK={uuid.uuid4().hex}"
    before = loaded_prog_ids()
    proc = subprocess.run(
        ebpftop_cmd("--batch", "-n", "1", "--probes", "syscalls,files"),
        capture_output=True, text=True, cwd=ROOT, timeout=scaled(120),
        env={**os.environ, "EBPFTOP_COMPILE_TIMEOUT": "0.05", mark.split("=")[0]: mark.split("=")[1]},
    )
    assert proc.returncode == 3, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any("compile took longer than 0.05 s (EBPFTOP_COMPILE_TIMEOUT)" in ln for ln in lines), lines
    assert "Traceback" not in proc.stderr
    assert _marked(mark.split("=")[1]) == []  # the killed compilers are reaped
    assert orphaned(before, our_names) == {}


def test_sigkill_of_ebpftop_mid_compile_takes_the_compiler_with_it(our_names: set[str]) -> None:
    """The compiler dies with ebpftop (PR_SET_PDEATHSIG): nothing it loaded outlives them both."""
    mark = uuid.uuid4().hex
    before = loaded_prog_ids()
    proc = subprocess.Popen(
        ebpftop_cmd("--batch", "--interval", "1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=ROOT, env={**os.environ, "EBPFTOP_TEST_MARK": mark},
    )
    try:
        deadline = time.monotonic() + scaled(60)
        while not _compilers(mark):
            assert time.monotonic() < deadline, "no compiler process seen"
            assert proc.poll() is None
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(scaled(10))
        deadline = time.monotonic() + scaled(10)
        while _marked(mark):
            assert time.monotonic() < deadline, f"left running: {_marked(mark)}"
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert orphaned(before, our_names) == {}


def test_sigterm_during_a_stuck_compile_ends_at_once_without_the_emergency_exit(our_names: set[str]) -> None:
    """The compiler is stopped (SIGSTOP: a compile that takes minutes, as under emulation); SIGTERM to
    ebpftop kills it and ends the run the normal way, exit 0, not through the 5 s emergency exit."""
    mark = uuid.uuid4().hex
    before = loaded_prog_ids()
    proc = subprocess.Popen(
        ebpftop_cmd("--batch", "--interval", "1"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, env={**os.environ, "EBPFTOP_TEST_MARK": mark},
    )
    try:
        deadline = time.monotonic() + scaled(60)
        while not (children := _compilers(mark)):
            assert time.monotonic() < deadline, "no compiler process seen"
            time.sleep(0.01)
        for pid in children:
            os.kill(pid, signal.SIGSTOP)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "without waiting" not in err and "Traceback" not in err and "error" not in err, err
    assert _marked(mark) == []
    assert orphaned(before, our_names) == {}


def test_a_tracepoint_this_kernel_lacks_is_named_as_such_not_as_tracefs_missing(tmp_path: Path) -> None:
    """A source whose TRACEPOINT_PROBE names an event the kernel does not have: one line saying so, and
    nothing loaded. It said '(is tracefs mounted?)' with tracefs mounted, sending the user the wrong way."""
    from ebpftop.env import headers
    from ebpftop.probes.files import FilesProbe

    found = headers.find()
    if found is not None:
        headers.apply(found)
    for src in (ROOT / "bpf").iterdir():
        (tmp_path / src.name).write_bytes(src.read_bytes())
    with (tmp_path / "files.bpf.c").open("a") as f:
        f.write("\nTRACEPOINT_PROBE(nosuchcat, nosuchevent) { return 0; }\n")
    probe = FilesProbe()
    old = os.environ.get("EBPFTOP_BPF_DIR")
    os.environ["EBPFTOP_BPF_DIR"] = str(tmp_path)
    try:
        with pytest.raises(Exception) as info:
            probe.enable()
    finally:
        if old is None:
            del os.environ["EBPFTOP_BPF_DIR"]
        else:
            os.environ["EBPFTOP_BPF_DIR"] = old
    assert str(info.value) == (
        "tracepoint nosuchcat:nosuchevent: this kernel has no such tracepoint (not in /sys/kernel/tracing/events)"
    )
    assert not probe.enabled
    # The programs that did load are closed: this process holds none of the probe's programs.
    held = set(prog_names(set(prog_ids_of(os.getpid()))).values())
    assert not [n for n in held if n.startswith("tracepoint__")], held


def test_a_relative_bpf_dir_in_a_deleted_cwd_is_named(tmp_path: Path) -> None:
    """EBPFTOP_BPF_DIR relative, cwd deleted: the reason names the variable (it was '[Errno 2] No such file
    or directory', from a getcwd nobody could place)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    (tmp_path / "bpf").mkdir()  # what ../bpf names from gone: found (.. of a deleted directory resolves)
    for src in (ROOT / "bpf").iterdir():
        (tmp_path / "bpf" / src.name).write_bytes(src.read_bytes())
    proc = subprocess.Popen(
        ["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "$0" "$@"', *ebpftop_cmd("--batch", "-n", "1",
                                                                                      "--probes", "syscalls")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "EBPFTOP_BPF_DIR": "../bpf", "PYTHONPATH": str(ROOT)},
    )
    _out, err = proc.communicate(timeout=scaled(120))
    assert proc.returncode == 3, err
    assert err.splitlines()[0] == (
        "ebpftop: probe syscalls error: EBPFTOP_BPF_DIR='../bpf' is relative and the current directory is "
        "unreadable (No such file or directory): give an absolute path"
    ), err
