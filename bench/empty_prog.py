"""A bench peer: an empty BPF program on a hook, to show what the hook costs by itself.

    empty_prog.py sys_enter      raw tracepoint on sys_enter that returns 0
    empty_prog.py sys_exit       the same on sys_exit (the files probe's read path)
    empty_prog.py xdp IFACE      XDP_PASS on IFACE, attached through a BPF link
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ebpftop.env import checks
from ebpftop.probes import libbpf


def main() -> int:
    checks.check_headers()
    from bcc import BPF

    keep = []
    if sys.argv[1] in ("sys_enter", "sys_exit"):
        keep.append(BPF(text=f"RAW_TRACEPOINT_PROBE({sys.argv[1]}) {{ return 0; }}"))  # attaches on load
    else:
        bpf = BPF(text="int xdp_empty(struct xdp_md *ctx) { return XDP_PASS; }")
        fn = bpf.load_func("xdp_empty", BPF.XDP)
        keep += [bpf, libbpf.link_create_xdp(fn.fd, socket.if_nametoindex(sys.argv[2]), libbpf.XDP_FLAGS_SKB_MODE)]
    print("attached", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0  # the fds close with the process; the kernel detaches


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    raise SystemExit(main())
