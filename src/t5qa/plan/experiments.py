"""Named experiments, sweeps, and the keys under which experiments share work.

An experiment is the top-level `model`, `tokenize`, `train` and `predict` settings with overrides deep-merged over
them. The top-level settings themselves are the experiment `default`, whose outputs stay at the plain paths
(results/models/<dataset>, results/metrics/<dataset>.json); a named experiment's outputs live under
results/experiments/<name>/. A sweep is a compact way to declare many experiments: a grid over dotted setting keys
times a list of seeds, each combination an experiment with a readable name.

Experiments share what does not depend on what they change: every experiment reads the same normalised tables; those
with the same tokenizer and tokenize settings share one tokenized folder (a learning-rate sweep tokenizes once); those
with the same starting model share one scratch model or one prefetched hub model; a scratch tokenizer is rebuilt only
when what it learns changes. Shared folders are named by a short
hash of what they depend on, so adding or editing one experiment never moves another's inputs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re

from t5qa.data.sources import TEST
from t5qa.settings import STRICT_VALIDATOR, config_schema, explain_error

DEFAULT = "default"
SECTIONS = ("model", "tokenize", "train", "predict")
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
# A name is a folder of its own (results/experiments/<name>/, logs/experiments/<name>/): at most a file name's 255
# bytes (the derived file names inside it are named by datasets, not by the experiment).
NAME_BYTES = 255


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def dotted_to_nested(key: str, value) -> dict:
    """train.learning_rate, 3e-4 -> {"train": {"learning_rate": 3e-4}}"""
    nested = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


def value_label(value) -> str:
    """A setting's value as part of a name: 0.0003 -> 0.0003, 1e-05 -> 1e-05, true -> true, t5-base -> t5-base."""
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "_"


def expand_sweep(sweep: dict) -> dict[str, dict]:
    """Experiment name -> overrides and seed group, for one sweep (grid in the order given, then the seeds)."""
    keys = list(sweep.get("grid", {}))
    if sweep.get("seeds") and "train.seed" in keys:
        raise ValueError(f"sweep {sweep['name']!r}: give the seeds as `seeds` or as grid train.seed, not both")
    grid = [sweep["grid"][key] for key in keys]
    seeds = sweep.get("seeds") or [None]
    expanded = {}
    for values in itertools.product(*grid):
        overrides = copy.deepcopy(sweep.get("overrides", {}))
        parts = [sweep["name"]]
        for key, value in zip(keys, values):
            overrides = deep_merge(overrides, dotted_to_nested(key, value))
            parts.append(f"{key.rsplit('.', 1)[-1]}{value_label(value)}")
        group = "-".join(parts)
        if group in expanded or any(entry["group"] == group for entry in expanded.values()):
            raise ValueError(
                f"sweep {sweep['name']!r}: two grid points render to the same name {group!r} (values that differ only "
                "in characters a name cannot hold); give values that differ in letters, digits, _ . or -"
            )
        for seed in seeds:
            with_seed = overrides if seed is None else deep_merge(overrides, {"train": {"seed": seed}})
            name = group if seed is None else f"{group}-seed{seed}"
            expanded[name] = {"overrides": with_seed, "group": group, "seed": seed, "sweep": sweep["name"]}
    return expanded


def declared_experiments(config: dict) -> dict[str, dict]:
    """Every experiment, the default first: name -> {overrides, group, seed, sweep}. Raises ValueError on a clash."""
    experiments = {DEFAULT: {"overrides": {}, "group": DEFAULT, "seed": None, "sweep": None}}
    problems = []

    def add(name: str, entry: dict, origin: str) -> None:
        if not EXPERIMENT_NAME.match(name) or name in (".", ".."):
            problems.append(f"{origin}: {name!r} is not a valid experiment name (letters, digits, _ . -)")
        elif len(name.encode()) > NAME_BYTES:
            problems.append(
                f"{origin}: the experiment name {name[:40]}... is {len(name.encode())} bytes long, over the "
                f"{NAME_BYTES} a file name may hold; give a shorter name"
            )
        elif name in experiments:
            problems.append(f"{origin}: the experiment name {name!r} is taken (by {experiments[name]['origin']})")
        else:
            experiments[name] = {**entry, "origin": origin}

    experiments[DEFAULT]["origin"] = "the top-level settings"
    for name, overrides in (config.get("experiments") or {}).items():
        add(name, {"overrides": overrides, "group": name, "seed": None, "sweep": None}, f"experiments.{name}")
    for sweep in config.get("sweeps") or []:
        try:
            expanded = expand_sweep(sweep)
        except ValueError as err:
            problems.append(str(err))
            continue
        for name, entry in expanded.items():
            add(name, entry, f"sweep {sweep['name']!r} ({name})")
    if problems:
        raise ValueError("\n".join(problems))
    return experiments


def experiment_settings(config: dict, overrides: dict, where: str) -> dict:
    """The four setting sections of one experiment, overrides merged in, checked against the schema (defaults
    filled in). Raises ValueError with one line per problem."""
    unknown = sorted(set(overrides) - set(SECTIONS))
    if unknown:
        known = ", ".join([*SECTIONS, "finetune", "resources"])
        raise ValueError(f"{where}: {', '.join(unknown)} cannot be overridden (only {known})")
    merged = deep_merge({section: config[section] for section in SECTIONS}, overrides)
    schema = config_schema()
    section_schema = {
        "$defs": schema["$defs"],
        "type": "object",
        "properties": {section: schema["properties"][section] for section in SECTIONS},
    }
    errors = sorted(STRICT_VALIDATOR(section_schema).iter_errors(merged), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{where}: {line}" for error in errors for line in explain_error(error)]
        raise ValueError("\n".join(dict.fromkeys(lines)))
    return merged


def sharing_key(settings: dict, what: str) -> dict:
    """What a shared folder depends on, and nothing else:
    scratch_tokenizer  a scratch tokenizer: its size and seed, and the words it must know (template, target word)
    tokenization       the tokenizer (hub name, or the scratch tokenizer's key) and the tokenize settings
    model              the starting model: a hub name, or a scratch model's settings and its tokenizer's key
    """
    model, tokenize = settings["model"], settings["tokenize"]
    if what == "scratch_tokenizer":
        scratch = {k: model["scratch"][k] for k in ("vocab_size", "seed")}
        return {**scratch, "template": tokenize["template"], "unanswerable_target": tokenize["unanswerable_target"]}
    if what == "tokenization":
        tokenizer = model["tokenizer"]
        if tokenizer == "scratch":
            tokenizer = {"scratch": sharing_key(settings, "scratch_tokenizer")}
        return {"tokenizer": tokenizer, "tokenize": tokenize}
    if model["name_or_path"] != "scratch":
        return {"name_or_path": model["name_or_path"]}
    return {"scratch": model["scratch"], "tokenizer": sharing_key(settings, "scratch_tokenizer")}


def folder_prefix(key: dict, default_key: dict, kind: str) -> str:
    """'' for what the default experiment uses (today's paths), else '<kind>-<hash>/'."""
    if key == default_key:
        return ""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{kind}-{digest}/"


def build_experiments(config: dict) -> dict[str, dict]:
    """name -> {settings, finetune, resources, group, seed, sweep, origin}: every experiment, the default first,
    each one's settings merged and checked. Raises ValueError naming every problem, one line each."""
    experiments = declared_experiments(config)
    problems = []
    for entry in experiments.values():
        # A sweep's members share its keys: a problem they repeat (an unknown key) is named by the sweep, said once.
        where = f"sweep {entry['sweep']!r}" if entry["sweep"] else entry["origin"]
        if not isinstance(entry["overrides"], dict):
            problems.append(f"{where}: must be a mapping of overrides (write {{}} for none)")
            continue
        overrides = dict(entry["overrides"])
        entry["finetune"] = overrides.pop("finetune", True)
        entry["resources"] = overrides.pop("resources", {})
        if not isinstance(entry["finetune"], bool):
            problems.append(f"{where}: finetune must be true or false, not {entry['finetune']!r}")
        problems += resource_problems(entry["resources"], where)
        try:
            entry["settings"] = experiment_settings(config, overrides, where)
        except ValueError as err:
            problems.append(str(err))
            continue
        model = entry["settings"]["model"]
        if (model["name_or_path"] == "scratch") != (model["tokenizer"] == "scratch"):
            problems.append(
                f"{where}: model.name_or_path {model['name_or_path']!r} and model.tokenizer {model['tokenizer']!r}: "
                "a scratch model needs the scratch tokenizer it is built for, and a hub model its own tokenizer"
            )
    if problems:
        raise ValueError("\n".join(dict.fromkeys(problems)))
    link_shared(experiments)
    return experiments


# What an experiment shares with others, and the prefix kind of each shared folder's path.
SHARED_FOLDERS = {"tokenization": "tok", "scratch_tokenizer": "tokenizer", "model": "model"}
HUB_ROLES = {"model": "name_or_path", "tokenizer": "tokenizer"}  # role -> its key under `model`


def experiment_prefix(name: str) -> str:
    """Where a named experiment's own outputs live under results/ ('' for the default)."""
    return "" if name == DEFAULT else f"experiments/{name}/"


def link_shared(experiments: dict[str, dict]) -> None:
    """Complete each experiment's record with the path prefixes of everything it shares (the default's are ''):
    tokenization       its tokenized data: tok-<hash>/
    scratch_tokenizer  its scratch tokenizer: tokenizer-<hash>/
    model              its starting scratch model: model-<hash>/
    hub                {model, tokenizer}: its prefetched hub model and tokenizer: hub-<hash>/
    trained_by         whose trained model it uses: its own, or that of the first experiment (the default first)
                       with the same starting model, tokenization and train settings; one that changes only
                       predict settings trains nothing
    """
    default = experiments[DEFAULT]["settings"]
    for entry in experiments.values():
        settings = entry["settings"]
        for what, kind in SHARED_FOLDERS.items():
            entry[what] = folder_prefix(sharing_key(settings, what), sharing_key(default, what), kind)
        entry["hub"] = {
            role: folder_prefix({"name": settings["model"][key]}, {"name": default["model"][key]}, "hub")
            for role, key in HUB_ROLES.items()
        }
    owners = {}
    for name, entry in experiments.items():
        trains_alike = json.dumps([entry["model"], entry["tokenization"], entry["settings"]["train"]], sort_keys=True)
        entry["trained_by"] = experiment_prefix(owners.setdefault(trains_alike, name))


def shared_index(experiments: dict[str, dict], what: str) -> dict[str, dict]:
    """prefix -> the first experiment using that shared folder (all of them agree on what the folder depends on)."""
    index = {}
    for entry in experiments.values():
        index.setdefault(entry[what], entry)
    return index


def hub_index(experiments: dict[str, dict], role: str) -> dict[str, str]:
    """prefix -> hub name (or local path) of the model or tokenizer role."""
    return {entry["hub"][role]: entry["settings"]["model"][HUB_ROLES[role]] for entry in experiments.values()}


def resource_problems(resources, where: str) -> list[str]:
    """resources: {train: {gpu: N}, predict: {gpu: N}}, N >= 1."""
    if not isinstance(resources, dict):
        return [f"{where}: resources must be a mapping such as {{train: {{gpu: 2}}}}"]
    problems = []
    for step, values in resources.items():
        if step not in ("train", "predict") or not isinstance(values, dict) or set(values) - {"gpu"}:
            problems.append(f"{where}: resources.{step}: only train and predict take resources, and only gpu")
        elif not (type(values.get("gpu", 1)) is int and values.get("gpu", 1) >= 1):
            problems.append(f"{where}: resources.{step}.gpu must be a whole number of GPUs, at least 1")
    return problems


def evaluation_runs(config: dict, experiments: dict[str, dict]) -> list[dict]:
    """The rows of the comparison table: {experiment, group, seed, trained_on, evaluated_on, split} for each model on
    each dataset (validation or test split) it is scored on. Without `evaluations`: every experiment on each default
    dataset, scored on itself. Raises ValueError naming an undeclared experiment, sweep or dataset."""
    datasets = config.get("datasets") or {}
    sweeps = {}
    for name, entry in experiments.items():
        if entry["sweep"]:
            sweeps.setdefault(entry["sweep"], []).append(name)
    evaluations = config.get("evaluations") or [{"experiments": list(experiments)}]
    problems, runs = [], []
    for number, evaluation in enumerate(evaluations, 1):
        where = f"evaluations[{number}]"
        names = []
        for name in evaluation["experiments"]:
            if name in experiments:
                names.append(name)
            elif name in sweeps:
                names.extend(sweeps[name])
            else:
                problems.append(f"{where}: {name!r} is neither an experiment nor a sweep")
        train_on = evaluation.get("train_on") or config.get("default_datasets") or []
        for dataset in [*train_on, *evaluation.get("evaluate_on", [])]:
            if dataset not in datasets:
                problems.append(f"{where}: dataset {dataset!r} is not declared under 'datasets'")
        if not train_on and config.get("evaluations"):
            problems.append(f"{where}: no train_on datasets (and default_datasets is empty)")
        split = evaluation.get("split", "validation")
        if split == TEST:
            for dataset in evaluation.get("evaluate_on") or train_on:
                for source in datasets.get(dataset, []):
                    if TEST not in (config.get("sources") or {}).get(source, {}):
                        problems.append(f"{where}: split test, but source {source!r} of {dataset!r} has no test file")
        for name in names:
            for trained_on in train_on:
                for evaluated_on in evaluation.get("evaluate_on") or [trained_on]:
                    entry = experiments[name]
                    runs.append(
                        {
                            "experiment": name,
                            "group": entry["group"],
                            "seed": entry["seed"],
                            "trained_on": trained_on,
                            "evaluated_on": evaluated_on,
                            "split": split,
                        }
                    )
    if not runs and not problems and (config.get("evaluations") or len(experiments) > 1):
        problems.append("experiments are declared, but nothing scores them: set default_datasets or evaluations")
    if problems:
        raise ValueError("\n".join(problems))
    unique = {json.dumps(run, sort_keys=True): run for run in runs}  # one row per model and dataset
    return list(unique.values())
