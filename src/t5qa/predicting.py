"""Batched greedy (or beam) generation over the tokenized validation split.

Examples are sorted by length and cut into batches once; batch b goes to process b % world_size,
so every batch, and so every prediction, is the same whatever the number of processes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from tqdm import tqdm
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from t5qa.atomic import atomic_path
from t5qa.features import prediction_to_answer

log = logging.getLogger("t5qa.predict")


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Longest first, so an out-of-memory batch fails at once rather than at the end."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def auto_max_new_tokens(stats: dict, max_target_length: int) -> int:
    """Long enough for every training target (+1 for the end token), never past the training limit."""
    return min(max_target_length, int(stats["train"]["target_length"]["max"]) + 1)


def predict(model_dir: Path, tokenized_dir: Path, output: Path, settings: dict) -> None:
    datasets.disable_caching()
    state = PartialState()
    validation = datasets.load_from_disk(str(tokenized_dir))["validation"]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).to(state.device).eval()
    if state.device.type == "cuda" and torch.cuda.is_bf16_supported() and settings.get("precision") != "fp32":
        model = model.to(torch.bfloat16)
        torch.backends.cuda.matmul.allow_tf32 = True

    input_ids = validation["input_ids"]
    batches = length_sorted_batches([len(x) for x in input_ids], settings["batch_size"])
    mine = batches[state.process_index :: state.num_processes]
    results: list[tuple[int, str]] = []
    for batch in tqdm(mine, desc=f"predict[{state.process_index}]", disable=not state.is_local_main_process):
        features = tokenizer.pad({"input_ids": [input_ids[i] for i in batch]}, return_tensors="pt")
        with torch.inference_mode():
            generated = model.generate(
                **features.to(state.device),
                max_new_tokens=settings["max_new_tokens"],
                num_beams=settings.get("num_beams", 1),
                do_sample=False,
            )
        texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
        results.extend(zip(batch, texts))

    everything = gather_object(results) if state.num_processes > 1 else results
    if state.is_main_process:
        by_index = dict(everything)
        if len(by_index) != len(validation):
            raise RuntimeError(f"gathered {len(by_index)} predictions for {len(validation)} examples")
        ids, sources = validation["id"], validation["source"]
        unanswerable = settings["unanswerable_target"]
        with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8") as out:
            for i in range(len(validation)):
                row = {
                    "id": ids[i],
                    "source": sources[i],
                    "prediction": prediction_to_answer(by_index[i], unanswerable),
                    "generated": by_index[i],
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        log.info("wrote %d predictions to %s", len(validation), output)
    state.wait_for_everyone()
