PYTHON ?= python3

.PHONY: install test lint smoke bench

install:
	$(PYTHON) -m pip install -q -e '.[test]'

test:
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check gancli tests benchmarks

smoke:
	gancli train-dist --steps 400 --out runs/smoke --overwrite --quiet

bench:
	$(PYTHON) benchmarks/bench_dist.py
