"""The summary's paired comparison at scale: two runs' questions CSVs of 10,000 to 1,000,000 questions (synthetic
scores), one compared with the other (reading both files, pairing by source and id, the bootstrap), and the
bootstrap alone. Prints the seconds and the process's peak memory for each size, with the machine and the date.

  python benchmarks/paired_bootstrap.py [--questions 10000 100000 1000000] [--resamples 1000]
(default: 10,000 and 100,000 questions; a million take about 2.5 minutes on a 2-core CPU)
"""

import argparse
import datetime
import os
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from t5qa.report.paired import bootstrap_interval, compare_runs


def questions_csv(path: Path, count: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    f1 = np.round(rng.uniform(0, 100, count), 2)
    table = pd.DataFrame({"f1": f1, "exact": (f1 > 70).astype(int), "source": "s", "id": np.arange(count).astype(str)})
    table.sample(frac=1, random_state=seed).to_csv(path, index=False)  # each run in its own order, as the step writes
    return str(path)


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    print(f"{datetime.date.today()}, {machine()}; {args.resamples} resamples")
    print("questions  compare (s)  bootstrap alone (s)  peak memory (GB)")
    with tempfile.TemporaryDirectory() as folder:
        for count in args.questions:
            runs = [
                {"experiment": name, "group": name, "seed": None, "trained_on": "d", "evaluated_on": "d"}
                | {"split": "validation", "questions": questions_csv(Path(folder) / f"{name}.csv", count, seed)}
                for seed, name in enumerate(["base", "other"])
            ]
            start = time.perf_counter()
            per_run, _ = compare_runs(runs, "base", args.resamples)
            compared = time.perf_counter() - start
            differences = np.random.default_rng(0).normal(size=(count, 2))
            start = time.perf_counter()
            bootstrap_interval(differences, args.resamples, seed=0)
            alone = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
            assert per_run[1]["paired_questions"] == count
            print(f"{count:>9,}  {compared:11.2f}  {alone:19.2f}  {peak:16.2f}")


if __name__ == "__main__":
    main()
