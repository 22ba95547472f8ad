"""Regenerate the fine-tuning fixtures by running the authors' own code (never imported by the tests).

Usage (in a scratch folder outside this repository, with the checkouts README.md names)::

    python tests/harness/golden/regenerate.py --biofoundation PATH --labram PATH --mamba PATH \
        --lumamba-config PATH/LuMamba_finetune.yaml

needs torch, numpy, scipy, pyyaml, einops, timm (``--no-deps``) and rotary-embedding-torch.

Writes ``finetune.json`` (per model: the fine-tuned checkpoint's key -> shape table in the
reference's order, the fill seed, what ran; per family: every parameter's learning rate at every
step of a short run and its weight decay, from the reference's optimiser set-up and scheduler;
loss values) and ``finetune.npz`` (inputs, the tokens entering each head, the head's output in
evaluation and in training mode with a seeded generator, the whole model's logits). Weights are
not stored: ``golden_fill.fill`` rebuilds them on both sides.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import yaml

HERE = Path(__file__).resolve().parent
MODELS_GOLDEN = HERE.parents[1] / "models" / "golden"
sys.path.insert(0, str(MODELS_GOLDEN))
from golden_fill import SEED, signal  # noqa: E402

_spec = importlib.util.spec_from_file_location("encoder_regenerate", MODELS_GOLDEN / "regenerate.py")
encoder_regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(encoder_regenerate)
TUEG_BIPOLAR, LABRAM_CHANNELS = encoder_regenerate.TUEG_BIPOLAR, encoder_regenerate.LABRAM_CHANNELS

STEPS_PER_EPOCH, EPOCHS = 4, 12  # a short run: 48 optimiser steps, warm-up and cosine both reached
TRAIN_SEED = 5  # torch's generator before a training-mode head forward (dropout draws)
arrays: dict[str, np.ndarray] = {}
meta: dict = {"seed": SEED, "steps_per_epoch": STEPS_PER_EPOCH, "epochs": EPOCHS, "models": {}, "schedules": {}}


def fill_model(model: torch.nn.Module) -> dict[str, list[int]]:
    """Fill every tensor of the reference model from the seed, constant buffers kept."""
    shapes, constants = encoder_regenerate.load_filled(model, SEED)
    for key, value in constants.items():
        arrays[f"constant:{key}"] = value
    return shapes


def record(name: str, model, head, run, head_input_hook, layout: str, ran: str, head_module=None) -> None:
    """Run ``run()`` (the whole model, eval mode) capturing the head's input; then the head alone
    (``head(tokens)``; ``head_module`` switches modes), in eval mode and in training mode after
    ``torch.manual_seed(TRAIN_SEED)``."""
    head_module = head if head_module is None else head_module
    shapes = fill_model(model)
    model.eval()
    captured = {}
    handle = head_input_hook(lambda tokens: captured.setdefault("tokens", tokens.detach().clone()))
    with torch.no_grad():
        logits = run()
    handle.remove()
    tokens = captured["tokens"]
    with torch.no_grad():
        head_eval = head(tokens)
        head_module.train()
        torch.manual_seed(TRAIN_SEED)
        head_train = head(tokens)
        head_module.eval()
    arrays.update({f"{name}:logits": logits, f"{name}:tokens": tokens, f"{name}:head_eval": head_eval,
                   f"{name}:head_train": head_train})  # fmt: skip
    meta["models"][name] = {"shapes": shapes, "layout": layout, "ran": ran}
    print(name, tuple(logits.shape), tuple(tokens.shape))


def pre_hook(module):
    return lambda keep: module.register_forward_pre_hook(lambda m, args: keep(args[0]))


def post_hook(module):
    return lambda keep: module.register_forward_hook(lambda m, args, out: keep(out))


def biofoundation_models(lumamba_config: dict) -> None:
    from models.FEMBA import FEMBA
    from models.LuMamba import LuMamba
    from models.LUNA import LUNA
    from models.modules.channel_embeddings import get_channel_locations
    from tasks.finetune_task_LUNA import ChannelWiseNormalize
    from util.train_utils import RobustQuartileNormalize

    x = signal(len(TUEG_BIPOLAR), 640, seed=SEED)
    arrays["tcp:x"] = x
    coords = np.stack(get_channel_locations(TUEG_BIPOLAR)).astype(np.float32)
    batch_coords = torch.from_numpy(np.stack([coords, coords]))
    arrays["tcp:coords"] = batch_coords.numpy()
    normalised = ChannelWiseNormalize()(torch.from_numpy(x))
    # The tasks pass an all-false mask, which also switches on prepare_tokens' 0.02 electrode jitter
    # (random, in evaluation too; README: a listed deviation); None runs the same model without it.
    mask = None
    tiny = dict(patch_size=40, num_queries=6, embed_dim=64, num_heads=2, mlp_ratio=4.0, exp=2, num_blocks=2,
                bidirectional_strategy="add", num_classes=2)  # config/model/LuMamba_tiny.yaml + 2 classes
    for option in ("mamba", None, "linear"):
        model = LuMamba(**tiny, classifier_option=option)
        head = model.classifier
        name = {"mamba": "lumamba:mamba", None: "lumamba:luna-query", "linear": "lumamba:linear"}[option]
        if option == "linear":  # its forward has no return: the logits are its GELU's output
            out = {}
            head.activation1.register_forward_hook(lambda m, a, o, out=out: out.__setitem__("logits", o))

            def run(model=model, out=out):
                model(normalised, mask, batch_coords)
                return out["logits"]

            def head_fn(tokens, head=head, out=out):
                head(tokens)
                return out["logits"]
        else:
            def run(model=model):
                return model(normalised, mask, batch_coords)[0]

            head_fn = head
        record(name, model, head_fn, run, pre_hook(head), "lightning",
               f"models/LuMamba.py LuMamba(LuMamba_tiny, num_classes=2, classifier_option={option!r}) "
               "forward(ChannelWiseNormalize(x), mask None, coords)", head_module=head)  # fmt: skip
    luna = LUNA(patch_size=40, num_queries=4, embed_dim=64, depth=8, num_heads=2, drop_path=0.1, num_classes=2)
    record("luna-base", luna, luna.classifier, lambda: luna(normalised, mask, batch_coords)[0], post_hook(luna.norm),
           "lightning", "models/LUNA.py LUNA(config/model/LUNA_base.yaml) forward(ChannelWiseNormalize(x), mask None, "
           "coords); head input: model.norm's output")  # fmt: skip
    femba_x = signal(22, 512, seed=SEED)
    arrays["femba:x"] = femba_x
    femba_in = RobustQuartileNormalize(-20, 20)(torch.from_numpy(femba_x))
    femba = FEMBA(seq_length=512, num_channels=22, num_classes=2, exp=4, patch_size=(2, 16), stride=(2, 16),
                  embed_dim=35, num_blocks=2, classification_type="bc")  # fmt: skip
    record("femba-tiny", femba, femba.classifier,
           lambda: femba(femba_in, torch.zeros(femba_in.shape, dtype=torch.bool))[0], pre_hook(femba.classifier),
           "lightning", "models/FEMBA.py FEMBA(embed_dim=35, num_blocks=2, exp=4, num_classes=2, bc) "
           "forward(RobustQuartileNormalize(-20, 20)(x), zero mask)")  # fmt: skip


def labram_model() -> None:
    import modeling_finetune
    import utils as labram_utils
    from scipy.signal import resample

    x = signal(len(LABRAM_CHANNELS), 4 * 256, seed=SEED)
    arrays["labram:x"] = x
    # run_class_finetuning.py with its README's TUAB command: --disable_qkv_bias, drop path 0.1, one output
    model = modeling_finetune.labram_base_patch200_200(num_classes=1, qkv_bias=False, init_values=0.1,
                                                       drop_path_rate=0.1)  # fmt: skip
    at_200hz = torch.from_numpy(resample(x, 4 * 200, axis=-1) / 100).float().reshape(2, len(LABRAM_CHANNELS), 4, 200)
    input_chans = labram_utils.get_input_chans(LABRAM_CHANNELS)

    def head(tokens):  # fc_norm of the mean patch token, then the Linear: forward_features' tail and forward's head
        return model.head(model.fc_norm(tokens[:, 1:].mean(1)))

    record("labram-base", model, head, lambda: model(at_200hz, input_chans=input_chans), post_hook(model.norm),
           "labram", "modeling_finetune.labram_base_patch200_200(num_classes=1, qkv_bias=False, init_values=0.1, "
           "drop_path_rate=0.1) forward(scipy resample to 200 Hz / 100, input_chans)", head_module=model)  # fmt: skip


def install_hydra() -> None:
    """BioFoundation's tasks build the scheduler with ``hydra.utils.instantiate``: here it builds
    the config's ``_target_`` (``schedulers.cosine.CosineLRSchedulerWrapper``) with its values."""
    from schedulers.cosine import CosineLRSchedulerWrapper

    def instantiate(config, **kwargs):
        values = {k: v for k, v in vars(config).items() if k != "_target_"}
        return CosineLRSchedulerWrapper(**values, **kwargs)

    hydra = types.ModuleType("hydra")
    hydra.utils = SimpleNamespace(instantiate=instantiate)
    sys.modules["hydra"] = hydra


def biofoundation_schedule(family: str, model, task_file: str, model_config: dict, experiment: dict,
                           scheduler: dict) -> None:  # fmt: skip
    """The reference's ``configure_optimizers`` (its own layer-decay loop and scheduler), stepped as
    Lightning steps it: ``step_update(num_updates=global_step)`` after each optimiser step."""
    task = importlib.import_module(task_file)
    total = STEPS_PER_EPOCH * EPOCHS
    hparams = SimpleNamespace(
        model=SimpleNamespace(**model_config),
        optimizer=SimpleNamespace(optim="AdamW", lr=experiment["lr"], betas=[0.9, 0.999],
                                  weight_decay=experiment["weight_decay"]),
        layerwise_lr_decay=experiment["layer_decay"],
        scheduler_type="cosine",
        scheduler=SimpleNamespace(_target_="schedulers.cosine.CosineLRSchedulerWrapper",
                                  trainer=SimpleNamespace(max_epochs=EPOCHS), **scheduler),
    )  # fmt: skip
    owner = SimpleNamespace(hparams=hparams, model=model, trainer=SimpleNamespace(estimated_stepping_batches=total))
    configured = task.FinetuneTask.configure_optimizers(owner)
    optimizer, lr_scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    steps = []
    for step in range(total):
        if step:
            lr_scheduler.step_update(num_updates=step)
        steps.append([group["lr"] for group in optimizer.param_groups])
    names = [name for name, _ in model.named_parameters()]  # one group per parameter, in this order
    decay = [group["weight_decay"] for group in optimizer.param_groups]
    save_schedule(family, names, np.array(steps).T, decay, {**experiment, **scheduler},
                  f"{task_file}.FinetuneTask.configure_optimizers + schedulers/cosine.py")  # fmt: skip


def labram_schedule(model) -> None:
    """LaBraM's optimiser groups (``optim_factory.get_parameter_groups`` with the layer-decay
    assigner as ``run_class_finetuning.py`` builds it) and ``utils.cosine_scheduler``, applied as
    ``engine_for_finetuning.py`` applies them (schedule value x the group's ``lr_scale``)."""
    for module, name in (("nadam", "Nadam"), ("nvnovograd", "NvNovoGrad"), ("radam", "RAdam")):
        # optimiser classes optim_factory imports by their timm 0.4 names and never uses here
        target = importlib.import_module(f"timm.optim.{module}")
        if not hasattr(target, name):
            setattr(target, name, torch.optim.Optimizer)
    import optim_factory
    import utils as labram_utils

    layer_decay, lr, min_lr, weight_decay, warmup = 0.65, 5e-4, 1e-6, 0.05, 5
    depth = model.get_num_layers()
    assigner = optim_factory.LayerDecayValueAssigner([layer_decay ** (depth + 1 - i) for i in range(depth + 2)])
    groups = optim_factory.get_parameter_groups(model, weight_decay, model.no_weight_decay(),
                                                assigner.get_layer_id, assigner.get_scale)  # fmt: skip
    schedule = labram_utils.cosine_scheduler(lr, min_lr, EPOCHS, STEPS_PER_EPOCH, warmup_epochs=warmup)
    of_parameter = {id(p): g for g in groups for p in g["params"]}
    names, trajectories, decay = [], [], []
    for name, parameter in model.named_parameters():
        group = of_parameter[id(parameter)]
        names.append(name)
        trajectories.append([float(value) * group["lr_scale"] for value in schedule])
        decay.append(group["weight_decay"])
    save_schedule("labram", names, np.array(trajectories), decay,
                  {"lr": lr, "min_lr": min_lr, "layer_decay": layer_decay, "weight_decay": weight_decay,
                   "warmup_epochs": warmup},
                  "optim_factory.get_parameter_groups + LayerDecayValueAssigner + utils.cosine_scheduler")  # fmt: skip


def save_schedule(family: str, names: list[str], per_parameter: np.ndarray, decay: list[float], values: dict,
                  ran: str) -> None:  # fmt: skip
    """Distinct trajectories once; each parameter names its trajectory and weight decay."""
    unique, index = np.unique(per_parameter, axis=0, return_inverse=True)
    arrays[f"schedule:{family}"] = unique
    meta["schedules"][family] = {
        "parameters": {n: [int(i), float(d)] for n, i, d in zip(names, index.ravel(), decay, strict=True)},
        "values": values,
        "ran": ran,
    }


def losses() -> None:
    """Each recipe's loss on seeded logits: torch's modules, as the configs name them, and timm's
    ``LabelSmoothingCrossEntropy(0.1)`` as LaBraM's multi-class fine-tuning uses it."""
    from timm.loss import LabelSmoothingCrossEntropy

    rng = np.random.default_rng([SEED, 3])
    logits = torch.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 4, 16))
    single = torch.from_numpy(rng.standard_normal((16, 1)).astype(np.float32))
    binary = torch.from_numpy(rng.integers(0, 2, 16))
    arrays.update({"loss:logits": logits, "loss:labels": labels, "loss:single": single, "loss:binary": binary})
    meta["losses"] = {
        "cross_entropy": float(torch.nn.CrossEntropyLoss()(logits, labels)),
        "label_smoothing_0.1": float(LabelSmoothingCrossEntropy(smoothing=0.1)(logits, labels)),
        "bce_single_logit": float(torch.nn.BCEWithLogitsLoss()(single[:, 0], binary.float())),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--biofoundation", type=Path, required=True)
    parser.add_argument("--labram", type=Path, required=True)
    parser.add_argument("--mamba", type=Path, required=True)
    parser.add_argument("--lumamba-config", type=Path, required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder_regenerate.stub_mamba(args.mamba)
    encoder_regenerate.stub_unused()
    encoder_regenerate.stub_torcheeg(None)
    sys.path.insert(0, str(args.biofoundation))
    install_hydra()
    bio = args.biofoundation / "config"
    lumamba = yaml.safe_load(args.lumamba_config.read_text())
    luna = yaml.safe_load((bio / "experiment" / "LUNA_finetune.yaml").read_text())
    femba = yaml.safe_load((bio / "experiment" / "FEMBA_finetune.yaml").read_text())
    cosine = yaml.safe_load((bio / "scheduler" / "cosine.yaml").read_text())["scheduler"]
    biofoundation_models(lumamba)
    from models.FEMBA import FEMBA
    from models.LuMamba import LuMamba
    from models.LUNA import LUNA

    def scheduler_of(experiment: dict) -> dict:
        merged = cosine | experiment.get("scheduler", {})
        # OmegaConf reads 1e-6 as a number; plain YAML 1.1 as a string
        return {k: float(merged[k]) for k in ("min_lr", "warmup_lr_init")} | {
            "warmup_epochs": int(merged["warmup_epochs"]), "t_in_epochs": False}

    def experiment_of(config: dict) -> dict:
        return {"lr": float(config["optimizer"]["lr"]), "weight_decay": float(config["optimizer"]["weight_decay"]),
                "layer_decay": float(config["layerwise_lr_decay"])}  # fmt: skip

    # LuMamba's config has num_blocks and no depth: the LuMamba-era task reads num_blocks when depth is
    # absent (as tasks/finetune_regression_task_LuMamba.py at 6ce2dcd does); given here as depth.
    biofoundation_schedule(
        "lumamba",
        LuMamba(patch_size=40, num_queries=6, embed_dim=64, num_heads=2, exp=2, num_blocks=2, num_classes=2,
                classifier_option="mamba"),
        "tasks.finetune_task_LUNA", {"depth": 2, "num_blocks": 2}, experiment_of(lumamba), scheduler_of(lumamba),
    )  # fmt: skip
    biofoundation_schedule(
        "luna", LUNA(patch_size=40, num_queries=4, embed_dim=64, depth=8, num_heads=2, drop_path=0.1, num_classes=2),
        "tasks.finetune_task_LUNA", {"depth": 8}, experiment_of(luna), scheduler_of(luna),
    )  # fmt: skip
    biofoundation_schedule(
        "femba", FEMBA(seq_length=512, num_channels=22, num_classes=2, exp=4, embed_dim=35, num_blocks=2),
        "tasks.finetune_task", {"num_blocks": 2}, experiment_of(femba), scheduler_of(femba),
    )  # fmt: skip
    losses()
    sys.path.remove(str(args.biofoundation))
    for name in ("utils", "models", "optim_factory"):
        sys.modules.pop(name, None)
    sys.path.insert(0, str(args.labram))
    labram_model()
    import modeling_finetune

    labram_schedule(modeling_finetune.labram_base_patch200_200(num_classes=1, qkv_bias=False, init_values=0.1))
    np.savez_compressed(HERE / "finetune.npz", **{k: np.asarray(v, dtype=np.float64 if k.startswith("schedule:")
                                                               else np.float32) for k, v in arrays.items()})
    (HERE / "finetune.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
