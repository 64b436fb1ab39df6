"""What a run will cost before it is submitted: per train and predict job of the same config and targets, the
tokens it processes, its FLOPs and its hours on a named GPU at a stated utilisation, checked against the Slurm
profile's `runtime` for the rule.

The jobs are the workflow's own: a forced dry run of the targets (`snakemake -n -F -p`) lists every train and
predict job with its shell command, whose arguments (tokenized data, stats, model, settings) say what it reads.
Tokens come from the tokenize stats when the data is tokenized, else from the normalized tables (rows exact,
tokens from their characters at CHARS_PER_TOKEN), else they are unknown (prefetch and normalize first).
"""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from t5qa.errors import InputError

FLOPS_FORMULA = (
    "training FLOPs = 6 x (N_enc x source tokens + (N_dec + d_model x vocab) x target tokens); inference: 2 x the "
    "same, with generated tokens as target tokens. N_enc, N_dec: encoder and decoder weights without the shared "
    "embedding (a lookup, no FLOPs); d_model x vocab: the LM head's matmul. Non-pad tokens only, so padding counts "
    "as waste. Attention-score FLOPs (which grow with sequence length) are left out: MFU is slightly understated."
)
# Dense bf16 peak of one GPU, by a fragment of torch.cuda.get_device_name(); the first match wins.
PEAK_FLOPS = [
    ("H100 NVL", None, "H100 NVL: not in the table"),
    ("H100 PCIe", 756e12, "H100 PCIe, bf16 dense"),
    ("H100", 989e12, "H100 SXM, bf16 dense"),
    ("H200", 989e12, "H200, bf16 dense"),
    ("A100", 312e12, "A100, bf16 dense"),
    ("L40S", 362e12, "L40S, bf16 dense"),
    ("V100", 125e12, "V100, fp16 dense (it has no bf16)"),
]
DEFAULT_UTILISATION = 0.35  # model FLOPs utilisation assumed when none is measured (see docs/cluster.md)
CHARS_PER_TOKEN = 4.0  # English text in a 32k sentencepiece vocabulary, roughly: only before tokenizing
# Shapes of the public T5 checkpoints (their config.json), for a hub model that is not cached here.
KNOWN_SHAPES = {
    "t5-small": {"d_model": 512, "d_ff": 2048, "d_kv": 64, "num_heads": 8, "num_layers": 6},
    "t5-base": {"d_model": 768, "d_ff": 3072, "d_kv": 64, "num_heads": 12, "num_layers": 12},
    "t5-large": {"d_model": 1024, "d_ff": 4096, "d_kv": 64, "num_heads": 16, "num_layers": 24},
}


def model_flops(terms: dict, source_tokens: float, target_tokens: float, factor: int) -> float:
    """factor 6: a training step (forward + backward), 2: inference. See FLOPS_FORMULA."""
    return factor * (terms["encoder"] * source_tokens + (terms["decoder"] + terms["lm_head"]) * target_tokens)


def peak_flops(device_name: str) -> tuple[float | None, str]:
    """The dense bf16 peak of a GPU by its name (a100, H100, "NVIDIA A100-SXM4-80GB"), and where it comes from."""
    for key, peak, source in PEAK_FLOPS:
        if key.lower() in device_name.lower():
            return peak, source
    return None, f"unknown ({device_name})"


def shape_terms(config: dict) -> dict:
    """FLOP terms and parameter count of a T5 from its config (config.json's keys): encoder and decoder weights
    without the shared embedding, and the LM head's d_model x vocab."""
    d_model, d_ff = config["d_model"], config["d_ff"]
    inner = config["num_heads"] * config["d_kv"]
    attention = 4 * d_model * inner
    gated = str(config.get("feed_forward_proj", "relu")).startswith("gated")
    feed_forward = (3 if gated else 2) * d_model * d_ff
    encoder_layers = config["num_layers"]
    decoder_layers = config.get("num_decoder_layers") or encoder_layers
    bias = config.get("relative_attention_num_buckets", 32) * config["num_heads"]  # the first layer's position bias
    encoder = encoder_layers * (attention + feed_forward + 2 * d_model) + d_model + bias
    decoder = decoder_layers * (2 * attention + feed_forward + 3 * d_model) + d_model + bias
    vocab = config.get("vocab_size", 32128)
    tied = config.get("tie_word_embeddings", True)
    parameters = encoder + decoder + d_model * vocab * (1 if tied else 2)
    return {"encoder": encoder, "decoder": decoder, "lm_head": d_model * vocab, "parameters": parameters}


@dataclass
class Job:
    rule: str
    output: str
    wildcards: str
    gpus: int
    args: dict[str, list[str]] = field(default_factory=dict)  # each --option's words

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.args.get(name, [default])[0]


def planned_jobs(configfiles: list[str], targets: list[str], snakefile: Path, workdir: Path) -> list[Job]:
    """Every job the targets need (a forced dry run), with its shell command's arguments."""
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir), "-n", "-F", "-p"]
    command += [*targets, *(["--configfile", *configfiles] if configfiles else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"snakemake's dry run failed:\n{(done.stdout + done.stderr)[-3000:]}")
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", done.stdout + "\n" + done.stderr):
        head = re.match(r"rule (\w+):", block)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        if not head or not shell:
            continue
        fields = dict(re.findall(r"^    (\w+): (.*)$", block, re.M))
        gpus = re.search(r"\bgpu=(\d+)", fields.get("resources", ""))
        jobs.append(Job(head[1], fields.get("output", ""), fields.get("wildcards", ""), int(gpus[1]) if gpus else 0))
        option = None
        for word in shlex.split(shell[1].split(" --echo-fd")[0].split(" > ")[0]):
            if word.startswith("--"):
                option = jobs[-1].args.setdefault(word, [])
            elif option is not None:
                option.append(word)
    return jobs


def model_config(model: str, jobs: list[Job], workdir: Path) -> tuple[dict, str]:
    """A model's config and where it came from: its folder's config.json, the scratch_model job that builds it,
    the hub cache, or the public T5 shapes."""
    folder = workdir / model
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text()), f"{model}/config.json"
    trainer = next((j for j in jobs if j.rule == "train" and j.output == model), None)
    if trainer:  # a model trained in this run: the shape of the model it starts from
        return model_config(trainer.arg("--model"), jobs, workdir)
    builder = next((j for j in jobs if j.rule == "scratch_model" and j.output == model), None)
    if builder:
        settings = json.loads(builder.arg("--settings"))
        tokenizer = next(
            (j for j in jobs if j.rule == "scratch_tokenizer" and j.output == builder.arg("--tokenizer")), None
        )
        vocab = json.loads(tokenizer.arg("--settings"))["vocab_size"] if tokenizer else 32128
        return {**settings["architecture"], "vocab_size": vocab}, "the scratch_model job's settings"
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model).to_dict(), f"{model} (hub cache)"
    except Exception:  # not cached, no network: the public shapes by name
        name = model.rsplit("/", 1)[-1].removeprefix("unifiedqa-v2-").split("-1363200")[0]
        if name in KNOWN_SHAPES:
            return KNOWN_SHAPES[name], f"the public {name} shape (not cached here)"
        raise InputError(f"{model}: no config.json, not cached here and not a known T5 shape") from None


@dataclass
class SplitTokens:
    """A split's model inputs and their mean source and target tokens, and where the numbers come from."""

    inputs: int
    source: float
    target: float
    longest_target: int | None
    origin: str


def split_tokens(stats_path: Path, tokenize_job: Job | None, split: str, workdir: Path) -> SplitTokens | None:
    """From the tokenize stats, else from the normalized tables the tokenize job reads, else None."""
    if stats_path.is_file():
        stats = json.loads(stats_path.read_text())[split]
        settings = json.loads(tokenize_job.arg("--settings")) if tokenize_job else {}
        cap = settings.get("max_source_length", math.inf)
        source = min(stats["source_length"]["mean"], cap)  # a window holds at most max_source_length tokens
        return SplitTokens(
            stats["model_inputs"],
            source,
            stats["target_length"]["mean"] + 1,  # + the end token
            stats["target_length"]["max"],
            "tokenize stats",
        )
    if tokenize_job is None:
        return None
    tables = [w.split("=", 1)[-1] for w in tokenize_job.args.get(f"--{split}", [])]
    if not tables or not all((workdir / t).is_file() for t in tables):
        return None
    import pandas as pd

    frames = [pd.read_parquet(workdir / t, columns=["question", "context", "answer"]) for t in tables]
    rows = sum(len(f) for f in frames)
    chars = sum(int(f["question"].str.len().sum() + f["context"].str.len().sum()) for f in frames)
    answers = sum(int(f["answer"].str.len().sum()) for f in frames)
    return SplitTokens(
        rows, chars / rows / CHARS_PER_TOKEN, answers / rows / CHARS_PER_TOKEN + 1, None, "normalized tables"
    )


@dataclass
class Estimate:
    job: Job
    what: str  # one line: examples or inputs, tokens and where they come from, the model
    flops: float | None
    hours: float | None
    runtime_minutes: float | None  # the profile's for the rule


def profile_runtime(profile: Path | None, rule: str) -> float | None:
    if profile is None:
        return None
    import yaml

    settings = yaml.safe_load((profile / "config.yaml").read_text())
    own = (settings.get("set-resources") or {}).get(rule) or {}
    return own.get("runtime", (settings.get("default-resources") or {}).get("runtime"))


def estimate_jobs(jobs: list[Job], workdir: Path, peak: float, utilisation: float, profile: Path | None):
    tokenize_jobs = {out: j for j in jobs if j.rule == "tokenize_data" for out in j.output.split(", ")}
    estimates = []
    for job in jobs:
        if job.rule not in ("train", "predict"):
            continue
        settings = json.loads(job.arg("--settings", "{}"))
        stats_path = job.arg("--stats")
        tokenize_job = tokenize_jobs.get(stats_path)
        tokenize = json.loads(tokenize_job.arg("--settings", "{}")) if tokenize_job else {}
        try:
            config, config_origin = model_config(job.arg("--model"), jobs, workdir)
        except InputError as err:  # e.g. a model inside an archive not yet downloaded
            estimates.append(Estimate(job, str(err), None, None, profile_runtime(profile, job.rule)))
            continue
        terms = shape_terms(config)
        model = f"{terms['parameters'] / 1e6:,.1f} M parameters ({config_origin})"
        gpus = max(job.gpus, 1)
        split = "train" if job.rule == "train" else job.arg("--split", "validation")
        tokens = split_tokens(workdir / stats_path, tokenize_job, split, workdir)
        if tokens is None:
            what = f"{split} data not normalized yet: prefetch and normalize first; model {model}"
            estimates.append(Estimate(job, what, None, None, profile_runtime(profile, job.rule)))
            continue
        limit = tokenize.get("max_target_length", 32)
        longest = tokens.longest_target
        generated = min(limit, longest + 1) if longest else limit  # max_new_tokens: auto
        if job.rule == "train":
            flops, what = training_flops(settings, tokens, terms, gpus, generated, workdir, stats_path, tokenize_job)
        else:
            new_tokens = settings.get("max_new_tokens", "auto")
            generated = generated if new_tokens == "auto" else new_tokens
            flops = model_flops(terms, tokens.inputs * tokens.source, tokens.inputs * generated, 2)
            what = (
                f"{tokens.inputs:,} model inputs x {tokens.source:,.0f} source tokens ({tokens.origin}), up to "
                f"{generated} generated tokens each"
            )
        hours = flops / (gpus * peak * utilisation) / 3600
        estimates.append(Estimate(job, f"{what}; model {model}", flops, hours, profile_runtime(profile, job.rule)))
    return estimates


def training_flops(settings, tokens, terms, gpus, generated, workdir, stats_path, tokenize_job):
    """Training steps x examples per step, and the evaluations every eval_steps (generation on eval_examples)."""
    if settings.get("batch_tokens"):
        per_step = settings["batch_tokens"] / max(tokens.source, 1)
    else:
        per_step = settings.get("batch_size", 32)
    per_step *= settings.get("gradient_accumulation_steps", 1) * gpus
    steps_per_epoch = math.ceil(tokens.inputs / per_step)
    steps = settings["max_steps"] if settings.get("max_steps", -1) > 0 else settings.get("epochs", 3) * steps_per_epoch
    examples = steps * per_step
    flops = model_flops(terms, examples * tokens.source, examples * tokens.target, 6)
    what = (
        f"{steps:,} steps x {per_step:,.0f} examples = {examples / tokens.inputs:.1f} epochs of {tokens.inputs:,} "
        f"inputs ({tokens.source:,.0f} + {tokens.target:,.0f} tokens each, {tokens.origin})"
    )
    eval_steps = settings.get("eval_steps", 0)
    validation = split_tokens(workdir / stats_path, tokenize_job, "validation", workdir)
    if eval_steps and validation:
        evaluations = steps // eval_steps + (1 if steps % eval_steps else 0)
        scored = min(settings.get("eval_examples", 1000), validation.inputs)
        flops += evaluations * model_flops(terms, scored * validation.source, scored * generated, 2)
        what += f", {evaluations} evaluation{'s' if evaluations != 1 else ''} of {scored:,} inputs"
    return flops, what


def utilisation_from(path: Path) -> float:
    """The model FLOPs utilisation benchmarks/gpu_check.py measured: its t5-base training throughput row with the
    pipeline's batching (not compiled)."""
    rows = json.loads(path.read_text())["rows"]
    for row in rows:
        wanted = (row.get("kind"), row.get("model"), row.get("setup"), row.get("compile"))
        if (
            wanted == ("train throughput", "t5-base", "pipeline", False)
            and row.get("status") == "ok"
            and row.get("mfu")
        ):
            return float(row["mfu"])
    raise ValueError(f"{path}: no measured t5-base training utilisation (mfu) in its rows")


def measured_cpu_flops(seconds: float = 1.0) -> float:
    """This machine's fp32 matmul rate with torch's threads: the peak a CPU estimate divides by."""
    import time

    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b  # warm-up
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return count * 2 * 1024**3 / (time.perf_counter() - started)


def report(estimates: list[Estimate], device: str, peak: float, utilisation: float, utilisation_origin: str) -> str:
    lines = [
        f"t5qa estimate: {device}, peak {peak / 1e12:,.1f} TFLOP/s, at {utilisation:.0%} utilisation "
        f"({utilisation_origin})"
    ]
    total = 0.0
    for e in sorted(estimates, key=lambda e: (e.job.rule != "train", e.job.output)):  # trains first, by output
        gpus = max(e.job.gpus, 1)
        head = f"{e.job.rule} {e.job.output} ({gpus} GPU{'s' if gpus > 1 else ''})"
        if e.hours is None:
            lines.append(f"{head}: unknown: {e.what}")
            continue
        total += e.hours * gpus
        lines.append(f"{head}: {e.flops:.3g} FLOPs, {duration_text(e.hours)} -- {e.what}")
        if e.runtime_minutes is not None and e.runtime_minutes < e.hours * 60:
            lines.append(
                f"  WARNING: the profile's runtime for {e.job.rule} is {e.runtime_minutes:g} min, shorter than the "
                f"estimate ({e.hours * 60:,.0f} min): raise set-resources.{e.job.rule}.runtime, or give `retries` "
                f"enough attempts to resume through (at least {math.ceil(e.hours * 60 / e.runtime_minutes)})"
            )
    unknown = sum(e.hours is None for e in estimates)
    if unknown:  # a sum of the known jobs alone would read as the run's cost
        lines.append(
            f"total: unknown: {unknown} of {len(estimates)} jobs unknown (above); the known ones: "
            f"{duration_text(total)} of GPU time (GPUs x hours)"
        )
    else:
        lines.append(f"total: {duration_text(total)} of GPU time (GPUs x hours)")
    lines.append(f"FLOPs: {FLOPS_FORMULA}")
    return "\n".join(lines)


def duration_text(hours: float) -> str:
    if hours >= 1:
        return f"{hours:,.2f} h"
    return f"{hours * 60:,.1f} min" if hours * 60 >= 1 else f"{hours * 3600:,.1f} s"
