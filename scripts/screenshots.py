"""make screenshots: the real app on the real probes against a generated workload, saved as SVG and PNG.

Runs inside a private network namespace (unshare -n) so the XDP pane counts
only this script's own UDP traffic on that namespace's lo.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "screenshots"
SIZE = (132, 36)
NETNS_FLAG = "EBPFTOP_SCREENSHOTS_NETNS"

WORKLOADS = {
    # A process that renames itself to an escape sequence and markup, to show it is harmless.
    "hostile": r"""
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"\x1b[31mevil[bold]", 0, 0, 0)
while True:
    for _ in range(2000): os.getppid()
    time.sleep(0.01)
""",
    "files": r"""
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, b"demo-writer", 0, 0, 0)
d = sys.argv[1]
block = b"x" * 4096
while True:
    with open(os.path.join(d, "app.log"), "ab") as f:
        for _ in range(64): f.write(block); f.flush()
    with open(os.path.join(d, "app.log"), "rb") as f:
        while f.read(65536): pass
    with open(os.path.join(d, "cache.db"), "wb") as f:
        f.write(block * 16)
    r, w = os.pipe(); os.write(w, b"ping" * 100); os.read(r, 400); os.close(r); os.close(w)
    time.sleep(0.05)
""",
    "udp": r"""
import ctypes, socket, time
ctypes.CDLL(None).prctl(15, b"demo-udp", 0, 0, 0)
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0)); rx.setblocking(False)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen()
while True:
    for _ in range(50): tx.sendto(b"x" * 200, rx.getsockname())
    try:
        while True: rx.recv(2048)
    except BlockingIOError: pass
    c = socket.create_connection(tcp.getsockname()); s, _ = tcp.accept()
    c.send(b"hello"); s.recv(16); c.close(); s.close()
    time.sleep(0.02)
""",
}
SPAWNER = "while :; do /bin/true; sh -c 'exit 3'; sleep 0.2; done"


def reexec_in_netns() -> None:
    if os.environ.get(NETNS_FLAG):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    env = {**os.environ, NETNS_FLAG: "1"}
    os.execvpe("unshare", ["unshare", "-n", sys.executable, *sys.argv], env)


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("screenshots: the app did not get there in time")
        await pilot.pause(0.1)


async def shoot(workdir: str, procs: dict[str, subprocess.Popen[bytes]]) -> list[Path]:
    from ebpftop.model import frame as fr
    from ebpftop.pids import of_pids
    from ebpftop.registry import NAMES
    from ebpftop.sampler import LiveSource
    from ebpftop.settings import Settings
    from ebpftop.ui.app import EbpftopApp

    settings = Settings(probes=NAMES, xdp_ifaces=("lo",))
    source = LiveSource(settings)
    app = EbpftopApp(settings, source, initial_pane="files")
    saved: list[Path] = []

    def save(name: str) -> None:
        path = OUT / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(OUT))
        saved.append(path)

    try:
        async with app.run_test(size=SIZE) as pilot:
            def all_live() -> bool:
                f = app.frame
                return f is not None and all(p.state in (fr.LIVE, fr.UNAVAILABLE, fr.ERROR) for p in f.probes)

            await wait_for(pilot, all_live)
            start = app.frames_seen
            await wait_for(pilot, lambda: app.frames_seen >= start + 3)
            tabs = app.query_one("#tabs")
            for key, name in (("files", "files"), ("syscalls", "syscalls"), ("procs", "tree"), ("xdp", "xdp")):
                tabs.active = f"tab-{key}"
                n = app.frames_seen
                await wait_for(pilot, lambda n=n: app.frames_seen >= n + 1)
                await pilot.pause(0.2)
                save(name)
            await pilot.press("question_mark")
            await pilot.pause(0.3)
            save("help")
            await pilot.press("escape")
            tabs.active = "tab-syscalls"
            app.set_pids(of_pids(frozenset({procs["files"].pid, procs["hostile"].pid})))
            n = app.frames_seen
            await wait_for(pilot, lambda: app.frames_seen >= n + 2)
            save("filtered")
            # The process view of the file writer, from the Syscalls pane (v).
            app.set_pids(of_pids(frozenset({procs["files"].pid})))
            n = app.frames_seen
            await wait_for(pilot, lambda: app.frames_seen >= n + 2)
            await pilot.press("v")
            n = app.frames_seen
            await wait_for(pilot, lambda: app.frames_seen >= n + 1)
            await pilot.pause(0.3)
            save("procview")
            await pilot.press("escape")
            app.set_pids(None)
            # The dashboard (all four boxes from 180x45) and the smallest supported terminal.
            for size, name in (((200, 60), "dashboard"), ((80, 24), "small")):
                await pilot.resize_terminal(*size)
                n = app.frames_seen
                await wait_for(pilot, lambda n=n: app.frames_seen >= n + 2)
                await pilot.pause(0.3)
                save(name)
            await pilot.press("q")
    finally:
        source.stop()
    return saved


def to_png(paths: list[Path]) -> None:
    import cairosvg

    for svg in paths:
        # Textual's SVG asks for Fira Code. Where it is not installed, fontconfig hands cairosvg its
        # default sans (proportional): wide letters ran into the next cell ('mmap 21' drew as
        # 'mmap21'). The PNG is drawn with a monospace font that is here; the SVG stays as written.
        text = svg.read_text().replace("Fira Code, monospace", '"DejaVu Sans Mono", monospace')
        text = text.replace('"Fira Code"', '"DejaVu Sans Mono"')
        cairosvg.svg2png(bytestring=text.encode(), write_to=str(svg.with_suffix(".png")), output_width=1600)


def main() -> int:
    if os.geteuid() != 0:
        sys.exit("screenshots: run as root (sudo make screenshots)")
    reexec_in_netns()
    from ebpftop.env import checks

    try:
        checks.preflight()
    except checks.EnvError as exc:
        sys.exit(f"screenshots: {exc}")
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ebpftop-demo-") as workdir:
        procs = {name: subprocess.Popen([sys.executable, "-c", code, workdir]) for name, code in WORKLOADS.items()}
        procs["spawner"] = subprocess.Popen(["sh", "-c", SPAWNER])
        try:
            saved = asyncio.run(shoot(workdir, procs))
        finally:
            for proc in procs.values():
                proc.kill()
                proc.wait()
    to_png(saved)
    for path in saved:
        print(f"wrote {path.relative_to(ROOT)} and {path.with_suffix('.png').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
