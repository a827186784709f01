"""A bench peer: an empty XDP_PASS program on one interface, to show what generic XDP costs by itself."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ebpftop.env import checks  # noqa: E402
from ebpftop.probes import libbpf  # noqa: E402


def main() -> int:
    checks.check_headers()
    from bcc import BPF

    ifname = sys.argv[1]
    bpf = BPF(text="int xdp_empty(struct xdp_md *ctx) { return XDP_PASS; }")
    fn = bpf.load_func("xdp_empty", BPF.XDP)
    link = libbpf.link_create_xdp(fn.fd, socket.if_nametoindex(ifname), libbpf.XDP_FLAGS_SKB_MODE)
    print("attached", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    del link  # the link fd closes with the process; the kernel detaches
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    raise SystemExit(main())
