"""Every baseline fine-tunes on the demo task from scratch; LUNA and FEMBA pre-train."""

import hashlib

import pytest

from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.checkpoints import find_pretrained
from lumamba_bench.harness.pretrain import PretrainConfig, pretrain
from lumamba_bench.harness.results import validate
from lumamba_bench.harness.run import RunConfig, run_benchmark


@pytest.mark.parametrize("model", ["luna-base-scratch", "labram-base-scratch", "femba-tiny-scratch"])
def test_scratch_baseline_runs_on_the_demo(small_demo, tmp_path, model):
    config = RunConfig(model=model, task="demo", seeds=1, epochs=1, batch_size=8, out=tmp_path / "results")
    results, _ = run_benchmark(config)
    validate(results)
    assert results["model"]["family"] == model.split("-")[0]
    assert results["summary"]["auroc"]["n"] == 1


@pytest.mark.parametrize("model", ["luna-base", "femba-tiny"])
def test_baselines_pretrain_with_their_reconstruction_objective(small_demo, tmp_path, model):
    result = pretrain(PretrainConfig(model=model, task="demo", epochs=1, batch_size=16, out=tmp_path / "run"))
    assert result.step == result.total_steps and find_pretrained(model) is not None
    assert result.history[0]["masked"] > 0
    config = RunConfig(model=model, task="demo", seeds=1, epochs=1, batch_size=8, out=tmp_path / "results")
    results, _ = run_benchmark(config)
    stored = find_pretrained(model)  # the encoder pretrain registered, hashed here
    assert results["model"]["checkpoint"]["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert results["model"]["scratch"] is False and results["model"]["checkpoint"]["pretraining"]["task"] == "demo"


def test_labram_cannot_be_pretrained_here(small_demo, tmp_path):
    with pytest.raises(LumambaError, match="VQ-tokenizer"):
        pretrain(PretrainConfig(model="labram-base", task="demo", max_steps=1, out=tmp_path / "run"))


@pytest.mark.parametrize("model", ["lumamba-mixed-scratch", "labram-base-scratch"])
def test_unseen_montage_protocol_trains_on_one_set_and_tests_on_another(small_demo, tmp_path, model):
    config = RunConfig(
        model=model,
        task="demo",
        seeds=1,
        epochs=1,
        batch_size=8,
        out=tmp_path / "results",
        test_channels="10-20-16ch",
    )
    results, _ = run_benchmark(config)
    validate(results)
    shift = results["protocol"]["montage_shift"]
    assert (shift["train_channels"], shift["test_channels"]) == ("all", "10-20-16ch")
    (montage,) = shift["montages"].values()
    assert len(montage["train"]) == 22 and len(montage["test"]) == 16
    assert set(montage["test"]) < set(montage["train"])
    assert results["summary"]["auroc"]["n"] == 1

    from lumamba_bench.leaderboard.submission import check

    check(results)  # a real unseen-montage results file passes every board rule (its own table)


def test_fixed_topology_encoder_refuses_a_montage_shift(small_demo, tmp_path):
    config = RunConfig(
        model="femba-tiny-scratch", task="demo", seeds=1, epochs=1, out=tmp_path / "r", test_channels="10-20-16ch"
    )
    with pytest.raises(LumambaError, match="fixed topology"):
        run_benchmark(config)
    # The same channel set for training and test is fine: femba is built for 16 channels.
    config = RunConfig(
        model="femba-tiny-scratch",
        task="demo",
        seeds=1,
        epochs=1,
        batch_size=8,
        out=tmp_path / "r",
        train_channels="10-20-16ch",
        test_channels="10-20-16ch",
    )
    results, _ = run_benchmark(config)
    assert results["summary"]["auroc"]["n"] == 1
