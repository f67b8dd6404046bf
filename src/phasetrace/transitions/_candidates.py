"""Elimination of stage candidates: the loop of the segmentation (see :mod:`._segment`).

ndarray layer.  Each round (1) joins consecutive candidates with the same
assemblage when nothing happens between them, (2) drops candidates that are only a
minor-phase excursion between two like neighbours, (3) joins again, (4) trims every
candidate at the fitted exchange ramps to its neighbours; then it removes the
shortest candidate that is too short or not steady after trimming, or, when there
is none, the one that is most clearly a slice of a longer exchange (most negative
plateau gain).  It stops when neither exists.

Every test reads only a candidate and its neighbours, and one round changes the
list in a few places, so the candidates live in a linked list whose tests are
recomputed only next to a change (:class:`_Candidates`), and every fit is kept for
the spans it reads (:class:`_Memo`).  The rounds, their order and every rule are
those of the plain loop (re-testing every candidate each round); only the repeated
work is gone, which made the loop quadratic in the number of scans.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from ._segment import (
    STAGE_SHARE, RampFit, Span, _codes, _core_runs, _fit_pair, _mergeable, _minor_excursion, _noise,
    _plateau, _plateau_gain, _steady,
)

__all__ = ["segment"]


def segment(t: np.ndarray, frac: np.ndarray, *, min_fraction: float, min_scans: int,
            max_stage_change: float, detection_limit: float = 0.0) -> tuple[list[Span], list[RampFit]]:
    """Find stage spans and the exchange fits between consecutive ones.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Scan numbers (increasing).
    frac : ndarray, shape (n, p)
        Median-filtered effective fractions (rows sum to 1).
    min_fraction : float
        Fraction (0–1) at or above which a phase counts in an assemblage.
    min_scans : int
        Least number of scans of a stage.
    max_stage_change : float
        Largest change (0–1) of any fraction between the first and last third of
        a stage; a candidate changing more is an exchange, not a stage.
    detection_limit : float
        Fraction (0–1) of a phase that phase identification may miss: a scan next
        to an exchange that shows only the old (new) phases may hold up to this
        much of the new (old) ones, so the exchange may extend over it.

    Returns
    -------
    spans : list of Span
        Stages in scan order.
    fits : list of RampFit
        ``len(spans) - 1`` fits, one per consecutive pair.
    """
    runs = _core_runs(_codes(frac, min_fraction), min_scans)
    memo = _Memo(t, frac, min_fraction, max_stage_change, detection_limit)
    cands = _Candidates([Span(a, b, a, b) for a, b in runs], memo, min_scans)
    for _ in range(4 * len(runs) + 1):  # each round but the last removes a candidate
        cands.merge_equal()
        cands.drop_minor()
        cands.merge_equal()
        worst = cands.worst_unsteady()
        if worst is None:
            worst = cands.worst_slice()
        if worst is None:
            return memo.fit_pairs(cands.spans())
        cands.unlink(worst)
    return [], []


class _Memo:
    """The per-candidate computations, each kept for the spans it reads.

    Within one call of :func:`segment` ``t``, ``frac`` and the options are fixed, so a
    plateau depends only on its span, the merge test and the exchange fit only on the
    two spans, the minor-excursion test and the plateau gain only on the three spans
    around a candidate and the steadiness test only on the trimmed span.
    """

    def __init__(self, t: np.ndarray, frac: np.ndarray, min_fraction: float, max_change: float,
                 limit: float) -> None:
        self.t, self.frac, self.min_fraction, self.max_change = t, frac, min_fraction, max_change
        self.limit, self.sigma = limit, _noise(frac)
        self.cut = STAGE_SHARE * min_fraction
        self._plateau: dict[Span, np.ndarray] = {}
        self._merge: dict[tuple[Span, Span], bool] = {}
        self._minor: dict[tuple[Span, Span, Span], bool] = {}
        self._pair: dict[tuple[Span, Span], tuple[RampFit, int, int]] = {}
        self._steady: dict[tuple[int, int], bool] = {}
        self._gain: dict[tuple[Span, Span, Span], float] = {}

    def plateau(self, span: Span) -> np.ndarray:
        """Median fractions of ``span`` (read-only)."""
        if span not in self._plateau:
            self._plateau[span] = _plateau(self.frac, span)
        return self._plateau[span]

    def mergeable(self, a: Span, b: Span) -> bool:
        """:func:`._segment._mergeable` of consecutive candidates ``a``, ``b``."""
        if (a, b) not in self._merge:
            self._merge[(a, b)] = _mergeable(self.frac, a, b, self.plateau(a), self.plateau(b), self.cut,
                                             self.max_change)
        return self._merge[(a, b)]

    def minor(self, a: Span, b: Span, c: Span) -> bool:
        """:func:`._segment._minor_excursion` of ``b`` between ``a`` and ``c``."""
        if (a, b, c) not in self._minor:
            self._minor[(a, b, c)] = _minor_excursion(self.plateau(a), self.plateau(b), self.plateau(c),
                                                      self.cut, self.min_fraction)
        return self._minor[(a, b, c)]

    def pair(self, a: Span, b: Span) -> tuple[RampFit, int, int]:
        """:func:`._segment._fit_pair` from ``a`` to ``b``: the fit, last scan of ``a``, first of ``b``."""
        if (a, b) not in self._pair:
            self._pair[(a, b)] = _fit_pair(self.t, self.frac, a, b, self.plateau(a), self.plateau(b),
                                           self.cut, self.limit)
        return self._pair[(a, b)]

    def steady(self, span: Span) -> bool:
        """:func:`._segment._steady` over the scans of ``span``."""
        key = (span.start, span.stop)
        if key not in self._steady:
            self._steady[key] = _steady(self.frac[span.start:span.stop + 1], self.max_change)
        return self._steady[key]

    def gain(self, a: Span, b: Span, c: Span) -> float:
        """:func:`._segment._plateau_gain` of ``b`` between ``a`` and ``c``."""
        if (a, b, c) not in self._gain:
            self._gain[(a, b, c)] = _plateau_gain(
                self.t, self.frac, a, b, c, self.pair(a, b)[0], self.pair(b, c)[0], self.plateau(a),
                self.plateau(b), self.plateau(c), self.sigma)
        return self._gain[(a, b, c)]

    def trimmed(self, before: Span | None, span: Span, after: Span | None) -> Span:
        """``span`` trimmed at the ends of the exchange ramps to its neighbours."""
        start = span.core_start if before is None else self.pair(before, span)[2]
        stop = span.core_stop if after is None else self.pair(span, after)[1]
        return Span(start=start, stop=stop, core_start=span.core_start, core_stop=span.core_stop)

    def fit_pairs(self, spans: list[Span]) -> tuple[list[Span], list[RampFit]]:
        """All spans trimmed, and the fits between consecutive ones."""
        pad = [None, *spans, None]
        trimmed = [self.trimmed(pad[k], pad[k + 1], pad[k + 2]) for k in range(len(spans))]
        return trimmed, [self.pair(a, b)[0] for a, b in zip(spans[:-1], spans[1:])]


class _Candidates:
    """The candidate list (linked, in scan order) with each test's result kept per candidate.

    A candidate's merge test reads it and the next one; its minor-excursion test,
    trimmed span (steadiness) and plateau gain read it and both neighbours.  Any
    change of the list marks the candidates next to it stale in every test, and
    each test is recomputed for its stale candidates before it is read, so every
    result read equals the plain loop's result on the current list.
    """

    def __init__(self, spans: list[Span], memo: _Memo, min_scans: int) -> None:
        self.memo, self.min_scans = memo, min_scans
        self.prev: dict[Span, Span | None] = {}
        self.next: dict[Span, Span | None] = {}
        for a, b, c in zip([None, *spans[:-1]], spans, [*spans[1:], None]):
            self.prev[b], self.next[b] = a, c
        self.head = spans[0] if spans else None
        self.stale = {name: set(spans) for name in ("merge", "minor", "unsteady", "gain")}
        self.joins: set[Span] = set()  # merge test true with the next candidate
        self.minors: set[Span] = set()
        self.unsteady: dict[Span, int] = {}  # trimmed length of each unsteady or short candidate
        self.gains: dict[Span, float] = {}  # inner candidates
        self.nan_gains: set[Span] = set()  # NaN has no order: never in the heap
        self._heaps: dict[str, list] = {"unsteady": [], "gain": []}
        self._tick = itertools.count()

    def spans(self) -> list[Span]:
        """The candidates in scan order."""
        out, s = [], self.head
        while s is not None:
            out.append(s)
            s = self.next[s]
        return out

    def _touch(self, *spans: Span | None) -> None:
        for s in spans:
            if s is not None:
                for stale in self.stale.values():
                    stale.add(s)

    def _forget(self, s: Span) -> None:
        for stale in self.stale.values():
            stale.discard(s)
        self.joins.discard(s)
        self.minors.discard(s)
        self.unsteady.pop(s, None)
        self.gains.pop(s, None)
        self.nan_gains.discard(s)
        del self.prev[s], self.next[s]

    def _link(self, a: Span | None, b: Span | None) -> None:
        """Make ``b`` follow ``a`` (``a`` None: ``b`` is the head; ``b`` None: ``a`` the tail)."""
        if a is None:
            self.head = b
        else:
            self.next[a] = b
        if b is not None:
            self.prev[b] = a

    def unlink(self, s: Span) -> None:
        """Remove candidate ``s``."""
        a, c = self.prev[s], self.next[s]
        self._forget(s)
        self._link(a, c)
        self._touch(a, c)

    def _join(self, first: Span, last: Span, joined: Span) -> None:
        """Replace the candidates ``first``..``last`` by ``joined``."""
        a, c = self.prev[first], self.next[last]
        s = first
        while True:
            nxt = self.next[s]
            self._forget(s)
            if s == last:
                break
            s = nxt
        self._link(a, joined)
        self._link(joined, c)
        self._touch(a, joined, c)

    def merge_equal(self) -> None:
        """One left-to-right joining pass (as ``_merge_equal`` over the list).

        The pass only leaves a candidate alone while its merge test with the next one
        is false, so it starts a join only at a candidate in ``joins``; a join goes on
        while the joined span's test with the next candidate is true.
        """
        for s in self.stale["merge"]:
            if self.next[s] is not None and self.memo.mergeable(s, self.next[s]):
                self.joins.add(s)
            else:
                self.joins.discard(s)
        self.stale["merge"].clear()
        for first in sorted(self.joins, key=lambda s: s.core_start):
            if first not in self.next:  # taken into an earlier join of this pass
                continue
            cur, last = first, first
            while self.next[last] is not None and self.memo.mergeable(cur, self.next[last]):
                last = self.next[last]
                cur = Span(cur.start, last.stop, cur.core_start, last.core_stop)
            self._join(first, last, cur)

    def drop_minor(self) -> None:
        """Remove, all at once, the candidates that are a minor excursion between like neighbours."""
        for s in self.stale["minor"]:
            a, c = self.prev[s], self.next[s]
            if a is not None and c is not None and self.memo.minor(a, s, c):
                self.minors.add(s)
            else:
                self.minors.discard(s)
        self.stale["minor"].clear()
        for s in list(self.minors):
            self.unlink(s)

    def _refresh(self, name: str) -> None:
        heap = self._heaps[name]
        for s in self.stale[name]:
            a, c = self.prev[s], self.next[s]
            if name == "unsteady":
                tr = self.memo.trimmed(a, s, c)
                if tr.n < self.min_scans or not self.memo.steady(tr):
                    self.unsteady[s] = tr.n
                    heapq.heappush(heap, (tr.n, s.core_start, next(self._tick), s))
                else:
                    self.unsteady.pop(s, None)
            elif a is not None and c is not None:
                g = self.memo.gain(a, s, c)
                self.gains[s] = g
                if g != g:
                    self.nan_gains.add(s)
                else:
                    self.nan_gains.discard(s)
                    heapq.heappush(heap, (g, s.core_start, next(self._tick), s))
            else:
                self.gains.pop(s, None)
                self.nan_gains.discard(s)
        self.stale[name].clear()

    def _top(self, name: str, current: dict[Span, float]) -> tuple[float, Span] | None:
        """Smallest (value, scan order) entry still current, or None."""
        heap = self._heaps[name]
        while heap:
            value, _, _, s = heap[0]
            if s in current and current[s] == value:
                return value, s
            heapq.heappop(heap)
        return None

    def worst_unsteady(self) -> Span | None:
        """The shortest (after trimming) of the candidates that are too short or not steady,
        the first in scan order among equals; None when there is none."""
        self._refresh("unsteady")
        top = self._top("unsteady", self.unsteady)
        return None if top is None else top[1]

    def worst_slice(self) -> Span | None:
        """The inner candidate of most negative plateau gain (first in scan order among equals),
        None when no gain is negative."""
        self._refresh("gain")
        if self.nan_gains:  # no order: exactly as the plain loop's sort
            spans = self.spans()
            ranked = sorted((self.gains[s], k) for k, s in enumerate(spans[1:-1], start=1))
            bad = [k for gain, k in ranked if gain < 0][:1]
            return spans[bad[0]] if bad else None
        top = self._top("gain", self.gains)
        return top[1] if top is not None and top[0] < 0 else None
