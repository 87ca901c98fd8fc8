"""calib: calibration auditing for machine-learning classifiers.

The Python API (imported on first use, so ``calib --help`` stays fast)::

    import calibcli
    report = calibcli.audit(df, label="label")      # or a path, a pyarrow Table, y_true=/y_prob= arrays
    report.to_dict(); report.to_json(); report.to_html()
    calibrator = calibcli.fit(df, method="temperature"); calibrator.save("calibrator.json")
    calibcli.thresholds(df, objectives="f1")
    calibcli.metrics.expected_calibration_error(y_true, y_prob)   # every metric, scikit-learn style
"""

__version__ = "0.1.0"

__all__ = ["__version__", "audit", "fit", "thresholds", "metrics", "Report", "AuditSet", "FittedCalibrator"]

_API = frozenset({"audit", "fit", "thresholds", "metrics", "Report", "AuditSet", "FittedCalibrator"})


def __getattr__(name: str):
    """Load the API (pandas, pyarrow, numpy) only when one of its names is used."""
    if name in ("audit", "thresholds", "metrics"):  # modules of those names, callable as the API functions (see their ends)
        import importlib

        return importlib.import_module(f"calibcli.{name}")
    if name in _API:
        from calibcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'calibcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
