"""What every step's CLI shares: logging to stderr, checks of its arguments and inputs, and a clean one-line error
(`error: <file or argument>: <problem>`, exit 1) for bad input instead of a traceback."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from t5qa.atomic import check_destination
from t5qa.errors import InputError
from t5qa.progress import quiet_library_bars

# JSON Schema's type names in a user's words: the one vocabulary of every value check (the config, settings, the
# commands' JSON arguments and files all go through JSON Schema: t5qa.settings.check_value).
TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


@dataclasses.dataclass(frozen=True)
class Command:
    """A command's one declaration, `COMMAND = cli.Command(...)` in its module under t5qa.commands: its `t5qa`
    subcommand and the line `t5qa --help` shows for it (both read from there by t5qa.main), the settings class its
    `--settings` takes, and whether the workflow runs it (then workflow/scripts/<module>.py is written from this
    declaration by `make docs`)."""

    name: str
    summary: str
    settings: type | None = None
    aliases: tuple[str, ...] = ()
    workflow: bool = True

    def parser(self, doc: str, epilog: str = "", settings_required: bool = False) -> argparse.ArgumentParser:
        """The command's argument parser: its module's docstring as the description, and `--settings` with the
        settings listed below the options when the command takes some."""
        if self.settings is not None:
            epilog = "\n\n".join(filter(None, [f"settings:\n{self.settings.describe()}", epilog]))
        parser = argparse.ArgumentParser(
            prog=f"t5qa {self.name}",
            description=doc,
            epilog=epilog or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if self.settings is not None:
            add_settings_option(parser, required=settings_required)
        return parser


def add_settings_option(parser: argparse.ArgumentParser, required: bool = False) -> None:
    default = {} if required else {"default": "{}"}
    help_ = "JSON object of settings (below); omitted keys take defaults"
    parser.add_argument("--settings", required=required, help=help_, **default)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)


def load_json(text: str, where: str):
    """JSON text read exactly or refused: a key given twice is an error (json.loads keeps the last silently)."""

    def unique_keys(pairs):
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise InputError(f"{where}: key {repeated[0]!r} given twice")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError) as err:  # ValueError also covers numbers of over 4300 digits
        raise InputError(f"{where}: not valid JSON ({first_line(err)})") from err


def read_json_file(path: Path, what: str):
    """A JSON file read exactly or refused with one line naming it: missing, a folder, not UTF-8 (a BOM is fine),
    or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found" if not path.exists() else f"{path}: {what} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason})") from err
    return load_json(text, str(path))


def require_object(value, path: Path, what: str, keys=(), objects=()) -> dict:
    """`value` as a reader uses it: a JSON object with `keys`, of which `objects` are JSON objects too."""
    if not isinstance(value, dict):
        raise InputError(f"{path}: {what} must be a JSON object, not {json_kind(value)}")
    missing = [key for key in dict.fromkeys([*keys, *objects]) if key not in value]
    if missing:
        raise InputError(f"{path}: {what}: missing {', '.join(missing)}")
    for key in objects:
        if not isinstance(value[key], dict):
            raise InputError(f"{path}: {what}: {key} must be a JSON object, not {json_kind(value[key])}")
    return value


def parse_settings(text: str, where: str = "--settings") -> dict:
    """A JSON object given on the command line."""
    settings = load_json(text, where)
    if not isinstance(settings, dict):
        raise InputError(f"{where}: must be a JSON object, not {json_kind(settings)}")
    return settings


def json_type(value) -> str:
    """A parsed JSON value's JSON Schema type."""
    if value is None:
        return "null"
    for kind, types in (("boolean", bool), ("integer", int), ("number", float), ("string", str)):
        if isinstance(value, types):
            return kind
    return "array" if isinstance(value, list | tuple) else "object" if isinstance(value, dict) else type(value).__name__


def json_kind(value) -> str:
    """What a JSON value is, in the words a user reads in an error."""
    return TYPE_NAMES.get(json_type(value), json_type(value))


def split_name(arg: str, where: str) -> tuple[str | None, Path]:
    """`NAME=PATH` -> (NAME, PATH); a plain PATH -> (None, PATH). An existing file or folder given whole wins,
    even when its path holds an `=`; a NAME=PATH whose PATH does not exist is refused naming what was given."""
    if "=" not in arg or Path(arg).exists():
        if not arg:
            raise InputError(f"{where}: an empty argument is not [NAME=]PATH")
        return None, Path(arg)
    name, path = arg.split("=", 1)
    if name == "" or not path:
        raise InputError(f"{where}: {arg!r} is not [NAME=]PATH")
    if not Path(path).exists():
        raise InputError(f"{where}: {arg} not found (neither as a path nor as NAME=PATH: {name}={path})")
    return name, Path(path)


def named_path(arg: str, where: str = "a table argument") -> tuple[str, Path]:
    """`NAME=PATH`, or a plain PATH named after its folder (results/normalized/<source>/validation.parquet)."""
    name, path = split_name(arg, where)
    return name or path.resolve().parent.name, path


Paths = str | os.PathLike | None | list | tuple


def _flat(value: Paths) -> list[Path]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [path for item in value for path in _flat(item)]
    return [Path(value)]


def _same(a: Path, b: Path) -> bool:
    """The same file or folder: equal once resolved, or one file under two names (a hard link, a bind mount)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(inner: Path, folder: Path) -> bool:
    return inner.resolve().is_relative_to(folder.resolve()) and inner.resolve() != folder.resolve()


def check_outputs_spare_inputs(inputs: dict[str, Paths], outputs: dict[str, Paths]) -> None:
    """Refuse, before anything is read, an output that would destroy an input or another output: an output that is
    an input (a file or a folder), an output folder holding an input, or two outputs that are one file. `inputs` and
    `outputs` map each argument's name (`--input`) to its path, a list of paths, or None when it is not given."""
    given_inputs = [(name, path) for name, value in inputs.items() for path in _flat(value)]
    given_outputs = [(name, path) for name, value in outputs.items() for path in _flat(value)]
    for out_name, out in given_outputs:
        for in_name, source in given_inputs:
            if _same(out, source):
                raise InputError(
                    f"{out_name} {out}: is also {in_name}; writing it would destroy that input (give another path)"
                )
            if _inside(source, out):
                raise InputError(
                    f"{out_name} {out}: holds {in_name} {source}; writing it would destroy that input "
                    "(give another path)"
                )
    for i, (name, out) in enumerate(given_outputs):
        for other_name, other in given_outputs[i + 1 :]:
            if _same(out, other) or _inside(out, other) or _inside(other, out):
                where = "is also" if _same(out, other) else "overlaps"
                raise InputError(f"{name} {out}: {where} {other_name} {other}; each output needs its own path")


def check_paths(inputs: dict[str, Paths], files: dict[str, Paths], folders: dict[str, Paths] | None = None) -> None:
    """What every command checks before any work: no output (`files`, `folders`) destroys an input or another
    output, and each output can go where it is asked to (a file where a file goes, a folder where a folder goes)."""
    folders = folders or {}
    check_outputs_spare_inputs(inputs, {**files, **folders})
    for path in _flat(list(files.values())):
        check_destination(path)
    for path in _flat(list(folders.values())):
        check_destination(path, is_dir=True)


def read_table(path: Path, columns: list[str], what: str = "normalised table"):
    """A parquet table's `columns`, checked: the file is parquet, has them, holds strings in them, has rows,
    and no id twice. Names the file, and the row and id, of the first problem."""
    # Imported here: most CLIs read no table, and these take a while to import.
    import pandas as pd
    import pyarrow
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found" if not path.exists() else f"{path}: {what} is not a file")
    try:
        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(f"{path}: {what} lacks the columns {missing} (it has {names})")
        frame = pd.read_parquet(path, columns=columns)
    except (pyarrow.ArrowException, OSError, ValueError) as err:  # not parquet, truncated, undecodable text
        raise InputError(f"{path}: not a readable parquet file ({first_line(err)})") from err
    if frame.empty:
        raise InputError(f"{path}: {what} has no rows")
    ids = frame.get("id")
    for column in columns:
        not_text = ~frame[column].map(lambda value: isinstance(value, str))
        if not_text.any():
            row = int(not_text.to_numpy().argmax())
            where = f"row {row}" + (f" (id {ids.iloc[row]!r})" if column != "id" and ids is not None else "")
            raise InputError(
                f"{path}: column {column!r} must hold text; {where} holds {_cell(frame[column].iloc[row])}"
            )
    if ids is not None and ids.duplicated().any():
        raise InputError(f"{path}: id {ids[ids.duplicated()].iloc[0]!r} appears more than once")
    return frame


def _cell(value) -> str:
    """A table cell as a user reads it: null, or the plain Python value (not numpy's repr)."""
    if value is None or (isinstance(value, float) and value != value):
        return "null"
    return repr(value.item() if hasattr(value, "item") and getattr(value, "size", 1) == 1 else value)[:60]


def first_line(err: BaseException) -> str:
    """Third-party messages can run to a page; the first line says what went wrong."""
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def one_line(text: str) -> str:
    """A message as one line: a control character from a value (a key named "\\r", a file name with a newline) is
    shown escaped, so the `error:` line stays one line and cannot fake another."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(text))


def run(main: Callable[[], int | None]) -> None:
    """Run a CLI's main(): its return value is the exit status; bad input is one `error:` line and status 1."""
    setup_logging()
    quiet_library_bars()
    try:
        sys.exit(main() or 0)
    except InputError as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        sys.exit(1)
    except OSError as err:
        # A file the step could not read or write (permissions, a full disk, a folder where a file should be).
        if err.errno == errno.ENOSPC or "No space left on device" in str(err):
            where = f"{one_line(err.filename)}: " if err.filename else ""
            print(f"error: {where}no space left on device (free some space and rerun)", file=sys.stderr)
            sys.exit(1)
        if err.filename is None:
            raise
        print(f"error: {one_line(err.filename)}: {one_line(err.strerror or first_line(err))}", file=sys.stderr)
        sys.exit(1)


def add_job_options(parser) -> None:
    """The options of a long step's job: its CPU threads, and where to echo its own progress lines."""
    parser.add_argument(
        "--threads",
        type=int,
        help="the job's CPU threads (torch's intra-op threads, shared by the processes of this machine; never more "
        "than the cores this process may run on); default: OMP_NUM_THREADS, else those cores",
    )
    parser.add_argument(
        "--echo-fd",
        type=int,
        help="also show this step's own log lines (progress, losses) on this open file descriptor; the rule passes "
        "the terminal as fd 3 (`3>&2`) before sending all output to the log file",
    )


def add_attempt_options(parser) -> None:
    """The options of a step that Snakemake retries (t5qa.model.attempts)."""
    parser.add_argument(
        "--attempts",
        help="a log each attempt appends its decisions to: start, stop at a signal, resume, failure (it outlives "
        "the retries of a job, whose own log Snakemake deletes)",
    )
    parser.add_argument(
        "--attempt",
        type=int,
        default=1,
        help="Snakemake's attempt number ({resources.attempt}): 1 is a new run; a later attempt after one that "
        "failed on its own (not at a signal) stops at once with that failure",
    )


def check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be 1 or more, not {threads}")
