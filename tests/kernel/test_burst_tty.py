"""The real TUI on a pty: a key burst after `/` written in one write() goes to the prompt, not to commands."""

from __future__ import annotations

import os
import re
import subprocess

from tests.kernel.floods import LIVE, tui

# What a leaked digit would draw: 1, 3, 4 switch an off probe on ("loading"), 2 the live one off.
_TOGGLED = re.compile(rb"[134] (files|proctree|xdp) loading|2 syscalls off")


def test_burst_after_slash_reaches_the_prompt_at_80x24() -> None:
    # A PID with digits 1-4 in it, so a leaked key would switch a probe; this process's child is real.
    with subprocess.Popen(["sleep", "600"]) as child:
        try:
            # Not a process, but a valid PID (the prompt checks the range first): it must say so.
            typed = next(str(n) for n in (1234, *range(12340, 12350), 21234, 31234) if not os.path.exists(f"/proc/{n}"))
            with tui(["--probes", "syscalls", "-i", "0.5"], cols=80, rows=24) as t:
                t.wait_for(LIVE["syscalls"], timeout=60)
                since = len(t.out)
                os.write(t.master, b"/" + typed.encode() + b"\r")  # one write: one read() in the app
                t.wait_for(b"no process with PID " + typed.encode(), since)
                t.wait_for(LIVE["syscalls"], len(t.out))  # frames still come, the probe still live
                assert not t.drawn(_TOGGLED, since), "a key of the burst toggled a probe"
                since = len(t.out)
                os.write(t.master, b"\x15" + str(child.pid).encode() + b"\r")  # ctrl+u, the real PID, Enter
                t.wait_for(b"PID " + str(child.pid).encode(), since)
                assert not t.drawn(_TOGGLED, since)
                assert t.quit() == 0
        finally:
            child.kill()
