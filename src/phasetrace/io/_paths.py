"""Checks on the paths and options that say what to read and where to write.

* ``--out`` may not be the input folder or lie inside it: the results
  (``lattice.csv``, ``sequence.csv``...) would be read back as patterns on the
  next run.
* A symbolic link inside an input folder must point to a file inside that
  folder: a link to ``/etc/...`` or to another user's data is refused rather
  than read (pass such a file explicitly if it is really wanted).
* ``--wavelength`` is a line name (``CuKa``, ``CuKa1``, ``MoKa``, ``AgKa``...) or a
  positive, finite, plausible number of Å; ``-1``, ``0``, ``nan``, ``inf`` are refused.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ConfigError, ReaderError, SchemaError

__all__ = ["check_out_dir", "check_link", "wavelength_option", "glob_root"]

_MAGIC = "*?["


def glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard: ``run/*/s_*.xy`` → ``run``."""
    parts = Path(pattern).parts
    keep = []
    for part in parts:
        if any(ch in part for ch in _MAGIC):
            break
        keep.append(part)
    return Path(*keep) if keep else Path(".")


def _input_root(source: str | Path) -> Path | None:
    p = Path(source)
    if p.is_dir():
        return p.resolve()
    if not p.exists() and any(ch in str(source) for ch in _MAGIC):
        return glob_root(str(source)).resolve()
    return None  # a single file: writing beside it is not reading it back


def check_out_dir(out: str | Path, source: str | Path) -> None:
    """Refuse an output folder equal to, or inside, the input folder (or the folder of an input glob).

    Raises
    ------
    ConfigError
        Naming the output folder and the input.
    """
    root = _input_root(source)
    if root is None:
        return
    target = Path(out).resolve()
    if target == root:
        raise ConfigError(f"{out}: --out is the input folder; the results would be read back as patterns "
                          "on the next run — choose an output folder outside the input")
    if root in target.parents:
        raise ConfigError(f"{out}: --out is inside the input folder {source}; the results would be read back "
                          "as patterns on the next run — choose an output folder outside the input")


def check_link(path: Path, folder: Path) -> None:
    """Refuse a symbolic link ``path`` (found in ``folder``) whose target lies outside ``folder``."""
    if not path.is_symlink():
        return
    target = path.resolve()
    try:
        target.relative_to(folder.resolve())
    except ValueError:
        raise ReaderError(f"{path}: symbolic link to {target}, outside the input folder; refused (give that "
                          "file explicitly if it should be read)") from None


def wavelength_option(value: str | float) -> tuple[float, float, float]:
    """Validate a ``--wavelength`` value; return ``(λ1 Å, λ2 Å or NaN, I2/I1)``.

    Raises
    ------
    ConfigError
        Empty, not a number or known line name, not positive and finite, or not
        a plausible X-ray wavelength in Å.
    """
    from ..schema import resolve_wavelength
    from ._common import check_wavelength

    text = str(value).strip()
    if not text:
        raise ConfigError("--wavelength '': expected a wavelength in Å (e.g. 1.5406) or CuKa/CuKa1/MoKa/AgKa")
    is_number = not text[:1].isalpha() or text.lower() in ("nan", "inf", "infinity")
    try:
        if not is_number:
            return resolve_wavelength(text)
        try:
            number = float(text)
        except ValueError:
            hint = " (use a decimal point)" if "," in text else ""
            raise ConfigError(f"--wavelength {text}: not a number of Å{hint} nor one of CuKa, CuKa1, MoKa, "
                              "AgKa") from None
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(f"--wavelength {text}: expected a positive, finite wavelength in Å "
                              "(e.g. 1.5406) or CuKa/CuKa1/MoKa/AgKa")
        triple = resolve_wavelength(number)
        check_wavelength(triple[0], source="--wavelength")
        return triple
    except (SchemaError, ReaderError) as err:
        msg = str(err).removeprefix("--wavelength: ")
        raise ConfigError(f"--wavelength {text}: {msg}") from None
