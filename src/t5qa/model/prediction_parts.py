"""Predictions kept as they are made, so a predict job stopped by a signal, killed or timed out continues where it
stopped on its next attempt.

Each batch's generated answers go to a part of their own (`batch-NNNNNN.jsonl` in `<output>.parts/`, written under
a temporary name and renamed: complete or absent). The folder is not a Snakemake output (Snakemake would delete it
before a retry), like training's checkpoints. A fingerprint file in it says what made the parts: the model (its
files), the tokenized split (its Arrow files), the settings, the unanswerable target, and the device, precision and
CPU threads (which change float rounding). A folder made by anything else is emptied, never reused. The final
predictions are assembled from the parts with the same code as an uninterrupted run's, so they are the same bytes;
then the folder is removed.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from t5qa.atomic import write_json, write_text
from t5qa.manifest import sha256_of
from t5qa.model.answering import Generated
from t5qa.model.checkpoints import model_identity

log = logging.getLogger("t5qa.model.predict")
FINGERPRINT = "fingerprint.json"


def parts_folder(output: Path) -> Path:
    return output.with_name(f"{output.name}.parts")


def prediction_fingerprint(
    model_dir: Path, tokenized_dir: Path, split: str, settings: dict, unanswerable: str, compute: dict
) -> dict:
    """What makes two prediction runs give the same answers, batch by batch."""
    return {
        "model": model_identity(str(model_dir)),
        "data": [sha256_of(f) for f in sorted((Path(tokenized_dir) / split).glob("*.arrow"))],
        "split": split,
        "settings": dict(sorted(settings.items())),
        "unanswerable": unanswerable,
        "compute": compute,
    }


class PredictionParts:
    def __init__(self, folder: Path, fingerprint: dict):
        self.folder, self.fingerprint = folder, fingerprint

    def open(self) -> int:
        """Keep the parts of the same run (returns how many), or empty the folder of anything else's. Main process
        only; the others wait until it is done."""
        found = self.folder / FINGERPRINT
        if found.is_file():
            try:
                previous = json.loads(found.read_text(encoding="utf-8"))
            except ValueError:
                previous = None
            if previous == self.fingerprint:
                return len(self.done())
            changed = sorted(k for k in self.fingerprint if (previous or {}).get(k) != self.fingerprint[k])
            log.warning(
                "not reusing %d predicted batches in %s: made by another run (%s differ)",
                len(self.done()),
                self.folder,
                ", ".join(changed) or "unreadable fingerprint",
            )
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        write_json(found, self.fingerprint)
        return 0

    def part(self, batch: int) -> Path:
        return self.folder / f"batch-{batch:06d}.jsonl"

    def done(self) -> set[int]:
        return {int(p.stem.removeprefix("batch-")) for p in self.folder.glob("batch-*.jsonl")}

    def write(self, batch: int, rows: list[int], generated: list[Generated]) -> None:
        lines = [
            json.dumps({"row": row, "text": g.text, "score": g.score, "na_log_prob": g.na_log_prob}, ensure_ascii=False)
            for row, g in zip(rows, generated, strict=True)
        ]
        write_text(self.part(batch), "".join(line + "\n" for line in lines))

    def read(self) -> dict[int, Generated]:
        """Every model input's generated answer, by row (floats round-trip through JSON exactly)."""
        by_row = {}
        for path in sorted(self.folder.glob("batch-*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                item = json.loads(line)
                by_row[item["row"]] = Generated(item["text"], item["score"], item["na_log_prob"])
        return by_row

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
