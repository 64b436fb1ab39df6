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


# --- several workers (make test runs `pytest -n 2`, pytest-xdist)


def own_cores() -> None:
    """Give this worker, and every process it starts (Snakemake, its jobs, accelerate, slurmd), its own share of the
    cores, before torch is imported: two trainings on the same cores oversubscribe torch's threads and each runs many
    times slower. A step never runs more threads than the cores it may run on (t5qa.data.batching)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    index, count = int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.sched_setaffinity(0, cores[index::count] or [cores[index % len(cores)]])


own_cores()

# Test modules that share a session-wide build run on one worker, so it is built once per run; the Slurm modules
# share this host's one cluster (its ports, /etc/slurm) and so take turns on one worker. Every other module is a
# group of its own. The longest groups go first, so the other worker runs the many short ones beside them.
SHARED_BUILDS = {
    "slurm": ("test_slurm", "test_multinode"),
    "trained": (
        "test_attempts",
        "test_batching",
        "test_benchmarks_prep",
        "test_gradient_checkpointing",
        "test_training",
    ),
    "tiny_dag": ("test_workflow", "test_reruns"),
}
GROUP_OF = {module: group for group, modules in SHARED_BUILDS.items() for module in modules}
# Measured with `make test` and --durations (2026-12-06): about 1,020, 430, 180, 165, 130 and 120 s.
LONGEST_FIRST = ("slurm", "trained", "test_causalqa_table", "tiny_dag", "test_report_browser", "test_experiments")


def group_of(module_path: str) -> str:
    stem = Path(module_path).stem
    return GROUP_OF.get(stem, stem)


def pytest_collection_modifyitems(items):
    rank = {group: index for index, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid.split("::")[0]), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduling by scope, the scope being the group: each worker takes whole groups, in the order of
    collection."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid.split("::")[0])

        def _reschedule(self, node) -> None:
            """Give a worker its next group once one of its tests is left, not two as xdist does: a worker holds its
            last test back until more work (or the end) arrives, so one left is the earliest it can take more without
            idling. At two, the Slurm worker took a group while its two-node job still had minutes to run, and that
            group waited behind it while the other worker ran out of work."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    config.option.loadscopereorder = False  # keep the longest groups first, not the ones with the most tests
    return GroupScheduling(config, log)


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
