"""`python -m ebpftop` entry point."""

from ebpftop.cli import main

raise SystemExit(main())
