"""Fuzzing calib: mutated prediction files, config files, environment variables and gate rules.

``seeds`` holds small valid inputs, ``strategies`` the hypothesis strategies that
mutate them into a :class:`~fuzz.case.Case`, ``harness`` runs a case in-process
(through ``calibcli.cli.main.main``) or as a real subprocess and classifies the
outcome. ``tests/test_fuzz.py`` runs a bounded, deterministic sample in
``make test``; ``tests/fuzz/run_long.py`` (``make fuzz``) runs thousands and
prints the counts of exit codes and every distinct crash class.
"""
