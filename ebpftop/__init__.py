"""ebpftop: a live Linux monitor whose every pane is fed by its own eBPF program."""

__version__ = "0.1.0"
