"""CORP: the PAV (isotonic) recalibration and Brier score decomposition of Dimitriadis, Gneiting & Jordan (2021).

The recalibrated probability (conditional event probability, CEP) of a score is the
weighted isotonic (PAV) regression of the outcomes on the scores, identical scores
pooled first (as R reliabilitydiag, which sorts ties by descending outcome, and
scikit-learn's IsotonicRegression in model-diagnostics' ``decompose`` do). With the
mean Brier score ``S``, outcome mean ``ybar`` and CEP ``c``:

    MCB = S(p) - S(c),  DSC = S(ybar) - S(c),  UNC = S(ybar) = ybar (1 - ybar),

so ``S(p) = MCB - DSC + UNC``. Outcomes are 0/1 (so y**2 = y).

Streaming: every number comes from the exact distinct-score table
(:class:`calibcli.stats.distinct.DistinctTable`, weighted positives and negatives per
distinct score). When the scores have more distinct values than its budget the table
is dropped and the fit is done on the ``n_fine`` equal-width buckets of a
:class:`calibcli.statistics.smooth.FineHistogram` instead: each bucket is pooled as one
score at its weighted mean, so the PAV fit can only be coarser (MCB and DSC
approximate, ``exact = False``); ``S(p)`` and UNC stay exact.

Consistency bands (the diagram): R reliabilitydiag's ``"resampling"`` method at its
default ``region.position = "diagonal"``, ``region.level = 0.9``, ``n.boot = 100``:
resample the rows with replacement, draw each outcome from Bernoulli(score) (calibration
assumed), refit PAV, interpolate linearly to every plotted score and take the pointwise
5% and 95% quantiles. Resampling works on the table (multinomial counts per distinct
score, binomial outcomes), with a fixed seed, so the bands depend on the table only and
not on how rows were split into batches. Above ``max_band_points`` distinct scores the
bands (and the plotted curve) use the fine buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.statistics.smooth import FineHistogramResult
from calibcli.statistics.states import DistinctWithBuckets
from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT, DistinctResult

DEFAULT_CORP_FINE_BINS = 1 << 14
DEFAULT_BAND_LEVEL = 0.9  # reliabilitydiag region.level
DEFAULT_N_BOOT = 100  # reliabilitydiag n.boot
DEFAULT_MAX_BAND_POINTS = 1 << 11
DEFAULT_SEED = 0


@dataclass(frozen=True)
class CorpDiagram:
    """Data of a CORP reliability diagram: per plotted score its CEP, weight and consistency band.

    ``x`` ascending; ``lower``/``upper`` are NaN where no resample reached that score.
    ``pooled`` is True when the points are fine buckets rather than distinct scores.
    """

    x: np.ndarray
    cep: np.ndarray
    weight: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    n_boot: int
    pooled: bool
    mcb: float
    dsc: float
    unc: float


@dataclass(frozen=True)
class CorpResult:
    """CORP Brier decomposition (``brier = mcb - dsc + unc``); NaN without weight.

    ``exact`` is False when the distinct-score budget was exceeded (fine-bucket PAV).
    """

    mcb: float
    dsc: float
    unc: float
    brier: float
    rows: int
    weight: float
    exact: bool


def _pav(x_rate: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted increasing isotonic regression (scipy's PAV)."""
    from scipy.optimize import isotonic_regression

    if x_rate.size == 0:
        return x_rate.copy()
    return np.asarray(isotonic_regression(x_rate, weights=weight, increasing=True).x)


def _points(table: DistinctResult | None, hist: FineHistogramResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Scores, weights and weighted positives to fit on: distinct values, else fine buckets at their means."""
    if table is not None and table.exact:
        w = table.positives + table.negatives
        keep = w > 0
        return table.values[keep], w[keep], table.positives[keep], False
    keep = hist.sum_w > 0
    return hist.mean_scores()[keep], hist.sum_w[keep], hist.sum_wy[keep], True


def decompose(x: np.ndarray, w: np.ndarray, pos: np.ndarray, score_sum: float | None = None
              ) -> tuple[float, float, float, float, np.ndarray]:
    """(MCB, DSC, UNC, Brier, CEP) from scores ``x``, weights ``w`` and weighted positives ``pos``.

    ``score_sum`` (sum of w (p - y)**2) overrides the Brier numerator when the points pool rows.

    >>> mcb, dsc, unc, bs, cep = decompose(np.array([0.2, 0.6, 0.8]), np.ones(3), np.array([0.0, 1.0, 0.0]))
    >>> [round(v, 6) for v in (mcb, dsc, unc, bs)], cep.tolist()
    ([0.113333, 0.055556, 0.222222, 0.28], [0.0, 0.5, 0.5])
    """
    total = float(w.sum())
    if total <= 0:
        nan = float("nan")
        return nan, nan, nan, nan, np.empty(0)
    ybar = float(pos.sum()) / total
    cep = _pav(pos / w, w)
    if score_sum is None:
        score_sum = float(np.sum(w * x * x - 2.0 * x * pos + pos))
    brier = score_sum / total
    recal = float(np.sum(w * cep * cep - 2.0 * cep * pos + pos)) / total
    unc = ybar * (1.0 - ybar)
    return brier - recal, unc - recal, unc, brier, cep


def consistency_band(x: np.ndarray, w: np.ndarray, rows: int, level: float = DEFAULT_BAND_LEVEL,
                     n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise consistency band at ``x`` (reliabilitydiag resampling, position "diagonal").

    Each replicate draws ``rows`` rows with probabilities ``w / sum(w)``, outcomes from
    Bernoulli(x), refits PAV on the drawn scores and interpolates linearly to ``x``
    (NaN outside the drawn range, as R's ``approx``); the band is the pointwise
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (numpy's linear rule = R's type 7).
    """
    m = x.size
    if m == 0 or rows <= 0:
        return np.full(m, np.nan), np.full(m, np.nan)
    rng = np.random.default_rng(seed)
    prob = w / w.sum()
    fits = np.full((n_boot, m), np.nan)
    for b in range(n_boot):
        counts = rng.multinomial(rows, prob)
        hit = counts > 0
        pos = rng.binomial(counts[hit], x[hit]).astype(np.float64)
        xs, cs = x[hit], counts[hit].astype(np.float64)
        cep = _pav(pos / cs, cs)
        if xs.size == 1:
            fits[b] = cep[0]
        else:
            fits[b] = np.interp(x, xs, cep, left=np.nan, right=np.nan)
    return _column_quantile(fits, 0.5 - level / 2), _column_quantile(fits, 0.5 + level / 2)


def _column_quantile(values: np.ndarray, q: float) -> np.ndarray:
    """Per column, the q-quantile of the non-NaN entries (linear rule, R's type 7); NaN for none.

    >>> _column_quantile(np.array([[1.0, np.nan], [3.0, np.nan], [2.0, 5.0]]), 0.5).tolist()
    [2.0, 5.0]
    """
    ordered = np.sort(values, axis=0)  # NaN sort last
    k = np.sum(~np.isnan(values), axis=0)
    pos = q * np.maximum(k - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
    cols = np.arange(values.shape[1])
    frac = pos - lo
    with np.errstate(invalid="ignore"):
        out = ordered[lo, cols] * (1.0 - frac) + ordered[hi, cols] * frac
    return np.where(k > 0, out, np.nan)


def _coarse_for_band(hist: FineHistogramResult, max_points: int) -> FineHistogramResult:
    factor = 1
    while hist.sum_w.size // factor > max_points and hist.sum_w.size % (factor * 2) == 0:
        factor *= 2
    return hist.coarsen(factor) if factor > 1 else hist


def corp_from_tables(table: DistinctResult | None, hist: FineHistogramResult) -> CorpResult:
    """The CORP decomposition from a finalised distinct-score table (None or over budget: fine buckets)."""
    x, w, pos, pooled = _points(table, hist)
    exact_score = float(np.sum(hist.sum_wpp - 2.0 * hist.sum_wpy + hist.sum_wy))
    mcb, dsc, unc, brier, _ = decompose(x, w, pos, exact_score)
    return CorpResult(mcb, dsc, unc, brier, hist.rows, hist.total_weight, not pooled)


def corp_diagram_from_tables(table: DistinctResult | None, hist: FineHistogramResult, *,
                             level: float = DEFAULT_BAND_LEVEL, n_boot: int = DEFAULT_N_BOOT,
                             seed: int = DEFAULT_SEED, max_band_points: int = DEFAULT_MAX_BAND_POINTS) -> CorpDiagram:
    """Data of the CORP reliability diagram with consistency bands (see the module notes)."""
    result = corp_from_tables(table, hist)
    use_table = table is not None and table.exact and np.count_nonzero(table.positives + table.negatives) <= max_band_points
    x, w, pos, pooled = _points(table if use_table else None,
                                hist if use_table else _coarse_for_band(hist, max_band_points))
    cep = _pav(pos / w, w) if x.size else np.empty(0)
    lower, upper = consistency_band(x, w, hist.rows, level, n_boot, seed)
    return CorpDiagram(x, cep, w, lower, upper, level, n_boot, pooled, result.mcb, result.dsc, result.unc)


class CorpState(DistinctWithBuckets):
    """Partial state of CORP: a distinct-score table within a budget plus fine buckets for beyond it.

    >>> s = CorpState().update(np.array([0.2, 0.6, 0.8]), np.array([0, 1, 0]))
    >>> r = s.merge(CorpState()).finalize()
    >>> round(r.mcb - r.dsc + r.unc, 6) == round(r.brier, 6), r.exact
    (True, True)
    """

    def __init__(self, max_distinct: int = DEFAULT_MAX_DISTINCT, n_fine: int = DEFAULT_CORP_FINE_BINS):
        super().__init__(max_distinct, n_fine)

    def finalize(self) -> CorpResult:
        return corp_from_tables(self.table.finalize(), self.hist.finalize())

    def diagram(self, **kwargs) -> CorpDiagram:
        """The diagram data (:func:`corp_diagram_from_tables`; keyword arguments passed on)."""
        return corp_diagram_from_tables(self.table.finalize(), self.hist.finalize(), **kwargs)


def corp_decomposition(y_true, y_prob, *, sample_weight=None, max_distinct: int = DEFAULT_MAX_DISTINCT) -> CorpResult:
    """CORP decomposition of the Brier score: ``brier = mcb - dsc + unc`` (Dimitriadis et al. 2021).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1 (or bool).
    y_prob : array-like of shape (n,)
        Predicted probabilities of the outcome.
    sample_weight : array-like of shape (n,), optional
        Row weights.
    max_distinct : int, default 4,000,000
        Budget of distinct scores for the exact fit; beyond it, fine buckets (``exact`` False).

    Returns
    -------
    CorpResult
        ``mcb`` (miscalibration), ``dsc`` (discrimination), ``unc`` (uncertainty), ``brier``.

    Examples
    --------
    >>> r = corp_decomposition([0, 1, 0, 1], [0.1, 0.4, 0.6, 0.9])
    >>> round(r.mcb, 4), round(r.dsc, 4), r.unc, round(r.brier, 4)
    (0.06, 0.125, 0.25, 0.185)
    """
    return CorpState(max_distinct).update(y_prob, y_true, sample_weight).finalize()
