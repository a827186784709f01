"""Test tiers: unit (no root), ui (Pilot, snapshots), kernel (root, real BPF; a skip is a failure with CI=true)."""

from __future__ import annotations

import functools
import os

import pytest


@functools.cache
def kernel_unavailable_reason() -> str | None:
    """Why kernel tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "kernel tests need root"
    import importlib.util

    if importlib.util.find_spec("bcc") is None:
        return "bcc's Python bindings are not importable (run `sudo make setup`)"
    from ebpftop.env import checks

    try:
        checks.preflight()
    except checks.EnvError as exc:
        return str(exc)
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    scale = os.environ.get("EBPFTOP_TEST_TIMESCALE")
    if scale and scale != "1":
        return f"EBPFTOP_TEST_TIMESCALE={scale}: kernel tests' waits stretched x{scale} (emulated guest)"
    return None


def _is_kernel(item: pytest.Item) -> bool:
    return "/tests/kernel/" in str(item.path).replace(os.sep, "/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_kernel(item):
            item.add_marker(pytest.mark.kernel)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _is_kernel(item):
        return
    reason = kernel_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        # A missing install step must not hide behind a skip.
        pytest.fail(f"kernel test cannot run with CI=true: {reason}", pytrace=False)
    pytest.skip(reason)
