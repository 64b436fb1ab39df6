"""Config mistakes, caught when Snakemake builds the DAG (Snakefile), one line each naming the key path, the value
and what is allowed: a key given twice in a config file (`duplicate_keys`), what the schema refuses
(`schema_problems`, which also fills in the schema's defaults), and what the schema cannot see because it is about
names that must refer to each other (`config_problems`), instead of a KeyError or silently doubled data later."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from t5qa.data.download import check_location
from t5qa.data.formats import FORMATS, get_format
from t5qa.data.sources import ALL_SPLITS
from t5qa.errors import InputError
from t5qa.plan.families import expand_families
from t5qa.settings import STRICT_VALIDATOR, config_schema, explain_error


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
            check_location({key: value for key, value in spec.items() if key != "root"}, where=f"archive {name!r}")
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


# --------------------------------------------------------------------------- keys given twice


def duplicate_keys(path: str | Path) -> list[str]:
    """Every key a YAML (or JSON) config file gives twice in one mapping, with both lines: a YAML loader keeps the
    last value silently."""
    path = Path(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []  # Snakemake has read it already: it reports a file it cannot read itself
    problems: list[str] = []

    def walk(node, where: str) -> None:
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                name = f"{where}.{key}" if where else str(key)
                line = key_node.start_mark.line + 1
                if key is not None and key in first_line:
                    problems.append(
                        f"{path}: {name} is given twice (lines {first_line[key]} and {line}); the last would silently "
                        "win: keep one"
                    )
                elif key is not None:
                    first_line[key] = line
                walk(value_node, name)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{where}[{i}]")

    walk(root, "")
    return problems


# The tags the safe loader gives plain values (and `<<` merges): any other names a constructor of some language.
PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "merge")
}


def foreign_tag(path: str | Path) -> str | None:
    """A YAML tag outside plain YAML's (`!!python/object/apply:os.system`, say) in a config file, named with its line:
    Snakemake's loader refuses it (nothing runs) but calls it "tab indentation". None when there is none."""
    path = Path(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # Snakemake reports a file it cannot read itself
    nodes = [root] if root is not None else []
    while nodes:
        node = nodes.pop()
        if node.tag not in PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            line = node.start_mark.line + 1
            return f"{path}: line {line}: the YAML tag {tag} is not allowed (a config holds plain values only)"
        if isinstance(node, yaml.MappingNode):
            nodes += [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            nodes += node.value
    return None


# --------------------------------------------------------------------------- what the schema refuses


def schema_problems(config: dict) -> list[str]:
    """What the schema refuses, one line each; fills the schema's defaults into `config` as it goes (as Snakemake's
    validate did), nested ones too, each default its own copy."""
    validator = STRICT_VALIDATOR(config_schema())
    problems: list[str] = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        for line in explain_error(error):
            if line not in problems:
                problems.append(line)
    return problems


def validate_config(config: dict, configfiles=()) -> None:
    """Everything wrong with the config at DAG build, one line each (ValueError): keys given twice in its files, what
    the schema refuses, then names that do not refer to each other. Fills in the schema's defaults."""
    problems = [problem for path in configfiles for problem in duplicate_keys(path)]
    problems += schema_problems(config)
    if not problems:  # families of sources become plain sources, datasets, ... (checked again once made)
        problems = expand_families(config) or schema_problems(config)
    if problems:
        raise ValueError("\n".join(f"config: {problem}" for problem in problems))
    check_config(config)
