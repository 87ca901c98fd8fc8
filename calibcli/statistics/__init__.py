"""Statistics beyond binned ECE, each a mergeable partial state plus a scikit-learn-style function."""
