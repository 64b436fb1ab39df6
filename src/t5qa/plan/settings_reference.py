"""The settings reference of config/README.md, rendered from the config schema (src/t5qa/config.schema.yaml): one
Markdown table per top-level setting, every nested key on its own row (key path, type or allowed values, default,
description), so the schema stays the only place that states a default.

    python -m t5qa.plan.settings_reference                            # print the tables
    python -m t5qa.plan.settings_reference --write config/README.md   # rewrite the generated block (make docs)
    python -m t5qa.plan.settings_reference --check config/README.md   # exit 1 when the block is stale

Only the text between the two marker comments is rewritten; the rest of the file is written by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from t5qa.settings import config_schema

BEGIN = "<!-- BEGIN settings reference: generated from src/t5qa/config.schema.yaml by `make docs`; do not edit -->"
END = "<!-- END settings reference -->"
REGENERATE = "make docs  (python -m t5qa.plan.settings_reference --write config/README.md)"

# The $defs rendered as a table of their own, named in the rows that use them.
SHARED = {"location": "a split's location"}


def resolve(node: dict, defs: dict) -> dict:
    """A node with its `$ref` (to `#/$defs/NAME`) merged in; the node's own keys (description, default) win."""
    if "$ref" not in node:
        return node
    name = node["$ref"].removeprefix("#/$defs/")
    merged = {**resolve(defs[name], defs), **{k: v for k, v in node.items() if k != "$ref"}}
    merged["$def"] = name
    return merged


def value_text(value) -> str:
    """A YAML value as it would be written in a config file."""
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def code(value) -> str:
    text = value_text(value)
    return f"`{text}`" if text else '`""`'


def bounds(node: dict) -> str:
    parts = []
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in node:
            parts.append(f"{sign} {value_text(node[key])}")
    return ", ".join(parts)


def type_text(node: dict, defs: dict) -> str:
    """What a value may be: a type with its bounds, the allowed values, or alternatives joined by `or`."""
    node = resolve(node, defs)
    if node.get("$def") in SHARED:
        return f"{SHARED[node['$def']]} (below)"
    if node.get("$def") == "name":
        return "name"
    if "enum" in node:
        return " \\| ".join(code(v) for v in node["enum"])
    if "const" in node:
        return code(node["const"])
    if "oneOf" in node and "type" not in node:
        return " or ".join(type_text(alt, defs) for alt in node["oneOf"])
    kind = node.get("type")
    if kind == "array":
        items = type_text(node["items"], defs) if "items" in node else "values"
        prefix = "non-empty list" if node.get("minItems", 0) >= 1 else "list"
        return f"{prefix} of {items}"
    if kind == "object" and "properties" not in node:
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            keys = key_text(node, defs)
            return f"map of {keys} → {type_text(extra, defs)}"
        return "object"
    if kind is None:
        return node.get("$def", "see description")
    text = {"null": "`null`", "integer": "integer", "number": "number", "boolean": "`true` \\| `false`"}.get(kind, kind)
    if "pattern" in node:
        text += f" matching `{node['pattern']}`"
    if node.get("minLength", 0) >= 1:
        text = f"non-empty {text}"
    limits = bounds(node)
    return f"{text} {limits}" if limits else text


def key_text(node: dict, defs: dict) -> str:
    """What the keys of a map may be."""
    names = node.get("propertyNames")
    if not names:
        return "name"
    names = resolve(names, defs)
    if "enum" in names:
        return " \\| ".join(code(v) for v in names["enum"])
    if names.get("$def") == "name":
        return "name"
    return f"keys matching `{names['pattern']}`" if "pattern" in names else "name"


def default_text(node: dict, required: bool) -> str:
    if "default" in node:
        return code(node["default"])
    return "required" if required else "—"


def cell(text: str) -> str:
    """Table-cell text: one line; pipes escaped (inside code spans too, as GitHub's tables need), and outside code
    spans `<` and `*`, which Markdown would read as an HTML tag or emphasis."""
    text = " ".join(str(text).split())
    parts = re.split(r"(`[^`]*`)", text)
    for i, part in enumerate(parts):
        if not part.startswith("`"):
            part = part.replace("<", "&lt;").replace("*", "\\*")
        parts[i] = re.sub(r"(?<!\\)\|", r"\\|", part)
    return "".join(parts)


def rows(path: str, node: dict, defs: dict, required: bool = False) -> list[tuple[str, str, str, str]]:
    """(key path, type, default, description) of a node and, for an object, of every key under it."""
    node = resolve(node, defs)
    found = [(f"`{path}`", type_text(node, defs), default_text(node, required), node.get("description", ""))]
    if node.get("$def") in SHARED:
        return found
    children, below = None, path
    if node.get("type") == "object" and "properties" in node:
        children = node
        if isinstance(node.get("additionalProperties"), dict):  # both named keys and free ones: not in the schema
            raise ValueError(f"{path}: properties and additionalProperties together")
    elif node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        extra = resolve(node["additionalProperties"], defs)
        if "properties" in extra and extra.get("$def") not in SHARED:
            children, below = extra, f"{path}.<{key_text(node, defs)}>"
    elif node.get("type") == "array" and isinstance(node.get("items"), dict):
        items = resolve(node["items"], defs)
        if "properties" in items:
            children, below = items, f"{path}[]"
    if children is not None:
        needed = set(children.get("required", []))
        for key, child in children["properties"].items():
            found += rows(f"{below}.{key}", child, defs, key in needed)
    return found


def table(entries: list[tuple[str, str, str, str]]) -> str:
    lines = ["| key | type or values | default | description |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell(part) for part in entry) + " |" for entry in entries]
    return "\n".join(lines)


def render(schema: dict | None = None) -> str:
    """The whole reference: a table per top-level setting, in the schema's order, then the shared definitions."""
    schema = config_schema() if schema is None else schema
    defs = schema.get("$defs", {})
    needed = set(schema.get("required", []))
    parts = []
    if "name" in defs:
        parts.append(f"A *name* (of a source or a dataset) matches `{defs['name']['pattern']}`.")
    for key, node in schema["properties"].items():
        entries = rows(key, node, defs, key in needed)
        parts.append(f"### `{key}`\n\n{table(entries)}")
    for name, title in SHARED.items():
        node = defs[name]
        entries = []
        for key, child in node["properties"].items():
            entries += rows(key, child, defs)
        heading = title[0].upper() + title[1:]
        one_of = ", ".join(" + ".join(f"`{k}`" for k in alt["required"]) for alt in node.get("oneOf", []))
        intro = node.get("description", "")
        if one_of:
            intro += f" Exactly one of: {one_of}."
        parts.append(f"### {heading}\n\n{intro.strip()}\n\n{table(entries)}")
    return "\n\n".join(parts) + "\n"


def block(schema: dict | None = None) -> str:
    return f"{BEGIN}\n\n{render(schema)}\n{END}"


def replace_block(text: str, new_block: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the marker comments are missing: {BEGIN!r} ... {END!r}")
    return text[:start] + new_block + text[end + len(END) :]


def is_current(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return replace_block(text, block()) == text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], prog="python -m t5qa.plan.settings_reference"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", type=Path, help="rewrite the generated block of FILE")
    group.add_argument("--check", metavar="FILE", type=Path, help="exit 1 when FILE's generated block is stale")
    args = parser.parse_args(argv)
    try:
        if args.write:
            text = args.write.read_text(encoding="utf-8")
            new = replace_block(text, block())
            if new != text:
                args.write.write_text(new, encoding="utf-8")
            return 0
        if args.check:
            if is_current(args.check):
                return 0
            print(f"error: {args.check}: the settings reference is stale; regenerate it: {REGENERATE}", file=sys.stderr)
            return 1
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
