"""Every command the docs print works as printed: README.md, docs/, config/README.md, benchmarks/README.md and the
config files' headers. Snakemake commands are dry-run as written (and a target after an option that takes every
following word is refused: Snakemake would read it as that option's value); script and `t5qa` commands are checked
against their own --help; make targets exist."""

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .workflow_helpers import REPO

DOCS = [
    REPO / "README.md",
    REPO / "config" / "README.md",
    REPO / "benchmarks" / "README.md",
    *(REPO / "docs").glob("*.md"),
]
# Snakemake options that take every following word up to the next option.
GREEDY = {
    "--configfile",
    "--configfiles",
    "--resources",
    "--res",
    "--forcerun",
    "-R",
    "--rerun-triggers",
    "--set-threads",
    "--config",
    "-C",
    "--set-resources",
    "--default-resources",
    "--until",
    "-U",
    "--omit-from",
    "-O",
    "--set-scatter",
}
PROGRAMS = ("snakemake", "python", "t5qa", "make")


def fenced_lines(text: str) -> list[str]:
    lines = []
    for language, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        if language in ("", "bash", "sh", "shell", "console"):
            lines += body.splitlines()
    inline = [" ".join(span.split()) for span in re.findall(r"`((?:snakemake|t5qa|python) [^`]+)`", text)]
    return lines + inline


def header_lines(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")]


def documented_commands() -> list[tuple[str, str]]:
    found = []
    sources = [(p, fenced_lines(p.read_text())) for p in DOCS]
    sources += [(p, header_lines(p)) for p in sorted((REPO / "config").glob("*.yaml"))]
    sources += [(REPO / "profiles/slurm/config.yaml", header_lines(REPO / "profiles/slurm/config.yaml"))]
    for path, lines in sources:
        for line in lines:
            line = line.strip().removeprefix("$ ")
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            if words and words[0] in PROGRAMS and not (words[0] == "python" and len(words) > 1 and words[1] == "-m"):
                if words[0] == "python" and (len(words) < 2 or not words[1].endswith(".py")):
                    continue
                found.append((str(path.relative_to(REPO)), line))
    return sorted(set(found))


COMMANDS = documented_commands()


def test_the_docs_print_commands_at_all():
    programs = {shlex.split(line, comments=True)[0] for _, line in COMMANDS}
    assert programs == set(PROGRAMS), programs


def targets_after_greedy_options(words: list[str]) -> list[str]:
    wrong, greedy = [], False
    for word in words[1:]:
        if word.startswith("-"):
            greedy = word.split("=")[0] in GREEDY and "=" not in word
        elif greedy and (word.startswith("results/") or word in ("prefetch", "all") or word.endswith(".html")):
            wrong.append(word)
    return wrong


# Printed commands that need more than the repository: run by the test named.
RUN_ELSEWHERE = {
    "snakemake --cores all results/metrics/my_qa.json": "tests/test_readme_example.py (the README's config edit first)",
}


def placeholder(line: str) -> bool:
    return "…" in line or "<" in line


def where_printed(program: str) -> dict[str, str]:
    """Each distinct command of `program` and the docs that print it: a command printed in four places runs once."""
    docs = {}
    for doc, line in COMMANDS:
        if line.startswith(program):
            docs.setdefault(line, []).append(doc)
    return {line: ", ".join(found) for line, found in docs.items()}


@pytest.mark.parametrize(("line", "doc"), where_printed("snakemake").items())
def test_each_snakemake_command_runs_as_printed(line, doc):
    words = shlex.split(line, comments=True)
    assert targets_after_greedy_options(words) == [], f"{doc}: {line}: a target after an option that takes it"
    if "--report" in words or "--lint" in words or placeholder(line) or " ".join(words) in RUN_ELSEWHERE:
        return  # a finished run first (make demo-report, make lint run those), a placeholder, or run elsewhere
    # As printed, as a dry run, in the repository (the docs' relative paths are the repository's).
    command = [sys.executable, "-m", "snakemake", *words[1:], "-n", "--nolock", "--quiet", "rules"]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(Path.home())}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"{doc}: {line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


def help_of(words: list[str]) -> str:
    return help_text(tuple(words[:2]))


@functools.cache  # several lines name one command: its help is read once (each read imports torch)
def help_text(program: tuple[str, ...]) -> str:
    if program[0] == "t5qa":
        command = [str(Path(sys.executable).with_name("t5qa")), *program[1:2], "--help"]
    else:
        command = [sys.executable, program[1], "--help"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.mark.parametrize(("doc", "line"), [c for c in COMMANDS if c[1].startswith(("python", "t5qa"))])
def test_each_script_command_names_its_own_options(doc, line):
    words = shlex.split(line, comments=True)
    if len(words) > 1 and placeholder(words[1]):
        return  # `t5qa …`: the command in general
    if words[0] == "python":
        assert (REPO / words[1]).is_file(), f"{doc}: {line}: no such script"
    text = help_of(words)
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert re.search(rf"{re.escape(option)}\b", text), f"{doc}: {line}: {option} is not an option of it"


@pytest.mark.parametrize(("doc", "line"), [c for c in COMMANDS if c[1].startswith("make")])
def test_each_make_command_is_a_target(doc, line):
    makefile = (REPO / "Makefile").read_text()
    for target in shlex.split(line, comments=True)[1:]:
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), f"{doc}: {line}: no make target {target}"
