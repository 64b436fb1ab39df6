"""Families of sources, declared once and expanded into plain sources, datasets, experiments and evaluations when the
config is loaded (t5qa.plan.config_check.validate_config, the path the Snakefile reads every config through).

A family under `source_families` is names x split families x one source template:

    source_families:
      causalqa:
        names: [paq, gooaq]
        split_families: [original, random]    # optional
        combined_dataset: causalqa            # optional: one dataset of every source of the family
        source: {format: causalqa_csv, train: {archive: causalqa, member: 'input/{split_family}/{name}_train.csv'}}

gives the sources causalqa_paq_original, causalqa_paq_random, causalqa_gooaq_original, causalqa_gooaq_random (without
split_families: causalqa_paq, causalqa_gooaq, each reading the global causalqa_split_family), each the template with
`{name}` filled into its text and its own `split_family`, and a dataset of each named like it (`datasets: false`:
none). `causalqa_table: {family: NAME, released: 'archive://...{name}...{split_family}...'}` makes the table's rows from
the family (in its names' order), an experiment per released model (`released-<split family>-<name>`, scored as the
base experiment is, with the model replaced), and the table's runs as evaluations (rows of results/summary.csv);
`row_overrides: {<name>: {...}}` is merged over one row's base and released experiments (the row's base becomes
`base-<name>`). A generated name that is also declared by hand is a config error, never a silent replacement.
"""

from __future__ import annotations

import copy

from t5qa.plan.experiments import deep_merge

NAME = "{name}"
FAMILIES = ("original", "random")


def fill_name(value, name: str):
    """The template with `{name}` filled into every text in it (other placeholders, {split_family}, stay)."""
    if isinstance(value, str):
        return value.replace(NAME, name)
    if isinstance(value, dict):
        return {key: fill_name(item, name) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_name(item, name) for item in value]
    return value


def family_sources(family: str, spec: dict) -> dict[str, dict]:
    """source name -> its spec, in the family's order (each name, then each split family)."""
    sources = {}
    for name in spec["names"]:
        for split_family in spec.get("split_families") or [None]:
            source = fill_name(copy.deepcopy(spec["source"]), name)
            if split_family is None:
                sources[f"{family}_{name}"] = source
            else:
                sources[f"{family}_{name}_{split_family}"] = {**source, "split_family": split_family}
    return sources


def expand_families(config: dict) -> list[str]:
    """Expand `source_families` and a family-made `causalqa_table` into `config` in place; the problems found, one
    line each (nothing is added where a name clashes)."""
    problems: list[str] = []
    sources, datasets = config.setdefault("sources", {}), config.setdefault("datasets", {})
    for family, spec in (config.get("source_families") or {}).items():
        where = f"source_families.{family}"
        made = family_sources(family, spec)
        datasets_made = {name: [name] for name in made} if spec.get("datasets", True) else {}
        if spec.get("combined_dataset"):
            datasets_made[spec["combined_dataset"]] = list(made)
        problems += _clashes(where, "source", made, sources) + _clashes(where, "dataset", datasets_made, datasets)
        sources.update({name: source for name, source in made.items() if name not in sources})
        datasets.update({name: members for name, members in datasets_made.items() if name not in datasets})
    table = config.get("causalqa_table") or {}
    if table.get("family"):
        problems += _expand_table(config, table)
    # What they made stands in their place: a config is expanded once, and a second pass finds nothing to redo.
    config.pop("source_families", None)
    for key in ("family", "released", "row_overrides"):
        table.pop(key, None)
    return problems


def _clashes(where: str, kind: str, made: dict, declared: dict) -> list[str]:
    return [
        f"{where}: makes the {kind} {name!r}, which is also declared under '{kind}s': rename one"
        for name in made
        if name in declared
    ]


def _expand_table(config: dict, table: dict) -> list[str]:
    """The table's rows, released experiments and evaluations from its family."""
    where, family = "causalqa_table", table["family"]
    spec = (config.get("source_families") or {}).get(family)
    if spec is None:
        return [f"{where}.family: {family!r} is not declared under 'source_families'"]
    if list(spec.get("split_families") or []) != list(FAMILIES):
        return [f"{where}.family: {family!r} must declare split_families: [original, random] (a column each)"]
    problems = [
        f"{where}.row_overrides: {name!r} is not a name of the family {family!r}"
        for name in table.get("row_overrides", {})
        if name not in spec["names"]
    ]
    if table.get("rows"):
        problems.append(f"{where}: give either rows or family, not both")
    experiments = config.setdefault("experiments", {})
    base = experiments.get(table.get("base"))
    if base is None:
        return problems  # named by check_table, with the other table problems
    made, rows = {}, {}
    for name in spec["names"]:
        override = table.get("row_overrides", {}).get(name)
        row = {family_name: f"{family}_{name}_{family_name}" for family_name in FAMILIES}
        if override:
            row["base"] = f"{table['base']}-{name}"
            made[row["base"]] = deep_merge(base, override)
        if table.get("released"):
            for family_name in FAMILIES:
                model = table["released"].replace(NAME, name).replace("{split_family}", family_name)
                experiment = f"released-{family_name}-{name}"
                made[experiment] = deep_merge(deep_merge(base, override or {}), {"model": {"name_or_path": model}})
                row[f"released_{family_name}"] = experiment
        rows[name] = row
    problems += _clashes(where, "experiment", made, experiments)
    if problems:
        return problems
    experiments.update(made)
    table["rows"] = rows
    config.setdefault("evaluations", []).extend(table_evaluations(table))
    return []


def table_evaluations(table: dict) -> list[dict]:
    """The table's cells as evaluations (each model on its own dataset): rows of results/summary.csv too."""
    rows = table["rows"].values()
    evaluations = [
        {"experiments": [table["base"]], "train_on": [row["original"] for row in rows if "base" not in row]},
        {"experiments": [table["finetuned"]], "train_on": [row[f] for row in rows for f in FAMILIES]},
    ]
    for row in rows:
        if "base" in row:
            evaluations.append({"experiments": [row["base"]], "train_on": [row["original"]]})
        for family_name in FAMILIES:
            if f"released_{family_name}" in row:
                evaluations.append({"experiments": [row[f"released_{family_name}"]], "train_on": [row[family_name]]})
    return [evaluation for evaluation in evaluations if evaluation["train_on"]]
