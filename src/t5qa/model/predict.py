"""Batched greedy (or beam) generation over the tokenized validation (or test) split.

Model inputs (a question, or one window of a long one) are sorted by length (longest first) and cut into batches
once: `batch_size` inputs each, or with `batch_tokens` as many as fit that many padded tokens (t5qa.data.batching), so a
batch of short inputs holds more of them. Batch b goes to process b % world_size, so every batch, and so every
prediction, is the same whatever the number of processes.

Each input's answer comes with its score, the log-probability of the generated tokens, and with the probability of
the unanswerable target (one short decoder pass that reuses the encoder's output). A question's prediction is chosen
over its windows by `choose_answer`.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from tqdm import tqdm
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from t5qa.atomic import atomic_path, check_destination
from t5qa.cli import first_line
from t5qa.data.batching import token_budget_batches
from t5qa.data.features import prediction_to_answer
from t5qa.errors import InputError
from t5qa.model import attention
from t5qa.model.model_io import load_model
from t5qa.progress import Ticker, on_terminal
from t5qa.settings import PredictSettings

log = logging.getLogger("t5qa.model.predict")


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Longest first, so an out-of-memory batch fails at once rather than at the end."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def load_validation(tokenized_dir: Path, split: str = "validation") -> dict[str, list]:
    """The tokenized folder's validation (or test) split: ids, sources, windows, input ids, checked for what
    prediction reads."""
    what = f"{tokenized_dir}: not a tokenized dataset folder (save_to_disk)"
    try:
        splits = datasets.load_from_disk(str(tokenized_dir))
        if not isinstance(splits, datasets.DatasetDict) or split not in splits:
            raise InputError(f"{what} with a {split} split")
        missing = {"id", "source", "window", "input_ids"} - set(splits[split].column_names)
        if missing:
            raise InputError(
                f"{what}: its {split} split lacks the columns {sorted(missing)} (made by an older tokenize step?)"
            )
        columns = splits[split].select_columns(["id", "source", "window", "input_ids"]).to_dict()
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, pyarrow.ArrowException) as err:
        raise InputError(f"{what} ({first_line(err)})") from err
    if not columns["id"]:
        raise InputError(f"{tokenized_dir}: the {split} split has no rows")
    for row, (id_, source, ids) in enumerate(zip(columns["id"], columns["source"], columns["input_ids"])):
        if not (isinstance(id_, str) and isinstance(source, str) and _is_token_ids(ids)):
            raise InputError(f"{what}: {split} row {row} needs a text id and source and a list of token ids")
    return columns


@dataclass(frozen=True)
class Generated:
    """One model input's answer: the decoded text, its log-probability, and log P(unanswerable target)."""

    text: str
    score: float
    na_log_prob: float


@dataclass(frozen=True)
class Answer:
    prediction: str  # "" for no answer, as the metrics score it
    generated: str  # what the chosen window generated
    score: float
    na_prob: float
    window: int


def choose_answer(windows: list[Generated], unanswerable: str, na_threshold: float | None = None) -> Answer:
    """A question's answer from its windows (one, when the input fits).

    - The answer is the highest-scoring generated text that is not the unanswerable target (earliest window on a
      tie); when every window generates the unanswerable target, the answer is "" (the best-scoring of those is
      reported as `generated`).
    - `na_prob` is the smallest probability of the unanswerable target over the windows: a question is as
      answerable as its most answerable window (the windows without the answer all say "not here").
    - With `na_threshold`, an answer whose na_prob is above it becomes "" (the official script's rule).
    """
    answered = [w for w, g in enumerate(windows) if prediction_to_answer(g.text, unanswerable)]
    pool = answered or range(len(windows))
    best = max(pool, key=lambda w: (windows[w].score, -w))
    na_prob = math.exp(min(g.na_log_prob for g in windows))
    prediction = prediction_to_answer(windows[best].text, unanswerable) if answered else ""
    if na_threshold is not None and na_prob > na_threshold:
        prediction = ""
    return Answer(prediction, windows[best].text.strip(), windows[best].score, na_prob, best)


class StepLogProbs(LogitsProcessor):
    """Greedy decoding's per-step log-probability of the token it picks (the largest, after the other processors),
    kept so the generated answer's score costs no second pass. Must be the last processor."""

    def __init__(self):
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.steps.append(torch.log_softmax(scores.float(), dim=-1).max(dim=-1).values)
        return scores


def sequence_scores(sequences: torch.Tensor, step_log_probs: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """Sum of the per-step log-probabilities up to and including each sequence's end token (the steps after it
    only pad a finished sequence). `sequences` start with the decoder start token."""
    generated = sequences[:, 1 : 1 + step_log_probs.shape[1]]
    ended_before = torch.cumsum((generated == eos_token_id).int(), dim=1) - (generated == eos_token_id).int()
    return (step_log_probs * (ended_before == 0)).sum(dim=1)


def target_log_prob(
    model, encoder_outputs, attention_mask: torch.Tensor, target_ids: list[int], cross_attention_cache=None
) -> torch.Tensor:
    """log P(target | input) for every input of a batch, teacher-forced, reusing the encoder's output and, when
    given, the cross-attention keys and values generation computed from it (the same numbers, not computed twice:
    on long inputs they cost about a tenth of the encoder)."""
    labels = torch.tensor([target_ids], device=attention_mask.device).repeat(attention_mask.shape[0], 1)
    reuse = {}
    if cross_attention_cache is not None:
        name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        reuse = {name: EncoderDecoderCache(DynamicCache(), cross_attention_cache), "use_cache": True}
    logits = model(encoder_outputs=encoder_outputs, attention_mask=attention_mask, labels=labels, **reuse).logits
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1).sum(dim=1)


def generate_batch(model, tokenizer, input_ids: list[list[int]], settings: PredictSettings, na_ids: list[int], device):
    """Generate answers with their scores for one batch (see `Generated`)."""
    features = tokenizer.pad({"input_ids": input_ids}, return_tensors="pt").to(device)
    encoder_outputs = model.get_encoder()(**features, return_dict=True)
    greedy = settings.num_beams == 1
    recorder = StepLogProbs()
    # Greedy decoding reuses the encoder's output; beam search encodes again (it expands the inputs per beam).
    reused = {"encoder_outputs": encoder_outputs} if greedy else {}
    out = model.generate(
        **features,
        **reused,
        max_new_tokens=settings.max_new_tokens,
        num_beams=settings.num_beams,
        do_sample=False,
        logits_processor=LogitsProcessorList([recorder]) if greedy else None,
        return_dict_in_generate=True,
        output_scores=not greedy,
    )
    if greedy:
        scores = sequence_scores(out.sequences, torch.stack(recorder.steps, dim=1), tokenizer.eos_token_id)
    else:  # beam search: the log-probabilities of the kept beam's tokens
        transitions = model.compute_transition_scores(out.sequences, out.scores, out.beam_indices)
        scores = transitions.float().sum(dim=1)
    # Greedy generation's cache holds the cross-attention keys and values of these inputs (beam search's is per beam).
    cache = (out.get("cache") or out.get("past_key_values")) if greedy else None
    cross = cache.cross_attention_cache if isinstance(cache, EncoderDecoderCache) else None
    na = target_log_prob(model, encoder_outputs, features["attention_mask"], na_ids, cross)
    texts = tokenizer.batch_decode(out.sequences, skip_special_tokens=True)
    return [Generated(t, float(s), float(n)) for t, s, n in zip(texts, scores.tolist(), na.tolist())]


def _is_token_ids(ids) -> bool:
    return isinstance(ids, list) and bool(ids) and all(type(t) is int and t >= 0 for t in ids)


def predict(
    model_dir: Path,
    tokenized_dir: Path,
    output: Path,
    settings: PredictSettings,
    unanswerable: str,
    split: str = "validation",
) -> None:
    """`unanswerable` is the target the model learnt for "no answer" (the tokenize step's setting): it maps back to
    an empty prediction."""
    datasets.disable_caching()
    # cpu=True on a machine without CUDA: several CPU processes then form a gloo group instead of each one
    # believing it is alone (and predicting everything).
    state = PartialState(cpu=not torch.cuda.is_available())
    check_destination(output)
    validation = load_validation(tokenized_dir, split)
    tokenizer, model = load_model(model_dir)
    largest = max(max(ids) for ids in validation["input_ids"])
    if largest >= model.config.vocab_size:
        raise InputError(
            f"{tokenized_dir}: token id {largest} is outside {model_dir}'s vocabulary ({model.config.vocab_size}); "
            "was it tokenized with another tokenizer?"
        )
    model = model.to(state.device).eval()
    attention.use_merged_bias(model)
    if state.device.type == "cuda" and torch.cuda.is_bf16_supported() and settings.precision != "fp32":
        model = model.to(torch.bfloat16)
        torch.backends.cuda.matmul.allow_tf32 = True

    input_ids = validation["input_ids"]
    na_ids = tokenizer(text_target=unanswerable)["input_ids"]
    lengths = [len(x) for x in input_ids]
    if settings.batch_tokens:
        batches = token_budget_batches(lengths, settings.batch_tokens)
    else:
        batches = length_sorted_batches(lengths, settings.batch_size)
    if state.is_main_process:
        log.info(
            "%d model inputs in %d batches (%.1f inputs each on average), %d torch threads per process",
            len(input_ids),
            len(batches),
            len(input_ids) / len(batches),
            torch.get_num_threads(),
        )
    mine = batches[state.process_index :: state.num_processes]
    results: list[tuple[int, Generated]] = []
    shown = state.is_local_main_process
    ticker = Ticker(log, "predict batches", len(mine), unit="batches") if shown and not on_terminal() else None
    if ticker:
        ticker.update(0)
    bar = tqdm(mine, desc=f"predict[{state.process_index}]", disable=not shown or ticker is not None)
    for done, batch in enumerate(bar, 1):
        with torch.inference_mode():
            generated = generate_batch(model, tokenizer, [input_ids[i] for i in batch], settings, na_ids, state.device)
        results.extend(zip(batch, generated))
        if ticker:
            ticker.update(done)

    everything = gather_object(results) if state.num_processes > 1 else results
    if state.is_main_process:
        by_row = dict(everything)
        if len(by_row) != len(input_ids):
            raise RuntimeError(f"gathered {len(by_row)} answers for {len(input_ids)} model inputs")
        questions = group_windows(validation)
        with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8") as out:
            for (source, id_), rows in questions.items():
                answer = choose_answer([by_row[r] for r in rows], unanswerable, settings.na_threshold)
                row = {
                    "id": id_,
                    "source": source,
                    "prediction": answer.prediction,
                    "generated": answer.generated,
                    "score": round(answer.score, 6),
                    "na_prob": float(f"{answer.na_prob:.6g}"),
                }
                if len(rows) > 1:
                    row |= {"window": answer.window, "windows": len(rows)}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        log.info("wrote %d predictions (%d model inputs) to %s", len(questions), len(input_ids), output)
    state.wait_for_everyone()


def group_windows(validation: dict[str, list]) -> dict[tuple[str, str], list[int]]:
    """(source, id) -> its rows in window order, questions in the split's order."""
    questions: dict[tuple[str, str], list[int]] = {}
    for row, key in enumerate(zip(validation["source"], validation["id"])):
        questions.setdefault(key, []).append(row)
    for key, rows in questions.items():
        windows = [validation["window"][r] for r in rows]
        if windows != list(range(len(rows))):
            raise InputError(f"question {key[1]!r} ({key[0]}): its windows are {windows}, not 0..{len(rows) - 1}")
    return questions
