"""Checkpoints (safetensors weights + a JSON card) and the local model store.

Training checkpoints hold every parameter of the objective (encoder and pre-training heads,
shared tensors once), the optimizer state (``torch.load(weights_only=True)``-safe) and a card.
The model store, ``<data_root>/models/<model name>/``, holds what ``run`` needs: the encoder
weights and the card; ``run --model lumamba-mixed`` looks there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from lumamba_bench.data.store import data_root
from lumamba_bench.errors import LumambaError
from lumamba_bench.files import atomic_path, replace_folder, sha256_of, write_json_atomic

WEIGHTS, OPTIMIZER, CARD = "weights.safetensors", "optimizer.pt", "card.json"
ENCODER_WEIGHTS = "encoder.safetensors"


def unique_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers by name, each shared tensor once (safetensors refuses aliases)."""
    persistent = set(module.state_dict())
    tensors = dict(module.named_parameters())
    tensors.update({k: v for k, v in module.named_buffers() if k in persistent})
    return {name: t.detach().contiguous().cpu() for name, t in tensors.items()}


def save_training_checkpoint(folder: Path, module: nn.Module, optimizer: torch.optim.Optimizer, card: dict) -> None:
    """Write a checkpoint folder atomically (built under a temporary name, then renamed)."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(unique_tensors(module), tmp / WEIGHTS)
    torch.save(optimizer.state_dict(), tmp / OPTIMIZER)
    write_json_atomic(tmp / CARD, card)
    replace_folder(tmp, folder)


def read_training_card(folder: Path) -> dict:
    """A training checkpoint's card, or one line saying it is unreadable (a cut or edited file)."""
    try:
        card = json.loads((Path(folder) / CARD).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LumambaError(f"{Path(folder) / CARD} is not a readable card ({error})") from None
    if not isinstance(card, dict):
        raise LumambaError(f"{Path(folder) / CARD} is not a card (a JSON object)")
    return card


def load_training_checkpoint(folder: Path, module: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict:
    card = read_training_card(folder)
    tensors = read_safetensors(folder / WEIGHTS)
    assign_tensors(module, tensors, folder / WEIGHTS)
    if optimizer is not None:
        try:
            # map_location: a checkpoint written on a GPU resumes on a CPU (and the reverse)
            state = torch.load(folder / OPTIMIZER, weights_only=True, map_location="cpu")
            optimizer.load_state_dict(state)
        except Exception as error:  # noqa: BLE001 - any unpickling or shape failure is a bad file
            raise LumambaError(f"{folder / OPTIMIZER} is not a readable optimizer state ({error})") from None
    return card


def latest_checkpoint(run_dir: Path) -> Path | None:
    folders = sorted(p for p in Path(run_dir).glob("step-*") if (p / CARD).exists())
    return folders[-1] if folders else None


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise LumambaError(f"checkpoint {path} not found")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise LumambaError(f"{path} is not a readable safetensors file ({error})") from None


def assign_tensors(module: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Copy tensors into a module by name; refuse missing, unexpected or mis-shaped entries."""
    own = unique_tensors(module)
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise LumambaError(
            f"{source} does not match this architecture: {len(missing)} missing keys "
            f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}), {len(unexpected)} unexpected "
            f"({', '.join(unexpected[:3])}{'...' if len(unexpected) > 3 else ''})"
        )
    live = dict(module.named_parameters()) | dict(module.named_buffers())
    mismatched = [(n, t.shape, live[n].shape) for n, t in tensors.items() if live[n].shape != t.shape]
    if mismatched:
        name, got, want = mismatched[0]
        raise LumambaError(
            f"{source}: {len(mismatched)} tensors do not fit this architecture, e.g. {name} has shape "
            f"{tuple(got)}, the model expects {tuple(want)}; nothing was loaded"
        )
    check_values(tensors, live, source)
    with torch.no_grad():
        for name, tensor in tensors.items():
            live[name].copy_(tensor)


def check_values(tensors: dict[str, torch.Tensor], live: dict[str, torch.Tensor], source: Path) -> None:
    """Weights are checked by value, not only by name and shape: a floating-point parameter must
    arrive as floating point (an int or bool tensor of the right shape would load as zeros and
    ones and the encoder's output would be constant) and finite (one NaN makes every output NaN).
    Integer buffers (counters) stay integers. A cast that loses precision (float64 -> float32)
    is done and noted once per file."""
    narrowed = []
    for name, tensor in tensors.items():
        want = live[name]
        if want.is_floating_point() and not tensor.is_floating_point():
            raise LumambaError(
                f"{source}: {name} is {str(tensor.dtype).removeprefix('torch.')}, not floating point; "
                "nothing was loaded"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise LumambaError(f"{source}: {name} holds {bad} NaN or infinite values; nothing was loaded")
        narrower = want.is_floating_point() and torch.finfo(want.dtype).bits < torch.finfo(tensor.dtype).bits
        if tensor.is_floating_point() and narrower:
            narrowed.append(f"{name} ({str(tensor.dtype).removeprefix('torch.')})")
    if narrowed:
        warnings.warn(
            f"{source.name}: {len(narrowed)} tensors cast to the model's narrower precision, e.g. {narrowed[0]}",
            stacklevel=3,
        )


def load_encoder_weights(encoder: nn.Module, path: Path, hash_file: bool = True) -> str | None:
    """Load encoder weights from a safetensors file (or a ``torch.save``d state dict); returns its
    sha256 (None with ``hash_file=False``: a caller that has it already need not read the file twice)."""
    path = Path(path)
    tensors = read_checkpoint(path)
    own = set(unique_tensors(encoder))
    if set(tensors) != own and encoder.looks_official(tensors):
        tensors, ignored = encoder.official_state_dict(tensors)
        if ignored:
            shown = ", ".join(ignored[:5]) + ("..." if len(ignored) > 5 else "")
            warnings.warn(
                f"{path.name}: {len(ignored)} published keys are not part of the encoder and were not loaded "
                f"(pre-training or classification heads): {shown}",
                stacklevel=2,
            )
    assign_tensors(encoder, tensors, path)
    return sha256_of(path) if hash_file else None


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or a ``torch.save``d one (``weights_only``), unwrapped."""
    path = Path(path)
    if not path.exists():
        raise LumambaError(f"checkpoint {path} not found")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    try:
        # Published training checkpoints carry their argparse.Namespace: plain data, allowed.
        with torch.serialization.safe_globals([argparse.Namespace]):
            content = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad file
        raise LumambaError(f"{path} is not a readable checkpoint ({error})") from None
    return unwrap_state_dict(content, path)


def unwrap_state_dict(content, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save``d file: a state dict, or one inside model/state_dict/module."""
    for key in ("model", "state_dict", "module"):
        if isinstance(content, dict) and isinstance(content.get(key), dict):
            content = content[key]
            break
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise LumambaError(f"{path} does not hold a state dict of tensors")
    return content


def model_store(root: Path | str | None = None) -> Path:
    return data_root(root) / "models"


def register_pretrained(name: str, encoder: nn.Module, card: dict, root: Path | str | None = None) -> Path:
    """Put a finished encoder into the model store under its model name (e.g. ``lumamba-mixed``)."""
    folder = model_store(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / ENCODER_WEIGHTS) as tmp:
        save_file(unique_tensors(encoder), tmp)
    write_json_atomic(folder / CARD, card | {"encoder_sha256": sha256_of(folder / ENCODER_WEIGHTS)})
    return folder / ENCODER_WEIGHTS


def read_card(weights: Path) -> dict | None:
    """The JSON card stored beside a weights file, when there is one."""
    card = Path(weights).parent / CARD
    try:
        return json.loads(card.read_text()) if card.exists() else None
    except json.JSONDecodeError:
        return None


def find_pretrained(name: str, root: Path | str | None = None) -> Path | None:
    path = model_store(root) / name / ENCODER_WEIGHTS
    return path if path.exists() else None


def pretraining_task(card: dict) -> str | None:
    """The recipe a checkpoint card says the encoder was pre-trained on (cards written before the
    name was unified call it ``corpus``)."""
    return card.get("task", card.get("corpus"))

