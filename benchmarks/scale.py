"""Scale of the largest sources: the normalize and tokenize steps on a synthetic CausalQA-layout source of N rows,
each step run as the workflow runs it (its script in a fresh process), measured for wall time, rows/s and the
step process's peak resident memory (the kernel's ru_maxrss of that one child, from os.wait4).

  python benchmarks/scale.py --rows 100000 1000000        # writes benchmarks/out/scale.{json,md}

The source: questions and contexts of the embedded demo's generator (t5qa.data.demo_data; 5,000 examples in the
release's CSV layout, processed columns included), each row with its own id and a context made unique by a leading
"Record <i>." sentence, so no two rows share their text; every 50,000th row repeats the previous row's id and the one
after it has an empty question (dropped and counted by normalize). The file is written row by row (streaming).

Like a CausalQA source without a validation file, the N rows are normalised twice, once per part of a 10 % hash
holdout (normalize --settings holdout {fraction 0.1, part train|validation}), and the two parts tokenized together
(tokenize_data.py --train --validation: every usable row of the source), with a scratch sentencepiece tokenizer
trained once on a 2,000-row sample (scratch_model.py tokenizer) and the schema's tokenize defaults.

Each (rows, step) measurement is one entry of benchmarks/out/scale.json, updated in place, so a run may do part of
the work (--steps, --rows) and a later run the rest; the Markdown table is rewritten from all entries.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow" / "scripts"
STEPS = ("generate", "normalize_train", "normalize_validation", "tokenize", "chunked_train", "chunked_validation")
# The chunked variant: t5qa.data.normalize.write_normalized (the table written a chunk at a time) in its own process,
# for as long as the normalize step's script writes normalize_file's whole table instead.
CHUNKED = """
import sys
from pathlib import Path
from t5qa.data.normalize import write_normalized
from t5qa.settings import NormalizeSettings
write_normalized(sys.argv[1], NormalizeSettings.from_json(sys.argv[2]), Path(sys.argv[3]))
"""
HOLDOUT = 0.1
POOL = 5000
SAMPLE_ROWS = 2000  # the scratch tokenizer's corpus
ODD_EVERY = 50_000  # a repeated id, then an empty question, every this many rows
CAUSALQA = '{"format": "causalqa_csv"}'
COLUMNS = ["id", "question", "question_processed", "context", "context_processed", "answer", "answer_processed"]


def pool_rows() -> list[list[str]]:
    """The demo generator's examples in the CausalQA CSV layout (t5qa.data.demo_data.to_causalqa_csv), as rows."""
    from t5qa.data.demo_data import generate, to_causalqa_csv

    text = to_causalqa_csv(generate(21, POOL, "scale"))
    return list(csv.reader(io.StringIO(text, newline="")))[1:]


def write_source(path: Path, rows: int) -> None:
    """`rows` rows of the CausalQA layout, written as they are made (memory does not grow with `rows`)."""
    pool = pool_rows()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for i in range(rows):
            _, question, question_p, context, context_p, answer, answer_p = pool[i % len(pool)]
            row_id = f"scale-{i:08d}"
            if i % ODD_EVERY == ODD_EVERY - 2:
                row_id = f"scale-{i - 1:08d}"  # a duplicate id: dropped
            if i % ODD_EVERY == ODD_EVERY - 1:
                question = question_p = ""  # an empty question: dropped
            writer.writerow(
                [row_id, question, question_p, f"Record {i}. {context}", f"record {i}. {context_p}", answer, answer_p]
            )
    tmp.replace(path)


def run_measured(command: list[str], log: Path) -> dict:
    """Run `command` as a child process; its wall time and its own peak RSS (os.wait4's rusage of that child)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "true"}
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}); its log: {log}\n{log.read_text()[-3000:]}")
    # Linux reports ru_maxrss in KiB.
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
    }


def python(script: str, *args: str) -> list[str]:
    return [sys.executable, str(SCRIPTS / script), *args]


def tokenizer_dir(work: Path) -> Path:
    """A scratch tokenizer trained once on a small sample of the same generator (not measured)."""
    folder = work / "tokenizer"
    if folder.is_dir():
        return folder
    sample = work / "sample.csv"
    write_source(sample, SAMPLE_ROWS)
    table = work / "sample.parquet"
    run_measured(
        python("normalize.py", "--input", str(sample), "--output", str(table), "--settings", CAUSALQA),
        work / "sample-normalize.log",
    )
    run_measured(
        python("scratch_model.py", "tokenizer", "--texts", str(table), "--output", str(folder)),
        work / "sample-tokenizer.log",
    )
    return folder


def measure(work: Path, rows: int, step: str) -> dict:
    folder = work / str(rows)
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "source.csv"
    table = {part: folder / f"{part}.parquet" for part in ("train", "validation")}
    if step == "generate":
        started = time.perf_counter()
        write_source(source, rows)
        seconds = time.perf_counter() - started
        return {"seconds": round(seconds, 2), "bytes": source.stat().st_size}
    if not source.is_file():
        measure(work, rows, "generate")
    if step.startswith(("normalize_", "chunked_")):
        part = step.split("_")[1]
        settings = json.dumps({"format": "causalqa_csv", "holdout": {"fraction": HOLDOUT, "part": part}})
        if step.startswith("normalize_"):
            output = str(table[part])
            command = python("normalize.py", "--input", str(source), "--output", output, "--settings", settings)
        else:
            command = [sys.executable, "-c", CHUNKED, str(source), settings, str(folder / f"{step}.parquet")]
        result = run_measured(command, folder / f"{step}.log")
        if step.startswith("chunked_"):
            result["rows"] = rows
            result["rows_per_s"] = round(rows / result["seconds"])
            return result
        stats = json.loads(Path(f"{table[part]}.stats.json").read_text())
        result.update(
            rows=stats["rows_read"],
            rows_written=stats["rows_written"],
            rows_in_part=stats["holdout"]["rows"],
            dropped={kind: d["count"] for kind, d in stats["dropped"].items()},
        )
        result["rows_per_s"] = round(result["rows"] / result["seconds"])
        return result
    for part in table:
        if not table[part].is_file():
            measure(work, rows, f"normalize_{part}")
    output, stats_path = folder / "tokenized", folder / "tokenized.stats.json"
    for stale in (output, stats_path):
        if stale.is_dir():
            import shutil

            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    result = run_measured(
        python(
            "tokenize_data.py",
            "--tokenizer", str(tokenizer_dir(work)),
            "--train", f"scale={table['train']}",
            "--validation", f"scale={table['validation']}",
            "--output", str(output),
            "--stats", str(stats_path),
        ),
        folder / "tokenize.log",
    )  # fmt: skip
    stats = json.loads(stats_path.read_text())
    splits = {split: s for split, s in stats.items() if isinstance(s, dict) and "rows" in s}
    result["rows"] = sum(s["rows"] for s in splits.values())
    result["model_inputs"] = sum(s["model_inputs"] for s in splits.values())
    result["rows_per_s"] = round(result["rows"] / result["seconds"])
    result["output_mb"] = round(sum(f.stat().st_size for f in output.rglob("*") if f.is_file()) / 2**20, 1)
    return result


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform()}


LABELS = {
    "normalize_train": "normalize step, holdout part train (reads every row)",
    "normalize_validation": "normalize step, holdout part validation (reads every row)",
    "chunked_train": "write_normalized in chunks, part train",
    "chunked_validation": "write_normalized in chunks, part validation",
    "tokenize": "tokenize step, both parts (rows tokenized)",
}


def markdown(results: dict) -> str:
    lines = [
        "| rows in the source | source CSV | step | rows/s | wall (s) | peak RSS of the step (MB) | measured |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for rows, entry in sorted(results["runs"].items(), key=lambda item: int(item[0])):
        size = entry.get("generate", {}).get("bytes")
        size = f"{size / 2**20:,.0f} MB" if size else ""
        for step in STEPS[1:]:
            m = entry.get(step)
            if m:
                lines.append(
                    f"| {int(rows):,} | {size} | {LABELS[step]} | {m['rows_per_s']:,} | {m['seconds']:,.1f} | "
                    f"{m['peak_rss_mb']:,.0f} | {m['date']} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--steps", nargs="+", choices=STEPS[1:], default=list(STEPS[1:4]))
    parser.add_argument("--work", default="/tmp/t5qa-scale", help="generated sources and step outputs (kept)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "scale.json"
    results = json.loads(json_path.read_text()) if json_path.is_file() else {"runs": {}}
    results["machine"] = machine()
    for rows in args.rows:
        entry = results["runs"].setdefault(str(rows), {})
        if "generate" not in entry or not (work / str(rows) / "source.csv").is_file():
            entry["generate"] = measure(work, rows, "generate")
        for step in args.steps:
            result = measure(work, rows, step)
            result["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
            entry[step] = result
            print(f"{rows:>9,} {step:<22} {json.dumps(result)}", flush=True)
            json_path.write_text(json.dumps(results, indent=2) + "\n")
    (out / "scale.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
