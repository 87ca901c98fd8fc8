"""The decision verdict (issue 13): what the scores may be used for, one line per use, each naming its evidence.

Computed from plain numbers (the report supplies them); no I/O, no printing.

- ``probabilities`` (probability-weighted decisions: bids, expected value): the
  headline calibration error and its 95% interval against ``tolerance`` (0.02), before
  and after the recommended calibrator. ok: the interval's upper end (the point when
  there is no interval) is within the tolerance; warn: only after the calibrator, or
  the point is within but the interval is not (more rows needed); fail: neither.
- ``ranking``: AUROC and its interval (calibration does not change the order). ok: the
  interval is above 0.5 and AUROC >= 0.7; fail: the interval's upper end is <= 0.5
  (no better than chance); warn otherwise. info (neutral) when AUROC was not measured
  (an audit without ``--statistics``): a use nobody measured neither passes nor warns.
- ``threshold`` (only when thresholds ran): the recommended threshold before and
  after calibration and how far it moves. ok: it moves at most ``move_tolerance``
  (0.05); warn: a rule at the old threshold is wrong once the scores are calibrated;
  info (neutral) when there is no calibrated threshold to compare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DEFAULT_TOLERANCE = 0.02
DEFAULT_MOVE_TOLERANCE = 0.05
MIN_USEFUL_AUROC = 0.7
STATUSES = ("ok", "warn", "fail")
#: a line's status: one of STATUSES, or "info" (nothing judged: not measured), which the overall status ignores
LINE_STATUSES = ("info", *STATUSES)
NOT_MEASURED = "not measured (add --statistics)"


@dataclass(frozen=True)
class VerdictLine:
    """One use: its status (ok, warn, fail; info when it was not measured), the sentence and the numbers it rests on."""

    use: str
    status: str
    sentence: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"use": self.use, "status": self.status, "sentence": self.sentence, "evidence": dict(self.evidence)}


@dataclass(frozen=True)
class Verdict:
    """The verdict: one :class:`VerdictLine` per use, and the tolerance it was judged against."""

    items: tuple[VerdictLine, ...]
    tolerance: float

    @property
    def status(self) -> str:
        """The worst status of the judged lines (``info`` lines, not measured, do not count; ok when none)."""
        return max((line.status for line in self.items if line.status in STATUSES), key=STATUSES.index, default="ok")

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``verdict`` object."""
        return {"status": self.status, "tolerance": self.tolerance, "lines": [line.to_dict() for line in self.items]}

    def lines(self) -> list[str]:
        """Plain text, one line per use: ``OK    probabilities: ...``."""
        return [f"{line.status.upper():<5} {line.use}: {line.sentence}" for line in self.items]


def _ok(x: Any) -> bool:
    return x is not None and math.isfinite(float(x))


def _iv(iv) -> tuple[float, float] | None:
    if iv is None or len(iv) != 2 or not (_ok(iv[0]) and _ok(iv[1])):
        return None
    return float(iv[0]), float(iv[1])


def _fmt(x: float, iv: tuple[float, float] | None, digits: int = 3) -> str:
    return f"{x:.{digits}f}" + ("" if iv is None else f" [{iv[0]:.{digits}f}, {iv[1]:.{digits}f}]")


def _upper(x: float, iv: tuple[float, float] | None) -> float:
    return x if iv is None else max(iv[1], x)


def probability_line(ece: float | None, ece_interval=None, ece_after: float | None = None, ece_after_interval=None,
                     calibrator: str | None = None, tolerance: float = DEFAULT_TOLERANCE) -> VerdictLine:
    """The ``probabilities`` line (see the module docstring).

    >>> probability_line(0.012, (0.008, 0.016)).status
    'ok'
    """
    iv, iv_after = _iv(ece_interval), _iv(ece_after_interval)
    ev: dict[str, Any] = {"ece": ece, "ece_interval": None if iv is None else list(iv), "tolerance": tolerance,
                          "calibrator": calibrator, "ece_after": ece_after,
                          "ece_after_interval": None if iv_after is None else list(iv_after)}
    tol = f"{tolerance:g}"
    if not _ok(ece):
        return VerdictLine("probabilities", "warn", "no calibration error could be measured (no rows with outcomes)", ev)
    ece = float(ece)
    before = _fmt(ece, iv)
    after_ok = _ok(ece_after) and calibrator is not None
    after = _fmt(float(ece_after), iv_after) if after_ok else ""
    if _upper(ece, iv) <= tolerance:
        return VerdictLine("probabilities", "ok", f"usable as probabilities: ECE {before} is within the tolerance {tol}", ev)
    if after_ok and _upper(float(ece_after), iv_after) <= tolerance:
        return VerdictLine("probabilities", "warn",
                           f"use as probabilities only after {calibrator}: ECE {before} exceeds {tol}; "
                           f"{after} after {calibrator} is within it", ev)
    if ece <= tolerance:
        more = f"; after {calibrator} {after}" if after_ok else ""
        return VerdictLine("probabilities", "warn",
                           f"not shown usable as probabilities: ECE {before} is within {tol} but its interval is not "
                           f"(more rows would decide){more}", ev)
    if after_ok:
        how = ("is within it but its interval is not (more rows would decide)" if float(ece_after) <= tolerance
               else "exceeds it too")
        return VerdictLine("probabilities", "fail",
                           f"do not use as probabilities: ECE {before} exceeds {tol}; {after} after {calibrator} {how}", ev)
    return VerdictLine("probabilities", "fail",
                       f"do not use as probabilities: ECE {before} exceeds {tol} (no calibrator was fitted)", ev)


def unmeasured_ranking_line() -> VerdictLine:
    """The neutral ``ranking`` line of an audit that did not measure AUROC (no ``--statistics``).

    >>> line = unmeasured_ranking_line()
    >>> line.status, line.sentence
    ('info', 'not measured (add --statistics)')
    """
    return VerdictLine("ranking", "info", NOT_MEASURED, {"auroc": None, "auroc_interval": None})


def ranking_line(auroc: float | None, auroc_interval=None) -> VerdictLine:
    """The ``ranking`` line (see the module docstring).

    >>> ranking_line(0.93, (0.92, 0.94)).status
    'ok'
    """
    iv = _iv(auroc_interval)
    ev = {"auroc": auroc, "auroc_interval": None if iv is None else list(iv)}
    if not _ok(auroc):
        return VerdictLine("ranking", "warn", "AUROC is not defined (the outcome has one class only)", ev)
    a = float(auroc)
    text = _fmt(a, iv)
    lo, hi = (a, a) if iv is None else iv
    if hi <= 0.5:
        return VerdictLine("ranking", "fail", f"do not rank by these scores: AUROC {text} is no better than chance", ev)
    if lo > 0.5 and a >= MIN_USEFUL_AUROC:
        return VerdictLine("ranking", "ok", f"usable for ranking: AUROC {text} (calibration does not change the order)", ev)
    why = "its interval reaches 0.5 (chance)" if lo <= 0.5 else f"below {MIN_USEFUL_AUROC:g}"
    return VerdictLine("ranking", "warn", f"weak for ranking: AUROC {text}, {why}", ev)


def threshold_line(before: float | None, after: float | None = None, calibrator: str | None = None,
                   name: str | None = None, move_tolerance: float = DEFAULT_MOVE_TOLERANCE) -> VerdictLine | None:
    """The ``threshold`` line, or None when no threshold was recommended (see the module docstring).

    >>> threshold_line(0.9, 0.7, "temperature").sentence
    'a rule at 0.900 should be 0.700 once the scores are calibrated by temperature (moves -0.200)'
    """
    if not _ok(before):
        return None
    b = float(before)
    ev = {"threshold": b, "threshold_after": after, "move": None, "move_tolerance": move_tolerance,
          "calibrator": calibrator, "name": name}
    rule = "a rule" if name is None else f"a rule on {name}"
    if not _ok(after) or calibrator is None:  # nothing to judge: neutral
        return VerdictLine("threshold", "info", f"recommended threshold {b:.3f} on the scores as they are "
                                              "(no calibrated threshold to compare)", ev)
    a = float(after)
    move = a - b
    ev["move"] = move
    if abs(move) <= move_tolerance:
        return VerdictLine("threshold", "ok", f"{rule} at {b:.3f} stays valid: {a:.3f} after {calibrator} "
                                              f"(moves {move:+.3f})", ev)
    return VerdictLine("threshold", "warn", f"{rule} at {b:.3f} should be {a:.3f} once the scores are calibrated "
                                            f"by {calibrator} (moves {move:+.3f})", ev)


def decision_verdict(*, ece: float | None, ece_interval=None, ece_after: float | None = None,
                     ece_after_interval=None, calibrator: str | None = None, tolerance: float = DEFAULT_TOLERANCE,
                     auroc: float | None = None, auroc_interval=None, threshold_before: float | None = None,
                     threshold_after: float | None = None, threshold_name: str | None = None,
                     move_tolerance: float = DEFAULT_MOVE_TOLERANCE, ranking_measured: bool = True) -> Verdict:
    """The verdict from plain numbers.

    Parameters
    ----------
    ece, ece_interval : float, (low, high)
        The headline calibration error and its 95% interval (None: none).
    ece_after, ece_after_interval : float, (low, high)
        The same after the recommended calibrator ``calibrator`` (its name).
    tolerance : float
        The calibration error a probability-weighted decision tolerates (``--tolerance``, 0.02).
    auroc, auroc_interval : float, (low, high)
        Discrimination of the headline curve.
    threshold_before, threshold_after : float
        The recommended threshold on the scores and on the calibrated scores (None: thresholds did not run).
    threshold_name : str
        What the threshold is on (e.g. "class 'unsafe'"), named in the sentence.
    move_tolerance : float
        How far the threshold may move and the old rule still stand (0.05).
    ranking_measured : bool
        False when discrimination was not measured (no ``--statistics``): the ranking line is
        then ``info``, "not measured (add --statistics)", and does not count in the overall status.

    Returns
    -------
    Verdict

    Examples
    --------
    >>> v = decision_verdict(ece=0.086, ece_interval=(0.07, 0.1), ece_after=0.01, ece_after_interval=(0.005, 0.015),
    ...                      calibrator="temperature", auroc=0.93, auroc_interval=(0.92, 0.94))
    >>> v.status, [line.use for line in v.items]
    ('warn', ['probabilities', 'ranking'])
    >>> decision_verdict(ece=0.01, ece_interval=(0.005, 0.015), ranking_measured=False).status
    'ok'
    """
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a positive number, got {tolerance}")
    lines = [probability_line(ece, ece_interval, ece_after, ece_after_interval, calibrator, tolerance),
             ranking_line(auroc, auroc_interval) if ranking_measured else unmeasured_ranking_line()]
    t = threshold_line(threshold_before, threshold_after, calibrator, threshold_name, move_tolerance)
    if t is not None:
        lines.append(t)
    return Verdict(tuple(lines), float(tolerance))
