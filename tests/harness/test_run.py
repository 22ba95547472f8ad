import hashlib
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from corpora import tuh_signals, write_tuh_edf

from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.store import data_root
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.metrics import compute_metrics
from lumamba_bench.harness.pretrain import PretrainConfig, pretrain
from lumamba_bench.harness.results import validate
from lumamba_bench.harness.run import RunConfig, run_benchmark


def _run(tmp_path, **overrides):
    config = RunConfig(
        **(
            {
                "model": "lumamba-mixed-scratch",
                "task": "demo",
                "seeds": 1,
                "epochs": 1,
                "batch_size": 8,
                "out": tmp_path / "results",
            }
            | overrides
        )
    )
    return run_benchmark(config)


def test_scratch_run_writes_a_valid_results_file(small_demo, tmp_path):
    results, path = _run(tmp_path, seeds=2)
    assert path.parent == tmp_path / "results" / "demo" / "lumamba-mixed-scratch"
    on_disk = json.loads(path.read_text())
    validate(on_disk)
    assert on_disk["model"]["scratch"] is True and on_disk["model"]["checkpoint"] is None
    assert on_disk["model"]["input_normalisation"] == "channelwise-zscore"
    assert on_disk["model"]["parameters"]["encoder"] == pytest.approx(4.1e6, rel=0.05)
    assert on_disk["task"]["type"] == "binary" and len(on_disk["task"]["manifest_sha256"]) == 64
    aurocs = [s["metrics"]["auroc"] for s in on_disk["seeds"]]
    assert all(0.0 <= a <= 1.0 for a in aurocs)
    assert on_disk["summary"]["auroc"]["mean"] == pytest.approx(np.mean(aurocs))
    assert on_disk["summary"]["auroc"]["std"] == pytest.approx(np.std(aurocs, ddof=1))
    assert "recording_metrics" in on_disk["seeds"][0]
    assert on_disk["environment"]["torch"] == torch.__version__


def test_same_seed_gives_identical_metrics(small_demo, tmp_path):
    first, _ = _run(tmp_path / "a")
    second, _ = _run(tmp_path / "b")
    assert first["seeds"][0]["metrics"] == second["seeds"][0]["metrics"]
    assert first["seeds"][0]["log"] == second["seeds"][0]["log"]


def test_predictions_recompute_every_metric(small_demo, tmp_path):
    results, path = _run(tmp_path, save_predictions=True, protocol="linear")
    table = pq.read_table(path.with_suffix(".predictions.parquet")).to_pydict()
    labels, probs = np.array(table["label"]), np.array(table["probs"])
    recomputed = compute_metrics("binary", labels, probs)["metrics"]
    for name, value in results["seeds"][0]["metrics"].items():
        assert recomputed[name] == pytest.approx(value)
    assert set(table["recording_id"]) and set(table["seed"]) == {0}


def test_pretrained_name_without_weights_says_how_to_get_them(small_demo, tmp_path):
    with pytest.raises(LumambaError, match="lumamba-bench pretrain --model lumamba-mixed.*lumamba-mixed-scratch"):
        _run(tmp_path, model="lumamba-mixed")


def test_bad_checkpoints_and_unknown_names_are_clear_errors(small_demo, tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(LumambaError, match="not a readable safetensors"):
        _run(tmp_path, model="lumamba-mixed", checkpoint=corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(4, 4)}, foreign)
    with pytest.raises(LumambaError, match="does not match this architecture"):
        _run(tmp_path, model="lumamba-mixed", checkpoint=foreign)
    with pytest.raises(LumambaError, match="unknown model 'gpt-2'; known models"):
        _run(tmp_path, model="gpt-2")
    with pytest.raises(LumambaError, match="unknown recipe 'mnist'; known recipes"):
        _run(tmp_path, task="mnist")
    with pytest.raises(LumambaError, match=r"tuab is not prepared.*prepare tuab"):
        _run(tmp_path, task="tuab")


def test_pretrain_then_run_uses_the_stored_checkpoint(small_demo, tmp_path):
    trained = pretrain(PretrainConfig(model="lumamba-recon", task="demo", epochs=1, batch_size=8, out=tmp_path / "pre"))
    results, _ = _run(tmp_path, model="lumamba-recon")
    card = json.loads((trained.registered.parent / "card.json").read_text())
    assert results["model"]["checkpoint"]["sha256"] == card["encoder_sha256"]
    assert results["model"]["objective"] == "recon" and results["model"]["scratch"] is False


def test_single_class_or_empty_test_split_reports_null_with_reason(tmp_path):
    source = tmp_path / "src"
    for i, (split, label) in enumerate(
        [
            ("train", "normal"),
            ("train", "abnormal"),
            ("train", "normal"),
            ("train", "abnormal"),
            ("train", "normal"),
            ("train", "abnormal"),
            ("eval", "normal"),
        ]
    ):
        write_tuh_edf(source / f"edf/{split}/{label}/01_tcp_ar/s{i:07d}_s001_t000.edf", tuh_signals(15, 250, i), 250)
    recipe = get_recipe("tuab")
    splits = tmp_path / "splits.csv"  # fixed: both classes in train and in val, one class in test
    splits.write_text("subject_id,split\n" + "".join(
        f"s{i:07d},{'val' if i in (4, 5) else 'test' if i == 6 else 'train'}\n" for i in range(7)))  # fmt: skip
    manifest = prepare(recipe, source, data_root() / "tuab", allow_partial=True, split_file=splits).manifest
    assert manifest["splits"]["val"]["windows"] > 0 and manifest["splits"]["test"]["recordings"] == 1
    results, _ = _run(tmp_path, task="tuab")
    assert results["seeds"][0]["metrics"]["auroc"] is None
    assert "only one class" in results["seeds"][0]["undefined"]["auroc"]
    assert results["summary"]["auroc"] == {"mean": None, "std": None, "n": 0}

    shutil.rmtree(source / "edf/eval")
    splits.write_text("".join(splits.read_text().splitlines(keepends=True)[:-1]))  # the test subject is gone
    prepare(recipe, source, data_root() / "tuab", force=True, allow_partial=True, split_file=splits)
    results, _ = _run(tmp_path, task="tuab")
    assert results["seeds"][0]["undefined"]["auroc"] == "the test split is empty"


def test_nan_loss_stops_with_the_step(small_demo, tmp_path, monkeypatch):
    import lumamba_bench.harness.finetune as finetune

    real_total, calls = finetune.FinetuneLoss.total, []

    def total_turning_nan(self, *args):
        calls.append(1)
        loss = real_total(self, *args)
        return loss * float("nan") if len(calls) > 20 else loss  # diverges in the second epoch

    monkeypatch.setattr(finetune.FinetuneLoss, "total", total_turning_nan)
    with pytest.raises(LumambaError, match=r"loss became nan at epoch 1, step \d+ \(seed 0\).*partial"):
        _run(tmp_path, epochs=3, batch_size=4)
    partial = json.loads(next((tmp_path / "results").rglob("*.partial.json")).read_text())
    assert partial["status"] == "diverged" and [e["epoch"] for e in partial["failed_seed"]["log"]] == [0]


def test_run_under_torchrun_writes_one_results_file(small_demo, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, LUMAMBA_BENCH_DATA=str(data_root()))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "lumamba_bench",
        "run",
        "--model",
        "lumamba-mixed-scratch",
        "--task",
        "demo",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(tmp_path / "results"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    files = list((tmp_path / "results").rglob("*.json"))
    assert len(files) == 1
    results = json.loads(files[0].read_text())
    assert results["environment"]["world_size"] == 2
    test_windows = results["task"]["windows"]["test"]
    assert results["seeds"][0]["metrics"]["auroc"] is not None and test_windows > 0
    # Against the same run in one process: the same settings, and every test window scored
    # exactly once with its label (a distributed sampler pads ranks with repeated windows).
    single, single_path = _run(tmp_path / "single", batch_size=4)
    assert results["protocol"]["hyperparameters"] == single["protocol"]["hyperparameters"]

    def scored(path):
        table = pq.read_table(path.with_suffix(".predictions.parquet")).to_pylist()
        return sorted((r["recording_id"], r["window_index"], r["label"]) for r in table)

    assert scored(files[0]) == scored(single_path) and len(scored(single_path)) == test_windows


def test_a_run_of_three_seeds_loads_its_checkpoint_exactly_three_times(small_demo, tmp_path, monkeypatch):
    """Resolving a model reads no weights into a model; each seed's encoder loads them once."""
    from safetensors.torch import save_file

    from lumamba_bench.harness import resolve
    from lumamba_bench.models.registry import build_encoder

    torch.manual_seed(0)
    weights = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in build_encoder("lumamba").state_dict().items()}, str(weights))
    loads = []
    real = resolve.load_encoder_weights
    monkeypatch.setattr(resolve, "load_encoder_weights", lambda *a, **k: loads.append(1) or real(*a, **k))
    results, _ = _run(tmp_path, model="lumamba", checkpoint=weights, seeds=3)
    assert len(loads) == 3 and len(results["seeds"]) == 3
    assert results["model"]["checkpoint"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
