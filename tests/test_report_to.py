"""train.report_to: TensorBoard by default; W&B and MLflow through their integrations; a missing package is one line."""

import importlib.util

import pytest

from t5qa.errors import InputError
from t5qa.model.checkpoints import OPERATIONAL_SETTINGS
from t5qa.model.train import training_arguments
from t5qa.settings import TrainSettings


def test_tensorboard_is_the_default_and_goes_through_our_own_events_writer(tmp_path):
    settings = TrainSettings.from_dict({})
    assert settings.report_to == ["tensorboard"]
    assert training_arguments(settings, tmp_path, 8).report_to == []  # none of the Trainer's integrations


@pytest.mark.parametrize("tracker", ["wandb", "mlflow"])
def test_a_tracker_goes_to_the_trainer_or_says_which_package_is_missing(tmp_path, tracker):
    settings = TrainSettings.from_dict({"report_to": ["tensorboard", tracker]})
    if importlib.util.find_spec(tracker) is None:
        with pytest.raises(InputError, match=rf"train.report_to: {tracker} needs the {tracker} package"):
            training_arguments(settings, tmp_path, 8)
    else:
        assert training_arguments(settings, tmp_path, 8).report_to == [tracker]


def test_unknown_trackers_are_refused_and_the_choice_never_invalidates_a_checkpoint():
    with pytest.raises(InputError, match="report_to"):
        TrainSettings.from_dict({"report_to": ["comet"]})
    assert "report_to" in OPERATIONAL_SETTINGS
