"""Issue 27 item 4: their scripts tokenize with the slow sentencepiece T5Tokenizer (transformers 4, legacy: the
sentencepiece model's own encoding, then </s>); we use transformers' fast one, converted from the same spiece.model.
Decided: keep the fast one, as long as both give the same ids on the text shapes of the release (held here on a
scratch sentencepiece model of the T5 kind: unigram, nmt_nfkc normaliser)."""

import io

import pytest

from t5qa.data.demo_data import generate
from t5qa.text import process_text

# What the release's inputs and targets look like: their input (question_processed + ' \\n ' + context_processed),
# the question alone, answer cells with tabs (a blank piece too), and what the processed columns keep.
SHAPES = [
    "why did the mill close \\n because the river dried up.",
    "why did the mill close",
    "because the river dried up\tthe river dried up",
    "because the river dried up\t",
    "rome fell <1> in 476 ad, if x < y and z > w",
    "new\xa0york  has   two spaces\nand a newline",
    "  leading and trailing  ",
    "café ﬁnal ½ – “quoted” 1,000.5 km²",
    "what's the cause? (it's 'unclear') #42 @home 50% [a] {b}",
]


@pytest.fixture(scope="module")
def tokenizer_pair(tmp_path_factory):
    import sentencepiece as spm
    from transformers import T5Tokenizer

    texts = [
        text
        for group in generate(seed=3, n_examples=80, prefix="sp")
        for ex in group
        for text in (
            process_text(ex.question),
            process_text(ex.context),
        )
    ]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts + SHAPES),
        model_writer=model,
        vocab_size=300,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=0.999,  # a rare character stays out, to check <unk> alike
        num_threads=1,
        minloglevel=2,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
    )
    folder = tmp_path_factory.mktemp("spiece")
    (folder / "spiece.model").write_bytes(model.getvalue())
    slow = spm.SentencePieceProcessor(model_file=str(folder / "spiece.model"))
    fast = T5Tokenizer.from_pretrained(folder, extra_ids=0)
    return slow, fast, texts


def slow_ids(slow, text: str) -> list[int]:
    """What their T5Tokenizer (slow, legacy) gives: sentencepiece's encoding, then </s>."""
    return slow.encode(text) + [slow.piece_to_id("</s>")]


def test_slow_and_fast_tokenizers_give_the_same_ids_on_the_release_s_text_shapes(tokenizer_pair):
    slow, fast, texts = tokenizer_pair
    inputs = [f"{q} \\n {c}" for q, c in zip(texts[::2], texts[1::2])]
    for text in SHAPES + inputs:
        assert fast(text)["input_ids"] == slow_ids(slow, text), text
    assert any(fast.unk_token_id in fast(text)["input_ids"] for text in SHAPES)  # unknown characters met too
