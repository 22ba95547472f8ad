"""The fine-tuning loop: model selection (the test split is scored with the weights of the epoch
whose validation loss was lowest, not with the last epoch's), patience, layer-wise decay, the
schedule the optimiser sees, and micro-batches that add up to the whole batch."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.harness import finetune
from lumamba_bench.harness.finetune import Classifier, FinetuneLoss, FinetuneSettings, train_one_seed
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
    loss = FinetuneLoss("binary")
    model.load_state_dict(states[1])
    best = real_predict(model, splits["test"], loss, 16, torch.device("cpu"))
    model.load_state_dict(states[3])
    last = real_predict(model, splits["test"], loss, 16, torch.device("cpu"))
    assert not np.allclose(best["probs"], last["probs"])  # the epochs differ, so the check can fail
    np.testing.assert_allclose(outcome.test["probs"], best["probs"], rtol=1e-5, atol=1e-6)


def test_a_recipe_selects_the_epoch_by_any_registered_metric_in_its_direction(small_demo, monkeypatch):
    """``selection="val_<metric>"``: the registry entry gives the value and its direction. A
    lower-is-better toy metric, scripted per epoch, picks the epoch with its lowest value, and the
    results file's protocol says so; a metric of another task type is refused."""
    from lumamba_bench.errors import LumambaError
    from lumamba_bench.harness import metrics as registry
    from lumamba_bench.harness.finetune_recipes import check
    from lumamba_bench.harness.records import protocol_record

    splits = {s: ShardDataset(small_demo, s) for s in ("train", "val", "test")}
    scripted = iter([4.0, 2.0, 1.0, 3.0])  # epoch 2 has the lowest value; its val loss is not the lowest
    toy = registry.Metric("toy_cost", ("binary",), lambda labels, probs: next(scripted), high=10.0,
                          higher_is_better=False, required_from=None)  # fmt: skip
    registry.register_metric(toy)
    try:
        settings = FinetuneSettings(epochs=4, batch_size=16, lr=1e-3, patience=None, selection="val_toy_cost")
        check(settings)
        outcome = train_one_seed(lambda: Classifier(build_encoder("lumamba"), 2), splits, "binary", 2, settings, 0,
                                 torch.device("cpu"))  # fmt: skip
        assert [r["val_toy_cost"] for r in outcome.log] == [4.0, 2.0, 1.0, 3.0] and outcome.best_epoch == 2
        overrides = {"task": {}, "command_line": {}}
        assert protocol_record(settings, overrides, 1, None)["selection"] == "lowest validation toy_cost"
        with pytest.raises(LumambaError, match="selection 'val_auroc_pooled' is not one of"):
            train_one_seed(lambda: Classifier(build_encoder("lumamba"), 2), splits, "binary", 2,
                           replace(settings, selection="val_auroc_pooled"), 0, torch.device("cpu"))  # fmt: skip
    finally:
        registry.METRICS.pop("toy_cost")
    with pytest.raises(LumambaError, match="selection 'val_toy_cost' is not one of val_loss, val_accuracy"):
        check(settings)


def test_class_weights_are_sklearns_balanced_weights_and_multilabel_pos_weight():
    from sklearn.utils.class_weight import compute_class_weight

    from lumamba_bench.harness.finetune_loss import class_weights

    labels = np.array([0, 0, 0, 1, 2, 2, 0, 1, 0, 0])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose(class_weights("multiclass", labels, 3).numpy(), expected, rtol=1e-6)
    multilabel = np.array([[1, 0], [1, 1], [0, 0], [0, 0]])
    np.testing.assert_allclose(class_weights("multilabel", multilabel, 2).numpy(), [2 / 2, 3 / 1])


def test_layer_wise_decay_by_hand_and_linear_probe_freezes_the_encoder():
    """The authors' scope: only the temporal blocks decay (block i of n at decay^(n - i)); the
    front end and the head keep the full rate."""
    from lumamba_bench.harness.finetune import param_groups

    model = Classifier(build_encoder("lumamba"), 2, "mamba")
    groups = param_groups(model, FinetuneSettings(lr=1e-3, layer_decay=0.5))
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert rate[id(model.encoder.blocks[0].norm.weight)] == pytest.approx(1e-3 * 0.25)
    assert rate[id(model.encoder.blocks[1].mixer.forward_mamba.A_log)] == pytest.approx(1e-3 * 0.5)
    assert all(rate[id(p)] == pytest.approx(1e-3) for p in model.encoder.front_end.parameters())
    assert all(rate[id(p)] == pytest.approx(1e-3) for p in model.head.parameters())
    probe = Classifier(build_encoder("lumamba"), 2)
    linear = param_groups(probe, FinetuneSettings(protocol="linear"))
    assert {id(p) for g in linear for p in g["params"]} == {id(p) for p in probe.head.parameters()}
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


def test_the_optimiser_sees_timms_warmup_and_cosine_at_every_step(small_demo, monkeypatch):
    """At step s of S with W warm-up steps: warmup_lr + s (base - warmup_lr) / W, then
    min_lr + (base - min_lr)(1 + cos(pi s / S)) / 2 (timm does not shift the cosine), per group."""
    import math

    splits = {s: ShardDataset(small_demo, s) for s in ("train", "val", "test")}
    seen: list[list[float]] = []
    real_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        seen.append([g["lr"] for g in self.param_groups])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    settings = FinetuneSettings(epochs=3, batch_size=16, lr=1e-3, layer_decay=0.5, warmup_epochs=1, warmup_lr=1e-5,
                                min_lr=1e-6, head="mamba")  # fmt: skip
    model = {}

    def build():
        model["built"] = Classifier(build_encoder("lumamba"), 2, "mamba")
        return model["built"]

    train_one_seed(build, splits, "binary", 2, settings, 0, torch.device("cpu"))
    total, warmup = len(seen), len(seen) // 3
    bases = sorted({1e-3, 1e-3 * 0.25, 1e-3 * 0.5})
    for s, lrs in enumerate(seen):
        if s < warmup:
            expected = [1e-5 + s * (b - 1e-5) / warmup for b in bases]
        else:
            expected = [1e-6 + (b - 1e-6) * 0.5 * (1 + math.cos(math.pi * s / total)) for b in bases]
        assert sorted(lrs) == pytest.approx(expected, rel=1e-9)


def test_micro_batches_give_the_whole_batchs_gradient(small_demo):
    """Gradient accumulation over micro-batches equals one step on the whole batch (dropout off,
    heads without batch statistics), for the plain and the class-weighted loss."""
    from lumamba_bench.data.loader import collate
    from lumamba_bench.harness.finetune import _train_epoch, make_loss, param_groups

    train = ShardDataset(small_demo, "train")
    batch = collate([train[i] for i in range(12)])
    for loss_name in ("cross-entropy", "weighted-cross-entropy"):
        grads = []
        for micro in (None, 5):
            torch.manual_seed(0)
            model = Classifier(build_encoder("lumamba", dropout=0.0), 2, "mamba").eval()
            settings = FinetuneSettings(micro_batch=micro, loss=loss_name, clip_grad=None, epochs=1)
            loss = make_loss(settings, "binary", train.labels(), 2)
            optimizer = torch.optim.SGD(param_groups(model, settings), lr=0.0)
            _train_epoch(model, optimizer, [batch], 0, {"total": 1, "warmup": 0}, settings, loss, torch.device("cpu"))
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7), loss_name
        assert grads[0].abs().sum() > 0


def test_a_multioutput_loss_is_one_cross_entropy_per_channel():
    """TUAR MMC: (B, channels x classes) logits are a softmax per channel; the loss is the mean
    cross-entropy over every (window, channel), and micro-batches add up to it."""
    torch.manual_seed(0)
    logits = torch.randn(6, 4 * 3)
    labels = torch.randint(0, 3, (6, 4))
    loss = FinetuneLoss("multioutput", channels=4)
    expected = torch.nn.functional.cross_entropy(logits.view(6, 4, 3).permute(0, 2, 1), labels)
    assert loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    parts = loss.total(logits[:2], labels[:2]) + loss.total(logits[2:], labels[2:])
    assert (parts / loss.normaliser(labels, 12)).item() == pytest.approx(expected.item(), rel=1e-6)
    probs = loss.probabilities(logits).view(6, 4, 3)
    torch.testing.assert_close(probs, torch.softmax(logits.view(6, 4, 3), dim=-1))
