"""`python -m ebpftop` entry point: the same as the `ebpftop` command."""

from ebpftop import entry

raise SystemExit(entry())
