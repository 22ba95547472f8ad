"""Regenerate the conformance fixtures by running the authors' own code (never imported by the tests).

Usage (in a scratch folder outside this repository, with checkouts of the reference repositories;
see README.md beside this file for the commits)::

    python tests/models/golden/regenerate.py --biofoundation PATH --labram PATH --mamba PATH \
        [--torcheeg-seed-constants PATH/torcheeg/datasets/constants/emotion_recognition/seed.py]

needs torch, numpy, scipy, mne, einops, timm and rotary-embedding-torch. mamba-ssm's CUDA kernel is
replaced by mamba-ssm's own ``selective_scan_ref`` (its pure-PyTorch reference of the same scan).

For each model it writes ``<model>.npz`` (input in microvolts, electrode coordinates, the
reference's output) and ``<model>.json`` (the reference's state-dict key -> shape table in its own
order, the fill seed, the channel names and what was run). The weights themselves are not stored:
``golden_fill.fill`` rebuilds them from the seed and the shape table on both sides.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.abc
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from golden_fill import SEED, fill, signal  # noqa: E402

TUEG_BIPOLAR = (
    "FP1-F7 F7-T3 T3-T5 T5-O1 FP2-F8 F8-T4 T4-T6 T6-O2 T3-C3 C3-CZ CZ-C4 C4-T4 "
    "FP1-F3 F3-C3 C3-P3 P3-O1 FP2-F4 F4-C4 C4-P4 P4-O2 A1-T3 T4-A2"
).split()
# TUAB's referential electrodes as LaBraM's run_class_finetuning.py names them, less T1 and T2
# (not in MNE's 10-05 template, so no pipeline here reads them).
LABRAM_CHANNELS = "FP1 FP2 F3 F4 C3 C4 P3 P4 O1 O2 F7 F8 T3 T4 T5 T6 A1 A2 FZ CZ PZ".split()


def stub_mamba(mamba_repo: Path) -> None:
    """``mamba_ssm.Mamba`` from the real ``mamba_simple.py``, on the CPU reference scan."""
    package = types.ModuleType("mamba_ssm")
    package.__path__ = [str(mamba_repo / "mamba_ssm")]
    sys.modules["mamba_ssm"] = package
    for name in ("mamba_ssm.ops.triton", "mamba_ssm.ops.triton.layer_norm"):
        fake = types.ModuleType(name)
        fake.__path__ = []
        fake._layer_norm_fwd = fake.RMSNorm = fake.layer_norm_fn = fake.rms_norm_fn = None
        sys.modules[name] = fake
    from mamba_ssm.modules import mamba_simple
    from mamba_ssm.ops import selective_scan_interface

    mamba_simple.selective_scan_fn = selective_scan_interface.selective_scan_ref
    mamba_simple.causal_conv1d_fn = None
    package.Mamba = mamba_simple.Mamba


class _Inert(type(torch.nn.Module)):
    """A class whose every class attribute is another inert class (enum members, constants)."""

    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert(name, (torch.nn.Module,), {})


class _Placeholder(types.ModuleType):
    """A module whose every attribute is an inert class (for imports that are never used)."""

    __path__: list = []

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert(name, (torch.nn.Module,), {})


class _PlaceholderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, root: str):
        self.root = root

    def find_spec(self, fullname, path, target=None):
        if fullname == self.root or fullname.startswith(self.root + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Placeholder(spec.name)

    def exec_module(self, module):
        pass


def stub_unused(roots: tuple[str, ...] = (
    "torchvision", "pytorch_lightning", "torchmetrics", "hydra", "omegaconf", "torch_optimizer",
    "h5py", "pyhealth", "tensorboardX", "pandas", "wandb", "psutil", "biofoundation"
)):
    """Packages the reference files import but the parts run here never use (timm's image datasets,
    the Lightning task classes around the normalisers); PyPI's torchvision does not import beside
    every torch build. Each missing one becomes an inert placeholder."""
    for root in roots:
        try:
            importlib.import_module(root)
        except (ImportError, RuntimeError):
            sys.modules.pop(root, None)
            sys.meta_path.insert(0, _PlaceholderFinder(root))


def stub_torcheeg(seed_constants: Path | None) -> None:
    """BioFoundation imports torcheeg only for SEED's channel list (the decoder's name table)."""
    channels = []
    if seed_constants is not None:  # the file's literal list (its module imports torcheeg's package)
        tree = ast.parse(seed_constants.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SEED_CHANNEL_LIST":
                channels = ast.literal_eval(node.value)
    for name in ("torcheeg", "torcheeg.datasets", "torcheeg.datasets.constants"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["torcheeg.datasets.constants"].SEED_CHANNEL_LIST = channels


CONSTANTS = ("rotary_emb.freqs", "temparature")  # stored, never trained: keep the reference's values


def load_filled(model: torch.nn.Module, seed: int) -> tuple[dict[str, list[int]], dict[str, np.ndarray]]:
    """Fill the reference model from the seed; its constant buffers keep their own values and are
    returned (the fixture stores them, as a published checkpoint would)."""
    own = model.state_dict()
    shapes = {k: list(v.shape) for k, v in own.items()}
    constants = {k: v.numpy().copy() for k, v in own.items() if k.endswith(CONSTANTS)}
    filled = {k: torch.from_numpy(v) for k, v in fill(shapes, seed).items()}
    model.load_state_dict(filled | {k: torch.from_numpy(v) for k, v in constants.items()})
    return shapes, constants


def channelwise_zscore(x: np.ndarray) -> torch.Tensor:
    """BioFoundation's ChannelWiseNormalize (tasks/finetune_task_LUNA.py), applied by its code."""
    from tasks.finetune_task_LUNA import ChannelWiseNormalize

    return ChannelWiseNormalize()(torch.from_numpy(x))


def prefixed(constants: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"constant:{k}": v for k, v in constants.items()}


def write(name: str, arrays: dict, meta: dict) -> None:
    np.savez_compressed(HERE / f"{name}.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
    (HERE / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(name, {k: np.shape(v) for k, v in arrays.items()})


def luna_and_lumamba(seconds: float = 2.5) -> None:
    from models.LuMamba import LuMamba
    from models.LUNA import LUNA
    from models.modules.channel_embeddings import get_channel_locations

    x = signal(len(TUEG_BIPOLAR), int(seconds * 256), seed=SEED)
    coords = np.stack(get_channel_locations(TUEG_BIPOLAR)).astype(np.float32)
    # One montage for the whole batch: the reference repeats location embeddings in (patch, batch)
    # order, which mixes samples whose coordinates differ (README: a listed deviation).
    batch_coords = torch.from_numpy(np.stack([coords, coords]))
    normalised = channelwise_zscore(x)
    with torch.no_grad():
        luna = LUNA(patch_size=40, num_queries=4, embed_dim=64, depth=8, num_heads=2, num_classes=0).eval()
        shapes, constants = load_filled(luna, SEED)
        captured = {}
        luna.norm.register_forward_hook(lambda m, i, o: captured.setdefault("latent", o))
        luna(normalised, None, batch_coords, torch.zeros(2, len(TUEG_BIPOLAR), dtype=torch.long))
        write(
            "luna-base",
            {"x": x, "coords": batch_coords, "output": captured["latent"]} | prefixed(constants),
            {"shapes": shapes, "seed": SEED, "channels": TUEG_BIPOLAR, "normalisation": "channelwise-zscore",
             "ran": "models/LUNA.py LUNA(patch_size=40, num_queries=4, embed_dim=64, depth=8, num_heads=2, "
                    "num_classes=0), output of model.norm (the encoder's latent), input ChannelWiseNormalize"},
        )
        lumamba = LuMamba(patch_size=40, num_queries=6, embed_dim=64, num_heads=2, mlp_ratio=4.0, exp=2,
                          num_blocks=2, bidirectional_strategy="add", num_classes=0).eval()
        shapes, constants = load_filled(lumamba, SEED)
        out = lumamba.encode(normalised, batch_coords)
        write(
            "lumamba",
            {"x": x, "coords": batch_coords, "output": out} | prefixed(constants),
            {"shapes": shapes, "seed": SEED, "channels": TUEG_BIPOLAR, "normalisation": "channelwise-zscore",
             "ran": "models/LuMamba.py LuMamba(**config/model/LuMamba_tiny.yaml).encode, input ChannelWiseNormalize"},
        )


def femba(seconds: float = 2.0) -> None:
    from models.FEMBA import FEMBA
    from util.train_utils import RobustQuartileNormalize

    x = signal(22, int(seconds * 256), seed=SEED)
    normalised = RobustQuartileNormalize(-20, 20)(torch.from_numpy(x))
    with torch.no_grad():
        model = FEMBA(seq_length=x.shape[-1], num_channels=22, num_classes=0, exp=4, patch_size=(2, 16),
                      stride=(2, 16), embed_dim=35, num_blocks=2).eval()
        shapes, _ = load_filled(model, SEED)
        captured = {}
        model.norm_layers[-1].register_forward_hook(lambda m, i, o: captured.setdefault("latent", o))
        model(normalised, torch.zeros_like(normalised, dtype=torch.bool))
        write(
            "femba-tiny",
            {"x": x, "coords": np.zeros((2, 22, 3)), "output": captured["latent"]},
            {"shapes": shapes, "seed": SEED, "channels": [], "normalisation": "femba-quartile",
             "ran": "models/FEMBA.py FEMBA(embed_dim=35, num_blocks=2, exp=4, patch (2,16), num_classes=0), "
                    "output of the last norm layer, input RobustQuartileNormalize(-20, 20)"},
        )


def labram(seconds: int = 4) -> None:
    import mne
    import modeling_finetune
    import modeling_pretrain
    import utils as labram_utils
    from scipy.signal import resample

    x = signal(len(LABRAM_CHANNELS), seconds * 256, seed=SEED)
    pretrain = modeling_pretrain.labram_base_patch200_1600_8k_vocab(init_values=0.1).eval()
    shapes, _ = load_filled(pretrain, SEED)
    checkpoint = {k[len("student."):]: v for k, v in pretrain.state_dict().items() if k.startswith("student.")}
    model = modeling_finetune.labram_base_patch200_200(qkv_bias=True, init_values=0.1, num_classes=0).eval()
    missing, unexpected = model.load_state_dict(checkpoint, strict=False)
    # What run_class_finetuning.py leaves at its initial value: the q/v biases (zeros) and fc_norm (1, 0).
    for name in missing:
        assert name.endswith(("q_bias", "v_bias")) or name.startswith("fc_norm"), name
    at_200hz = resample(x, seconds * 200, axis=-1) / 100  # the data pipeline's scipy resample, engine's / 100
    input_chans = labram_utils.get_input_chans(LABRAM_CHANNELS)
    with torch.no_grad():
        tokens = model.forward_features(
            torch.from_numpy(at_200hz).float().reshape(2, len(LABRAM_CHANNELS), seconds, 200),
            input_chans=input_chans, return_all_tokens=True,
        )
    # LaBraM's reference reads channel names, not coordinates; ours get head-frame positions as
    # our data pipeline writes them (MNE's template set on an Info, as BioFoundation does).
    info = mne.create_info(LABRAM_CHANNELS, 256.0, "eeg")
    info.set_montage(mne.channels.make_standard_montage("standard_1005"), match_case=False)
    positions = info.get_montage().get_positions()["ch_pos"]
    coords = np.stack([positions[c] for c in LABRAM_CHANNELS])
    write(
        "labram-base",
        {"x": x, "coords": np.stack([coords, coords]), "output": tokens},
        {"shapes": shapes, "seed": SEED, "channels": LABRAM_CHANNELS, "normalisation": "scale-0.01",
         "input_chans": input_chans, "missing_after_load": sorted(missing),
         "ignored_by_load": sorted(unexpected),
         "ran": "modeling_pretrain.labram_base_patch200_1600_8k_vocab state dict (student.* as the "
                "pre-training checkpoint), loaded as run_class_finetuning.py does into "
                "modeling_finetune.labram_base_patch200_200(qkv_bias=True, init_values=0.1); "
                "forward_features(return_all_tokens=True) on scipy.signal.resample to 200 Hz / 100"},
    )


def objectives(seconds: float = 5.0, torch_seed: int = 11, step: int = 7) -> None:
    """Loss values of one pre-training step (eval mode: no dropout), from the reference's own
    pieces (``tasks/pretrain_task_LuMamba.py``: generate_mask, generate_lejepa_views, LeJEPA,
    SIGReg; ``criterion/``), composed as its ``training_step`` composes them. Random draws come
    from torch's global generator seeded with ``torch_seed``; the draws are stored too."""
    from types import SimpleNamespace

    from criterion.pretrain_criterion import PretrainCriterion
    from criterion.query_specialization_criterion import QuerySpecializationCriterion
    from models.FEMBA import FEMBA
    from models.LuMamba import LuMamba
    from models.modules.channel_embeddings import get_channel_indices, get_channel_locations
    from tasks.pretrain_task_LuMamba import ChannelWiseNormalize, MaskTask
    from util.train_utils import RobustQuartileNormalize

    def lumamba_step(x: np.ndarray) -> dict:
        """One step of the mixed objective on ``x``, with every term and every draw."""
        batch, channels, length = x.shape
        coords = np.stack(get_channel_locations(TUEG_BIPOLAR)).astype(np.float32)
        coords = torch.from_numpy(np.stack([coords] * batch))
        names = torch.tensor([get_channel_indices(TUEG_BIPOLAR)] * batch)
        torch.manual_seed(torch_seed)
        mask = MaskTask.generate_mask(task, batch, channels, length)
        normalised = ChannelWiseNormalize()(torch.from_numpy(x))
        reconstructed, original, attention = model(normalised, mask, coords, names)  # draws the jitter
        masked, visible = smooth_l1(reconstructed, original, mask)
        query = QuerySpecializationCriterion("l2", 0.8)(attention)
        global_views, local_views, global_starts, local_starts = MaskTask.generate_lejepa_views(task, normalised, 2, 4)
        lejepa, _ = MaskTask.LeJEPA(task, normalised, coords, global_views, local_views, 0.002, step)
        torch.manual_seed(torch_seed)  # replay the draws the model made, to store them
        torch.randperm(channels * (length // 40))
        jitter = torch.randn(coords.shape) * 0.02
        recon = masked + 0.05 * visible + query
        return {
            "torch_seed": torch_seed, "step": step, "batch": batch, "channels": TUEG_BIPOLAR,
            "mask_cells": mask[0, :, ::40].tolist(), "jitter": jitter.tolist(),
            "local_starts": local_starts, "global_starts": global_starts,
            "masked": float(masked), "visible": float(visible), "query": float(query), "lejepa": float(lejepa),
            "recon_loss": float(recon), "lejepa_loss": float(0.05 * lejepa), "mixed_loss": float(recon + 0.05 * lejepa),
        }

    x = signal(len(TUEG_BIPOLAR), int(seconds * 256), seed=SEED)
    smooth_l1 = PretrainCriterion("smooth_l1")
    with torch.no_grad():
        model = LuMamba(patch_size=40, num_queries=6, embed_dim=64, num_heads=2, mlp_ratio=4.0, exp=2,
                        num_blocks=2, bidirectional_strategy="add", num_classes=0).eval()
        load_filled(model, SEED)
        task = SimpleNamespace(patch_size=(1, 40), masking_ratio=0.5, device="cpu", model=model, num_slices=128,
                               patch_width_local=4 * 40, patch_width_global=16 * 40)
        task.SIGReg = lambda emb, global_step, num_slices: MaskTask.SIGReg(task, emb, global_step, num_slices)
        # One window: with two, the reference's (patch, batch)-ordered repeat would hand each window
        # the other's jittered positions (README: a listed deviation); LeJEPA has no jitter: two.
        lumamba = lumamba_step(x[:1])
        lumamba_pair = lumamba_step(x)
        pair_keys = ("local_starts", "global_starts", "lejepa", "lejepa_loss")
        lumamba["lejepa_pair"] = {k: lumamba_pair[k] for k in pair_keys}

        femba_x = signal(22, 512, seed=SEED)
        femba_model = FEMBA(seq_length=512, num_channels=22, num_classes=0, exp=4, patch_size=(2, 16),
                            stride=(2, 16), embed_dim=35, num_blocks=2).eval()
        load_filled(femba_model, SEED)
        femba_task = SimpleNamespace(patch_size=(2, 16), masking_ratio=0.6, device="cpu")
        torch.manual_seed(torch_seed)
        femba_mask = MaskTask.generate_mask(femba_task, 2, 22, 512)
        femba_in = RobustQuartileNormalize(-20, 20)(torch.from_numpy(femba_x))
        femba_rec, femba_orig = femba_model(femba_in, femba_mask)
        femba_loss, _ = smooth_l1(femba_rec, femba_orig, femba_mask)
        femba = {"torch_seed": torch_seed, "mask_cells": femba_mask[0, ::2, ::16].tolist(), "loss": float(femba_loss)}
    path = HERE / "objectives.json"
    path.write_text(json.dumps({
        "ran": "BioFoundation tasks/pretrain_task_LuMamba.py (generate_mask, generate_lejepa_views, LeJEPA, SIGReg), "
               "criterion/pretrain_criterion.py, criterion/query_specialization_criterion.py, models/LuMamba.py "
               "forward, models/FEMBA.py forward, composed as training_step; weights: the lumamba and femba-tiny "
               "fixtures' fill; input: golden_fill.signal (22 TCP channels, 2 x 5 s; FEMBA 2 x 2 s); eval mode",
        "lumamba": lumamba, "femba-tiny": femba}, indent=1) + "\n")
    print("objectives", {k: v for k, v in lumamba.items() if isinstance(v, float)}, femba["loss"])


def scan() -> None:
    """mamba-ssm's own ``selective_scan_ref`` (float32, as it computes) on seeded inputs, with the
    gradients of a seeded weighted sum of its output: an independent oracle for our scans'
    discretisation."""
    from mamba_ssm.ops.selective_scan_interface import selective_scan_ref

    rng = np.random.default_rng([SEED, 7])
    batch, dim, length, state = 2, 4, 64, 8
    arrays = {
        "u": rng.standard_normal((batch, dim, length)),
        "delta": rng.standard_normal((batch, dim, length)) * 0.5,
        "A": -np.exp(rng.standard_normal((dim, state)) * 0.5),
        "B": rng.standard_normal((batch, state, length)),
        "C": rng.standard_normal((batch, state, length)),
        "D": rng.standard_normal(dim),
        "z": rng.standard_normal((batch, dim, length)),
        "delta_bias": rng.standard_normal(dim) * 0.5,
        "weight": rng.standard_normal((batch, dim, length)),
    }
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}  # the reference computes in float32
    inputs = {k: torch.from_numpy(v).requires_grad_(k != "weight") for k, v in arrays.items()}
    y = selective_scan_ref(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"], inputs["D"],
                           z=inputs["z"], delta_bias=inputs["delta_bias"], delta_softplus=True)
    (y * inputs["weight"]).sum().backward()
    out = dict(arrays) | {"y": y.detach().numpy()}
    out |= {f"grad_{k}": v.grad.numpy() for k, v in inputs.items() if k != "weight"}
    np.savez_compressed(HERE / "scan.npz", **out)
    print("scan", {k: v.shape for k, v in out.items()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--biofoundation", type=Path, required=True)
    parser.add_argument("--labram", type=Path, required=True)
    parser.add_argument("--mamba", type=Path, required=True)
    parser.add_argument("--torcheeg-seed-constants", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    stub_mamba(args.mamba)
    stub_unused()
    stub_torcheeg(args.torcheeg_seed_constants)
    sys.path.insert(0, str(args.biofoundation))
    scan()
    luna_and_lumamba()
    femba()
    objectives()
    sys.path.remove(str(args.biofoundation))
    for name in ("utils", "models"):
        sys.modules.pop(name, None)
    sys.path.insert(0, str(args.labram))
    labram()


if __name__ == "__main__":
    main()
