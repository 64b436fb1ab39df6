"""Config mistakes the schema cannot see, because they are about names that must refer to each other: caught when
Snakemake builds the DAG (Snakefile), with one line each, instead of a KeyError or silently doubled data later."""

from __future__ import annotations

import difflib

from t5qa.download import check_location
from t5qa.errors import InputError
from t5qa.formats import FORMATS, get_format
from t5qa.sources import ALL_SPLITS


def _undeclared(kind: str, name: str, section: str, declared) -> str:
    close = difflib.get_close_matches(name, list(declared), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{kind} {name!r} is not declared under '{section}'{hint}"


def config_problems(config: dict) -> list[str]:
    """Every problem found, one sentence each (empty: the config is consistent)."""
    problems = []
    sources = config.get("sources") or {}
    archives = config.get("archives") or {}
    datasets = config.get("datasets") or {}
    for name, spec in archives.items():
        try:
            check_location(spec, where=f"archive {name!r}")
        except InputError as err:
            problems.append(str(err))
    for name, spec in sources.items():
        try:
            fmt = get_format(spec.get("format"), where=f"source {name!r}")
        except InputError as err:
            problems.append(str(err))
        else:
            if spec.get("columns") and not fmt.takes_columns:
                generic = "/".join(other.name for other in FORMATS.values() if other.takes_columns)
                problems.append(
                    f"source {name!r}: format {fmt.name} has a fixed layout; 'columns' applies to "
                    f"{generic} sources only: remove it"
                )
        for split in ALL_SPLITS:
            location = spec.get(split)
            if location is None:
                continue
            where = f"source {name!r} {split}"
            try:
                check_location(location, where=where)
            except InputError as err:
                problems.append(str(err))
            if "archive" in location and location["archive"] not in archives:
                problems.append(f"{where}: {_undeclared('archive', location['archive'], 'archives', archives)}")
    for dataset, members in datasets.items():
        for source in dict.fromkeys(members):
            if members.count(source) > 1:
                problems.append(
                    f"dataset {dataset!r} lists source {source!r} {members.count(source)} times "
                    "(its rows would count that many times); list it once"
                )
            if source not in sources:
                problems.append(f"dataset {dataset!r}: {_undeclared('source', source, 'sources', sources)}")
    for dataset in config.get("default_datasets") or []:
        if dataset not in datasets:
            problems.append(f"default_datasets: {_undeclared('dataset', dataset, 'datasets', datasets)}")
    return problems


def check_config(config: dict) -> None:
    """Raise ValueError naming every inconsistency, one line each."""
    problems = config_problems(config)
    if problems:
        raise ValueError("\n".join(f"config: {problem}" for problem in problems))
