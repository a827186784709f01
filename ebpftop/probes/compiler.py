"""Compile and load one BPF source with bcc, in a short-lived process, and hand what it loaded to ebpftop.

Run by ebpftop/probes/loader.py as ``python compiler.py FD`` (a script: it
imports no ebpftop module). FD is one end of a SOCK_SEQPACKET socket pair;
the request comes on it as one JSON message:

    {"parent": PID, "src": PATH, "cflags": [...], "load": {FUNCTION: "xdp", ...}}

The reply is one message: JSON {"progs": [[name, kind, target], ...],
"maps": [name, ...]} with the programs' then the maps' fds (SCM_RIGHTS), in
that order; or {"error": "one line"}. Compiler diagnostics go to stderr,
which the parent reads for the first error line.

Why a process of its own: bcc links clang and LLVM, and a compile leaves tens
of MiB in the process that ran it (measured: `import bcc` alone +62 MiB of
RSS; a compile of the four probes ~100 MiB more, fragmented, not all given
back). Here that memory dies with this process; ebpftop keeps only fds.

Nothing is attached here: bcc's autoload (tracepoint__*, raw_tracepoint__*)
is switched off and the functions are only loaded. ebpftop attaches them
itself, so what it holds is the only thing keeping them in the kernel.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys

PR_SET_PDEATHSIG = 1
MAX_FDS = 250  # fds in one SCM_RIGHTS message (the kernel's SCM_MAX_FD is 253)


def _reply(sock: socket.socket, meta: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(meta).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> int:
    sock = socket.socket(fileno=int(sys.argv[1]))
    # Die with ebpftop: a compile left running would hold what it loaded.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    data = sock.recv(1 << 20)
    if not data:
        return 1  # ebpftop closed its end: it is gone or gave up
    request = json.loads(data)
    if os.getppid() != request["parent"]:
        return 1  # ebpftop was gone before the prctl took effect
    try:
        from bcc import BPF
        from bcc.libbcc import lib
    except ImportError as exc:
        _reply(sock, {"error": f"bcc cannot be imported: {_one_line(exc)}"})
        return 1
    for name, restype, argtypes in (
        ("bpf_num_tables", ctypes.c_size_t, [ctypes.c_void_p]),
        ("bpf_table_name", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t]),
        ("bpf_table_fd_id", ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]),
    ):
        getattr(lib, name).restype = restype
        getattr(lib, name).argtypes = argtypes
    kinds = {"tracepoint": BPF.TRACEPOINT, "raw_tracepoint": BPF.RAW_TRACEPOINT, "xdp": BPF.XDP}
    BPF._trace_autoload = lambda self: None
    try:
        bpf = BPF(src_file=request["src"].encode(), cflags=request["cflags"])
        progs: list[list[str]] = []
        prog_fds: list[int] = []
        for i in range(lib.bpf_num_functions(bpf.module)):
            name = lib.bpf_function_name(bpf.module, i)
            if name.startswith(b"tracepoint__"):
                kind, target = "tracepoint", name[len(b"tracepoint__") :].replace(b"__", b":")
            elif name.startswith(b"raw_tracepoint__"):
                kind, target = "raw_tracepoint", name[len(b"raw_tracepoint__") :]
            elif name.decode() in request["load"]:
                kind, target = request["load"][name.decode()], b""
            else:
                continue
            fn = bpf.load_func(name, kinds[kind])
            progs.append([name.decode(), kind, target.decode()])
            prog_fds.append(fn.fd)
        maps = [lib.bpf_table_name(bpf.module, i).decode() for i in range(lib.bpf_num_tables(bpf.module))]
        map_fds = [lib.bpf_table_fd_id(bpf.module, i) for i in range(len(maps))]
    except Exception as exc:  # noqa: BLE001 - bcc raises bare Exception for compile and load failures
        _reply(sock, {"error": _one_line(exc)})
        return 1
    fds = prog_fds + map_fds
    if len(fds) > MAX_FDS:
        _reply(sock, {"error": f"{len(fds)} programs and maps: more than one message carries ({MAX_FDS})"})
        return 1
    _reply(sock, {"progs": progs, "maps": maps}, fds)
    sys.stdout.flush()
    os._exit(0)  # no bcc cleanup: what it would close is in flight to ebpftop


if __name__ == "__main__":
    sys.exit(main())
