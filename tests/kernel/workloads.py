"""Workload programs the kernel tests run as separate processes, with names they choose."""

from __future__ import annotations

import subprocess
import sys

# Renames itself (prctl PR_SET_NAME) and then makes exactly N getppid calls.
GETPPID_LOOP = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
name = sys.argv[1].encode("utf-8", "surrogateescape")
libc.prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
for _ in range(int(sys.argv[2])):
    os.getppid()
"""


def getppid_loop(name: str, calls: int) -> int:
    """Run the loop to completion; returns its PID."""
    proc = subprocess.Popen([sys.executable, "-c", GETPPID_LOOP, name, str(calls)])
    proc.wait(60)
    assert proc.returncode == 0
    return proc.pid


# Makes its first calls on the last CPU, then moves to CPU 0: the key is
# created (with comm) in one CPU's slot and counted in another's too.
CPU_HOP = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None)
libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)
cpus = sorted(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpus[-1]})
for _ in range(1000): os.getppid()
os.sched_setaffinity(0, {cpus[0]})
for _ in range(1000): os.getppid()
"""


def cpu_hop(name: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", CPU_HOP, name])
    proc.wait(60)
    assert proc.returncode == 0
    return proc.pid
