"""Model I/O shared by training, prediction and the model card: loading a model folder or hub id with its
tokenizer, the generation length that fits the training targets, and the precision a run computes in."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from t5qa.cli import first_line
from t5qa.data.features import PRETRAINED_ERRORS
from t5qa.errors import InputError


def load_model(model_dir: Path):
    """The trained model and the tokenizer saved beside it."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    except PRETRAINED_ERRORS as err:
        raise InputError(f"{model_dir}: not a model folder or a cached hub model ({first_line(err)})") from err
    if tokenizer.pad_token_id is None:
        raise InputError(f"{model_dir}: the tokenizer has no padding token, which batching needs")
    return tokenizer, model


def auto_max_new_tokens(longest_target: int, max_target_length: int) -> int:
    """Long enough for every training target (+1 for the end token), never past the training limit."""
    return min(max_target_length, longest_target + 1)


def use_bf16(precision: str) -> bool:
    """bf16 where the hardware has it; T5 overflows in fp16, so fp16 is never an option."""
    if precision == "fp32":
        return False
    available = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not available:
        raise InputError("train precision 'bf16' asked for, but no CUDA device with bf16 support is visible")
    return available


def honour_umask(folder: Path) -> None:
    """Give a saved model's files the modes every other output gets under the user's umask. safetensors writes its
    weights with mode 0600 whatever the umask, so labmates on a shared project space could not load the model."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [Path(folder), *Path(folder).rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
