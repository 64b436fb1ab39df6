# Helpers shared by the rules: config lookups, tracked settings, the files a step depends on.

import json
import re
from pathlib import Path

from t5qa.settings import (
    PredictSettings,
    ScratchModelSettings,
    ScratchTokenizerSettings,
    TokenizeSettings,
    TrainSettings,
)
from t5qa.data import sources as source_specs
from t5qa.report.causalqa_table import table_cells
from t5qa.plan.code_inputs import code_inputs
from t5qa.data.download import archive_member, archive_model
from t5qa.errors import InputError
from t5qa.plan.experiments import DEFAULT, HUB_ROLES, experiment_prefix, hub_index, shared_index
from t5qa.data.formats import FORMATS
from t5qa.plan.launch import rule_launcher
from t5qa.manifest import sha256_of
from t5qa.model.model_identity import folder_identity
from t5qa.data.sources import ALL_SPLITS, SPLITS, TEST, raw_extension, read_split, split_spec

ROOT = Path(workflow.basedir)
SCRIPTS = ROOT / "workflow" / "scripts"
LIBRARY = ROOT / "src" / "t5qa"


# Path prefixes that are empty for the default experiment, so that its outputs stay at the plain paths:
#   xp   experiments/<name>/   a named experiment's models, predictions, metrics, plots, report pages, logs
#   tok  tok-<hash>/           a tokenization other than the default's (tokenized data)
#   stok tokenizer-<hash>/     a scratch tokenizer other than the default's
#   mod  model-<hash>/         a scratch model other than the default's
#   hub  hub-<hash>/           a hub model or tokenizer other than the default's
#   on   .on.<dataset>         predictions and metrics of a model on another dataset than it was trained on
#   by   .by.<dataset>         data tokenized with the scratch tokenizer of another dataset (that model's own)
#   test .test                 the test split (tokenized alone; predictions and metrics on it)
wildcard_constraints:
    source=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    split="|".join(ALL_SPLITS),
    # Only declared experiments: results/experiments/<undeclared>/… matches no rule (and `default` has one address).
    xp="(?:{})".format("|".join(["", *(re.escape(f"experiments/{name}/") for name in EXPERIMENTS if name != DEFAULT)])),
    tok=r"(tok-[0-9a-f]{10}/)?",
    stok=r"(tokenizer-[0-9a-f]{10}/)?",
    mod=r"(model-[0-9a-f]{10}/)?",
    hub=r"(hub-[0-9a-f]{10}/)?",
    on=r"(\.on\.[A-Za-z0-9_\-]+)?",
    by=r"(\.by\.[A-Za-z0-9_\-]+)?",
    test=r"(\.test)?",


def canonical(obj):
    """Settings as one JSON string with sorted keys: Snakemake tracks a param's repr, and a reordered
    YAML mapping must not look like a change."""
    return json.dumps(obj, sort_keys=True)


# The shared folders' index: prefix -> an experiment that uses it (t5qa.plan.experiments builds each record).
TOKENIZATIONS = shared_index(EXPERIMENTS, "tokenization")
SCRATCH_TOKENIZERS = shared_index(EXPERIMENTS, "scratch_tokenizer")
SCRATCH_MODELS = shared_index(EXPERIMENTS, "model")



def model_in_archive(name):
    """(archive, member) of a model `archive://NAME/FOLDER` (the member under the archive's root), else None; a
    malformed one or an undeclared archive stops the DAG with one line."""
    try:
        found = archive_model(name)
    except InputError as err:
        raise ValueError(str(err)) from None
    if found and found[0] not in config["archives"]:
        raise ValueError(f"model {name!r}: the archive {found[0]!r} is not declared under 'archives'")
    return found and (found[0], archive_member(config["archives"][found[0]], found[1]))


# Hub models and tokenizers (prefetched by name) and models inside archives (extracted by the prefetch):
# ARCHIVE_MODELS maps each such model's folder to (archive, member, the tokenizer saved beside it when it has none).
try:
    HUB = {
        role: {prefix: name for prefix, name in hub_index(EXPERIMENTS, role).items() if not model_in_archive(name)}
        for role in HUB_ROLES
    }
    ARCHIVE_MODELS = {
        f"results/prefetch/archive-models/{found[0]}/{found[1]}": (*found, entry["settings"]["model"]["tokenizer"])
        for entry in EXPERIMENTS.values()
        if (found := model_in_archive(entry["settings"]["model"]["name_or_path"]))
    }
except ValueError as err:
    raise WorkflowError(str(err)) from None


def declared_archive_model(wildcards):
    """(archive, member, tokenizer) of a prefetch_archive_model job: only a model the config declares (checked by
    model_in_archive) is extracted, whatever path was asked for."""
    folder = f"results/prefetch/archive-models/{wildcards.archive}/{wildcards.member}"
    if folder not in ARCHIVE_MODELS:
        raise ValueError(f"{folder}: no experiment's model.name_or_path is archive://{wildcards.archive}/{wildcards.member}")
    return ARCHIVE_MODELS[folder]


def experiment_name(wildcards):
    return wildcards.xp.removeprefix("experiments/").rstrip("/") or DEFAULT


def experiment(wildcards):
    """The experiment a job belongs to, from its xp prefix."""
    name = experiment_name(wildcards)
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment {name!r} is not declared under 'experiments' or 'sweeps' in the config")
    return EXPERIMENTS[name]


def evaluated_dataset(wildcards):
    """The dataset a model is scored on: its own, or the one named by .on.<dataset>."""
    return wildcards.on.removeprefix(".on.") or wildcards.dataset


def evaluated_split(wildcards):
    return TEST if wildcards.test else "validation"


def scored_splits(wildcards):
    """The splits a tokenize job writes: train and validation, or the test split alone."""
    return [TEST] if wildcards.test else list(SPLITS)


def step_script(name):
    """A step's script is an input, so editing it reruns the step (and everything downstream)."""
    return str(SCRIPTS / name)


def step_code(name):
    """The library modules a step's script imports, at any depth (t5qa.plan.code_inputs): inputs too, for the same
    reason, computed from the code so that they cannot go stale."""
    return list(code_inputs(SCRIPTS / name, LIBRARY))


def dataset_sources(dataset):
    if dataset not in config["datasets"]:
        raise ValueError(f"dataset {dataset!r} is not declared under 'datasets' in the config")
    return config["datasets"][dataset]


def source_config(source):
    if source not in config["sources"]:
        raise ValueError(f"source {source!r} is not declared under 'sources' in the config")
    return config["sources"][source]


def raw_file(source, split):
    """The raw file a split is read from (a split carved out of train reads train's file)."""
    spec = source_config(source)
    return expand(rules.download.output.raw, source=source, split=read_split(spec, split), ext=raw_extension(spec))[0]


def normalized(sources, split):
    return expand(rules.normalize.output.table, source=sources, split=split)


def tables_arguments(wildcards):
    """--train A=... --validation A=... (or --test A=...) for the tokenize script: shell words, each quoted (:q)."""
    sources = dataset_sources(wildcards.dataset)
    words = [word for split in scored_splits(wildcards) for word in (f"--{split}", *named_tables(sources, split))]
    # A test folder counts its rows that repeat a training row, as validation does (test.overlap_with_train).
    return words + (["--overlap-train", *named_tables(sources, "train")] if wildcards.test else [])


def named_tables(sources, split):
    """SOURCE=PATH arguments for the scripts (a list of shell words, each quoted by :q)."""
    return [f"{s}={path}" for s, path in zip(sources, normalized(sources, split))]


def normalize_stats(sources):
    return expand(rules.normalize.output.stats, source=sources, split=SPLITS)


def named_stats(sources):
    """SOURCE:SPLIT=PATH arguments for the report page (a list of shell words, each quoted by :q)."""
    return [
        f"{source}:{split}={expand(rules.normalize.output.stats, source=source, split=split)[0]}"
        for source in sources
        for split in SPLITS
    ]


def tokenizer_location(entry, dataset):
    if entry["settings"]["model"]["tokenizer"] == "scratch":
        return expand(rules.scratch_tokenizer.output.tokenizer, stok=entry["scratch_tokenizer"], dataset=dataset)[0]
    return entry["settings"]["model"]["tokenizer"]


def model_location(entry, dataset):
    """The starting model: a scratch model's folder, an archive model's extracted folder, or the hub id / local
    folder of the config."""
    name = entry["settings"]["model"]["name_or_path"]
    if name == "scratch":
        return expand(rules.scratch_model.output.model, mod=entry["model"], dataset=dataset)[0]
    if found := model_in_archive(name):
        return expand(rules.prefetch_archive_model.output.model, archive=found[0], member=found[1])[0]
    return name


def model_input(entry, dataset):
    """What a job that loads the starting model waits for: the scratch model, or the prefetch record of a hub id."""
    settings = entry["settings"]
    if settings["model"]["name_or_path"] == "scratch" or model_in_archive(settings["model"]["name_or_path"]):
        return model_location(entry, dataset)
    return expand(rules.prefetch_hub.output.record, hub=entry["hub"]["model"], role="model")[0]


def starting_model_files(wildcards):
    """A local model folder's files (path, size, sha256; t5qa.model.model_identity), tracked by train and predict: new
    weights under the same path retrain and re-predict. A hub model is pinned by its prefetch record (an input,
    naming the revision fetched), an archive model by its extracted folder (an input), a scratch one by its
    settings."""
    name = experiment(wildcards)["settings"]["model"]["name_or_path"]
    if name == "scratch" or model_in_archive(name) or not Path(name).is_dir():
        return canonical(None)
    return canonical(folder_identity(Path(name), cache_path=Path(".snakemake/t5qa/model-hashes.json")))


def gpus(step):
    """The GPUs of a step's job: 1, or the experiment's own (`resources: {train: {gpu: N}}`); a profile's
    set-resources overrides both. A resource, never a param: changing it reruns nothing."""
    return lambda wildcards: experiment(wildcards)["resources"].get(step, {}).get("gpu", 1)


def launcher(step):
    """What starts a step's script: one process per GPU the job holds (one on a CPU-only machine), under
    `accelerate launch` with the step's accelerate config (t5qa.plan.launch). Derived from resources on purpose: a
    param that reads resources is not tracked, so changing the GPU or node count reruns nothing. One process
    without a config runs as plain `python`: no launcher process stands between Snakemake and the trainer, and no
    user accelerate config leaks into the job (t5qa.plan.launch names one even when the user names none). A `nodes`
    resource above 1 runs one launcher per node through srun."""

    def words(wildcards, resources, threads):
        settings = experiment(wildcards)["settings"][step]
        return rule_launcher(
            gpus=int(resources.gpu),
            nodes=int(getattr(resources, "nodes", 1)),
            config=settings["accelerate_config"],
            precision=settings["precision"],
            cpus=int(getattr(resources, "cpus_per_task", 0) or threads),
            mpi=getattr(resources, "mpi", None),
            tasks=getattr(resources, "tasks", None),
            tasks_per_gpu=getattr(resources, "tasks_per_gpu", None),
        )

    return words


def accelerate_config(step):
    """The content of the step's accelerate config (a hash), tracked: editing the file reruns the step, moving
    it does not."""

    def tracked(wildcards):
        path = experiment(wildcards)["settings"][step]["accelerate_config"]
        if path is None:
            return canonical(None)
        if not Path(path).is_file():
            raise ValueError(f"{step}.accelerate_config: {path}: no such file")
        return canonical({"sha256": sha256_of(Path(path))})

    return tracked


def step_settings(settings_class, shared=None):
    """A step's settings from the validated config (defaults filled in by the schema), as a tracked param: the
    job's experiment's, or those of the shared folder the job builds (TOKENIZATIONS, SCRATCH_TOKENIZERS,
    SCRATCH_MODELS)."""

    def settings(wildcards):
        if shared is TOKENIZATIONS:
            return canonical(settings_class.from_config(TOKENIZATIONS[wildcards.tok]["settings"]))
        if shared is SCRATCH_TOKENIZERS:
            return canonical(settings_class.from_config(SCRATCH_TOKENIZERS[wildcards.stok]["settings"]))
        if shared is SCRATCH_MODELS:
            return canonical(settings_class.from_config(SCRATCH_MODELS[wildcards.mod]["settings"]))
        return canonical(settings_class.from_config(experiment(wildcards)["settings"]))

    return settings
