"""A signal during start-up, before any mode's own handler: it ends ebpftop quietly, wherever it lands.

Python runs a signal handler between two bytecodes of the main thread, so during start-up it
runs in the middle of some import. The old handler raised SystemExit(0); landing in a class
body's __set_name__ (every dataclass field) it came out as a RuntimeError traceback and exit 1
(CI met it at load 12); landing in a __del__ it was printed and ignored, and start-up went on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The signal arrives while the child runs the given Python code: the handler runs right there,
# as it would when a signal lands mid-import.
LANDINGS = {
    "set_name": (
        "class D:\n"
        "    def __set_name__(self, owner, name):\n"
        "        os.kill(os.getpid(), SIG)\n"
        "        for _ in range(100): pass\n"
        "class K:\n"
        "    d = D()\n"
    ),
    "del": (
        "class X:\n    def __del__(self):\n        os.kill(os.getpid(), SIG)\n        for _ in range(100): pass\nX()\n"
    ),
    "import": (  # a real import of ebpftop's, with the signal already pending when it starts
        "os.kill(os.getpid(), SIG)\nimport ebpftop.model.files\n"
    ),
}


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"])
@pytest.mark.parametrize("where", sorted(LANDINGS))
def test_start_up_handler_ends_the_process_wherever_the_signal_lands(where: str, sig: str) -> None:
    code = (
        "import os, signal\n"
        "import ebpftop\n"
        f"SIG = signal.{sig}\n"
        "signal.signal(SIG, ebpftop.exit_on_signal)\n"
        f"{LANDINGS[where]}"
        "print('start-up went on')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_both_ways_in_install_the_handlers_before_the_cli_is_imported() -> None:
    """`ebpftop` (the console script) and `python -m ebpftop` both start in ebpftop.entry()."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="ebpftop")
    assert script.value == "ebpftop:entry"
    import ebpftop

    assert "raise SystemExit(entry())" in (Path(ebpftop.__file__).parent / "__main__.py").read_text()
    code = (
        "import os, signal, sys\n"
        "import ebpftop\n"
        "class Watch:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'ebpftop.cli':\n"
        "            ends = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)\n"
        "            print(all(signal.getsignal(s) is ebpftop.exit_on_signal for s in ends), flush=True)\n"
        "            os._exit(0)\n"
        "sys.meta_path.insert(0, Watch())\n"
        "ebpftop.entry()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "True\n", "")
