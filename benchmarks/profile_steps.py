"""Where the time goes in one prediction run and one training run on CPU (torch.profiler plus phase clocks).

  python benchmarks/profile_steps.py [--data squad_sample|demo|demo_long] [--work DIR] [--train-steps 6]

Sets up the distribution as benchmarks/run.py does (or reuses its --work folder), then
  predict: t5qa.model.answering.generate_batch over the validation split's token-budget batches (as predict runs),
           the time split into the encoder, the decoder layers, the LM head, and the rest (generate()'s own loop:
           logits processors, stopping checks, cache bookkeeping, the score and no-answer bookkeeping);
  train:   QATrainer steps with batch_tokens (as the train step runs), the time split into data (sampler, collation),
           forward, backward, optimizer (clipping, AdamW, scheduler) and the rest (callbacks, logging);
and for each the operators with the most self CPU time. Prints both and writes benchmarks/out/profile.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (benchmarks/run.py: the distributions, the set-up, the budgets)

MODULES = {"encoder": "encoder", "decoder": "decoder", "lm_head": "lm_head"}


class Clock:
    """Seconds spent inside labelled regions (outermost only: a region inside another one is not counted twice)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.depth = 0

    @contextmanager
    def region(self, name: str):
        import torch

        started = time.perf_counter()
        self.depth += 1
        try:
            with torch.profiler.record_function(name):
                yield
        finally:
            self.depth -= 1
            if self.depth == 0:
                self.seconds[name] += time.perf_counter() - started


def label_modules(model, clock: Clock) -> None:
    for attribute, name in MODULES.items():
        module = getattr(model, attribute)
        original = module.forward

        def forward(*args, _original=original, _name=name, **kwargs):
            with clock.region(_name):
                return _original(*args, **kwargs)

        module.forward = forward


def top_operators(profiler, count: int = 8) -> list[dict]:
    events = [e for e in profiler.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events) or 1
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {"op": e.key, "self_cpu_s": e.self_cpu_time_total / 1e6, "share_of_ops": e.self_cpu_time_total / total}
        for e in events[:count]
    ]


def profile_prediction(work: Path, limit_batches: int | None) -> dict:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from t5qa.data.batching import token_budget_batches
    from t5qa.data.tokenize_stats import read_tokenize_stats
    from t5qa.model import attention
    from t5qa.model.answering import generate_batch
    from t5qa.model.model_io import auto_max_new_tokens
    from t5qa.model.predict import load_validation
    from t5qa.settings import PredictSettings

    validation = load_validation(work / "tokenized")
    inputs = validation["input_ids"]
    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    model = AutoModelForSeq2SeqLM.from_pretrained(work / "model").eval()
    attention.use_merged_bias(model)  # as the predict step runs it
    tokenized_with, longest = read_tokenize_stats(work / "tokenize_stats.json")
    max_new_tokens = auto_max_new_tokens(longest, tokenized_with.max_target_length)
    settings = PredictSettings.from_dict({"batch_tokens": run.PREDICT_TOKENS, "max_new_tokens": max_new_tokens})
    na_ids = tokenizer(text_target=tokenized_with.unanswerable_target)["input_ids"]
    batches = token_budget_batches([len(x) for x in inputs], settings.batch_tokens)[:limit_batches]
    clock = Clock()
    label_modules(model, clock)
    started = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler, torch.inference_mode():
        for batch in batches:
            generate_batch(model, tokenizer, [inputs[i] for i in batch], settings, na_ids, "cpu")
    total = time.perf_counter() - started
    phases = dict(clock.seconds)
    phases["rest (generate loop, processors, scores, padding, decoding)"] = total - sum(phases.values())
    return {
        "batches": len(batches),
        "inputs": sum(len(b) for b in batches),
        "seconds": total,
        "phases": {k: {"s": v, "share": v / total} for k, v in phases.items()},
        "top_operators": top_operators(profiler),
        "note": "times under the profiler (its overhead inflates many small ops)",
    }


def profile_training(work: Path, steps: int) -> dict:
    import torch
    from transformers import TrainerCallback

    from t5qa.model.trainer import QATrainer

    warmup = 2
    clock = Clock()
    marks: dict[str, float] = {}
    measuring = {"on": False}

    class Profiled(QATrainer):
        def compute_loss(self, *args, **kwargs):
            with clock.region("forward") if measuring["on"] else _nothing():
                return super().compute_loss(*args, **kwargs)

        def get_batch_samples(self, *args, **kwargs):
            with clock.region("data (sampler, collation)") if measuring["on"] else _nothing():
                return super().get_batch_samples(*args, **kwargs)

    class Phases(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                measuring["on"] = True
                marks["start"] = time.perf_counter()
                profiler.start()
            elif state.global_step == warmup + steps:
                marks["end"] = time.perf_counter()
                profiler.stop()
                measuring["on"] = False

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            marks["optimizer"] = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kwargs):
            if measuring["on"]:
                clock.seconds["optimizer (clipping, AdamW)"] += time.perf_counter() - marks["optimizer"]

    output = Path(tempfile.mkdtemp(prefix="t5qa-profile-"))
    # As the train step runs it (the merged attention bias: benchmarks/run.py's --stock-attention is not set here).
    trainer = run.pipeline_trainer(work, run.TRAIN_TOKENS, warmup + steps, Profiled, [Phases()], output)
    original_backward = trainer.accelerator.backward

    def backward(loss, **kwargs):
        with clock.region("backward") if measuring["on"] else _nothing():
            return original_backward(loss, **kwargs)

    trainer.accelerator.backward = backward
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    trainer.train()
    total = marks["end"] - marks["start"]
    phases = dict(clock.seconds)
    phases["rest (scheduler, callbacks, logging, step bookkeeping)"] = total - sum(phases.values())
    return {
        "steps": steps,
        "seconds": total,
        "phases": {k: {"s": v, "share": v / total} for k, v in phases.items()},
        "top_operators": top_operators(profiler),
        "note": "times under the profiler (its overhead inflates many small ops)",
    }


@contextmanager
def _nothing():
    yield


def report(name: str, result: dict) -> str:
    lines = [f"{name}: {result['seconds']:.1f} s"]
    for phase, value in sorted(result["phases"].items(), key=lambda kv: -kv[1]["s"]):
        lines.append(f"  {value['share']:6.1%}  {value['s']:7.2f} s  {phase}")
    lines.append("  top operators by self CPU time (share of all aten ops):")
    for op in result["top_operators"]:
        lines.append(f"    {op['share_of_ops']:6.1%}  {op['op']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="squad_sample", choices=["squad_sample", "demo", "demo_long"])
    parser.add_argument("--squad", default=str(run.REPO.parent / "shared" / "data" / "squad2-dev-sample.json"))
    parser.add_argument("--work", help="a folder benchmarks/run.py prepared (skips the set-up)")
    parser.add_argument("--train-steps", type=int, default=6)
    parser.add_argument("--predict-batches", type=int, help="profile only the first N prediction batches")
    parser.add_argument("--out", default=str(run.REPO / "benchmarks" / "out"))
    args = parser.parse_args()
    import torch

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix=f"t5qa-profile-{args.data}-"))
    if not args.work:
        run.prepare(run.distributions(Path(args.squad))[args.data], work, 200)
    result = {
        "data": args.data,
        "torch_threads": torch.get_num_threads(),
        "predict": profile_prediction(work, args.predict_batches),
        "train": profile_training(work, args.train_steps),
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"data {args.data}, {result['torch_threads']} torch threads, work folder {work}")
    print(report("predict", result["predict"]))
    print(report("train", result["train"]))


if __name__ == "__main__":
    main()
