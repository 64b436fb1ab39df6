"""Run the real Snakefile on tiny generated data in a scratch directory."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from t5qa.data.demo_data import generate, to_causalqa_csv, to_squad_json

REPO = Path(__file__).resolve().parents[1]

TINY_MODEL = {
    "name_or_path": "scratch",
    "tokenizer": "scratch",
    "scratch": {
        "vocab_size": 300,
        "seed": 0,
        "architecture": {
            "d_model": 32,
            "d_ff": 64,
            "d_kv": 8,
            "num_heads": 2,
            "num_layers": 1,
            "num_decoder_layers": 1,
            "dropout_rate": 0.0,
        },
    },
}


def write_tiny_sources(root: Path, n_train: int = 120, n_validation: int = 30) -> dict:
    """Two sources (one SQuAD JSON, one CausalQA CSV) like the demo, much smaller."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = {
        "squad_train.json": to_squad_json(generate(1, n_train, "st"), "tiny"),
        "squad_validation.json": to_squad_json(generate(2, n_validation, "sv"), "tiny"),
        "causalqa_train.csv": to_causalqa_csv(generate(3, n_train, "ct")),
        "causalqa_validation.csv": to_causalqa_csv(generate(4, n_validation, "cv")),
    }
    for name, text in files.items():
        (data / name).write_text(text)
    return {
        "tiny_squad": {
            "format": "squad_v2_json",
            "train": {"path": str(data / "squad_train.json")},
            "validation": {"path": str(data / "squad_validation.json")},
        },
        "tiny_causalqa": {
            "format": "causalqa_csv",
            "train": {"path": str(data / "causalqa_train.csv")},
            "validation": {"path": str(data / "causalqa_validation.csv")},
        },
    }


def tiny_config(sources: dict, **overrides) -> dict:
    config = {
        "default_datasets": ["tiny"],
        "sources": sources,
        "datasets": {"tiny": list(sources)},
        "model": TINY_MODEL,
        "tokenize": {"max_source_length": 128, "max_target_length": 16},
        "train": {
            "learning_rate": 0.003,
            "epochs": 1,
            "batch_size": 16,
            "seed": 0,
            "save_steps": 4,
            "logging_steps": 2,
            "warmup_ratio": 0.0,
        },
        "predict": {"batch_size": 32, "max_new_tokens": 8},
    }
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def write_config(root: Path, config: dict) -> Path:
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def copy_workflow(target: Path) -> Path:
    """A private copy of the workflow's code, for tests that edit it; returns its Snakefile."""
    shutil.copy(REPO / "Snakefile", target / "Snakefile")
    for folder in ("workflow", "src", "config"):
        shutil.copytree(REPO / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target / "Snakefile"


def snakemake(root: Path, *args: str, check: bool = True, snakefile: Path | None = None, env: dict | None = None):
    env = {**(env or os.environ), "HF_HUB_OFFLINE": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile or REPO / "Snakefile"), "--directory", str(root)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return result


def planned_jobs(root: Path, config: Path, target: str, *extra: str, snakefile: Path | None = None) -> dict[str, int]:
    """Rule -> job count that a dry run would execute."""
    result = snakemake(root, "-n", target, *extra, "--configfile", str(config), "--quiet", "rules", snakefile=snakefile)
    counts = {}
    for line in (result.stdout + result.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            counts[parts[0]] = int(parts[1])
    return counts


def read_json(path: Path):
    return json.loads(path.read_text())
