"""Trust, third round (issue 30), classes 2 and 3: no folder outside results/ is ever deleted, and no config value ever
becomes a command.

Snakemake deletes a rule's directory() output before it runs the job: every such output is proven at DAG build to lie
under results/ (t5qa.plan.output_folders, run by the Snakefile), and an archive:// model's folder is made
of plain parts. Every config-derived value in a rule's shell command is quoted (Snakemake's :q) or passed as JSON:
hypothesis draws hostile strings (command substitutions, backticks, spaces, quotes, ; & |) and puts them in every
config value that reaches a command; each must reach the command as one literal word."""

import re
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t5qa.plan.output_folders import ESCAPES, folder_problem

from .workflow_helpers import REPO, copy_workflow, snakemake, tiny_config, write_config, write_tiny_sources

RULES = REPO / "workflow" / "rules"


def errors(result) -> list[str]:
    """The lines a failed DAG build prints about the problem (Snakemake adds none for a WorkflowError's message)."""
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def archive_config(tmp_path, model: str, **overrides) -> tuple:
    sources = write_tiny_sources(tmp_path)
    release = tmp_path / "release.zip"
    release.write_bytes(b"")
    config = tiny_config(sources, archives={"rel": {"url": release.as_uri()}}, **overrides)
    config["model"] = {**config["model"], "name_or_path": model, "tokenizer": "google-t5/t5-small"}
    return write_config(tmp_path, config)


# --------------------------------------------------------------------------- class 2: directory() outputs


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("archive://rel/models/../../../../victim", "has a '..' part"),
        ("archive://rel/models//victim", "has an empty part"),
        ("archive://rel/./victim", "has a '.' part"),
        ("archive://rel/models/.hidden/m", "has a part starting with a dot ('.hidden')"),
        ("archive://my rel/models/m", "the archive name 'my rel' may hold only letters, digits, _ and -"),
    ],
)
def test_an_archive_model_leaving_its_folder_is_refused_before_anything_runs(tmp_path, model, problem):
    """`archive://NAME/models/../../../../x` was accepted: Snakemake deleted the folder it resolved to."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    config = archive_config(tmp_path, model)
    result = snakemake(tmp_path, "--cores", "1", "prefetch", "--configfile", str(config), check=False)
    assert result.returncode != 0
    lines = [line for line in errors(result) if "model " in line]
    assert len(lines) == 1 and problem in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "MissingInputException" not in result.stderr
    assert (victim / "keep.txt").read_text() == "precious"


def test_a_target_path_climbing_out_of_results_matches_no_rule(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    config = archive_config(tmp_path, "archive://rel/models/m")
    for target in ("results/prefetch/archive-models/rel/models/../../../../../victim", "results/models/../../victim"):
        result = snakemake(tmp_path, "--cores", "1", target, "--configfile", str(config), check=False)
        assert result.returncode != 0
        assert (victim / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize(
    ("pattern", "constraints", "problem"),
    [
        ("results/models/{dataset}", {"dataset": r"[A-Za-z0-9_\-]+"}, None),
        ("results/a/{member}", {"member": r"[^./\\][^/\\]*(?:/[^./\\][^/\\]*)*"}, None),
        ("results/a/{member}", {"member": r"[^.].*"}, "its wildcard {member} may be 'x/..'"),
        ("results/a/{member}", {"member": None}, "its wildcard {member} has no constraint"),
        ("results/../x/{d}", {"d": r"[a-z]+"}, "does not lie under results/"),
        ("models/{d}", {"d": r"[a-z]+"}, "does not lie under results/"),
    ],
)
def test_folder_problem(pattern, constraints, problem):
    found = folder_problem(pattern, constraints)
    assert found == problem if problem is None else problem in found


@settings(max_examples=40, deadline=None, database=None)
@given(constraint=st.sampled_from([r".+", r"[^/]+", r"[a-z./]+", r"(\.\.)?", r"x(/.*)?", r"[^.].*"]))
def test_a_constraint_that_lets_a_value_escape_is_caught(constraint):
    assert folder_problem("results/x/{w}", {"w": constraint}) is not None
    assert any(re.fullmatch(constraint, value) for value in ESCAPES)


def test_the_dag_build_refuses_a_rule_whose_folder_could_escape(tmp_path):
    """The check runs on the workflow's own rules: loosen one constraint and the DAG build stops in one line."""
    snakefile = copy_workflow(tmp_path)
    rules = tmp_path / "workflow/rules/prefetch.smk"
    text = rules.read_text()
    start = text.index("member=r")
    rules.write_text(text[:start] + 'member=r"[^.].*",' + text[text.index("\n", start) :])
    config = write_config(tmp_path, tiny_config(write_tiny_sources(tmp_path)))
    result = snakemake(tmp_path, "-n", "--configfile", str(config), check=False, snakefile=snakefile)
    assert result.returncode != 0
    assert (
        "rule prefetch_archive_model: the directory output results/prefetch/archive-models/{archive}/{member} "
        "its wildcard {member} may be" in result.stdout + result.stderr
    )


# --------------------------------------------------------------------------- class 3: config values in commands

HOSTILE = st.text(alphabet=st.sampled_from("ab $()`;&|'\"\\*?~{}!#<>"), min_size=1, max_size=12)


def shell_commands(output: str) -> list[str]:
    return [line.removeprefix("Shell command: ") for line in output.splitlines() if line.startswith("Shell command: ")]


def assert_literal_words(commands: list[str], values: dict[str, str]) -> None:
    """Every value, tagged by a marker of its own, is a whole word of a command (or a whole word's value after
    `NAME=`), never cut up, expanded or run: bash reads a single-quoted word literally, as shlex does."""
    seen = set()
    for command in commands:
        words = shlex.split(command)
        for marker, value in values.items():
            for word in words:
                if marker in word:
                    assert word == value or word.endswith("=" + value), f"{value!r} is not one word in: {command}"
                    seen.add(marker)
    assert seen == set(values), f"values never reached a command: {set(values) - seen}"


@settings(max_examples=4, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=HOSTILE, tokenizer=HOSTILE, accelerate=HOSTILE)
def test_config_strings_reach_every_command_as_literal_words(tmp_path_factory, model, tokenizer, accelerate):
    root = tmp_path_factory.mktemp("quoting")
    values = {
        "MODEL": f"hub/MODEL{model}",
        "TOKENIZER": f"TOKENIZER{tokenizer}",
        # A file that exists (its content is tracked), under a hostile name: it reaches the launcher.
        "ACCELERATE": str(root / f"ACCELERATE{accelerate}.yaml".replace("/", "_")),
    }
    (root / values["ACCELERATE"]).write_text("compute_environment: LOCAL_MACHINE\n")
    config = tiny_config(write_tiny_sources(root), train={"accelerate_config": values["ACCELERATE"]})
    config["model"] = {**config["model"], "name_or_path": values["MODEL"], "tokenizer": values["TOKENIZER"]}
    path = write_config(root, config)
    result = snakemake(root, "-n", "-p", "--configfile", str(path), check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_literal_words(shell_commands(result.stdout + result.stderr), values)


def test_a_model_folder_with_a_space_and_a_quote_is_one_word(tmp_path):
    folder = tmp_path / 'my model\'s "best" $(run)'
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    config = tiny_config(write_tiny_sources(tmp_path))
    config["model"] = {**config["model"], "name_or_path": str(folder), "tokenizer": str(folder)}
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path, config)))
    commands = shell_commands(result.stdout + result.stderr)
    assert_literal_words(commands, {"my model": str(folder)})
    assert any("--model-name" in command and str(folder) in shlex.split(command) for command in commands)


@pytest.mark.slow
def test_a_command_substitution_in_a_hub_id_never_runs(tmp_path):
    """The prefetch step ran `hub/m$(touch FILE)` and a tokenizer in backticks; now they reach prefetch.py as names
    (which fails offline: no such hub id), and no file is made."""
    touched = tmp_path / "touched"
    config = tiny_config(write_tiny_sources(tmp_path))
    config["model"] = {
        **config["model"],
        "name_or_path": f"hub/m$(touch {touched}-model)",
        "tokenizer": f"`touch {touched}-tokenizer`",
    }
    path = write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "1", "--keep-going", "prefetch", "--configfile", str(path), check=False)
    assert not list(tmp_path.glob("touched*"))
    logs = " ".join(log.read_text() for log in (tmp_path / "logs/prefetch").glob("*.log"))
    assert "hub/m$(touch" in logs and "`touch" in logs


def test_no_shell_command_has_an_unquoted_placeholder():
    """Every placeholder of every rule's shell command is quoted (:q), except the launcher's words (shlex.join'ed by
    t5qa.plan.launch), the thread count and the attempt number (integers Snakemake sets): a new rule cannot slip an
    unquoted value in."""
    unquoted = []
    for path in sorted(RULES.glob("*.smk")):
        for block in re.findall(r"shell:\n((?:[ \t]+(?:f?\"[^\n]*\"|#[^\n]*)\n)+)", path.read_text()):
            code = re.sub(r"#[^\n]*", "", block)
            for name, spec in re.findall(r"(?<!\{)\{([a-z_.]+)(:[a-z]*)?\}(?!\})", code):
                if spec != ":q" and name not in ("params.launcher", "threads", "resources.attempt"):
                    unquoted.append(f"{path.name}: {{{name}{spec}}}")
    assert not unquoted
