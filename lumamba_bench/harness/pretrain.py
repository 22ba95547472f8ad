"""Pre-training: a plain loop over shards, AdamW with warm-up + cosine, checkpoints, resume, DDP.

Every random choice of a step (masks, views, coordinate noise) comes from a generator seeded by
(seed, step, rank) and the data order from (seed, epoch), so ``--resume`` continues bit for bit:
the losses after a resume equal those of an uninterrupted run (tested). SIGReg's directions are
seeded by the step alone, hence identical on every rank.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lumamba_bench import __version__
from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
from lumamba_bench.data.manifest import read_manifest
from lumamba_bench.data.prepare import ensure_prepared
from lumamba_bench.errors import LumambaError, TrainingDiverged
from lumamba_bench.files import sha256_of
from lumamba_bench.harness import distributed, precision
from lumamba_bench.harness.checkpoints import (
    latest_checkpoint,
    load_training_checkpoint,
    register_pretrained,
    save_training_checkpoint,
)
from lumamba_bench.harness.optim import GRAD_CLIP_NORM, clip_gradients, warmup_cosine
from lumamba_bench.harness.results import ensure_writable_folder
from lumamba_bench.models import parse_model_name
from lumamba_bench.models.registry import build_for_dataset, encoder_spec
from lumamba_bench.models.scan import scan_report
from lumamba_bench.objectives import build_objective, objective_settings


@dataclass
class PretrainConfig:
    model: str = "lumamba-mixed"
    corpus: str = "demo"
    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-4  # reference: 1.25e-4 at batch 2040 on TUEG; small demo batches train faster higher
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    grad_clip: float = GRAD_CLIP_NORM
    lejepa_weight: float = 0.05  # LeJEPA's weight (the reference's lejepa_scaling_factor), mixed or alone
    preset: str = "reference"  # objectives.PRESETS: "reference" (the authors' config) or "paper-text"
    mask_ratio: float | None = None  # None: the preset's
    sigreg_weight: float = 0.002
    num_slices: int | None = None  # None: the preset's
    seed: int = 0
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    out: Path | None = None
    resume: bool = False
    resume_with_changes: bool = False  # allow --resume with other settings; each change goes in the card
    data_root: Path | None = None
    max_steps: int | None = None  # stop early (as if interrupted); checkpoint written
    device: str | None = None
    register: bool = True
    workers: int = 0  # DataLoader worker processes decoding batches ahead of the step
    log_every: int = 10  # steps between host syncs: losses are read, checked and logged together


@dataclass
class PretrainResult:
    run_dir: Path
    step: int
    total_steps: int
    history: list[dict] = field(default_factory=list)
    registered: Path | None = None
    objective: nn.Module | None = None  # the trained encoder + pre-training heads


def step_seed_of(seed: int, step: int, rank: int) -> int:
    """The seed of one step's random draws on one rank: distinct for every (seed, step, rank), as
    numpy's SeedSequence hashes the three together (an affine mix such as seed*1e6 + step*101 +
    rank collides, e.g. (0, 9901, 2) and (1, 0, 0))."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0] >> 1)


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in module.parameters() if p.ndim >= 2]
    no_decay = [p for p in module.parameters() if p.ndim < 2]  # biases, norms, A_log, D, queries' gains
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _epoch_batches(sampler: MontageBatchSampler, epoch: int, ctx: distributed.Context, per_rank: int) -> list:
    sampler.set_epoch(epoch)
    return list(sampler)[ctx.rank :: ctx.world_size][:per_rank]


# Settings a resumed run may change without changing what it trains: where it writes, how often
# it checkpoints, when it stops, on which device.
RESUMABLE = {"resume", "resume_with_changes", "out", "data_root", "device", "max_steps", "register",
             "checkpoint_every", "keep_checkpoints", "workers", "log_every"}  # fmt: skip


def changed_settings(card: dict, config: PretrainConfig, manifest_sha: str) -> list[str]:
    """'name: checkpoint's -> now' for every training setting a resume would change, and the data."""
    before = card.get("hyperparameters", {})
    now = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    changes = [
        f"{name}: {before.get(name, 'absent')} -> {now[name]}"
        for name in sorted(now)
        if name not in RESUMABLE and before.get(name, "absent") != now[name]
    ]
    if card.get("manifest_sha256") not in (None, manifest_sha):
        changes.append(f"corpus manifest: {card['manifest_sha256'][:12]}... -> {manifest_sha[:12]}...")
    return changes


def pretrain(config: PretrainConfig, on_step=None) -> PretrainResult:
    parsed = parse_model_name(config.model)
    spec = encoder_spec(parsed.architecture)
    objective_name = parsed.objective or spec.pretrain_objective
    if parsed.scratch or objective_name is None:
        if spec.objectives:
            raise LumambaError(f"pretrain needs a model name with an objective, e.g. {parsed.architecture}-mixed")
        raise LumambaError(f"{parsed.architecture} cannot be pre-trained here: {spec.note or 'no objective'}")
    run_dir = Path(config.out or Path("runs") / "pretrain" / config.model)
    ensure_writable_folder(run_dir, "--out")
    ctx = distributed.setup(config.device)
    torch.manual_seed(config.seed)
    dataset_dir = distributed.main_first(ctx, lambda: ensure_prepared(config.corpus, config.data_root))
    dataset = ShardDataset(dataset_dir, "train")
    sampler = MontageBatchSampler(dataset, config.batch_size, shuffle=True, seed=config.seed, drop_last=True)
    per_rank = len(sampler) // ctx.world_size
    if per_rank == 0:
        raise LumambaError(
            f"{config.corpus} has {len(dataset)} training windows: fewer than one batch of "
            f"{config.batch_size} per process; lower --batch-size"
        )
    total = config.epochs * per_rank
    warmup = int(round(config.warmup_epochs * per_rank))

    encoder = build_for_dataset(parsed.architecture, read_manifest(dataset_dir))
    objective = build_objective(
        objective_name,
        encoder,
        lejepa_weight=config.lejepa_weight,
        mask_ratio=config.mask_ratio,
        sigreg_weight=config.sigreg_weight,
        num_slices=config.num_slices,
        preset=config.preset,
    ).to(ctx.device)
    model = objective
    if ctx.world_size > 1:
        model = torch.nn.parallel.DistributedDataParallel(objective, find_unused_parameters=True)
    optimizer = torch.optim.AdamW(_param_groups(objective, config.weight_decay), lr=config.lr)

    step, history = 0, []
    if config.resume or config.resume_with_changes:
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is None:
            raise LumambaError(f"--resume: no checkpoint in {run_dir}")
        card = load_training_checkpoint(checkpoint, objective, optimizer)
        if card.get("model") != config.model:
            raise LumambaError(f"{checkpoint} is a {card.get('model')} checkpoint, not {config.model}")
        step, history = card["step"], card["history"]
        changes = changed_settings(card, config, sha256_of(Path(dataset_dir) / "manifest.json"))
        if changes and not config.resume_with_changes:
            raise LumambaError(
                f"--resume: {checkpoint} was trained with other settings ({'; '.join(changes)}); resume with "
                "the same ones, or pass --resume-with-changes to change them (recorded in the card)"
            )
        change_log = list(card.get("resumed_with_changes", []))
        if changes:
            change_log.append({"step": step, "changes": changes})
    else:
        change_log = []
    manifest_sha = sha256_of(Path(dataset_dir) / "manifest.json")

    def card(now_step: int) -> dict:
        return {
            "model": config.model,
            "architecture": parsed.architecture,
            "objective": objective_name,
            "encoder_config": encoder.config_dict(),
            "input_normalisation": encoder.config.input_normalisation,
            "objective_settings": objective_settings(objective),
            "parameters": sum(p.numel() for p in encoder.parameters()),
            "hyperparameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
            "corpus": config.corpus,
            "manifest_sha256": manifest_sha,
            "step": now_step,
            "total_steps": total,
            "world_size": ctx.world_size,
            "scan_backend": scan_report(ctx.device),
            "precision": precision.active(),
            "history": history,
            "resumed_with_changes": change_log,
            "tool_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def save(now_step: int) -> None:
        if not ctx.is_main:
            return
        save_training_checkpoint(run_dir / f"step-{now_step:07d}", objective, optimizer, card(now_step))
        for old in sorted(run_dir.glob("step-*"))[: -config.keep_checkpoints]:
            import shutil

            shutil.rmtree(old, ignore_errors=True)

    def diverged(what: str, value: float, at: int) -> TrainingDiverged:
        last = latest_checkpoint(run_dir)  # every save follows a flush: nothing diverged was saved
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written before it"
        return TrainingDiverged(
            f"{what} became {value} at step {at}; {kept} (nothing after it was saved); "
            "lower --lr or raise --warmup-epochs",
            history,
        )

    pending: list[tuple[dict, torch.Tensor]] = []  # steps whose values are still on the device
    interval_started = time.perf_counter()

    def flush() -> None:
        """One device-to-host transfer for the steps since the last flush: check them, log them."""
        nonlocal interval_started
        if not pending:
            return
        values = distributed.mean_over_ranks(torch.stack([v for _, v in pending])).cpu()
        seconds = (time.perf_counter() - interval_started) / len(pending)
        for (record, _), row in zip(pending, values.tolist(), strict=True):
            grad_norm, *parts = row
            if not math.isfinite(parts[0]):  # parts[0] is the loss
                raise diverged("loss", parts[0], record["step"])
            if not math.isfinite(grad_norm):
                raise diverged("gradients", grad_norm, record["step"])
            record |= {"grad_norm": grad_norm, "seconds": seconds} | dict(zip(part_names, parts, strict=True))
            history.append(record)
            if on_step is not None and ctx.is_main:
                on_step(record, total)
        pending.clear()
        interval_started = time.perf_counter()

    objective.train()
    stream, stream_epoch = None, -1
    pin = ctx.device.type == "cuda"
    stop = total if config.max_steps is None else min(total, config.max_steps)
    part_names: list[str] = []
    while step < stop:
        epoch, index = divmod(step, per_rank)
        if epoch != stream_epoch:  # this epoch's batches from where the run stands (a resume starts mid-epoch)
            order = _epoch_batches(sampler, epoch, ctx, per_rank)[index:]
            stream, stream_epoch = batches_of(dataset, order, config.workers, pin), epoch
        batch = next(stream)
        x = batch["signal"].to(ctx.device, non_blocking=pin)
        coords = batch["coords"].to(ctx.device, non_blocking=pin)
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, total, warmup, config.lr)
        step_seed = step_seed_of(config.seed, step, ctx.rank)
        generator = torch.Generator().manual_seed(step_seed)  # masks, jitter, views
        torch.manual_seed(step_seed)  # dropout: re-seeded every step, so a resumed run repeats it
        with precision.autocast(ctx.device):
            parts = model(x, coords, generator, step=step, channels=batch["channels"])
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        grad_norm = clip_gradients(objective.parameters(), config.grad_clip)
        # No host sync here: a non-finite loss or gradient is found at the next flush, which comes
        # before any checkpoint, so diverged weights are never saved.
        optimizer.step()
        part_names = ["loss", *(k for k in parts if k != "loss")]
        values = torch.stack([grad_norm.float(), *(parts[k].detach().float() for k in part_names)])
        pending.append(({"step": step, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}, values))
        step += 1
        checkpoint_due = step % config.checkpoint_every == 0 or step == stop
        if len(pending) >= config.log_every or checkpoint_due:
            flush()
        if checkpoint_due:
            save(step)
    flush()

    registered = None
    if step == total and config.register and ctx.is_main:
        registered = register_pretrained(config.model, encoder, card(step), config.data_root)
    if ctx.world_size > 1:
        torch.distributed.barrier()
    return PretrainResult(run_dir, step, total, history, registered, objective)
