# Helpers shared by the rules: config lookups, canonical params, script paths.

import json
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


def code(step_script, *modules):
    """A step's script and library modules are inputs, so editing them reruns the step."""
    return [str(SCRIPTS / step_script)] + [str(LIBRARY / m) for m in modules]


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
    """`accelerate launch` over as many processes as GPUs the job holds (one on a CPU-only machine).
    Derived from resources on purpose: changing the GPU count must not rerun anything."""
    processes = max(1, int(resources.gpu))
    return (
        f"accelerate launch --num_processes {processes} --num_machines 1 --main_process_port 0 "
        "--mixed_precision no --dynamo_backend no"
    )
