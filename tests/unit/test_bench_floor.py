"""bench/run.py's headline: each tool's own cost beyond the hook's floor, and --update's splice into RESULTS.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import run as bench


def _syscalls(samples: dict[str, list[float]]) -> bench.Section:
    section = bench.sections({}, {"syscalls"})[0]
    for tool in section.tools:
        key = next((k for k in samples if tool.name.startswith(k)), None)
        if key is not None:
            section.samples[tool.name] = samples[key]
        else:
            tool.skip = "not run in this test"
    return section


# The quiet 2026-11-23 run's medians (bench/RESULTS.md): bare 67.1, empty hook 79.1, ebpftop 81.7, syscount 98.3.
QUIET = {
    "bare": [67.0, 67.1, 67.2],
    "empty": [79.0, 79.1, 79.3],
    "ebpftop (syscalls probe)": [81.6, 81.7, 81.9],
    "syscount": [98.2, 98.3, 98.4],
}


def test_own_cost_is_the_added_cost_less_the_floor() -> None:
    floor, floor_cost, own = bench.own_costs(_syscalls(QUIET))
    assert floor is not None and floor.startswith("empty raw tracepoint on sys_enter")
    assert floor_cost == pytest.approx(12.0)
    assert own["ebpftop (syscalls probe)"] == pytest.approx(2.6)
    assert own["syscount-bpfcc -P"] == pytest.approx(19.2)
    assert floor not in own and "bare" not in own


def test_the_headline_puts_ebpftop_beside_the_peer_and_keeps_the_totals() -> None:
    text = "\n".join(bench.summarize(_syscalls(QUIET)))
    assert "| ebpftop (syscalls probe) | +2.6 |  |" in text
    assert "| syscount-bpfcc -P | +19.2 | 0.14x |" in text
    assert "| ebpftop (syscalls probe) | 81.7 | 81.6 | 81.9 | +14.6 | 1.218x |" in text
    assert "Totals: ebpftop (syscalls probe) adds 0.47x what syscount-bpfcc -P adds." in text
    assert "Noisy run" not in text


def test_a_busy_box_is_flagged() -> None:
    noisy = {**QUIET, "bare": [245.0, 358.6, 697.2]}
    text = "\n".join(bench.summarize(_syscalls(noisy)))
    assert "**Noisy run**: bare ran from 245.0 to 697.2 ns/call (126% of its median)" in text
    assert "the empty hook measured at or below bare" in text


def test_update_replaces_only_the_sections_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# head\n\n### Per syscall: getppid\n\nold figures\n\n### Spawn rate: x\n\nspawn stays\n")
    monkeypatch.setattr(bench, "RESULTS", results)
    bench.update_results([_syscalls(QUIET)], rounds=3, reps=5)
    text = results.read_text()
    assert text.startswith("# head\n\n### Per syscall: getppid\n")
    assert "old figures" not in text and "| syscount-bpfcc -P | +19.2 | 0.14x |" in text
    assert text.endswith("### Spawn rate: x\n\nspawn stays\n")
    assert text.count("### Per syscall: getppid") == 1
