# make demo: the whole DAG, offline, on the embedded demo.  make test: the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# The CPU wheel for laptops and CI. On a GPU cluster install a CUDA build of torch into .venv first
# (README, "Running on an Alliance cluster"): an existing torch is kept.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

export PATH := $(BIN):$(PATH)
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: install demo test lint clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 snakemake --cores all --configfile config/demo.yaml
	@python -c "import json; m = json.load(open('results/metrics/demo.json')); \
	print(f\"demo: exact {m['exact']:.1f}  f1 {m['f1']:.1f}  on {m['total']} questions -> results/metrics/demo.json\")"

test: $(STAMP)
	HF_HUB_OFFLINE=1 pytest

lint: $(STAMP)
	ruff check .
	ruff format --check .
	snakemake --lint --configfile config/demo.yaml

clean-demo:
	rm -rf results/*/demo* results/*/demo_* results/scratch/demo logs/*/demo*
