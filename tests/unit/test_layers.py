"""Layering contracts: the model loads without bcc or textual; only probes/ imports bcc."""

import re
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "ebpftop"


def test_model_imports_neither_bcc_nor_textual() -> None:
    code = (
        "import sys, importlib, pkgutil, ebpftop.model\n"
        "for info in pkgutil.iter_modules(ebpftop.model.__path__):\n"
        "    importlib.import_module('ebpftop.model.' + info.name)\n"
        "bad = [n for n in ('bcc', 'textual', 'psutil') if n in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_only_probes_import_bcc() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+bcc\b", re.M)
    offenders = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if pattern.search(p.read_text()) and p.relative_to(PKG).parts[0] != "probes"
    ]
    assert offenders == []


def test_ui_never_imports_probes_or_bcc() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(bcc|ebpftop\.probes|ebpftop\.sampler)\b", re.M)
    offenders = [str(p) for p in (PKG / "ui").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def _importers(layer: str, forbidden: str) -> list[str]:
    pattern = re.compile(rf"^\s*(import|from)\s+ebpftop\.({forbidden})\b", re.M)
    root = PKG / layer if (PKG / layer).is_dir() else PKG / f"{layer}.py"
    files = root.rglob("*.py") if root.is_dir() else [root]
    return [str(p.relative_to(PKG)) for p in files if pattern.search(p.read_text())]


def test_each_layer_imports_only_below_it() -> None:
    """docs/ARCHITECTURE.md's table: model < probes < registry/sampler < ui, output, cli."""
    assert _importers("model", "probes|sampler|registry|ui|output|cli") == []
    assert _importers("probes", "sampler|registry|ui|output|cli") == []
    assert _importers("sampler", "ui|output|cli") == []
    assert _importers("registry", "sampler|ui|output|cli") == []
    assert _importers("output", "ui|cli") == []
