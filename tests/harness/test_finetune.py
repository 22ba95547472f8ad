"""Model selection in fine-tuning: the test split is scored with the weights of the epoch whose
validation loss was lowest, not with the last epoch's."""

import copy

import numpy as np
import pytest
import torch

from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.harness import finetune
from lumamba_bench.harness.finetune import Classifier, FinetuneSettings, train_one_seed
from lumamba_bench.models import build_encoder


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


def test_class_weights_are_sklearns_balanced_weights_and_multilabel_pos_weight():
    from sklearn.utils.class_weight import compute_class_weight

    from lumamba_bench.harness.finetune import class_weights

    labels = np.array([0, 0, 0, 1, 2, 2, 0, 1, 0, 0])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose(class_weights("multiclass", labels, 3).numpy(), expected, rtol=1e-6)
    multilabel = np.array([[1, 0], [1, 1], [0, 0], [0, 0]])
    np.testing.assert_allclose(class_weights("multilabel", multilabel, 2).numpy(), [2 / 2, 3 / 1])


def test_layer_wise_decay_by_hand_and_linear_probe_freezes_the_encoder():
    from lumamba_bench.harness.finetune import param_groups

    model = Classifier(build_encoder("lumamba"), 2)
    groups = param_groups(model, FinetuneSettings(lr=1e-3, layer_decay=0.5))
    # head, then front end, block 0, block 1, final norm (none in LuMamba): 1e-3 * 0.5^(4 - i)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-3 / 16, 1e-3 / 8, 1e-3 / 4, 1e-3 / 2])
    assert groups[1]["params"][0] is next(model.encoder.front_end.parameters())
    probe = Classifier(build_encoder("lumamba"), 2)
    linear = param_groups(probe, FinetuneSettings(protocol="linear"))
    assert len(linear) == 1 and {id(p) for p in linear[0]["params"]} == {id(p) for p in probe.head.parameters()}
    assert not any(p.requires_grad for p in probe.encoder.parameters())  # only the head is optimised


def test_training_stops_after_patience_epochs_without_improvement(small_demo, monkeypatch):
    splits = {s: ShardDataset(small_demo, s) for s in ("train", "val", "test")}
    scripted = iter([0.5, 0.4, 0.6, 0.7, 0.8, 0.9])
    real_predict = finetune.predict

    def predict(model, dataset, *args, **kwargs):
        out = real_predict(model, dataset, *args, **kwargs)
        return out | {"loss": next(scripted)} if dataset is splits["val"] else out

    monkeypatch.setattr(finetune, "predict", predict)
    settings = FinetuneSettings(epochs=6, batch_size=16, lr=1e-3, patience=2, protocol="linear")
    outcome = train_one_seed(
        lambda: Classifier(build_encoder("lumamba"), 2), splits, "binary", 2, settings, 0, torch.device("cpu")
    )
    assert outcome.best_epoch == 1 and [r["epoch"] for r in outcome.log] == [0, 1, 2, 3]


def test_fine_tuning_learning_rate_follows_a_cosine_from_each_groups_base(small_demo, monkeypatch):
    """lr at step s of S: base x (1 + cos(pi s / S)) / 2, for every parameter group."""
    import math

    splits = {s: ShardDataset(small_demo, s) for s in ("train", "val", "test")}
    seen: list[list[float]] = []
    real_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        seen.append([g["lr"] for g in self.param_groups])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    settings = FinetuneSettings(epochs=2, batch_size=16, lr=1e-3, layer_decay=0.5)
    build = lambda: Classifier(build_encoder("lumamba"), 2)  # noqa: E731
    train_one_seed(build, splits, "binary", 2, settings, 0, torch.device("cpu"))
    total = len(seen)
    bases = [1e-3, 1e-3 / 16, 1e-3 / 8, 1e-3 / 4, 1e-3 / 2]
    for s, lrs in enumerate(seen):
        scale = 0.5 * (1 + math.cos(math.pi * s / total))
        assert lrs == pytest.approx([b * scale for b in bases])
