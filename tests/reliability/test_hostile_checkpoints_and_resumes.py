"""Checkpoints and resumes that would train on silently wrong weights or settings: weights of
the wrong kind or value, a cut card, a hostile optimizer file, a resume with other settings, a
diverging run, an output folder that cannot take the results."""

import json

import pytest
import torch
from pretraining import small_config
from safetensors.torch import save_file

from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.checkpoints import latest_checkpoint, load_encoder_weights
from lumamba_bench.harness.pretrain import pretrain
from lumamba_bench.models import build_encoder


def _weights_with(tmp_path, change) -> tuple:
    encoder = build_encoder("lumamba")
    tensors = {k: v.detach().clone().contiguous() for k, v in encoder.state_dict().items()}
    name = next(k for k, v in tensors.items() if v.is_floating_point() and v.ndim == 2)
    tensors[name] = change(tensors[name])
    path = tmp_path / "w.safetensors"
    save_file(tensors, path)
    return encoder, path, name


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.to(torch.int32), "is int32, not floating point"),
        (lambda t: t.to(torch.uint8), "is uint8, not floating point"),
        (lambda t: t > 0, "is bool, not floating point"),
        (lambda t: t.index_fill(0, torch.tensor([0]), float("nan")), "NaN or infinite values"),
        (lambda t: t.index_fill(0, torch.tensor([1]), float("inf")), "NaN or infinite values"),
    ],
)
def test_weights_of_the_wrong_kind_or_value_are_refused_naming_the_tensor(tmp_path, change, message):
    encoder, path, name = _weights_with(tmp_path, change)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    with pytest.raises(LumambaError, match=f"{name} .*{message}.*nothing was loaded"):
        load_encoder_weights(encoder, path)
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


def test_narrower_precision_is_a_noted_cast(tmp_path):
    encoder, path, _ = _weights_with(tmp_path, lambda t: t.to(torch.float64))
    with pytest.warns(UserWarning, match="cast to the model's narrower precision"):
        load_encoder_weights(encoder, path)


def test_a_resume_with_other_settings_is_refused_naming_them_unless_asked(small_demo, tmp_path):
    pretrain(small_config(tmp_path, epochs=2, max_steps=3))
    with pytest.raises(LumambaError, match=r"other settings \(batch_size: 4 -> 8; epochs: 2 -> 3; lr: 0.0005 -> 0.001"):
        pretrain(small_config(tmp_path, epochs=3, batch_size=8, lr=1e-3, resume=True))
    resumed = pretrain(small_config(tmp_path, epochs=3, lr=1e-3, resume_with_changes=True))
    card = json.loads((latest_checkpoint(tmp_path / "run") / "card.json").read_text())
    assert card["resumed_with_changes"] == [{"step": 3, "changes": ["epochs: 2 -> 3", "lr: 0.0005 -> 0.001"]}]
    assert card["hyperparameters"]["epochs"] == 3 and resumed.step == resumed.total_steps


def test_a_cut_card_and_a_hostile_optimizer_file_are_one_line(small_demo, tmp_path):
    pretrain(small_config(tmp_path, epochs=2, max_steps=2))
    folder = latest_checkpoint(tmp_path / "run")
    good_card = (folder / "card.json").read_bytes()
    (folder / "card.json").write_bytes(good_card[: len(good_card) // 2])
    with pytest.raises(LumambaError, match="card.json is not a readable card"):
        pretrain(small_config(tmp_path, epochs=2, resume=True))
    (folder / "card.json").write_bytes(good_card)

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"state": Payload()}, folder / "optimizer.pt")
    with pytest.raises(LumambaError, match="optimizer.pt is not a readable optimizer state"):
        pretrain(small_config(tmp_path, epochs=2, resume=True))


@pytest.mark.parametrize("log_every", [1, 10])
def test_a_diverging_run_keeps_the_last_finite_checkpoint(small_demo, tmp_path, monkeypatch, log_every):
    """The loss turns NaN at step 3: the step-2 checkpoint stays the latest, nothing is saved after,
    whether the losses are read back after every step or checked in a batch before the next save."""
    from lumamba_bench.objectives.reconstruction import ReconstructionObjective

    real_forward = ReconstructionObjective.forward

    def forward(self, *args, step=0, **kwargs):
        parts = real_forward(self, *args, step=step, **kwargs)
        if step >= 3:
            parts["loss"] = parts["loss"] * float("nan")
        return parts

    monkeypatch.setattr(ReconstructionObjective, "forward", forward)
    with pytest.raises(LumambaError, match=r"loss became nan at step 3; the last good checkpoint is .*step-0000002"):
        pretrain(small_config(tmp_path, epochs=3, log_every=log_every))
    kept = latest_checkpoint(tmp_path / "run")
    assert kept.name == "step-0000002"
    from safetensors.torch import load_file

    assert all(torch.isfinite(t).all() for t in load_file(kept / "weights.safetensors").values())


@pytest.mark.parametrize("command", ["pretrain", "run"])
def test_an_output_path_that_cannot_hold_results_is_refused_before_any_work(tmp_path, command, monkeypatch):
    from lumamba_bench.harness.run import RunConfig, run_benchmark

    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    started = []
    for user in ("lumamba_bench.harness.run", "lumamba_bench.harness.pretrain"):  # where it is called from
        monkeypatch.setattr(f"{user}.ensure_prepared", lambda *a, **k: started.append(1))
    with pytest.raises(LumambaError, match=f"--out {blocker}.* cannot hold results"):
        if command == "pretrain":
            pretrain(small_config(tmp_path, out=blocker))
        else:
            run_benchmark(RunConfig(model="lumamba-scratch", task="demo", out=blocker))
    assert started == []


def test_a_checkpoint_written_on_a_gpu_resumes_on_a_cpu(small_demo, tmp_path, monkeypatch):
    """The optimizer state is re-saved with every storage tagged cuda:0, as a GPU run writes it;
    resuming on this CPU-only machine must map it to the CPU (without map_location torch refuses:
    'Attempting to deserialize object on a CUDA device')."""
    import torch.serialization

    pretrain(small_config(tmp_path, epochs=2, max_steps=2))
    folder = latest_checkpoint(tmp_path / "run")
    state = torch.load(folder / "optimizer.pt", weights_only=True)
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(state, folder / "optimizer.pt")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(folder / "optimizer.pt", weights_only=True)  # what the old loader did
    resumed = pretrain(small_config(tmp_path, epochs=2, resume=True))
    assert resumed.step == resumed.total_steps


def test_an_exploding_gradient_norm_stops_the_run_before_any_checkpoint(small_demo, tmp_path, monkeypatch):
    from lumamba_bench.harness import pretrain as pretraining

    monkeypatch.setattr(pretraining, "MAX_GRAD_NORM", 1e-9)  # every real norm is above it
    with pytest.raises(LumambaError, match=r"the gradient norm became .* at step 0; no checkpoint was written"):
        pretrain(small_config(tmp_path, epochs=2))
    assert latest_checkpoint(tmp_path / "run") is None


def test_a_checkpoint_of_non_finite_weights_is_never_written(small_demo, tmp_path, monkeypatch):
    """The fourth optimizer step writes a NaN into a weight while every loss so far was finite
    (each is computed before its step's update): the save at step 4 refuses, naming the weight,
    and step 2's checkpoint stays the last."""
    real_step = torch.optim.AdamW.step
    calls = []

    def step(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 4:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    stopped = r"weight .* became nan at step 4; the last good checkpoint is .*step-0000002"
    with pytest.raises(LumambaError, match=stopped):
        pretrain(small_config(tmp_path, epochs=3, checkpoint_every=2, log_every=1))
    assert latest_checkpoint(tmp_path / "run").name == "step-0000002"


def test_a_resume_on_another_device_precision_or_scan_backend_is_named(small_demo, tmp_path, monkeypatch):
    from lumamba_bench.harness import precision
    from lumamba_bench.harness.pretrain import PretrainConfig, changed_settings

    pretrain(small_config(tmp_path, epochs=2, max_steps=2))
    monkeypatch.setattr(precision, "active", lambda: "bf16")
    with pytest.raises(LumambaError, match=r"precision: fp32 -> bf16"):
        pretrain(small_config(tmp_path, epochs=2, resume=True))
    card = {"hyperparameters": {}, "device": "cuda", "precision": "fp32", "scan_backend": {"used": "mamba-ssm"}}
    now = {"device": "cpu", "precision": "fp32", "scan backend": "chunked"}
    changes = changed_settings(card, PretrainConfig(), "x", now)
    assert "device: cuda -> cpu" in changes and "scan backend: mamba-ssm -> chunked" in changes
    assert not any(c.startswith("precision") for c in changes)
    older = changed_settings({"hyperparameters": {}}, PretrainConfig(), "x", now)  # a card before these were kept
    assert not any(c.startswith(("device", "precision", "scan")) for c in older)
