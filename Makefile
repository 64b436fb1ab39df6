# make demo: the whole DAG, offline, on the embedded demo (make demo-report: its report.html).  make test: the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# torch from PyPI: on Linux x86-64 that is the CUDA build (several GB; it runs on CPU too), elsewhere the CPU one.
# For the CPU-only wheel, or a CUDA build that matches your cluster, install torch into .venv first (docs/cluster.md):
# an existing torch is kept.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

export PATH := $(BIN):$(PATH)
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: install demo demo-report test lint clean-demo docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 snakemake --cores all --configfile config/demo.yaml
	@python -m t5qa.report.demo_check results/metrics/demo.json benchmarks/demo_expected.json
	@echo "demo: model card, curves, TensorBoard events in results/models/demo/; make demo-report for report.html"

# The demo's Snakemake report: scores, data stats and training curves in one HTML file.
demo-report: demo
	snakemake --report report.html --configfile config/demo.yaml

# Two workers, each on its own cores (tests/conftest.py): the suite's many one-core steps (Python and Snakemake
# starting, hypothesis) run side by side. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	HF_HUB_OFFLINE=1 pytest -n $(TEST_WORKERS)

lint: $(STAMP)
	ruff check .
	ruff format --check .
	snakemake --lint --configfile config/demo.yaml

# Generated files: the settings reference in config/README.md, from the schema, and the workflow scripts, from the
# commands' declarations (tests/test_settings_reference.py and tests/test_commands.py check both are current).
docs: $(STAMP)
	python -m t5qa.plan.settings_reference --write config/README.md
	python -m t5qa.commands --write workflow/scripts

clean-demo:
	rm -rf results/*/demo* results/*/demo_* results/scratch/demo logs/*/demo*
