"""Only stale steps rerun: each edit of the matrix (docs/reproducibility.md) against a dry run's job plan."""

import copy
import modulefinder
import os
from pathlib import Path

import pytest

from .workflow_helpers import copy_workflow, planned_jobs, snakemake, tiny_config, write_config, write_tiny_sources

# The steps of the built DAG and the script each runs.
RULE_SCRIPTS = {
    "download": "download.py",
    "normalize": "normalize.py",
    "scratch_tokenizer": "scratch_model.py",
    "scratch_model": "scratch_model.py",
    "tokenize_data": "tokenize_data.py",
    "train": "train.py",
    "predict": "predict.py",
    "metrics": "metrics.py",
    "plot_training": "plot_training.py",
    "report_page": "report_page.py",
}

DOWNSTREAM_OF_TRAIN = {"train", "predict", "metrics"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny dataset built once, end to end; each test only dry-runs an edited copy of its config."""
    root = tmp_path_factory.mktemp("built")
    code = tmp_path_factory.mktemp("code")
    snakefile = copy_workflow(code)  # a private copy: one test edits a script
    config = tiny_config(write_tiny_sources(root))
    path = write_config(root, config)
    # The default target: metrics, curves and report page, so that every step of RULE_SCRIPTS has run.
    snakemake(root, "--cores", "2", "--configfile", str(path), snakefile=snakefile)
    SNAKEFILES[root] = snakefile
    return root, config


SNAKEFILES = {}  # built folder -> the workflow copy it was built with


def plan(root, config, *targets, extra=()):
    path = write_config(root, config)  # overwritten per test; the built outputs stay as they are
    snakefile = SNAKEFILES[root]
    jobs = {}
    for target in targets or ("results/metrics/tiny.json",):
        for rule, count in planned_jobs(root, path, target, *extra, snakefile=snakefile).items():
            jobs[rule] = jobs.get(rule, 0) + count
    return jobs


def edited(config, section, **changes):
    new = copy.deepcopy(config)
    new[section] = {**new[section], **changes}
    return new


def test_no_edit_reruns_nothing(built):
    root, config = built
    assert plan(root, config) == {}


def test_reordered_keys_rerun_nothing(built):
    root, config = built
    shuffled = copy.deepcopy(config)
    shuffled["train"] = dict(reversed(list(config["train"].items())))
    shuffled["tokenize"] = dict(reversed(list(config["tokenize"].items())))
    assert plan(root, shuffled) == {}


@pytest.mark.parametrize("change", [{"learning_rate": 0.001}, {"epochs": 2}, {"batch_size": 8}, {"seed": 1}])
def test_training_hyperparameter_reruns_train_and_downstream(built, change):
    root, config = built
    assert set(plan(root, edited(config, "train", **change))) == DOWNSTREAM_OF_TRAIN


@pytest.mark.parametrize("change", [{"num_beams": 2}, {"max_new_tokens": 5}])
def test_generation_setting_reruns_predict_and_metrics(built, change):
    root, config = built
    assert set(plan(root, edited(config, "predict", **change))) == {"predict", "metrics"}


@pytest.mark.parametrize("change", [{"max_source_length": 100}, {"max_target_length": 12}])
def test_tokenization_setting_reruns_tokenize_and_downstream(built, change):
    root, config = built
    assert set(plan(root, edited(config, "tokenize", **change))) == {"tokenize_data"} | DOWNSTREAM_OF_TRAIN


@pytest.mark.parametrize(
    "change", [{"unanswerable_target": "none"}, {"template": "context: {context} question: {question}"}]
)
def test_target_word_and_template_also_retrain_a_scratch_tokenizer(built, change):
    # The scratch tokenizer learns the template's words and the target word too; a hub tokenizer would not rerun.
    root, config = built
    jobs = plan(root, edited(config, "tokenize", **change))
    assert set(jobs) == {"scratch_tokenizer", "scratch_model", "tokenize_data"} | DOWNSTREAM_OF_TRAIN


def test_source_option_reruns_only_that_source(built):
    root, config = built
    new = copy.deepcopy(config)
    new["sources"]["tiny_causalqa"]["strict"] = True
    jobs = plan(root, new)
    assert jobs["normalize"] == 2  # tiny_causalqa train + validation, not tiny_squad
    assert "download" not in jobs
    assert {"scratch_tokenizer", "tokenize_data", "train"} <= set(jobs)


def test_an_edited_local_data_file_reruns_its_chain(built):
    root, config = built
    path = Path(config["sources"]["tiny_causalqa"]["validation"]["path"])
    text, times = path.read_text(), path.stat()
    try:
        path.write_text(text.replace("\n", "\r\n", 1))  # the same rows, other bytes: a new file as far as it goes
        jobs = plan(root, config)
    finally:
        path.write_text(text)
        os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert jobs["download"] == 1 and jobs["normalize"] == 1  # that split of that source only
    assert {"tokenize_data", "train", "predict", "metrics"} <= set(jobs)
    assert plan(root, config) == {}  # restored: nothing to do


def test_new_source_in_a_dataset_runs_only_its_own_data_steps(built):
    root, config = built
    extra = root / "data" / "extra.csv"
    extra.write_text("qid,q,ctx,gold\n" + "".join(f"x{i},Why {i}?,Because {i}.,Because {i}\n" for i in range(40)))
    new = copy.deepcopy(config)
    new["sources"]["extra"] = {
        "format": "csv",
        "train": {"path": str(extra)},
        "columns": {"id": "qid", "question": "q", "context": "ctx", "answer": "gold"},
    }
    new["datasets"]["tiny"] = [*config["datasets"]["tiny"], "extra"]
    jobs = plan(root, new)
    assert jobs["download"] == 1  # extra's train file (its validation is carved out of it)
    assert jobs["normalize"] == 2  # extra's train and carved validation
    assert {"tokenize_data", "train", "predict", "metrics"} <= set(jobs)


def test_new_dataset_runs_only_its_own_chain(built):
    root, config = built
    new = copy.deepcopy(config)
    new["datasets"]["squad_only"] = ["tiny_squad"]
    jobs = plan(root, new, "results/metrics/tiny.json", "results/metrics/squad_only.json")
    assert "download" not in jobs and "normalize" not in jobs
    assert all(count == 1 for count in jobs.values())  # one chain: squad_only's
    assert {"tokenize_data", "train", "predict", "metrics"} <= set(jobs)


def test_model_change_reruns_model_and_training_only(built):
    root, config = built
    new = copy.deepcopy(config)
    new["model"]["scratch"]["architecture"] = {**config["model"]["scratch"]["architecture"], "d_ff": 96}
    assert set(plan(root, new)) == {"scratch_model"} | DOWNSTREAM_OF_TRAIN


def test_resource_changes_rerun_nothing(built):
    root, config = built
    extra = (
        "--set-resources",
        "train:gpu=2",
        "train:runtime=99",
        "predict:mem_mb=1234",
        "--set-threads",
        "train=3",
        "tokenize_data=2",
        "predict=1",
    )
    assert plan(root, config, extra=extra) == {}


def test_editing_a_step_script_reruns_that_step_and_downstream(built):
    root, config = built
    script = SNAKEFILES[root].parent / "workflow" / "scripts" / "predict.py"
    original = script.read_text()
    try:
        script.write_text(original + "\n# an edit\n")
        assert set(plan(root, config)) == {"predict", "metrics"}
    finally:
        script.write_text(original)


def library_modules_run_by(script: Path, library: Path) -> set[str]:
    """The package modules a script imports at any depth, found by the standard library's modulefinder (an oracle
    independent of t5qa.plan.code_inputs, which the rules use). Only the package's folder is searched: every other
    import is left unresolved, which keeps this quick."""
    finder = modulefinder.ModuleFinder(path=[str(library.parent)])
    finder.run_script(str(script))
    return {
        str(Path(m.__file__).relative_to(library))
        for name, m in finder.modules.items()
        if name.split(".")[0] == "t5qa" and m.__file__
    }


def job_inputs(root: Path, config_path: Path, snakefile: Path) -> dict[str, set[str]]:
    """rule -> every file its jobs of the built DAG list as inputs, from Snakemake's own detailed summary."""
    result = snakemake(root, "--detailed-summary", "all", "--configfile", str(config_path), snakefile=snakefile)
    lines = result.stdout.splitlines()
    header = lines[0].split("\t")
    rule_at, inputs_at = header.index("rule"), header.index("input-file(s)")
    inputs = {}
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) == len(header):
            inputs.setdefault(fields[rule_at], set()).update(fields[inputs_at].split(","))
    return inputs


def test_every_library_module_is_an_input_of_exactly_the_steps_that_run_it(built):
    """Each module of src/t5qa is an input of exactly the steps whose scripts import it, at any depth (one reading
    of Snakemake's detailed summary for every module); a module no step imports is an input of none."""
    root, config = built
    snakefile = SNAKEFILES[root]
    library = snakefile.parent / "src" / "t5qa"
    inputs = job_inputs(root, write_config(root, config), snakefile)
    wrong, unused = [], []
    for module in sorted(library.rglob("*.py")):
        name = str(module.relative_to(library))
        expected = {rule for rule, script in RULE_SCRIPTS.items() if name in modules_run_by(snakefile, script)}
        found = {rule for rule in RULE_SCRIPTS if any(Path(p).resolve() == module.resolve() for p in inputs[rule])}
        if found != expected:
            wrong.append(f"{name}: an input of {sorted(found)}, imported by {sorted(expected)}")
        if not expected:
            unused.append(name)
    assert wrong == []
    assert "plan/launch.py" in unused and "model/train.py" not in unused  # both cases were seen


@pytest.mark.parametrize(
    "module", ["settings.py", "data/formats.py", "evaluate/scoring.py", "model/predict.py", "plan/launch.py"]
)
def test_editing_a_library_module_reruns_exactly_the_steps_that_run_it(built, module):
    """An edit of a module's content (a line added) plans the steps whose scripts import it and what follows them,
    and nothing else: one module of the shared base and of each wing, and one no step imports."""
    root, config = built
    snakefile = SNAKEFILES[root]
    path = write_config(root, config)
    importers = [rule for rule, script in RULE_SCRIPTS.items() if module in modules_run_by(snakefile, script)]
    expected = set()
    if importers:
        expected = set(planned_jobs(root, path, "all", "--forcerun", *importers, snakefile=snakefile))
    source = snakefile.parent / "src" / "t5qa" / module
    # An edit of its content: Snakemake does not rerun for a newer file whose checksum is unchanged.
    text, times = source.read_bytes(), source.stat()
    try:
        source.write_bytes(text + b"\n# an edit\n")
        planned = set(planned_jobs(root, path, "all", snakefile=snakefile))
    finally:
        source.write_bytes(text)
        os.utime(source, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert planned == expected
    assert (module == "plan/launch.py") == (planned == set())


def modules_run_by(snakefile: Path, script: str) -> set[str]:
    key = (snakefile, script)
    if key not in MODULES_RUN_BY:
        library = snakefile.parent / "src" / "t5qa"
        MODULES_RUN_BY[key] = library_modules_run_by(snakefile.parent / "workflow" / "scripts" / script, library)
    return MODULES_RUN_BY[key]


MODULES_RUN_BY = {}


def test_rebuild_from_scratch_is_byte_identical(built, tiny_dag):
    """The same config built from scratch in another folder (the session's tiny DAG) gives the same bytes."""
    root, _ = built
    other = tiny_dag[0]
    for name in ("results/predictions/tiny.jsonl", "results/metrics/tiny.json"):
        assert (other / name).read_bytes() == (root / name).read_bytes(), name


# --- experiments: shared work is not redone, and one experiment's edit reruns that experiment only

LR = {"experiments": {"lr": {"train": {"learning_rate": 0.001}}}}
EXPERIMENT_TARGET = "results/experiments/lr/metrics/tiny.json"


def test_an_experiment_reuses_the_tokenized_data_and_model(built):
    root, config = built
    with_experiment = {**config, **LR}
    assert plan(root, with_experiment) == {}  # the default experiment is untouched
    assert plan(root, with_experiment, EXPERIMENT_TARGET) == {"train": 1, "predict": 1, "metrics": 1}


def test_a_sweep_tokenizes_nothing_again(built):
    root, config = built
    sweep = {
        **config,
        "sweeps": [{"name": "lr", "grid": {"train.learning_rate": [0.001, 0.01]}, "seeds": [1, 2]}],
        "evaluations": [{"experiments": ["lr"]}],
    }
    assert plan(root, sweep, "results/summary.csv") == {"train": 4, "predict": 4, "metrics": 4, "summary": 1}


def test_an_experiment_with_other_tokenize_settings_tokenizes_once_for_itself(built):
    root, config = built
    longer = {**config, "experiments": {"long": {"tokenize": {"max_source_length": 100}}}}
    target = "results/experiments/long/metrics/tiny.json"
    assert plan(root, longer, target) == {"tokenize_data": 1, "train": 1, "predict": 1, "metrics": 1}


def test_a_model_on_another_dataset_is_scored_without_retraining(built):
    root, config = built
    other = copy.deepcopy(config)
    other["datasets"]["other"] = list(config["datasets"]["tiny"])[:1]
    # The scratch tokenizer of `tiny` tokenizes the other dataset (the model's own vocabulary); nothing is retrained.
    assert plan(root, other, "results/metrics/tiny.on.other.json") == {"tokenize_data": 1, "predict": 1, "metrics": 1}


def test_an_experiment_that_only_decodes_differently_trains_nothing(built):
    root, config = built
    beams = {**config, "experiments": {"beams": {"predict": {"num_beams": 2}}}}
    # It scores the default's trained model: only its own predictions and metrics are planned.
    assert plan(root, beams, "results/experiments/beams/metrics/tiny.json") == {"predict": 1, "metrics": 1}
