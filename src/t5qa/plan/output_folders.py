"""Snakemake deletes a rule's `directory()` output before it runs the job: each such output must lie under
`results/`, whatever its wildcards hold. Checked on the rules themselves at DAG build (the Snakefile calls
unsafe_directory_outputs after including them): a pattern starts with `results/`, has no `..` of its own, and each
of its wildcards has a constraint that refuses every value that could climb out of it or jump elsewhere."""

from __future__ import annotations

import re

# Values a wildcard could be given to leave its place: parent and current folders, empty and absolute parts.
ESCAPES = ("..", ".", "../x", "x/..", "x/../..", "x/../../y", "./x", "/x", "x//y", "x/./y", "..\\x", "x/.")


def folder_problem(pattern: str, constraints: dict[str, str]) -> str | None:
    """Why a directory output `pattern` (its wildcards' regexes in `constraints`) could lie outside results/."""
    literal = re.sub(r"\{[^}]*\}", "", pattern)
    if not pattern.startswith("results/") or ".." in literal.split("/"):
        return "does not lie under results/"
    for name, constraint in constraints.items():
        if constraint is None:
            return f"its wildcard {{{name}}} has no constraint (any value, '..' too)"
        if escape := next((value for value in ESCAPES if re.fullmatch(constraint, value)), None):
            return f"its wildcard {{{name}}} may be {escape!r}"
    return None


def unsafe_directory_outputs(rules) -> list[str]:
    """One line per directory() output of Snakemake `rules` that could lie outside results/."""
    from snakemake.io import WILDCARD_REGEX, is_flagged

    problems = []
    for rule in rules:
        for output in rule.output:
            if not is_flagged(output, "directory"):
                continue
            pattern = str(output)
            constraints = {match.group("name"): match.group("constraint") for match in WILDCARD_REGEX.finditer(pattern)}
            plain = WILDCARD_REGEX.sub(lambda match: "{" + match.group("name") + "}", pattern)
            if problem := folder_problem(plain, constraints):
                problems.append(f"rule {rule.name}: the directory output {plain} {problem}")
    return problems
