"""T5 attention with the position bias merged with the padding mask once per pass (t5qa.model.attention): the same
numbers as transformers' own SDPA attention, bit for bit without gradients, to float rounding in training."""

import pytest
import torch
from transformers import AutoTokenizer
from transformers.integrations.sdpa_attention import create_position_bias_mask

from t5qa.model import attention
from t5qa.model.answering import generate_batch
from t5qa.model.scratch_model import build_model
from t5qa.settings import PredictSettings

ARCHITECTURE = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4, "num_layers": 3, "num_decoder_layers": 3}


@pytest.fixture(scope="module")
def models(tiny_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    stock = build_model(tokenizer, ARCHITECTURE, seed=4).eval()
    merged = build_model(tokenizer, ARCHITECTURE, seed=4).eval()
    attention.use_merged_bias(merged)
    return tokenizer, stock, merged


def padded_batch(tokenizer):
    """Inputs of very different lengths: most rows of the batch carry padding."""
    texts = [f"question: Why did the mill close? context: {'The storm damaged the building. ' * n}" for n in (9, 1, 4)]
    return [tokenizer(t)["input_ids"] for t in texts]


def test_the_merged_attention_is_in_use_and_gives_the_same_numbers(models, monkeypatch):
    tokenizer, stock, merged = models
    merges = []

    def counting(*args):
        merges.append(args[0].shape)
        return create_position_bias_mask(*args)

    monkeypatch.setattr(attention, "create_position_bias_mask", counting)
    assert stock.config._attn_implementation == "sdpa"
    assert merged.config._attn_implementation == attention.NAME
    features = tokenizer.pad({"input_ids": padded_batch(tokenizer)}, return_tensors="pt")
    labels = torch.tensor([tokenizer(text_target="the storm")["input_ids"]] * 3)
    with torch.inference_mode():
        expected = stock(**features, labels=labels)
        got = merged(**features, labels=labels)
    # One merge per stack (the encoder's self-attention, the decoder's cross-attention), not one per layer (3 each).
    assert len(merges) == 2
    assert torch.equal(got.encoder_last_hidden_state, expected.encoder_last_hidden_state)
    assert torch.equal(got.logits, expected.logits)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generation_gives_the_same_answers_and_scores(models, num_beams):
    tokenizer, stock, merged = models
    settings = PredictSettings.from_dict({"max_new_tokens": 8, "num_beams": num_beams})
    na_ids = tokenizer(text_target="unanswerable")["input_ids"]
    inputs = padded_batch(tokenizer)
    with torch.inference_mode():
        expected = generate_batch(stock, tokenizer, inputs, settings, na_ids, torch.device("cpu"))
        got = generate_batch(merged, tokenizer, inputs, settings, na_ids, torch.device("cpu"))
    assert got == expected


def test_training_gets_the_same_loss_and_gradients_and_the_saved_model_names_no_custom_attention(models, tmp_path):
    tokenizer, stock, merged = models
    features = tokenizer.pad({"input_ids": padded_batch(tokenizer)}, return_tensors="pt")
    labels = torch.tensor([tokenizer(text_target="the storm")["input_ids"]] * 3)
    results = []
    for model in (stock, merged):
        model.train()
        model.zero_grad()
        torch.manual_seed(0)  # the same dropout masks
        loss = model(**features, labels=labels).loss
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
        model.eval()
    (stock_loss, stock_grads), (merged_loss, merged_grads) = results
    assert torch.equal(merged_loss, stock_loss)  # the forward pass is the same computation
    for a, b in zip(stock_grads, merged_grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    merged.save_pretrained(tmp_path)
    assert attention.NAME not in (tmp_path / "config.json").read_text()


@pytest.mark.parametrize(
    "settings, environ, allowed",
    [
        ({}, {}, True),
        ({"gradient_checkpointing": True}, {}, False),
        ({"torch_compile": True}, {}, False),
        ({}, {"FSDP_ACTIVATION_CHECKPOINTING": "true"}, False),  # an accelerate config's FSDP checkpointing
        ({}, {"FSDP_ACTIVATION_CHECKPOINTING": "false", "ACCELERATE_DYNAMO_BACKEND": "NO"}, True),
        ({}, {"ACCELERATE_DYNAMO_BACKEND": "INDUCTOR"}, False),  # an accelerate config's torch.compile
    ],
)
def test_training_keeps_the_stock_attention_where_layers_are_re_run_or_traced(settings, environ, allowed):
    from t5qa.settings import TrainSettings

    assert attention.merged_bias_allowed(TrainSettings.from_dict(settings), environ) is allowed
