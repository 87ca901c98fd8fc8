# calib: two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test fuzz install bench bench-memory clean samples test-remote test-browser browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/calib audit sample_data/multiclass_probs.csv --json-out out/demo/report.json --plots out/demo/plots

# the suite, then the tests of the numbers through the compiled kernels everywhere (small test inputs take
# the numpy code by default; CALIBCLI_KERNELS=numba sends every batch through numba: see calibcli/kernels)
KERNEL_TESTS = tests/test_golden.py tests/test_invariance.py tests/test_measure_stream.py tests/test_calibration_stream.py \
	tests/test_temperature_fit.py tests/test_consumer_merge.py tests/test_stats_bins.py
test: $(STAMP_TEST) browser
	$(BIN)/python -m pytest
	CALIBCLI_KERNELS=numba $(BIN)/python -m pytest $(KERNEL_TESTS)

# headless Chromium for the HTML report's browser tests (tests/test_browser.py): Debian's chromium and
# chromium-driver, installed where it can be (as root, with apt-get; at most 10 minutes); never fails:
# without Chromium the browser tests skip
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && timeout 600 apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; } || \
	  echo "note: chromium and chromedriver are not installed and cannot be installed here; the browser tests skip"

# only the browser tests
test-browser: $(STAMP_TEST) browser
	$(BIN)/python -m pytest -q -rs tests/test_browser.py

# the long fuzz run: 10,000 mutated inputs in-process and 300 as real subprocesses (minutes);
# FUZZ_EXAMPLES, FUZZ_SUBPROCESS and FUZZ_SEED change it; the report goes to out/fuzz/
fuzz: $(STAMP_TEST)
	$(BIN)/python tests/fuzz/run_long.py

samples: $(STAMP_RUN)
	$(BIN)/python sample_data/make_samples.py

bench: $(STAMP_TEST)
	$(BIN)/python benchmarks/run.py

# peak RSS and wall time of every command at 2e6 and 2e7 rows (minutes; writes GBs under benchmarks/data/,
# deleted afterwards); BENCH_ARGS passes options, e.g. BENCH_ARGS='--sizes 2e6,2e7,1e8 --keep'
bench-memory: $(STAMP_RUN)
	$(BIN)/python benchmarks/bench_memory.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache

# remote inputs against an S3 server on loopback (moto's server mode) as well as HTTP: moto[server] and
# s3fs take minutes to install, so they are not in the test extra (without them the S3 tests are skipped)
test-remote: $(STAMP_TEST)
	$(BIN)/python -m pip install --quiet 'moto[server]' s3fs
	$(BIN)/python -m pytest tests/test_remote_inputs.py -rs
