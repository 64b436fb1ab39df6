"""Peak memory of a T5 training step with and without gradient checkpointing (train.gradient_checkpointing).

  python benchmarks/gradient_checkpointing.py [--arch t5-small t5-base] [--batch 8] [--steps 3]

Each (architecture, variant) runs in a fresh process: a randomly initialised T5 with the hub model's architecture
(no download: memory does not depend on the weights), AdamW, `--steps` training steps on one random batch of
`--source-length` input and `--target-length` label tokens per example, recomputing activations in the backward
pass (non-reentrant checkpointing, as the Trainer sets it up) or not. On CPU the peak is the process's peak resident
memory (large tensors are mmapped, so freed memory leaves the process and the peak is what was live at once); on a
GPU, torch.cuda.max_memory_allocated. "Step" is that peak minus the memory held between steps (weights, AdamW
state): activations, gradients and temporaries. "Same weights": both variants end with bitwise equal weights and
losses in this plain loop (the Trainer's training can differ by float rounding: gradients add up in another order).
Writes benchmarks/out/gradient_checkpointing.{json,md}.

Measured (2026-11-26, 2-core shared CPU machine, torch 2.13.0+cpu, 384 input + 32 label tokens):
  t5-small, batch 8: step memory 1871 -> 518 MB (-72 %), process peak 2934 -> 1585 MB, 1.57x the time per step
  t5-base,  batch 4: step memory 3008 -> 1058 MB (-65 %), process peak 5935 -> 3989 MB, 2.1x the time per step
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The hub models' architectures (their config.json), without downloading them.
ARCHITECTURES = {
    "t5-small": {"d_model": 512, "d_ff": 2048, "d_kv": 64, "num_heads": 8, "num_layers": 6},
    "t5-base": {"d_model": 768, "d_ff": 3072, "d_kv": 64, "num_heads": 12, "num_layers": 12},
    "t5-large": {"d_model": 1024, "d_ff": 4096, "d_kv": 64, "num_heads": 16, "num_layers": 24},
}
# Large allocations mmapped and unmapped when freed: resident memory then follows what is live.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def resident_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(arch: str, checkpointing: bool, batch: int, source: int, target: int, steps: int) -> dict:
    """One variant, in this (fresh) process."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    config = T5Config(
        vocab_size=32128,
        dropout_rate=0.1,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        **ARCHITECTURES[arch],
    )
    model = T5ForConditionalGeneration(config).to(device).train()
    if checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5: non-reentrant by default
            model.activation_checkpointing_enable()
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randint(1, config.vocab_size, (batch, source), generator=generator).to(device)
    labels = torch.randint(1, config.vocab_size, (batch, target), generator=generator).to(device)

    def step() -> float:
        loss = model(input_ids=inputs, attention_mask=torch.ones_like(inputs), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    losses = [step()]  # the first step also allocates AdamW's state
    if cuda:
        torch.cuda.synchronize()
        held = torch.cuda.memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    else:
        held = resident_mb()
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from here
    started = time.perf_counter()
    losses += [step() for _ in range(steps - 1)]
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / max(1, steps - 1)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else resident_mb("VmHWM")
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
    return {
        "arch": arch,
        "checkpointing": checkpointing,
        "batch": batch,
        "source_length": source,
        "target_length": target,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "held_mb": round(held, 1),
        "peak_mb": round(peak, 1),
        "step_mb": round(peak - held, 1),
        "seconds_per_step": round(seconds, 3),
        "losses": losses,
        "weights_checksum": checksum,
        "device": torch.cuda.get_device_name() if cuda else f"CPU ({os.cpu_count()} cores)",
        "torch": torch.__version__,
    }


def run_fresh(arch: str, checkpointing: bool, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", arch, str(int(checkpointing)), *map(str, args.shape)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **MALLOC}, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{arch} checkpointing={checkpointing} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = [
        "| architecture | params (M) | batch x tokens | checkpointing | held (MB) | peak (MB) | step (MB) "
        "| s/step | same weights |",
        "|---|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        shape = f"{row['batch']} x {row['source_length']}+{row['target_length']}"
        lines.append(
            f"| {row['arch']} | {row['parameters_m']} | {shape} | {'on' if row['checkpointing'] else 'off'} "
            f"| {row['held_mb']:.0f} | {row['peak_mb']:.0f} | {row['step_mb']:.0f} | {row['seconds_per_step']:.2f} "
            f"| {row.get('same_weights', '')} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        arch, checkpointing, batch, source, target, steps = sys.argv[2:8]
        result = measure(arch, checkpointing == "1", int(batch), int(source), int(target), int(steps))
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["t5-small"], choices=sorted(ARCHITECTURES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--source-length", type=int, default=384, help="input tokens (run_seq2seq_qa.py's 384)")
    parser.add_argument("--target-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="training steps (the first is not timed)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()
    args.shape = (args.batch, args.source_length, args.target_length, max(2, args.steps))
    rows = []
    for arch in args.arch:
        off, on = run_fresh(arch, False, args), run_fresh(arch, True, args)
        same = off["weights_checksum"] == on["weights_checksum"] and off["losses"] == on["losses"]
        for row in (off, on):
            row["same_weights"] = "yes" if same else "no"
            rows.append(row)
        saved = off["step_mb"] - on["step_mb"]
        print(
            f"{arch}: step memory {off['step_mb']:.0f} -> {on['step_mb']:.0f} MB ({saved:.0f} MB, "
            f"{100 * saved / off['step_mb']:.0f} % saved), peak {off['peak_mb']:.0f} -> {on['peak_mb']:.0f} MB, "
            f"{on['seconds_per_step'] / off['seconds_per_step']:.2f}x the time per step; same weights: {same}",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.platform()}, {rows[0]['device']}, torch {rows[0]['torch']}"
    (args.out / "gradient_checkpointing.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    (args.out / "gradient_checkpointing.md").write_text(f"Machine: {machine}\n\n{table(rows)}\n")
    print(f"\nMachine: {machine}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
