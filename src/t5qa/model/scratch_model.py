"""A small random-init T5 and a sentencepiece tokenizer trained on our own text.

Used by the offline demo and the tests (no hub download); saved with `save_pretrained`, so training
loads it through the same `from_pretrained` path as a hub model.
"""

from __future__ import annotations

import collections
import io
import math
from collections.abc import Iterable

import sentencepiece as spm
import torch
from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

# T5's layout: <pad>=0 (also the decoder start), </s>=1, <unk>=2; no <s>.
_SPECIAL_IDS = {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}


def train_tokenizer(texts: Iterable[str], vocab_size: int, seed: int) -> T5Tokenizer:
    """Learn pieces with sentencepiece BPE, then score them as a unigram model, the kind T5 uses.

    On a small, repetitive corpus sentencepiece's own unigram trainer stops at a few hundred pieces
    and splits common words into letters; BPE finds the words. Each piece's unigram score is the log
    of how often BPE uses it, so the unigram segmentation prefers the same whole words.
    """
    texts = list(texts)
    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,  # small corpora cannot fill a large vocabulary; take what there is
        model_type="bpe",
        character_coverage=1.0,
        num_threads=1,  # one thread: the same vocabulary every run
        minloglevel=2,
        **_SPECIAL_IDS,
    )
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    counts = collections.Counter(piece for ids in processor.encode(texts) for piece in ids)
    total = sum(counts.values()) + processor.get_piece_size()
    vocab = []
    for i in range(processor.get_piece_size()):
        score = 0.0 if i in _SPECIAL_IDS.values() else math.log((counts[i] + 0.5) / total)
        vocab.append((processor.id_to_piece(i), score))
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def build_model(tokenizer: T5Tokenizer, architecture: dict, seed: int) -> T5ForConditionalGeneration:
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        **architecture,
    )
    return T5ForConditionalGeneration(config)


def tokenizer_texts(frames: Iterable, template: str, unanswerable_target: str) -> list[str]:
    """The scratch tokenizer's corpus from the train tables: the template's own words and the unanswerable target
    (they must be in the vocabulary too), then every question, context and answer."""
    texts = [template, unanswerable_target]
    for frame in frames:
        texts += frame["question"].tolist() + frame["context"].tolist() + frame["answer"].tolist()
    return texts
