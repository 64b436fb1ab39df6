# Helpers shared by the rules: config lookups, tracked settings, the files a step depends on.

import json
from pathlib import Path

from t5qa.settings import (
    PredictSettings,
    ScratchModelSettings,
    ScratchTokenizerSettings,
    TokenizeSettings,
    TrainSettings,
)
from t5qa import sources as source_specs
from t5qa.formats import FORMATS
from t5qa.sources import SPLITS, raw_extension, read_split, split_spec

ROOT = Path(workflow.basedir)
SCRIPTS = ROOT / "workflow" / "scripts"
LIBRARY = ROOT / "src" / "t5qa"
# What every step's CLI shares: error reporting, atomic writes, settings parsing.
SHARED_MODULES = ("cli.py", "errors.py", "atomic.py", "progress.py")


wildcard_constraints:
    source=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    split="|".join(SPLITS),


def canonical(obj):
    """Settings as one JSON string with sorted keys: Snakemake tracks a param's repr, and a reordered
    YAML mapping must not look like a change."""
    return json.dumps(obj, sort_keys=True)


def step_script(name):
    """A step's script is an input, so editing it reruns the step (and everything downstream)."""
    return str(SCRIPTS / name)


def modules(*names):
    """The library modules a step relies on: inputs too, for the same reason."""
    return [str(LIBRARY / name) for name in (*names, *SHARED_MODULES)]


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


def named_tables(sources, split):
    """SOURCE=PATH arguments for the scripts."""
    return " ".join(f"{s}={path}" for s, path in zip(sources, normalized(sources, split)))


def normalize_stats(sources):
    return expand(rules.normalize.output.stats, source=sources, split=SPLITS)


def named_stats(sources):
    """SOURCE:SPLIT=PATH arguments for the report page."""
    return " ".join(
        f"{source}:{split}={expand(rules.normalize.output.stats, source=source, split=split)[0]}"
        for source in sources
        for split in SPLITS
    )


def is_scratch(key):
    return config["model"][key] == "scratch"


def tokenizer_location(dataset):
    if is_scratch("tokenizer"):
        return expand(rules.scratch_tokenizer.output.tokenizer, dataset=dataset)[0]
    return config["model"]["tokenizer"]


def model_location(dataset):
    if is_scratch("name_or_path"):
        return expand(rules.scratch_model.output.model, dataset=dataset)[0]
    return config["model"]["name_or_path"]


def launcher(wildcards, resources):
    """One process per GPU the job holds (one on a CPU-only machine). Derived from resources on purpose:
    changing the GPU count must not rerun anything. A single process runs as plain `python`: no launcher
    process stands between Snakemake and the trainer, and no user accelerate config leaks into the job."""
    processes = max(1, int(resources.gpu))
    if processes == 1:
        return "python"
    return (
        f"accelerate launch --multi_gpu --num_processes {processes} --num_machines 1 --main_process_port 0 "
        "--mixed_precision no --dynamo_backend no"
    )


def step_settings(settings_class):
    """A step's settings from the validated config (defaults filled in by the schema), as a tracked param."""
    return lambda wildcards: canonical(settings_class.from_config(config))


# --- download


def download_location(wildcards):
    """The resolved location of a raw split: a tracked param, so a new URL or member re-downloads."""
    spec = source_config(wildcards.source)
    return split_spec(spec, wildcards.split, config["causalqa_split_family"])


def download_inputs(wildcards):
    location = download_location(wildcards)
    inputs = {"script": step_script("download.py"), "modules": modules("download.py", "manifest.py")}
    if "archive" in location:
        inputs["archive"] = expand(rules.download_archive.output.archive, archive=location["archive"])[0]
    return inputs


# --- normalize


def normalize_settings(wildcards):
    """Everything that shapes a source's table: a change reruns that source's chain only."""
    return source_specs.normalize_settings(source_config(wildcards.source), wildcards.split)


# --- tokenize_data


def tokenize_data_inputs(wildcards):
    sources = dataset_sources(wildcards.dataset)
    inputs = {
        "train": normalized(sources, "train"),
        "validation": normalized(sources, "validation"),
        "script": step_script("tokenize_data.py"),
        "modules": modules("tokenize_data.py", "features.py", "text.py", "settings.py", "sources.py"),
    }
    # A hub tokenizer is fetched on the login node first (prefetch), so this job can run offline.
    scratch = is_scratch("tokenizer")
    fetched = expand(rules.prefetch_hub.output.record, role="tokenizer")[0]
    inputs["tokenizer"] = tokenizer_location(wildcards.dataset) if scratch else fetched
    return inputs


# --- train


def train_inputs(wildcards):
    inputs = {
        "tokenized": expand(rules.tokenize_data.output.data, dataset=wildcards.dataset)[0],
        "stats": expand(rules.tokenize_data.output.stats, dataset=wildcards.dataset)[0],
        "script": step_script("train.py"),
        "modules": modules(
            "train.py",
            "predict.py",
            "features.py",
            "text.py",
            "scoring.py",
            "settings.py",
            "manifest.py",
            "model_card.py",
            "plot_training.py",
        ),
    }
    scratch = is_scratch("name_or_path")
    fetched = expand(rules.prefetch_hub.output.record, role="model")[0]
    inputs["model"] = model_location(wildcards.dataset) if scratch else fetched
    return inputs


# --- prefetch


def dataset_raw_files(dataset):
    return sorted({raw_file(s, split) for s in dataset_sources(dataset) for split in SPLITS})
