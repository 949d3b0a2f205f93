# Two commands do everything on a fresh machine:
#   make demo   set up .venv (first time only) and run the end-to-end demo on the embedded data
#   make test   set up .venv (first time only), lint, and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.mmbeit-installed
PYTEST_ARGS ?=
# demo precision: auto (bf16 autocast only on CPUs with AMX-BF16 / AVX512-BF16), fp32, bf16
PRECISION ?= auto

.PHONY: install test lint demo clean-venv

install: $(STAMP)

$(STAMP): requirements/build.txt requirements/lock.txt setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements/build.txt
	@# mmcv's compiled ops (mmdet needs them); pip caches the built wheel (~10 min once on 2 cores)
	MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) $(PIP) install -q --no-build-isolation \
		-c requirements/lock.txt mmcv==2.1.0
	$(PIP) install -q -r requirements/lock.txt
	@# parity-test reference (tests/test_parity): its declared deps are not needed to import it
	$(PIP) install -q --no-deps DALL-E==0.1
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import mmbeit, mmpretrain, mmdet, mmseg, torchvision, mmcv.ops"
	$(PY) -c "import timm, open_clip, dall_e, transformers, safetensors"
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check mmbeit tools tests configs benchmarks

test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) tools/demo.py --work-dir work_dirs/demo --precision $(PRECISION)

clean-venv:
	rm -rf $(VENV)
