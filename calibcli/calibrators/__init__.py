"""Post-hoc calibrators: temperature, vector, Platt, isotonic, histogram binning.

>>> sorted(METHODS)
['histogram', 'isotonic', 'platt', 'temperature', 'vector']
"""

from __future__ import annotations

from typing import Any

from calibcli.calibrators.base import Calibrator
from calibcli.calibrators.histogram import HistogramBinning
from calibcli.calibrators.isotonic import IsotonicCalibrator
from calibcli.calibrators.platt import PlattScaling
from calibcli.calibrators.temperature import TemperatureScaling
from calibcli.calibrators.vector import VectorScaling
from calibcli.errors import ConfigError, UsageError
from calibcli.predictions import Predictions

METHODS: dict[str, type[Calibrator]] = {
    "temperature": TemperatureScaling,
    "vector": VectorScaling,
    "platt": PlattScaling,
    "isotonic": IsotonicCalibrator,
    "histogram": HistogramBinning,
}
METHOD_NAMES = tuple(METHODS)
DESCRIPTIONS = {
    "temperature": "temperature scaling",
    "vector": "vector scaling",
    "platt": "Platt scaling",
    "isotonic": "isotonic regression",
    "histogram": "histogram binning",
}


def fit_calibrator(method: str, preds: Predictions, per_label: bool = False, n_bins: int = 15,
                   batch_rows: int | None = None) -> Calibrator:
    """Fit the calibrator named ``method`` on every row of ``preds``.

    The same passes as over a file (:func:`calibcli.calibrators.fit_passes.fit_source`
    over the rows in memory, in batches of ``batch_rows``).

    Parameters
    ----------
    method : one of ``METHOD_NAMES``
    preds : validated predictions with full score vectors
    per_label : temperature on multilabel: one T per label
    n_bins : histogram binning: number of equal-width bins
    """
    if method not in METHODS:
        raise UsageError(f"unknown calibration method '{method}'; choose from {', '.join(METHOD_NAMES)}.")
    from calibcli.calibrators.base import check_fittable
    from calibcli.calibrators.fit_passes import fit_source, method_fit
    from calibcli.calibrators.rows import FitLayout
    from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource

    check_fittable(preds, DESCRIPTIONS[method])
    source = InMemorySource.from_predictions(preds, batch_rows or DEFAULT_BATCH_ROWS)
    layout = FitLayout()
    fit = method_fit(method, layout, source.info, per_label=per_label, n_bins=n_bins)
    fit_source(source, layout, {method: fit})
    return fit.calibrator(0)


def calibrator_from_dict(data: Any) -> Calibrator:
    """The calibrator described by ``to_dict`` data; ``ConfigError`` if malformed."""
    if not isinstance(data, dict):
        raise ConfigError("the calibrator must be a JSON object")
    method = data.get("method")
    if not isinstance(method, str) or method not in METHODS:
        raise ConfigError(f"'method' is {method!r}; expected one of {', '.join(METHOD_NAMES)}")
    return METHODS[method].from_dict(data)


__all__ = ["Calibrator", "METHODS", "METHOD_NAMES", "DESCRIPTIONS", "fit_calibrator", "calibrator_from_dict",
           "TemperatureScaling", "VectorScaling", "PlattScaling", "IsotonicCalibrator", "HistogramBinning"]
