import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow" / "scripts"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_script(name: str, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one step's CLI the way the workflow does."""
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def squad_json(paragraphs: list[dict]) -> str:
    return json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]})


@pytest.fixture
def write(tmp_path):
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A sentencepiece tokenizer trained on the embedded demo's text (no hub)."""
    from t5qa.data.demo_data import generate
    from t5qa.model.scratch_model import train_tokenizer

    texts = ["question: context: unanswerable"]
    for group in generate(seed=5, n_examples=300, prefix="tok"):
        for ex in group:
            texts += [ex.question, ex.context]
    tokenizer = train_tokenizer(texts, vocab_size=400, seed=0)
    path = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_dag(tmp_path_factory):
    """The whole DAG on tiny data, built once per test run: its folder, what the metrics run printed, and the hash
    of the tokenized data taken before the steps that read it ran (tests/test_workflow.py, tests/test_reruns.py)."""
    from t5qa.manifest import sha256_of

    from .workflow_helpers import snakemake, tiny_config, write_config, write_tiny_sources

    root = tmp_path_factory.mktemp("tiny_dag")
    config = write_config(root, tiny_config(write_tiny_sources(root)))
    snakemake(root, "--cores", "2", "results/tokenized/tiny", "--configfile", str(config))
    tokenized_hash = sha256_of(root / "results" / "tokenized" / "tiny")
    run = snakemake(root, "--cores", "2", "results/metrics/tiny.json", "--configfile", str(config))
    return root, run.stdout + run.stderr, tokenized_hash


# The training tests' shared dataset, model and reference runs (tests/trained.py): built once per test run.
from .trained import prepared, uninterrupted, uninterrupted_two  # noqa: E402, F401
