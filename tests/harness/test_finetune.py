"""Model selection in fine-tuning: the test split is scored with the weights of the epoch whose
validation loss was lowest, not with the last epoch's."""

import copy

import numpy as np
import pytest
import torch
from lumamba_bench.recipes import get_recipe

from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.store import data_root
from lumamba_bench.harness import finetune
from lumamba_bench.harness.finetune import Classifier, FinetuneSettings, train_one_seed
from lumamba_bench.models import build_encoder


@pytest.fixture
def small_demo(demo_source):
    prepare(get_recipe("demo"), demo_source, data_root() / "demo")
    return data_root() / "demo"


def test_the_best_validation_epoch_is_restored_before_testing(small_demo, monkeypatch):
    splits = {s: ShardDataset(small_demo, s) for s in ("train", "val", "test")}
    scripted = iter([0.5, 0.3, 0.9, 0.8])  # validation losses: epoch 1 is the best, epoch 3 the last
    real_predict = finetune.predict

    def predict(model, dataset, *args, **kwargs):
        out = real_predict(model, dataset, *args, **kwargs)
        return out | {"loss": next(scripted)} if dataset is splits["val"] else out

    monkeypatch.setattr(finetune, "predict", predict)
    built, states = [], []

    def build():
        built.append(Classifier(build_encoder("lumamba"), 2))
        return built[-1]

    settings = FinetuneSettings(epochs=4, batch_size=16, lr=1e-3, patience=10)
    outcome = train_one_seed(
        build, splits, "binary", 2, settings, 0, torch.device("cpu"),
        on_epoch=lambda record: states.append(copy.deepcopy(built[0].state_dict())),
    )  # fmt: skip
    assert outcome.best_epoch == 1 and len(states) == 4
    model = built[0]
    weights = torch.ones(2)
    model.load_state_dict(states[1])
    best = real_predict(model, splits["test"], "binary", weights, 16, torch.device("cpu"))
    model.load_state_dict(states[3])
    last = real_predict(model, splits["test"], "binary", weights, 16, torch.device("cpu"))
    assert not np.allclose(best["probs"], last["probs"])  # the epochs differ, so the check can fail
    np.testing.assert_allclose(outcome.test["probs"], best["probs"], rtol=1e-5, atol=1e-6)
