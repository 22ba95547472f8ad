"""Fine-tuning against the authors' code: golden fixtures made by running BioFoundation and LaBraM
(``tests/harness/golden/README.md``).

- Each reference head, alone, on the tokens the authors' model handed it: its logits in
  evaluation mode, and in training mode with the same seeded generator (so the dropout sites,
  rates and order are the reference's too).
- A fine-tuned checkpoint in the authors' layout (Lightning's ``state_dict`` of ``model.*``, or
  LaBraM's ``model``), loaded whole by ``load_classifier``: the whole model's logits.
- The learning rate of every parameter at every step of a short run, and its weight decay, from
  the reference's own optimiser set-up and scheduler; our recipe must give the same numbers.
- Each recipe's loss on given logits.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lumamba_bench.harness.finetune import Classifier, FinetuneLoss, learning_rate, param_groups
from lumamba_bench.harness.finetune_recipes import build_settings
from lumamba_bench.harness.finetuned import load_classifier
from lumamba_bench.models.heads import HEADS, MeanPoolHead, official_head_state
from lumamba_bench.models.registry import build_for_input

GOLDEN = Path(__file__).parent / "golden"
_FILL = GOLDEN.parents[1] / "models" / "golden" / "golden_fill.py"
_spec = importlib.util.spec_from_file_location("golden_fill", _FILL)
golden_fill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden_fill)

META = json.loads((GOLDEN / "finetune.json").read_text())
with np.load(GOLDEN / "finetune.npz") as _arrays:
    ARRAYS = dict(_arrays)
TRAIN_SEED = 5  # the generator's seed before the reference's training-mode head forward
LABRAM_CHANNELS = "FP1 FP2 F3 F4 C3 C4 P3 P4 O1 O2 F7 F8 T3 T4 T5 T6 A1 A2 FZ CZ PZ".split()
TCP = (
    "FP1-F7 F7-T3 T3-T5 T5-O1 FP2-F8 F8-T4 T4-T6 T6-O2 T3-C3 C3-CZ CZ-C4 C4-T4 "
    "FP1-F3 F3-C3 C3-P3 P3-O1 FP2-F4 F4-C4 C4-P4 P4-O2 A1-T3 T4-A2"
).split()

# fixture case -> (our architecture, our head, input)
CASES = {
    "lumamba:mamba": ("lumamba", "mamba", "tcp"),
    "lumamba:luna-query": ("lumamba", "luna-query", "tcp"),
    "lumamba:linear": ("lumamba", "linear", "tcp"),
    "luna-base": ("luna-base", "luna-query", "tcp"),
    "femba-tiny": ("femba-tiny", "mamba", "femba"),
    "labram-base": ("labram-base", "mean-pool", "labram"),
}
SCHEDULE_CASE = {"lumamba": "lumamba:mamba", "luna": "luna-base", "femba": "femba-tiny", "labram": "labram-base"}


def relative_error(ours: torch.Tensor, reference: np.ndarray) -> float:
    reference = torch.from_numpy(reference).to(ours.dtype)
    return float((ours - reference).norm() / reference.norm())


def reference_tensors(case: str, values: str = "fill") -> dict[str, torch.Tensor]:
    """The reference model's tensors: filled from the seed, or (``index``) each holding its
    position in the reference's table (to tell which of our parameters each one became); the
    constant buffers keep the values the reference stores."""
    shapes = META["models"][case]["shapes"]
    if values == "fill":
        tensors = {k: torch.from_numpy(v) for k, v in golden_fill.fill(shapes, META["seed"]).items()}
    else:
        tensors = {k: torch.full(shape, float(i + 1)) for i, (k, shape) in enumerate(shapes.items())}
    stored = {k.removeprefix("constant:"): v for k, v in ARRAYS.items() if k.startswith("constant:")}
    return tensors | {k: torch.from_numpy(stored[k]) for k in tensors if k in stored}


def write_checkpoint(case: str, folder: Path, values: str = "fill", safetensors: bool = False) -> Path:
    """The fine-tuned checkpoint as the authors' training code saves it."""
    tensors = reference_tensors(case, values)
    if META["models"][case]["layout"] == "labram":
        path = folder / "checkpoint-best.pth"
        torch.save({"model": tensors, "epoch": 7}, path)
    elif safetensors:
        path = folder / "finetuned.safetensors"
        save_file({f"model.{k}": v.contiguous() for k, v in tensors.items()}, str(path))
    else:
        path = folder / "epoch=7-step=700.ckpt"
        torch.save({"state_dict": {f"model.{k}": v for k, v in tensors.items()}, "epoch": 7}, path)
    return path


def inputs(kind: str) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
    x = torch.from_numpy(ARRAYS[f"{kind}:x"])
    if kind == "tcp":
        return x, torch.from_numpy(ARRAYS["tcp:coords"]), TCP
    if kind == "labram":
        return x, torch.zeros(x.shape[0], x.shape[1], 3), LABRAM_CHANNELS  # placed by name, as the reference
    return x, torch.zeros(x.shape[0], x.shape[1], 3), None


def load(case: str, path: Path, **encoder_overrides) -> Classifier:
    architecture, head, kind = CASES[case]
    x, _, _ = inputs(kind)
    encoder = build_for_input(architecture, x.shape[1], x.shape[2], **encoder_overrides)
    classifier, found, _, _ = load_classifier(path, encoder, None, lambda e, h, n: Classifier(e, n, h))
    assert found == head
    return classifier.eval()


@pytest.mark.parametrize("case", CASES)
def test_each_reference_head_equals_the_authors_module(case):
    """Eval and training mode (dropout drawn from the same seeded generator), 1e-5."""
    _, head_name, _ = CASES[case]
    tokens = torch.from_numpy(ARRAYS[f"{case}:tokens"])
    outputs = ARRAYS[f"{case}:head_eval"].shape[-1]
    if head_name == "mean-pool":
        head = MeanPoolHead(tokens.shape[-1], outputs)
    else:
        head = HEADS[head_name](type("Shape", (), {"embed_dim": tokens.shape[-1]})(), outputs)
    mapped, _ = official_head_state(head, reference_tensors(case))
    assert set(mapped) == set(head.state_dict())  # every head tensor comes from the reference
    head.load_state_dict(mapped)
    with torch.no_grad():
        assert relative_error(head.eval()(tokens), ARRAYS[f"{case}:head_eval"]) < 1e-5
        head.train()
        torch.manual_seed(TRAIN_SEED)
        assert relative_error(head(tokens), ARRAYS[f"{case}:head_train"]) < 1e-5


@pytest.mark.parametrize("case", CASES)
def test_a_fine_tuned_checkpoint_evaluates_to_the_authors_logits(case, tmp_path):
    _, _, kind = CASES[case]
    classifier = load(case, write_checkpoint(case, tmp_path))
    x, coords, channels = inputs(kind)
    with torch.no_grad():
        logits = classifier(x, coords, channels)
    assert relative_error(logits, ARRAYS[f"{case}:logits"]) < 1e-4


def test_a_safetensors_checkpoint_loads_the_same(tmp_path):
    classifier = load("luna-base", write_checkpoint("luna-base", tmp_path, safetensors=True))
    x, coords, channels = inputs("tcp")
    with torch.no_grad():
        assert relative_error(classifier(x, coords, channels), ARRAYS["luna-base:logits"]) < 1e-4


def test_a_checkpoint_missing_a_head_tensor_is_refused(tmp_path):
    from lumamba_bench.errors import LumambaError

    path = write_checkpoint("lumamba:mamba", tmp_path)
    content = torch.load(path, weights_only=True)
    del content["state_dict"]["model.classifier.fc1.bias"]
    torch.save(content, path)
    with pytest.raises(LumambaError, match="classifier.fc1.bias|fc1.bias"):
        load("lumamba:mamba", path)


def reference_names(case: str, classifier: Classifier) -> dict[str, str]:
    """Our parameter name -> the reference's, found by loading an index-valued checkpoint."""
    names = list(META["models"][case]["shapes"])
    out = {}
    for name, parameter in classifier.named_parameters():
        index = int(parameter.detach().flatten()[0])
        if index >= 1:
            out[name] = names[index - 1]
    return out


@pytest.mark.parametrize("family", ["lumamba", "luna", "femba", "labram"])
def test_every_parameters_learning_rate_and_weight_decay_equal_the_reference(family, tmp_path):
    """A 12-epoch run of 4 steps an epoch: warm-up, cosine and floor, every parameter, 1e-9."""
    case = SCHEDULE_CASE[family]
    settings, _ = build_settings("reference", family, {}, {"epochs": META["epochs"]})
    classifier = load(case, write_checkpoint(case, tmp_path, values="index"), **settings.encoder_overrides)
    schedule = META["schedules"][family]
    trajectories = ARRAYS[f"schedule:{family}"]
    steps = META["steps_per_epoch"] * META["epochs"]
    warmup = settings.warmup_epochs * META["steps_per_epoch"]
    groups = param_groups(classifier, settings)
    group_of = {id(p): g for g in groups for p in g["params"]}
    ours_to_reference = reference_names(case, classifier)
    checked = 0
    for name, parameter in classifier.named_parameters():
        reference = ours_to_reference.get(name)
        if reference is None:  # ours only: LaBraM's q/v biases, frozen at zero as --disable_qkv_bias leaves them
            assert id(parameter) not in group_of, name
            continue
        trajectory, decay = schedule["parameters"][reference]
        group = group_of[id(parameter)]
        ours = [learning_rate(group, step, steps, warmup, settings) for step in range(steps)]
        np.testing.assert_allclose(ours, trajectories[trajectory], rtol=0, atol=1e-9, err_msg=f"{name} ({reference})")
        assert group["weight_decay"] == pytest.approx(decay), name
        checked += 1
    unchecked = set(schedule["parameters"]) - set(ours_to_reference.values())
    # Only what the reference never trains (Parameters with requires_grad False; our constants):
    # LUNA's mask token in classification, the rotary frequencies, the cross-attention temperature.
    frozen = ("mask_token", "cross_attn.temparature")
    assert all(n in frozen or n.endswith("rotary_emb.freqs") for n in unchecked), sorted(unchecked)
    assert checked == len(schedule["parameters"]) - len(unchecked)


def test_each_recipe_loss_equals_the_references():
    logits, labels = torch.from_numpy(ARRAYS["loss:logits"]), torch.from_numpy(ARRAYS["loss:labels"]).long()
    single, binary = torch.from_numpy(ARRAYS["loss:single"]), torch.from_numpy(ARRAYS["loss:binary"]).long()
    losses = META["losses"]
    assert float(FinetuneLoss("multiclass")(logits, labels)) == pytest.approx(losses["cross_entropy"], rel=1e-6)
    smoothed = FinetuneLoss("multiclass", label_smoothing=0.1)(logits, labels)
    assert float(smoothed) == pytest.approx(losses["label_smoothing_0.1"], rel=1e-6)
    one_logit = FinetuneLoss("binary", single_logit=True)(single, binary)
    assert float(one_logit) == pytest.approx(losses["bce_single_logit"], rel=1e-6)
