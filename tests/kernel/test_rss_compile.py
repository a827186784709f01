"""What a compile leaves in the process: the parsed vmlinux BTF is let go, and its answers stay right.

Probes read struct offsets from /sys/kernel/btf/vmlinux to build their -D
flags. The parsed file (5.5 MB of bytes, an offset per type, a name per
struct: ~12 MiB of Python objects) used to be cached for the life of the
process; measured with every probe compiled, RSS 164 -> 157 MiB and RssAnon
67 -> 60 MiB once it goes after each compile (bench/PROFILE.md).
"""

from __future__ import annotations

import pytest

from ebpftop.probes import btf
from ebpftop.registry import BY_NAME
from ebpftop.settings import Settings

NAMES = ("files", "syscalls", "proctree", "xdp")


@pytest.mark.parametrize("name", NAMES)
def test_a_compile_lets_the_parsed_btf_go(name: str) -> None:
    btf.struct_offsets.cache_clear()
    btf.struct_offsets("task_struct")  # parses the file, as a probe's cflags do
    assert btf._vmlinux.cache_info().currsize == 1
    probe = BY_NAME[name].make_probe(Settings())
    probe.enable()
    try:
        assert probe.enabled
        assert btf._vmlinux.cache_info().currsize == 0
    finally:
        probe.disable()


def test_offsets_asked_after_a_release_are_the_same() -> None:
    btf.release()
    btf.struct_offsets.cache_clear()
    first = btf.struct_offsets("task_struct")
    btf.release()
    btf.struct_offsets.cache_clear()
    again = btf.struct_offsets("task_struct")
    assert first == again
    assert {"group_leader", "start_boottime", "comm"} <= first.keys()
    assert btf.task_start_cflags() == [
        f"-DEBPFTOP_OFF_TASK_GROUP_LEADER={first['group_leader']}",
        f"-DEBPFTOP_OFF_TASK_START_BOOTTIME={first['start_boottime']}",
        f"-DEBPFTOP_OFF_TASK_COMM={first['comm']}",
    ]
