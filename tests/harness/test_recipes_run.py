"""Fine-tuning recipes through `run`: both recipes run on the demo and record every setting and
where it came from; `--protocol eval` scores a checkpoint in the authors' layout as it is."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.finetune import Classifier
from lumamba_bench.harness.finetune_recipes import build_settings
from lumamba_bench.harness.finetuned import load_classifier
from lumamba_bench.harness.results import validate
from lumamba_bench.harness.run import RunConfig, run_benchmark
from lumamba_bench.models.registry import build_for_input

_spec = importlib.util.spec_from_file_location("finetune_golden", Path(__file__).parent / "test_finetune_golden.py")
finetune_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(finetune_golden)


def _run(tmp_path, **overrides):
    config = {"model": "luna-base-scratch", "task": "demo", "seeds": 1, "epochs": 2, "batch_size": 8,
              "out": tmp_path / "results"} | overrides  # fmt: skip
    return run_benchmark(RunConfig(**config))


def test_reference_recipe_runs_the_familys_own_settings_and_records_them(small_demo, tmp_path):
    results, path = _run(tmp_path, recipe="reference")
    validate(json.loads(path.read_text()))
    protocol = results["protocol"]
    settings = protocol["hyperparameters"]
    assert protocol["recipe"] == "reference" and results["model"]["head"] == "luna-query"
    assert settings["head"] == "luna-query" and settings["loss"] == "cross-entropy"
    assert (settings["warmup_epochs"], settings["warmup_lr"], settings["min_lr"]) == (10, 2.5e-7, 2.5e-6)
    assert settings["clip_grad"] is None and settings["patience"] == 10  # the demo's budget over LUNA's 8
    assert settings["encoder_overrides"] == {"drop_path": 0.1} and settings["layer_decay_scope"] == "blocks"
    assert protocol["class_weighting"] == "none"
    assert protocol["overrides"]["task"] == {"epochs": 10, "batch_size": 16, "lr": 1e-3, "patience": 10}
    assert protocol["overrides"]["command_line"] == {"epochs": 2, "batch_size": 8}
    assert settings["epochs"] == 2 and settings["batch_size"] == 8 and settings["lr"] == 1e-3  # the order holds
    head = results["model"]["parameters"]["total"] - results["model"]["parameters"]["encoder"]
    assert head == 528_642  # LUNA's query head at width 256, two classes
    assert "auroc_logit" in results["seeds"][0]["logit_metrics"] and "auroc_logit" in results["summary_logit"]


def test_common_recipe_runs_one_setting_for_every_encoder(small_demo, tmp_path):
    results, _ = _run(tmp_path, recipe="common", settings={"warmup_epochs": 1})
    settings = results["protocol"]["hyperparameters"]
    assert results["protocol"]["recipe"] == "common" and results["model"]["head"] == "attention-pool"
    assert settings["loss"] == "weighted-cross-entropy" and settings["clip_grad"] == 1.0
    assert settings["warmup_epochs"] == 1 and results["protocol"]["overrides"]["command_line"]["warmup_epochs"] == 1
    assert results["protocol"]["class_weighting"] == "inverse class frequency on train"


def test_settings_come_from_the_recipe_then_the_task_then_the_command_line():
    class Task:
        finetune_defaults = {"all": {"epochs": 7}, "common": {"patience": 3}}

    from lumamba_bench.harness.finetune_recipes import task_overrides

    settings, record = build_settings("common", "lumamba", task_overrides(Task, "common"), {"epochs": 2})
    assert (settings.epochs, settings.patience, settings.head) == (2, 3, "attention-pool")
    assert record == {"recipe": "common", "task": {"epochs": 7, "patience": 3}, "command_line": {"epochs": 2}}
    reference, _ = build_settings("reference", "labram", task_overrides(Task, "reference"), {})
    assert (reference.epochs, reference.patience, reference.selection) == (7, None, "val_accuracy")
    with pytest.raises(LumambaError, match="no reference fine-tuning recipe for the toy family"):
        build_settings("reference", "toy", {}, {})
    with pytest.raises(LumambaError, match="unknown fine-tuning settings: warmup"):
        build_settings("common", "lumamba", {}, {"warmup": 3})
    with pytest.raises(LumambaError, match="schedule 'linear'"):
        build_settings("common", "lumamba", {}, {"schedule": "linear"})


def test_a_reference_batch_larger_than_the_training_split_is_refused(small_demo, tmp_path):
    with pytest.raises(LumambaError, match="fewer than one batch of 100000"):
        _run(tmp_path, model="lumamba-scratch", batch_size=100_000)


def _test_probabilities(classifier: Classifier, dataset_dir: Path, single_logit: bool) -> dict:
    """Each test window's positive-class probability, computed here from the loaded classifier."""
    test = ShardDataset(dataset_dir, "test")
    out = {}
    with torch.no_grad():
        for batch in batches_of(test, list(MontageBatchSampler(test, 8, shuffle=False))):
            logits = classifier.eval()(batch["signal"], batch["coords"], batch["channels"])
            positive = torch.sigmoid(logits[:, 0]) if single_logit else torch.softmax(logits, -1)[:, 1]
            for r, w, p in zip(batch["recording_id"], batch["window_index"], positive.tolist(), strict=True):
                out[(r, int(w))] = p
    return out


@pytest.mark.parametrize("case, architecture", [("lumamba:mamba", "lumamba"), ("labram-base", "labram-base")])
def test_eval_protocol_scores_an_authors_checkpoint_as_it_is(small_demo, tmp_path, case, architecture):
    checkpoint = finetune_golden.write_checkpoint(case, tmp_path)
    with pytest.warns() if architecture == "labram-base" else _nothing():  # bipolar names: placed by position
        results, path = run_benchmark(
            RunConfig(model=architecture, task="demo", protocol="eval", checkpoint=checkpoint, save_predictions=True,
                      out=tmp_path / "results")  # fmt: skip
        )
    validate(json.loads(path.read_text()))
    assert results["protocol"]["name"] == "eval" and len(results["seeds"]) == 1
    assert results["model"]["head"] == finetune_golden.CASES[case][1]
    assert results["model"]["checkpoint"]["sha256"] and results["seeds"][0]["epochs_run"] == 0
    rows = pq.read_table(path.with_suffix(".predictions.parquet")).to_pylist()
    x_shape = ShardDataset(small_demo, "test")[0]["signal"].shape
    encoder = build_for_input(architecture, x_shape[0], x_shape[1])
    with pytest.warns() if architecture == "labram-base" else _nothing():
        classifier, _, outputs, _ = load_classifier(checkpoint, encoder, None, lambda e, h, n: Classifier(e, n, h))
        expected = _test_probabilities(classifier, small_demo, single_logit=outputs == 1)
    got = {(r["recording_id"], r["window_index"]): r["probs"][1] for r in rows}
    assert set(got) == set(expected)
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), rtol=1e-5, atol=1e-7)


def test_eval_needs_a_checkpoint(small_demo, tmp_path):
    with pytest.raises(LumambaError, match="pass --checkpoint FILE"):
        run_benchmark(RunConfig(model="lumamba", task="demo", protocol="eval", out=tmp_path))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
