"""Code layout rules from STYLE.md that a reviewer would otherwise check by hand."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "phasetrace"


def _modules():
    return sorted(SRC.rglob("*.py"))


def test_numba_kernels_only_in_kernels_package():
    offenders = [str(p.relative_to(SRC)) for p in _modules()
                 if "_kernels" not in p.parts and re.search(r"@(numba\.)?(njit|jit)\b", p.read_text())]
    assert offenders == []


def test_kernels_import_only_numpy_numba_math():
    allowed = re.compile(r"^(import (numpy|numba|math)\b|from (numpy|numba|math|__future__|\.)\S* import)")
    offenders = []
    for path in (SRC / "_kernels").glob("*.py"):
        for line in path.read_text().splitlines():
            if re.match(r"(import|from) ", line) and not allowed.match(line):
                offenders.append(f"{path.name}: {line}")
    assert offenders == []


def test_no_fastmath():
    assert not [p for p in _modules() if "fastmath=True" in p.read_text()]


def test_modules_stay_small():
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in _modules()}
    assert {k: v for k, v in sizes.items() if v > 600} == {}


def test_package_init_has_no_heavy_imports():
    text = (SRC / "__init__.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(numba|matplotlib|dask|distributed|pymatgen)", text, re.M)
