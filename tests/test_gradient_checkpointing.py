"""train.gradient_checkpointing: the Trainer recomputes each layer's activations in the backward pass and trains the
same model up to float rounding (gradients add up in another order)."""

import subprocess

import datasets
from transformers import DataCollatorForSeq2Seq, TrainerCallback

from t5qa.model.model_io import load_model
from t5qa.model.train import training_arguments
from t5qa.model.trainer import QATrainer
from t5qa.model.training_data import load_train_split
from t5qa.settings import TrainSettings

from .conftest import REPO
from .trained import TRAIN, train_command, weights

WITH_CHECKPOINTING = {**TRAIN, "gradient_checkpointing": True}


def test_off_by_default_and_passed_to_the_trainer(tmp_path):
    assert TrainSettings.from_dict({}).gradient_checkpointing is False
    for value in (False, True):
        settings = TrainSettings.from_dict({"gradient_checkpointing": value})
        assert training_arguments(settings, tmp_path, generation_max_length=10).activation_checkpointing is value


def test_the_trainer_turns_it_on_in_the_model(prepared, tmp_path):
    class Seen(TrainerCallback):
        on = None

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            Seen.on = model.is_activation_checkpointing

    splits = datasets.load_from_disk(str(prepared / "tokenized"))
    tokenizer, model = load_model(str(prepared / "model"))
    settings = TrainSettings.from_dict({**WITH_CHECKPOINTING, "max_steps": 1, "eval_steps": 0})
    trainer = QATrainer(
        model=model,
        args=training_arguments(settings, tmp_path, generation_max_length=10),
        train_dataset=load_train_split(splits, prepared / "tokenized"),
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100),
        processing_class=tokenizer,
        callbacks=[Seen()],
    )
    trainer.train()
    assert Seen.on is True


def test_it_trains_the_same_model_up_to_rounding(prepared, uninterrupted, tmp_path):
    result = subprocess.run(
        train_command(prepared, tmp_path, settings=WITH_CHECKPOINTING), cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with_it, without = weights(tmp_path / "model"), weights(uninterrupted / "model")
    assert with_it.keys() == without.keys()
    largest = max((with_it[k] - without[k]).abs().max().item() for k in without)
    assert largest < 1e-5, largest
