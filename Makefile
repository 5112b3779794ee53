PYTHON ?= python3

.PHONY: install test test-fast lint smoke bench

install:
	$(PYTHON) -m pip install -q -e '.[test]'

test:
	$(PYTHON) -m pytest

test-fast:  # the edit-test loop: every check not marked slow (under 2 minutes on 2 cores)
	$(PYTHON) -m pytest -m "not slow"

lint:
	$(PYTHON) -m ruff check gancli tests benchmarks

smoke:
	gancli train-dist --steps 400 --out runs/smoke --overwrite --quiet

bench:
	$(PYTHON) benchmarks/bench_dist.py
