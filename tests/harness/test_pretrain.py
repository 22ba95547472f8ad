import json
import os
import subprocess
import sys

import pytest
import torch
from pretraining import small_config
from spawned import spawn_ranks

from lumamba_bench.data.store import data_root
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.checkpoints import find_pretrained, load_encoder_weights
from lumamba_bench.harness.optim import warmup_cosine as lr_at
from lumamba_bench.harness.pretrain import PretrainConfig, pretrain
from lumamba_bench.leaderboard.cards import read_card, write_pretraining_card
from lumamba_bench.models import build_encoder


def test_schedule_warms_up_then_decays():
    lrs = [lr_at(s, 100, 10, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False)) and lrs[-1] < 0.01


@pytest.mark.parametrize("model", ["lumamba-recon", "lumamba-lejepa", "lumamba-mixed"])
def test_pretrain_writes_checkpoints_and_registers_a_loadable_encoder(small_demo, tmp_path, model):
    result = pretrain(small_config(tmp_path, model=model, epochs=1, batch_size=8))
    assert result.step == result.total_steps > 0
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)
    card = json.loads((result.registered.parent / "card.json").read_text())
    assert card["model"] == model and card["step"] == result.total_steps
    assert card["input_normalisation"] == "channelwise-zscore"
    assert card["manifest_sha256"] and len(card["encoder_sha256"]) == 64
    assert find_pretrained(model) == result.registered
    encoder = build_encoder(model)
    sha = load_encoder_weights(encoder, result.registered)
    assert sha == card["encoder_sha256"]
    model_card = read_card(write_pretraining_card(result.registered))  # what `lumamba-bench pretrain` writes
    assert model_card["name"] == model and model_card["weights"]["sha256"] == sha
    assert model_card["pretraining"]["corpora"] == ["demo"] == model_card["pretraining"]["test_subjects_excluded_for"]


def test_a_named_encoder_is_registered_and_run_under_its_own_name(small_demo, tmp_path):
    from lumamba_bench.harness.resolve import resolve_model

    result = pretrain(small_config(tmp_path, model="lumamba-mixed", name="lumamba-mixed-demo", epochs=1, batch_size=8))
    assert find_pretrained("lumamba-mixed-demo") == result.registered and find_pretrained("lumamba-mixed") is None
    model_card = read_card(write_pretraining_card(result.registered))
    assert model_card["name"] == "lumamba-mixed-demo"  # never the published lumamba-mixed's card
    resolved = resolve_model("lumamba-mixed-demo", None, None)
    assert (resolved.name, resolved.architecture, resolved.objective) == ("lumamba-mixed-demo", "lumamba", "mixed")
    assert resolved.weights == result.registered
    with pytest.raises(LumambaError, match="unknown model 'lumamba-other'"):
        resolve_model("lumamba-other", None, None)
    for bad, reason in (("luna-base", "registered model name"), ("Demo/x", "lower-case"), ("x-scratch", "scratch")):
        with pytest.raises(LumambaError, match=reason):
            pretrain(small_config(tmp_path / bad.replace("/", "_"), model="lumamba-mixed", name=bad))


def test_resume_continues_bit_for_bit(small_demo, tmp_path):
    whole = pretrain(small_config(tmp_path / "a", model="lumamba-mixed", epochs=2, checkpoint_every=3))
    first = pretrain(small_config(tmp_path / "b", model="lumamba-mixed", epochs=2, checkpoint_every=3, max_steps=5))
    assert first.step == 5 and first.registered is None
    resumed = pretrain(small_config(tmp_path / "b", model="lumamba-mixed", epochs=2, checkpoint_every=3, resume=True))
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]
    assert resumed.step == whole.step


def test_resume_without_checkpoint_and_bad_names_are_clear_errors(small_demo, tmp_path):
    with pytest.raises(LumambaError, match="no checkpoint"):
        pretrain(small_config(tmp_path, resume=True))
    with pytest.raises(LumambaError, match="with an objective"):
        pretrain(small_config(tmp_path, model="lumamba-mixed-scratch"))


def test_corrupt_or_mismatched_checkpoints_are_refused(tmp_path):
    encoder = build_encoder("lumamba")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(LumambaError, match="not a readable safetensors"):
        load_encoder_weights(encoder, bad)
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(LumambaError, match="does not match this architecture"):
        load_encoder_weights(encoder, other)
    small = build_encoder("lumamba", embed_dim=32)
    torch.save(small.state_dict(), tmp_path / "small.pt")
    with pytest.raises(LumambaError, match="shape"):
        load_encoder_weights(encoder, tmp_path / "small.pt")


def _ddp_worker(rank, world, port, root, out, results):
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        LUMAMBA_BENCH_DATA=str(root),
    )
    import lumamba_bench.harness.pretrain as module
    import lumamba_bench.objectives.lejepa as lejepa

    writes, directions = [], []
    real_save, real_dirs = module.save_training_checkpoint, lejepa.slice_directions
    module.save_training_checkpoint = lambda *a, **k: (writes.append(rank), real_save(*a, **k))
    lejepa.slice_directions = lambda *a, **k: directions.append(real_dirs(*a, **k)) or directions[-1]
    result = pretrain(
        PretrainConfig(
            model="lumamba-mixed",
            epochs=1,
            batch_size=4,
            num_slices=16,
            out=out,
            checkpoint_every=2,
            max_steps=2,
            register=False,
        )
    )
    checksum = sum(p.detach().double().square().sum().item() for p in result.objective.parameters())
    results.put(
        {
            "rank": rank,
            "writes": writes,
            "directions": [d.sum().item() for d in directions],
            "losses": [r["loss"] for r in result.history],
            "checksum": checksum,
        }
    )
    from torch import distributed

    assert not distributed.is_initialized()  # pretrain ended its process group


def test_ddp_two_processes_share_directions_average_gradients_and_only_rank0_writes(small_demo, tmp_path):
    outcome = spawn_ranks(_ddp_worker, 2, data_root(), tmp_path / "run", timeout=300)
    assert outcome[0]["directions"] == outcome[1]["directions"] != []
    assert outcome[0]["writes"] and not outcome[1]["writes"]
    assert outcome[0]["losses"] == outcome[1]["losses"]  # logged losses are averaged over ranks
    assert outcome[0]["checksum"] == outcome[1]["checksum"]  # same update on both: gradients averaged
    card = json.loads((tmp_path / "run" / "step-0000002" / "card.json").read_text())
    assert card["world_size"] == 2


def test_torchrun_runs_the_same_command(small_demo, tmp_path):
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
        "pretrain",
        "--model",
        "lumamba-recon",
        "--task",
        "demo",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--max-steps",
        "2",
        "--out",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((tmp_path / "run" / "step-0000002" / "card.json").read_text())
    assert card["world_size"] == 2 and card["step"] == 2


def test_presets_set_the_objective_and_the_card_records_every_setting(small_demo, tmp_path):
    reference = pretrain(small_config(tmp_path / "r", model="lumamba-mixed", num_slices=None, max_steps=1))
    paper = pretrain(
        small_config(tmp_path / "p", model="lumamba-mixed", num_slices=None, preset="paper-text", max_steps=1)
    )
    cards = [json.loads((r.run_dir / "step-0000001" / "card.json").read_text()) for r in (reference, paper)]
    ref_settings, paper_settings = (c["objective_settings"] for c in cards)
    assert ref_settings["reconstruction"]["mask_ratio"] == 0.5 and ref_settings["lejepa"]["num_slices"] == 128
    assert paper_settings["reconstruction"]["mask_ratio"] == 0.6 and paper_settings["lejepa"]["num_slices"] == 300
    assert ref_settings["reconstruction"]["visible_weight"] == 0.05 and ref_settings["lejepa_weight"] == 0.05
    with pytest.raises(LumambaError, match="unknown preset"):
        pretrain(small_config(tmp_path / "x", preset="paper"))


def test_loader_workers_change_nothing_but_speed(small_demo, tmp_path):
    """Batches decoded in 2 worker processes arrive in the same order: the same losses, bit for bit."""
    inline = pretrain(small_config(tmp_path / "a", model="lumamba-mixed", max_steps=4))
    workers = pretrain(small_config(tmp_path / "b", model="lumamba-mixed", max_steps=4, workers=2))
    assert [r["loss"] for r in workers.history] == [r["loss"] for r in inline.history]


def test_losses_read_back_every_few_steps_are_the_losses_of_every_step(small_demo, tmp_path):
    """Values stay on the device between flushes: reading them every 5 steps logs the same
    history (every step, in order) as reading them after each step."""
    every = pretrain(small_config(tmp_path / "a", max_steps=5, checkpoint_every=50, log_every=1))
    batched = pretrain(small_config(tmp_path / "b", max_steps=5, checkpoint_every=50, log_every=5))
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in every.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in batched.history]
    assert [r["step"] for r in batched.history] == [0, 1, 2, 3, 4]


def test_step_seeds_never_collide_across_seeds_steps_and_ranks():
    from lumamba_bench.harness.pretrain import step_seed_of

    seeds = {step_seed_of(seed, step, rank) for seed in range(3) for step in range(5000) for rank in range(4)}
    assert len(seeds) == 3 * 5000 * 4
    assert step_seed_of(0, 9901, 2) != step_seed_of(1, 0, 0)  # the affine mix used before made these equal
    assert step_seed_of(0, 5, 1) == step_seed_of(0, 5, 1)


def test_a_checkpoint_card_that_calls_the_task_corpus_still_resumes_and_reads():
    """Cards written before the recipe was called `task` everywhere name it `corpus`."""
    from lumamba_bench.harness.checkpoints import pretraining_task
    from lumamba_bench.harness.pretrain import changed_settings

    config = PretrainConfig(task="demo")
    settings = {k: v for k, v in vars(config).items() if k != "task"} | {"corpus": "demo"}
    old = {"corpus": "demo", "hyperparameters": settings}
    assert changed_settings(old, config, "x") == [] and pretraining_task(old) == "demo"
    assert changed_settings(old, PretrainConfig(task="tuab"), "x") == ["task: demo -> tuab"]
