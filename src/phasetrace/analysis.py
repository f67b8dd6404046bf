"""The analysis of a stack: decisions made once for the whole stack, then the same work per block.

:func:`plan_analysis` makes the decisions that must hold for every scan — the
candidate phases and their reference cells (the library, loaded once), the Kα2
line, the start positions of the per-peak fits, the analysis blocks — and
returns them as a frozen :class:`Plan`.  :func:`analyse_block` then analyses
one block (background → phase presence by model comparison on the whole-pattern
refinement, candidates proposed on the survey scans and where a fit leaves a residual
peak → per-peak fits) with ``halo_scans`` context scans on each side, and keeps the block's
own scans.  Every way of running (in memory, chunked, local processes, Dask)
analyses the same blocks with the same plan, so results do not depend on it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .config import Config
from .schema import INTENSITY, INTENSITY_SIGMA, RESULT_PEAK_PREFIX, SCAN, TWO_THETA, WAVELENGTHS_A

logger = logging.getLogger(__name__)

__all__ = ["Plan", "plan_analysis", "block_bounds", "analyse_block", "analyse_blocks", "analyse_task",
           "join_blocks", "collapse_block_attrs", "MAP_VARS"]

#: patterns kept (on map_scan) for the intensity map; all of them when the stride is 1.
MAP_VARS = (INTENSITY, INTENSITY_SIGMA, "background", "calc", "calc_background")
#: Kα1 of a characteristic line is matched within this (Å): the spread of tabulated values.
_LINE_TOL_A = 0.0015


@dataclass(frozen=True)
class Plan:
    """Stack-wide decisions handed to every block.

    Attributes
    ----------
    n_scans : int
        Scans in the stack.
    blocks : tuple of (int, int)
        ``(start, stop)`` of every analysis block.
    halo : int
        Context scans on each side of a block.
    library : tuple of ReferencePhase
        Candidate phases with their reference cells.
    wavelength : (float, float, float)
        ``(λ1 Å, λ2 Å or NaN, I2/I1)`` used for every scan.
    kalpha2 : str
        How the Kα2 line was decided (``"given by the input"``, ``"True (redchi ...)"``...).
    peak_positions : tuple of float
        Start 2θ (deg) of the per-peak fits (empty: none).
    map_stride : int
        Every ``map_stride``-th scan keeps its patterns in the results.
    config : Config
        The options.
    calibration : Calibration or None
        ``--calibrate``: the wavelength / zero / displacement refined once against the
        standard (:mod:`phasetrace.phases.calibrate`) and applied to every block.
    """

    n_scans: int
    blocks: tuple[tuple[int, int], ...]
    halo: int
    library: tuple[Any, ...]
    wavelength: tuple[float, float, float]
    kalpha2: str
    peak_positions: tuple[float, ...]
    map_stride: int
    config: Config
    calibration: Any = None

    def digest(self) -> str:
        """SHA-256 of the decisions and analysis options (part of the resume fingerprint).

        The ``[output]`` options (figures, report, material) change no chunk, so they
        are left out: a resumed run may change them.
        """
        text = repr((self.n_scans, self.blocks, self.halo, [p.label for p in self.library],
                     self.wavelength, self.kalpha2, self.peak_positions, self.map_stride,
                     self.calibration.to_dict() if self.calibration is not None else None,
                     sorted((k, v) for k, v in self.config.to_dict().items() if k != "output")))
        return hashlib.sha256(text.encode()).hexdigest()


def block_bounds(n_scans: int, block_scans: int) -> tuple[tuple[int, int], ...]:
    """Consecutive ``(start, stop)`` blocks; a last block under half a block joins the previous.

    Examples
    --------
    >>> block_bounds(130, 64)
    ((0, 64), (64, 130))
    """
    if block_scans < 1:
        from .errors import ConfigError

        raise ConfigError(f"block_scans={block_scans}; expected a positive number of scans")
    starts = list(range(0, n_scans, block_scans))
    if len(starts) > 1 and n_scans - starts[-1] < block_scans / 2:
        starts.pop()
    return tuple((s, starts[i + 1] if i + 1 < len(starts) else n_scans) for i, s in enumerate(starts))


def plan_analysis(n_scans: int, read_scans: Callable[[list[int]], xr.Dataset],
                  wavelength: tuple[float, float, float], config: Config, *,
                  library: list[Any], max_map_scans: int = 1000) -> Plan:
    """Make the stack-wide decisions from ``survey_scans`` evenly spaced scans.

    Parameters
    ----------
    n_scans : int
        Scans in the stack.
    read_scans : callable
        ``read_scans(indices)`` returns those scans as a stack.
    wavelength : (float, float, float)
        The input's ``(λ1, λ2, I2/I1)``; λ2 NaN / ratio 0 when no Kα2 was given.
    config : Config
        Options.
    library : list of ReferencePhase
        Candidate phases.
    max_map_scans : int
        Most scans whose patterns are kept.
    """
    ac = config.analysis
    quiet = logging.getLogger("phasetrace.io")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # one "read 1 scans" line per survey scan says nothing
    try:
        survey = read_scans(_survey_indices(n_scans, ac.survey_scans))
    finally:
        quiet.setLevel(level)
    from .background import estimate_background

    calibration = None
    if config.phases.calibrate:
        from .phases.calibrate import _standard, apply_calibration, calibrate, with_held_standard

        survey.attrs.update(wavelength_A=float(wavelength[0]), wavelength2_A=float(wavelength[1]),
                            kalpha2_ratio=float(wavelength[2]))
        calibration = calibrate(survey, _standard(config.phases))
        survey = apply_calibration(survey, calibration)
        library = with_held_standard(list(library), survey, config.phases)
        wavelength = (calibration.wavelength_A, wavelength[1], wavelength[2])
    background = estimate_background(survey, method=config.background.method)["background"]
    net = survey[INTENSITY].values - background.values
    wl1, wl2, ratio = (float(v) for v in wavelength)
    if ratio > 0 and math.isfinite(wl2):
        kalpha2 = "given by the input"
    elif not ac.detect_kalpha2:
        kalpha2, wl2, ratio = "not tested", math.nan, 0.0
    else:
        kalpha2, wl2, ratio = _decide_kalpha2(survey, background, net, wl1, library)
    survey.attrs.update(wavelength_A=wl1, wavelength2_A=wl2, kalpha2_ratio=ratio)
    positions = _peak_positions(survey, background) if config.peaks.enabled else ()
    return Plan(n_scans=n_scans, blocks=block_bounds(n_scans, ac.block_scans), halo=ac.halo_scans,
                library=tuple(library), wavelength=(wl1, wl2, ratio), kalpha2=kalpha2,
                peak_positions=positions, map_stride=max(1, math.ceil(n_scans / max_map_scans)),
                config=config, calibration=calibration)


def _survey_indices(n_scans: int, k: int) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(0, n_scans - 1, min(n_scans, k))})


def _decide_kalpha2(survey: xr.Dataset, background: xr.DataArray, net: np.ndarray, wl1: float,
                    library: list[Any]) -> tuple[str, float, float]:
    """χ² test of :func:`phasetrace.lattice.analyse_phases` on the first, middle, last and brightest survey scans."""
    from .lattice import analyse_phases

    if not any(r > 0 and abs(w1 - wl1) <= _LINE_TOL_A for w1, _, r in WAVELENGTHS_A.values()):
        return "not tested", math.nan, 0.0
    s = int(np.argmax(np.clip(net, 0, None).sum(axis=1)))
    n = survey.sizes[SCAN]
    picked = sorted({0, n // 2, n - 1, s})  # first, middle, last and brightest survey scans
    one = survey.isel({SCAN: picked})
    one.attrs.update(wavelength_A=wl1, wavelength2_A=math.nan, kalpha2_ratio=0.0)
    res = analyse_phases(one, library=library, background=background.isel({SCAN: picked}).values,
                         detect_kalpha2=True)
    decision = str(res.attrs.get("kalpha2_detected", "not tested"))
    if decision.startswith("True"):
        wl2, ratio = float(res.attrs["wavelength2_used_A"]), float(res.attrs["kalpha2_ratio_used"])
        logger.info("Kα2 line at %.6f Å (ratio %.2f) detected in the data (scan %d of the survey): %s",
                    wl2, ratio, s, decision)
        return f"detected from the data: {decision}", wl2, ratio
    logger.info("no Kα2 line in the data: %s", decision)
    return decision, math.nan, 0.0


def _peak_positions(survey: xr.Dataset, background: xr.DataArray) -> tuple[float, ...]:
    """Start 2θ of the per-peak fits: peaks tracked through the survey scans.

    :func:`phasetrace.peaks.find_peaks` on the survey (Kα2 satellites dropped,
    a track needs detections in 2 survey scans); each line's median centre.  Tracks whose
    median centres are less than half the typical FWHM of the data apart (``fwhm_deg``
    of the tracks) and that are never detected in the same survey scan are one line (the
    track of a line broken where it moved away and back, on charge and discharge): two
    lines that close give one maximum (two equal Gaussians show a dip only beyond
    0.85 FWHM), so a start cannot tell them apart and the stack fit would fit one line
    twice.  Tracks detected together in one scan were resolved there and stay two.
    """
    from .peaks import find_peaks

    tracks = find_peaks(survey, background=background.values, min_detections=min(2, survey.sizes[SCAN]))
    if "track_center" not in tracks or tracks.sizes.get("peak", 0) == 0:
        return ()
    centre = tracks["track_center"].values
    with np.errstate(all="ignore"):
        med = np.nanmedian(centre, axis=0)
    order = [j for j in np.argsort(med) if np.isfinite(med[j])]
    half = 0.5 * float(tracks.attrs.get("fwhm_deg", 0.0))
    groups: list[list[int]] = []
    for j in order:
        last = groups[-1] if groups else None
        if last is not None:
            seen = np.isfinite(centre[:, last]).any(axis=1)
            if (med[j] - np.nanmedian(centre[:, last]) < half
                    and not np.any(seen & np.isfinite(centre[:, j]))):
                last.append(j)
                continue
        groups.append([j])
    return tuple(sorted(round(float(np.nanmedian(centre[:, g])), 6) for g in groups))


def analyse_block(part: xr.Dataset, plan: Plan, keep: tuple[int, int], offset: int) -> xr.Dataset:
    """Analyse one block and its halo; return the block's per-scan results.

    Parameters
    ----------
    part : xarray.Dataset
        Scans ``offset .. offset + len(part)`` of the stack (block plus halo).
    plan : Plan
        Stack-wide decisions.
    keep : (int, int)
        Global ``(start, stop)`` of the block.
    offset : int
        Global index of the first scan of ``part``.

    Returns
    -------
    xarray.Dataset
        Variables on (scan, phase), scan and (scan, peak) with global ``scan``
        labels; the patterns of the map scans on (map_scan, two_theta).
    """
    from .background import estimate_background
    from .lattice import analyse_phases

    config = plan.config
    stack = part.copy(deep=True).assign_coords({SCAN: np.arange(offset, offset + part.sizes[SCAN])})
    zero_options: dict[str, float] = {}
    if plan.calibration is not None:
        from .phases.calibrate import apply_calibration, calibrated_zero_options

        stack = apply_calibration(stack, plan.calibration)
        zero_options = calibrated_zero_options(stack)
    stack.attrs.update(wavelength_A=plan.wavelength[0], wavelength2_A=plan.wavelength[1],
                       kalpha2_ratio=plan.wavelength[2])
    background = estimate_background(stack, method=config.background.method)["background"]
    n_part = stack.sizes[SCAN]
    survey = [g - offset for g in _survey_indices(plan.n_scans, config.analysis.survey_scans)
              if offset <= g < offset + n_part]
    phases = analyse_phases(stack, library=list(plan.library), background=background.values,
                            detect_kalpha2=False, identify=config.identify,
                            refine=config.refine, survey=survey,
                            **zero_options)
    kept = slice(keep[0] - offset, keep[1] - offset)
    table = phases.drop_vars([v for v in phases.data_vars if TWO_THETA in phases[v].dims])
    table = table.drop_dims([TWO_THETA], errors="ignore").isel({SCAN: kept})
    if plan.peak_positions:
        from .peaks import fit_stack

        fits = fit_stack(stack, peaks=np.array(plan.peak_positions), profile=config.peaks.profile,
                         background=background, errors="ignore")
        for name in fits.data_vars:
            if "peak" in fits[name].dims and TWO_THETA not in fits[name].dims:
                table[RESULT_PEAK_PREFIX + name] = fits[name].isel({SCAN: kept})
    scans = np.arange(keep[0], keep[1])
    rows = np.flatnonzero(scans % plan.map_stride == 0)
    patterns = {INTENSITY: stack[INTENSITY].values, INTENSITY_SIGMA: stack[INTENSITY_SIGMA].values
                if INTENSITY_SIGMA in stack else None, "background": background.values,
                "calc": phases["calc"].values if "calc" in phases else None,
                "calc_background": phases["calc_background"].values if "calc_background" in phases else None}
    dtype = np.float64 if plan.map_stride == 1 else np.float32
    for name in MAP_VARS:
        if patterns[name] is not None:
            table["map_" + name] = (("map_scan", TWO_THETA),
                                    patterns[name][kept][rows].astype(dtype))
    table = table.assign_coords(map_scan=scans[rows], two_theta=stack[TWO_THETA].values)
    extra = {c: (SCAN, stack[c].values[kept], stack[c].attrs) for c in stack.coords
             if stack[c].dims == (SCAN,) and c != SCAN and c not in table.coords}
    table = table.assign_coords(extra)
    for key, value in phases.attrs.items():
        if isinstance(value, (str, int, float)) and key not in ("kalpha2_detected",):
            table[key] = ("block", [value])
    table.attrs = {}
    return table.assign_coords(block_start=("block", [int(keep[0])]))


def analyse_blocks(stack: xr.Dataset, plan: Plan, blocks: list[tuple[int, int]],
                   offset: int) -> list[xr.Dataset]:
    """Analyse consecutive ``blocks`` from a stack holding scans ``offset ..`` (blocks ± halo)."""
    out = []
    for start, stop in blocks:
        lo, hi = max(0, start - plan.halo), min(plan.n_scans, stop + plan.halo)
        part = stack.isel({SCAN: slice(lo - offset, hi - offset)})
        out.append(analyse_block(part, plan, (start, stop), lo))
        logger.debug("block %d-%d analysed", start, stop - 1)
    return out


def analyse_task(source: Any, plan: Plan, blocks: list[tuple[int, int]]) -> xr.Dataset:
    """One executor task: read ``source`` (the blocks and their halos) and analyse each block.

    ``source`` is a :class:`phasetrace.stream.ChunkSource` (or ``StackSource``) whose
    ``offset`` is the global index of its first scan.  The CPU seconds of reading and
    of analysing (this process, all its threads) are in ``attrs["task_cpu_s"]``
    (``[read, analyse]``; no part of the results).
    """
    import time

    cpu0 = time.process_time()
    stack = source.read()
    cpu1 = time.process_time()
    result = join_blocks(analyse_blocks(stack, plan, blocks, source.offset))
    result.attrs["task_cpu_s"] = [cpu1 - cpu0, time.process_time() - cpu1]
    return result


def join_blocks(parts: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate block (or task) results in scan order.

    Variables on ``scan`` are joined along ``scan``, the patterns along
    ``map_scan``, and each block's own scalars (``fwhm_deg``,
    ``match_tolerance_deg``: estimated per block) along ``block``
    (``block_start`` = first scan); :func:`collapse_block_attrs` turns the
    scalars every block agrees on back into attributes.
    """
    width = max(p.sizes.get("unindexed", 0) for p in parts)
    padded = []
    for ds in parts:
        if "unindexed_peaks" in ds and ds.sizes["unindexed"] < width:
            ds = ds.pad({"unindexed": (0, width - ds.sizes["unindexed"])}, constant_values=np.nan)
        padded.append(ds)
    groups = []
    for dim in (SCAN, "map_scan", "block"):
        names = [v for v in padded[0].data_vars if dim in padded[0][v].dims]
        if not names:
            continue
        subsets = [ds[names] for ds in padded]
        groups.append(xr.concat(subsets, dim=dim, data_vars="minimal", coords="minimal",
                                compat="override", combine_attrs="drop"))
    rest = [v for v in padded[0].data_vars if not any(v in g for g in groups)]
    if rest:
        groups.append(padded[0][rest])
    return xr.merge(groups, compat="override", combine_attrs="drop")


def collapse_block_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Block scalars equal in every block become attributes; the others stay on ``block``."""
    out = ds.copy()
    for name in [v for v in ds.data_vars if ds[v].dims == ("block",)]:
        values = ds[name].values
        if all(v == values[0] for v in values):
            value = values[0]
            out.attrs[name] = value.item() if hasattr(value, "item") else value
            out = out.drop_vars(name)
    if "block" in out.dims and not any("block" in out[v].dims for v in out.data_vars):
        out = out.drop_dims("block")
    return out
