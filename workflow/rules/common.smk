# Helpers shared by the rules: config lookups, canonical params, script paths.

import json
import shlex
from pathlib import Path

from t5qa.sources import raw_extension, split_spec, source_splits

ROOT = Path(workflow.basedir)
SCRIPTS = ROOT / "workflow" / "scripts"
LIBRARY = ROOT / "src" / "t5qa"
SPLITS = ["train", "validation"]


wildcard_constraints:
    source=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    split="train|validation",


def canonical(obj):
    """Settings as one JSON string with sorted keys: Snakemake tracks a param's repr, and a reordered
    YAML mapping must not look like a change."""
    return json.dumps(obj, sort_keys=True)


def script(name):
    """A step's script is an input, so editing it reruns the step (and everything downstream)."""
    return str(SCRIPTS / name)


# What every step's CLI shares: error reporting, atomic writes, settings checks.
SHARED_MODULES = ("cli.py", "errors.py", "atomic.py")


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
    read_split = split if split in source_splits(spec) else "train"
    return f"results/raw/{source}/{read_split}.{raw_extension(spec)}"


def normalized(sources, split):
    return [f"results/normalized/{s}/{split}.parquet" for s in sources]


def named_tables(sources, split):
    """SOURCE=PATH arguments for the scripts."""
    return " ".join(f"{s}=results/normalized/{s}/{split}.parquet" for s in sources)


def is_scratch(key):
    return config["model"][key] == "scratch"


def tokenizer_location(dataset):
    return f"results/scratch/{dataset}/tokenizer" if is_scratch("tokenizer") else config["model"]["tokenizer"]


def model_location(dataset):
    return f"results/scratch/{dataset}/model" if is_scratch("name_or_path") else config["model"]["name_or_path"]


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


# --- download


def archive_spec(name):
    return config["archives"][name]


def download_location(wildcards):
    """The resolved location of a raw split: a tracked param, so a new URL or member re-downloads."""
    spec = source_config(wildcards.source)
    return split_spec(spec, wildcards.split, config.get("causalqa_split_family", "original"))


def download_inputs(wildcards):
    location = download_location(wildcards)
    inputs = {"script": script("download.py"), "modules": modules("download.py", "manifest.py")}
    if "archive" in location:
        inputs["archive"] = f"results/raw/archives/{location['archive']}.zip"
    return inputs


# --- normalize


def normalize_settings(wildcards):
    """Everything that shapes a source's table: a change reruns that source's chain only."""
    spec = source_config(wildcards.source)
    location = split_spec(spec, wildcards.split)
    settings = {
        "format": spec["format"],
        "columns": spec.get("columns", {}),
        "strict": spec.get("strict", False),
    }
    if "carved_from" in location:
        settings["holdout"] = {"fraction": location["fraction"], "part": wildcards.split}
    elif "validation" not in spec:
        settings["holdout"] = {"fraction": spec.get("validation_fraction", 0.1), "part": "train"}
    return settings


def normalize_flags(wildcards):
    settings = normalize_settings(wildcards)
    flags = f"--format {settings['format']} --columns {shlex.quote(json.dumps(settings['columns']))}"
    if settings["strict"]:
        flags += " --strict"
    if "holdout" in settings:
        flags += f" --holdout-fraction {settings['holdout']['fraction']} --holdout-part {settings['holdout']['part']}"
    return flags


# --- tokenize


def tokenize_inputs(wildcards):
    sources = dataset_sources(wildcards.dataset)
    inputs = {
        "train": normalized(sources, "train"),
        "validation": normalized(sources, "validation"),
        "script": script("tokenize_data.py"),
        "modules": modules("tokenizing.py", "features.py", "text.py"),
    }
    # A hub tokenizer is fetched on the login node first (prefetch), so this job can run offline.
    scratch = is_scratch("tokenizer")
    inputs["tokenizer"] = tokenizer_location(wildcards.dataset) if scratch else "results/prefetch/tokenizer.json"
    return inputs


# --- train


def train_inputs(wildcards):
    inputs = {
        "tokenized": f"results/tokenized/{wildcards.dataset}",
        "script": script("train.py"),
        "modules": modules("training.py", "predicting.py", "features.py", "text.py", "manifest.py"),
    }
    scratch = is_scratch("name_or_path")
    inputs["model"] = model_location(wildcards.dataset) if scratch else "results/prefetch/model.json"
    return inputs


# --- prefetch


def dataset_raw_files(dataset):
    return sorted({raw_file(s, split) for s in dataset_sources(dataset) for split in SPLITS})
