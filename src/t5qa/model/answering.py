"""Answering questions from a loaded model, in memory: batched greedy (or beam) generation with each answer's score
and no-answer probability, and the choice of a question's answer over its windows. The predict step (t5qa.model.predict)
and `t5qa ask` both answer through `answer_questions`, so they give the same answers.

Model inputs (a question, or one window of a long one) are sorted by length (longest first) and cut into batches
once: `batch_size` inputs each, or with `batch_tokens` as many as fit that many padded tokens (t5qa.data.batching), so a
batch of short inputs holds more of them. The predict step gives batch b to process b % world_size, so every batch,
and so every prediction, is the same whatever the number of processes.

Each input's answer comes with its score, the sum of the log-probabilities of the generated tokens, and with the
probability of the unanswerable target (one short decoder pass that reuses the encoder's output). A question's
prediction is chosen over its windows by `choose_answer`.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from t5qa.data.batching import token_budget_batches
from t5qa.data.features import prediction_to_answer
from t5qa.errors import InputError
from t5qa.model import attention
from t5qa.settings import PredictSettings


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


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Longest first, so an out-of-memory batch fails at once rather than at the end."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def plan_batches(lengths: list[int], settings: PredictSettings) -> list[list[int]]:
    if settings.batch_tokens:
        return token_budget_batches(lengths, settings.batch_tokens)
    return length_sorted_batches(lengths, settings.batch_size)


def prepare_model(model, settings: PredictSettings, device: torch.device):
    """On the device, in eval mode, with the merged attention bias; bf16 on a GPU that has it (unless fp32)."""
    model = model.to(device).eval()
    # Answers are as long as max_new_tokens allows; a saved max_length (the trainer's evaluation sets one) would only
    # make generate() warn at every batch that max_new_tokens takes precedence.
    model.generation_config.max_length = None
    attention.use_merged_bias(model)
    if device.type == "cuda" and torch.cuda.is_bf16_supported() and settings.precision != "fp32":
        model = model.to(torch.bfloat16)
        torch.backends.cuda.matmul.allow_tf32 = True
    return model


def check_vocabulary(input_ids: list[list[int]], model, where: str) -> None:
    largest = max(max(ids) for ids in input_ids)
    if largest >= model.config.vocab_size:
        raise InputError(
            f"{where}: token id {largest} is outside the model's vocabulary ({model.config.vocab_size}); "
            "was it tokenized with another tokenizer?"
        )


def answer_records(inputs: dict[str, list], generated: dict[int, Generated], unanswerable: str, na_threshold):
    """Each question's prediction record (id, source, prediction, generated, score, na_prob, and the window chosen
    of several), questions in the inputs' order, from every input row's generated answer."""
    for (source, id_), rows in group_windows(inputs).items():
        answer = choose_answer([generated[r] for r in rows], unanswerable, na_threshold)
        record = {
            "id": id_,
            "source": source,
            "prediction": answer.prediction,
            "generated": answer.generated,
            "score": round(answer.score, 6),
            "na_prob": float(f"{answer.na_prob:.6g}"),
        }
        if len(rows) > 1:
            record |= {"window": answer.window, "windows": len(rows)}
        yield record


def answer_questions(model, tokenizer, inputs: dict[str, list], settings: PredictSettings, unanswerable: str):
    """Answer tokenized questions (columns id, source, window, input_ids: the tokenize step's) with a model already
    prepared (`prepare_model`), in memory: the predict step's batches, answers and records."""
    device = next(model.parameters()).device
    na_ids = tokenizer(text_target=unanswerable)["input_ids"]
    generated: dict[int, Generated] = {}
    with torch.inference_mode():
        for batch in plan_batches([len(ids) for ids in inputs["input_ids"]], settings):
            batch_ids = [inputs["input_ids"][i] for i in batch]
            generated.update(zip(batch, generate_batch(model, tokenizer, batch_ids, settings, na_ids, device)))
    return list(answer_records(inputs, generated, unanswerable, settings.na_threshold))


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
