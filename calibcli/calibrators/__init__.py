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


def fit_calibrator(method: str, preds: Predictions, per_label: bool = False, n_bins: int = 15) -> Calibrator:
    """Fit the calibrator named ``method`` on ``preds``.

    Parameters
    ----------
    method : one of ``METHOD_NAMES``
    preds : validated predictions with full score vectors
    per_label : temperature on multilabel: one T per label
    n_bins : histogram binning: number of equal-width bins
    """
    if method not in METHODS:
        raise UsageError(f"unknown calibration method '{method}'; choose from {', '.join(METHOD_NAMES)}.")
    cls = METHODS[method]
    if method == "temperature":
        return cls.fit(preds, per_label=per_label)
    if method == "histogram":
        return cls.fit(preds, n_bins=n_bins)
    return cls.fit(preds)


def calibrator_from_dict(data: Any) -> Calibrator:
    """The calibrator described by ``to_dict`` data; ``ConfigError`` if malformed."""
    if not isinstance(data, dict):
        raise ConfigError("the calibrator must be a JSON object")
    method = data.get("method")
    if method not in METHODS:
        raise ConfigError(f"'method' is {method!r}; expected one of {', '.join(METHOD_NAMES)}")
    return METHODS[method].from_dict(data)


__all__ = ["Calibrator", "METHODS", "METHOD_NAMES", "DESCRIPTIONS", "fit_calibrator", "calibrator_from_dict",
           "TemperatureScaling", "VectorScaling", "PlattScaling", "IsotonicCalibrator", "HistogramBinning"]
