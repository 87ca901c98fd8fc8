"""calib: calibration auditing for machine-learning classifiers."""

__version__ = "0.1.0"
