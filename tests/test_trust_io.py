"""Trust, second round (issue 22), what a step does with its files: a full disk is one line (class 4), an output
never destroys an input (class 5), two writers of one output never sweep each other's temporaries or mix their
outputs (class 6), and a path holding `=` is read whole when it exists (class 10)."""

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS, cli
from t5qa.atomic import atomic_path, atomic_paths, temporary_pattern, write_json
from t5qa.errors import InputError

from .conftest import REPO, SCRIPTS
from .test_cli_errors import TOKENIZE_SETTINGS, in_process

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def table(path: Path, prefix: str = "q", n: int = 3) -> Path:
    rows = [
        [f"{prefix}{i}", f"what {i}?", f"what {i}?", f"it is {i}.", f"it is {i}.", f"{i}", f"{i}"] for i in range(n)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=UNIFORM_COLUMNS).to_parquet(path, index=False)
    return path


def one_error_line(status: int, stderr: str) -> str:
    assert status == 1, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and stderr.strip().splitlines()[-1] == lines[0], stderr
    return lines[0]


def run_patched(script: str, patch: str, *args: str) -> subprocess.CompletedProcess:
    """Run a step's script in a fresh interpreter after `patch` (Python code) has run."""
    code = textwrap.dedent(
        f"""
        import runpy, sys
        {textwrap.indent(textwrap.dedent(patch), "        ").strip()}
        sys.argv = [{script!r}, *{list(args)!r}]
        runpy.run_path({str(SCRIPTS / script)!r}, run_name="__main__")
        """
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=ENV)


# --------------------------------------------------------------------------- class 4: a full disk


# How a full disk reaches the step: Python's own errors carry errno 28 (with or without a file name); pyarrow's and
# some libraries' only say so in the message.
DISK_FULL = {
    "errno_and_name": "OSError(28, 'No space left on device', str(target))",
    "errno_only": "OSError(28, 'No space left on device')",
    "message_only": "OSError('IOError: [Errno 28] Error writing bytes to file. Detail: No space left on device')",
    "quota": "OSError(122, 'Disk quota exceeded')",
}


@pytest.mark.parametrize("shape", DISK_FULL)
@pytest.mark.parametrize("failing", ["table", "stats"])
def test_a_full_disk_during_normalize_is_one_line(tmp_path, shape, failing):
    raw = tmp_path / "raw.csv"
    raw.write_text("id,question,context,answer\n1,q?,c,c\n2,r?,d,d\n")
    out = tmp_path / "out" / "table.parquet"
    if failing == "table":
        # The table is written a chunk at a time through pyarrow's ParquetWriter (t5qa.data.normalize.write_normalized).
        patch = f"""
            import pyarrow.parquet
            def write_table(self, table, *args, **kwargs):
                target = self.where
                open(target, "wb").write(b"PAR1 half")
                raise {DISK_FULL[shape]}
            pyarrow.parquet.ParquetWriter.write_table = write_table
        """
    else:
        patch = f"""
            import pathlib
            write_text = pathlib.Path.write_text
            def full(target, text, *args, **kwargs):
                if target.name.startswith(".table.parquet.stats.json."):
                    write_text(target, text[:10])
                    raise {DISK_FULL[shape]}
                return write_text(target, text, *args, **kwargs)
            pathlib.Path.write_text = full
        """
    result = run_patched(
        "normalize.py", patch, "--input", str(raw), "--output", str(out), "--settings", '{"format": "csv"}'
    )
    line = one_error_line(result.returncode, result.stderr)
    assert str(out) in line and ("no space left" in line or "quota" in line.lower()), line
    assert list(out.parent.iterdir()) == [], "nothing partial is left"


def test_a_full_disk_during_tokenize_is_one_line(tmp_path, tiny_tokenizer):
    train, validation = table(tmp_path / "a" / "train.parquet", "t"), table(tmp_path / "a" / "validation.parquet", "v")
    out = tmp_path / "tokenized" / "a"
    patch = f"""
        import datasets
        def save_to_disk(self, target, *args, **kwargs):
            open(target + "/data.arrow", "wb").write(b"half")
            raise {DISK_FULL["errno_only"]}
        datasets.DatasetDict.save_to_disk = save_to_disk
    """
    result = run_patched(
        "tokenize_data.py",
        patch,
        *("--tokenizer", str(tiny_tokenizer), "--train", f"a={train}", "--validation", f"a={validation}"),
        *("--output", str(out), "--stats", f"{out}.stats.json", "--settings", json.dumps(TOKENIZE_SETTINGS)),
    )
    line = one_error_line(result.returncode, result.stderr)
    assert str(out) in line and "no space left" in line, line
    assert list(out.parent.iterdir()) == []


def test_a_full_disk_outside_an_output_is_one_line_too(capsys):
    def main():
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(SystemExit) as exited:
        cli.run(main)
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == "error: no space left on device (free some space and rerun)"


# --------------------------------------------------------------------------- class 5: an output destroys an input


FILE_INPUTS = {"raw": "raw.csv", "pred": "p.jsonl", "ref": "r.parquet", "stats": "s.json", "log": "log.json"}
FOLDER_INPUTS = ("tok", "model", "data")


def _paths(root: Path) -> dict[str, Path]:
    folder = root / "in"
    return {**{key: folder / name for key, name in FILE_INPUTS.items()}, **{key: folder / key for key in FOLDER_INPUTS}}


def _files(root: Path) -> dict[str, Path]:
    files = _paths(root)
    (root / "in").mkdir()
    for key in FILE_INPUTS:
        files[key].write_text("the user's own data\n")
    for key in FOLDER_INPUTS:
        files[key].mkdir()
        (files[key] / "keep.json").write_text("{}")
    return files


# Every step, each with an output that is one of its inputs (or another output).
def _cases(f: dict[str, Path]) -> list[tuple[str, list[str], str]]:
    out = f["raw"].parent.parent / "out"
    settings = '{"format": "csv"}'
    return [
        ("normalize", ["--input", f["raw"], "--output", f["raw"], "--settings", settings], "--output"),
        ("normalize", ["--input", f["raw"], "--output", out / "t", "--stats", f["raw"], "--settings", settings], ""),
        ("normalize", ["--input", f["raw"], "--output", out / "t", "--stats", out / "t", "--settings", settings], ""),
        (
            "tokenize_data",
            ["--tokenizer", f["tok"], "--train", f"a={f['ref']}", "--validation", f"a={f['ref']}"]
            + ["--output", f["raw"].parent, "--stats", out / "s.json"],
            "holds",
        ),
        (
            "tokenize_data",
            ["--tokenizer", f["tok"], "--train", f"a={f['ref']}", "--validation", f"a={f['ref']}"]
            + ["--output", out / "d", "--stats", f["ref"]],
            "--stats",
        ),
        ("metrics", ["--predictions", f["pred"], "--references", f["ref"], "--output", f["pred"]], "--predictions"),
        ("metrics", ["--predictions", f["pred"], "--references", f"a={f['ref']}", "--output", f["ref"]], ""),
        (
            "metrics",
            ["--predictions", f["pred"], "--references", f["ref"], "--output", out / "m", "--manifest", f["pred"]],
            "",
        ),
        (
            "metrics",
            ["--predictions", f["pred"], "--references", f["ref"], "--output", out / "m", "--manifest", out / "m"],
            "",
        ),
        ("summary", ["--runs", f"@{f['stats']}", "--csv", f["stats"], "--markdown", out / "m.md"], "--runs"),
        ("summary", ["--runs", "[]", "--csv", out / "s", "--markdown", out / "s"], "--markdown"),
        (
            "report_page",
            ["--dataset", "d", "--metrics", f["pred"], "--normalize-stats", f"a:train={f['stats']}"]
            + ["--tokenize-stats", f["log"], "--output", f["stats"]],
            "--normalize-stats",
        ),
        ("plot_training", ["--log-history", f["log"], "--output", f["log"]], "--log-history"),
        ("download", ["--location", json.dumps({"path": str(f["raw"])}), "--output", f["raw"]], ""),
        ("download", ["--location", '{"member": "x"}', "--archive", f["raw"], "--output", f["raw"]], "--archive"),
        ("scratch_model", ["tokenizer", "--texts", f["ref"], "--output", f["ref"]], "--texts"),
        ("scratch_model", ["model", "--tokenizer", f["tok"], "--output", f["tok"]], "--tokenizer"),
        ("prefetch", ["--name", f["model"], "--output", f["model"]], "--name"),
        (
            "predict",
            ["--model", f["model"], "--tokenized", f["data"], "--stats", f["stats"], "--output", f["stats"]],
            "",
        ),
        (
            "train",
            ["--tokenized", f["data"], "--stats", f["stats"], "--model", f["model"], "--output", f["model"]]
            + ["--checkpoints", out / "c"],
            "--model",
        ),
        (
            "train",
            ["--tokenized", f["data"], "--stats", f["stats"], "--model", f["model"], "--output", out / "m"]
            + ["--checkpoints", f["raw"].parent],
            "holds",
        ),
    ]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", range(len(_cases(_paths(Path("/x"))))))
def test_no_step_writes_over_its_input(tmp_path, case):
    files = _files(tmp_path)
    script, args, expected = _cases(files)[case]
    before = _snapshot(tmp_path)
    status, stderr = in_process(script, *map(str, args))
    line = one_error_line(status, stderr)
    assert "would destroy" in line or "needs its own path" in line, line
    assert expected in line, line
    assert _snapshot(tmp_path) == before, "nothing was read, moved or written"


def _aliases(tmp_path: Path, target: Path) -> dict[str, str]:
    """Other ways to name one file: relative, with ./ and .., through a symlink, a hard link."""
    (tmp_path / "link").symlink_to(target.parent, target_is_directory=True)
    os.link(target, tmp_path / "hard.csv")
    return {
        "same": str(target),
        "relative": os.path.relpath(target),
        "dotted": str(target.parent / "." / target.name),
        "parent": str(target.parent / ".." / target.parent.name / target.name),
        "symlink": str(tmp_path / "link" / target.name),
        "hardlink": str(tmp_path / "hard.csv"),
    }


@pytest.mark.parametrize("alias", ["same", "relative", "dotted", "parent", "symlink", "hardlink"])
def test_an_input_named_another_way_is_still_the_input(tmp_path, alias):
    raw = tmp_path / "in" / "raw.csv"
    raw.parent.mkdir()
    raw.write_text("id,question,context,answer\n1,q?,c,c\n")
    other = _aliases(tmp_path, raw)[alias]
    status, stderr = in_process("normalize", "--input", str(raw), "--output", other, "--settings", '{"format": "csv"}')
    assert "would destroy" in one_error_line(status, stderr)
    assert raw.read_text() == "id,question,context,answer\n1,q?,c,c\n"


def test_the_workflows_own_paths_pass():
    cli.check_outputs_spare_inputs(
        {"--input": "results/raw/a/train.csv", "--tokenizer": "google-t5/t5-small", "--none": None, "--list": []},
        {"--output": "results/normalized/a/train.parquet", "--stats": "results/normalized/a/train.parquet.stats.json"},
    )
    cli.check_outputs_spare_inputs(
        {"--tokenized": "results/tokenized/d", "--stats": "results/tokenized/d.stats.json", "--model": "t5-small"},
        {"--output": "results/models/d", "--checkpoints": "results/checkpoints/d", "--attempts": "logs/d.log"},
    )


# --------------------------------------------------------------------------- class 6: two writers of one output


HOLD = """
import sys, time
from t5qa.atomic import atomic_paths
with atomic_paths(*sys.argv[1:3]) as temporaries:
    for tmp in temporaries:
        tmp.write_text(sys.argv[3])
    print("writing", flush=True)
    time.sleep(float(sys.argv[4]))
"""


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "a"), str(tmp_path / "b"), "first", "3"],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert first.stdout.readline().strip() == "writing"
        live = sorted(p.name for p in tmp_path.iterdir())
        assert len(live) == 2 and all(f".{os.getpid()}@" not in name for name in live), live
        write_json(tmp_path / "a", {"second": True})  # sweeps the temporaries of `a` made by dead processes only
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == live
    finally:
        assert first.wait(timeout=30) == 0
    # the first writer finished after the second: both its outputs are in place, together
    assert (tmp_path / "a").read_text() == "first" and (tmp_path / "b").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_temporaries_of_dead_processes_and_older_runs_go_others_stay(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    names = {
        f".out.json.{dead.stdout.strip()}@{host}.abcd1234.tmp": False,  # its maker is gone
        ".out.json.abcd1234.tmp": False,  # an older version's: no maker recorded
        f".out.json.{os.getppid()}@{host}.abcd1234.tmp": True,  # a live process on this host
        f".out.json.{dead.stdout.strip()}@another-node.abcd1234.tmp": True,  # another host: cannot tell
    }
    for name in names:
        (tmp_path / name).write_text("x")
    write_json(tmp_path / "out.json", {})
    left = {p.name for p in tmp_path.iterdir()} - {"out.json"}
    assert left == {name for name, stays in names.items() if stays}


def test_a_temporary_names_its_maker(tmp_path):
    with atomic_path(tmp_path / "out.json") as tmp:
        match = temporary_pattern(tmp_path / "out.json").fullmatch(tmp.name)
        assert match and int(match["pid"]) == os.getpid() and match["host"]


SLOW_RENAMES = """
import os, sys, time
import t5qa.atomic
replace = os.replace
def slow(src, dst):
    replace(src, dst)
    time.sleep(float(sys.argv[4]))
t5qa.atomic.os.replace = slow
from t5qa.atomic import atomic_paths
time.sleep(float(sys.argv[5]))
with atomic_paths(*sys.argv[1:3]) as temporaries:
    for tmp in temporaries:
        tmp.write_text(sys.argv[3])
"""


def test_two_runs_outputs_never_mix(tmp_path):
    """One run renames its two outputs slowly, the other quickly and a moment later: without a lock the quick one
    would land between the slow one's renames (a from one run, b from the other)."""
    outputs = [str(tmp_path / "a"), str(tmp_path / "b")]
    runs = [
        subprocess.Popen([sys.executable, "-c", SLOW_RENAMES, *outputs, name, pause, start], env=ENV)
        for name, pause, start in (("slow", "1.0", "0"), ("quick", "0", "0.3"))
    ]
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text()


def test_outputs_appear_together_or_not_at_all(tmp_path):
    with pytest.raises(RuntimeError), atomic_paths(tmp_path / "a", tmp_path / "b") as (a, b):
        a.write_text("a")
        b.write_text("b")
        raise RuntimeError("the second output failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_paths(tmp_path / "a", tmp_path / "d", is_dir=(False, True)) as (a, d):
        a.write_text("a")
        (d / "f").write_text("f")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "d"]


def test_a_folder_output_replaced_leaves_no_old_copy(tmp_path):
    for content in ("old", "new"):
        with atomic_path(tmp_path / "d", is_dir=True) as tmp:
            (tmp / "f").write_text(content)
    assert (tmp_path / "d" / "f").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["d"]


# --------------------------------------------------------------------------- class 10: a path holding `=`


@pytest.mark.parametrize("name", ["a=b.parquet", "x=y=z.parquet", "=lead.parquet", "trail=.parquet"])
def test_an_existing_path_with_an_equals_sign_is_read_whole(tmp_path, name):
    path = table(tmp_path / name)
    assert cli.split_name(str(path), "--references") == (None, path)
    assert cli.named_path(str(path), "--train") == (tmp_path.name, path)


def test_name_equals_path_still_names_a_source(tmp_path):
    path = table(tmp_path / "t.parquet")
    assert cli.split_name(f"squad={path}", "--references") == ("squad", path)


@pytest.mark.parametrize("given", ["results/a=b.parquet", "squad=missing.parquet", "a=b=c"])
def test_a_missing_path_is_named_as_given(given):
    with pytest.raises(InputError) as raised:
        cli.split_name(given, "--references")
    assert str(raised.value).startswith(f"--references: {given} not found"), raised.value


def test_metrics_reads_a_reference_whose_name_holds_an_equals_sign(tmp_path):
    reference = table(tmp_path / "run=1" / "ref=v.parquet")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": f"q{i}", "prediction": str(i)}) + "\n" for i in range(3)))
    out = tmp_path / "m.json"
    status, err = in_process(
        "metrics", "--predictions", str(predictions), "--references", str(reference), "--output", str(out)
    )
    assert status == 0, err
    assert json.loads(out.read_text())["exact"] == 100.0
