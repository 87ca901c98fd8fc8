"""Former home of the calibration stage and of ``calib fit``'s fit; kept as re-exports.

The audit's calibration stage is :mod:`calibcli.calibration_stage`; fitting one
calibrator on every row (``calib fit``) is :mod:`calibcli.calibrators.fit_all`.
"""

from __future__ import annotations

from calibcli.calibration_stage import (DEFAULT_FOLDS, DEFAULT_SEED, MIN_ROWS, UNCALIBRATED, CalibrationResult,
                                        MethodScore, OutOfFold, evaluate_calibration, run_calibration)
from calibcli.calibrators.fit_all import FitOutcome, fit_all_rows, fit_on_all_rows
from calibcli.calibrators.fit_warnings import (LOG_SCORE_METHODS, MIN_FIT_PER_CLASS, MIN_FIT_ROWS, PER_CLASS_METHODS,
                                               scarce_warnings)

__all__ = ["DEFAULT_FOLDS", "DEFAULT_SEED", "MIN_ROWS", "UNCALIBRATED", "CalibrationResult", "MethodScore", "OutOfFold",
           "evaluate_calibration", "run_calibration", "FitOutcome", "fit_all_rows", "fit_on_all_rows",
           "LOG_SCORE_METHODS", "MIN_FIT_PER_CLASS", "MIN_FIT_ROWS", "PER_CLASS_METHODS", "scarce_warnings"]
