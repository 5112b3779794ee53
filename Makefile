PYTHON ?= python3
VENV := .venv
# make install EXTRAS=test,gpu: also TensorFlow's CUDA and cuDNN libraries (Linux)
EXTRAS ?= test

# Debian/Ubuntu's own Python refuses `pip install` (PEP 668: externally managed), so
# outside a virtual environment `make install` creates .venv and installs there, and
# the other targets run with .venv's Python when it exists; inside an active virtual
# (or conda) environment everything uses that one.
IN_VENV := $(shell $(PYTHON) -c "import os, sys; print(int(bool(os.environ.get('VIRTUAL_ENV') or os.environ.get('CONDA_PREFIX')) or sys.prefix != sys.base_prefix))" 2>/dev/null)
ifeq ($(IN_VENV),1)
  PY := $(PYTHON)
else
  PY := $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PYTHON))
endif

.PHONY: install test test-fast lint smoke bench

install:
ifeq ($(IN_VENV),1)
	$(PYTHON) -m pip install -q -e '.[$(EXTRAS)]'
else
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[$(EXTRAS)]'
endif

test:
	$(PY) -m pytest

test-fast:  # the edit-test loop: every check not marked slow (under 2 minutes on 2 cores)
	$(PY) -m pytest -m "not slow"

lint:
	$(PY) -m ruff check gancli tests benchmarks

smoke:
	$(PY) -m gancli train-dist --steps 400 --out runs/smoke --overwrite --quiet

bench:
	$(PY) benchmarks/bench_dist.py
