"""Pre-training: a plain loop over shards, AdamW with warm-up + cosine, checkpoints, resume, DDP.

Every random choice of a step (masks, views, coordinate noise) comes from a generator seeded by
(seed, step, rank) and the data order from (seed, epoch), so ``--resume`` continues bit for bit:
the losses after a resume equal those of an uninterrupted run (tested). SIGReg's directions are
seeded by the step alone, hence identical on every rank.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lumamba_bench import __version__
from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
from lumamba_bench.data.manifest import read_manifest
from lumamba_bench.data.store import ensure_prepared
from lumamba_bench.errors import LumambaError, TrainingDiverged
from lumamba_bench.files import sha256_of
from lumamba_bench.harness import distributed, precision
from lumamba_bench.harness.checkpoints import (
    latest_checkpoint,
    load_training_checkpoint,
    register_pretrained,
    save_training_checkpoint,
)
from lumamba_bench.harness.compute import compute_settings
from lumamba_bench.harness.optim import GRAD_CLIP_NORM, clip_gradients, warmup_cosine
from lumamba_bench.harness.pretrain_settings import (
    COMPUTE,
    MAX_GRAD_NORM,
    changed_settings,
    check_store_name,
    compute_record,
)
from lumamba_bench.harness.results import ensure_writable_folder
from lumamba_bench.models import parse_model_name
from lumamba_bench.models.registry import build_for_dataset, encoder_spec
from lumamba_bench.models.scan import scan_report
from lumamba_bench.objectives import build_objective, objective_settings


@dataclass
class PretrainConfig:
    model: str = "lumamba-mixed"
    name: str | None = None  # the model-store name `run --model` takes (default: ``model``)
    task: str = "demo-pretrain"  # the recipe pre-trained on (its train split), the same name `run --task` takes
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
    precision: str = "fp32"  # fp32 (TF32 matmuls on CUDA) or bf16 autocast
    scan_backend: str = "auto"  # auto | mamba-ssm | chunked (models/scan.py)


@dataclass
class PretrainResult:
    run_dir: Path
    step: int
    total_steps: int
    history: list[dict] = field(default_factory=list)
    registered: Path | None = None
    objective: nn.Module | None = None  # the trained encoder + pre-training heads
    card: Path | None = None  # the model card beside the registered weights (written by api.pretrain)


def step_seed_of(seed: int, step: int, rank: int) -> int:
    """The seed of one step's random draws on one rank: distinct for every (seed, step, rank), as
    numpy's SeedSequence hashes the three together (an affine mix such as seed*1e6 + step*101 +
    rank collides, e.g. (0, 9901, 2) and (1, 0, 0))."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0] >> 1)


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in module.parameters() if p.ndim >= 2]
    no_decay = [p for p in module.parameters() if p.ndim < 2]  # biases, norms, A_log, D, queries' gains
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _epoch_batches(sampler: MontageBatchSampler, epoch: int, ctx: distributed.Context, per_rank: int):
    sampler.set_epoch(epoch)
    return sampler.for_rank(ctx.rank, ctx.world_size, per_rank)


# Settings a resumed run may change without changing what it trains: where it writes, how often
# it checkpoints, when it stops, on which device.
def pretrain(config: PretrainConfig, on_step=None) -> PretrainResult:
    """Pre-train with the config's device, precision and scan backend, checkpointing every
    ``checkpoint_every`` steps; resume from the last checkpoint when asked; register the finished
    encoder in the model store."""
    with compute_settings(config.device, config.precision, config.scan_backend):
        try:
            return _pretrain(config, on_step)
        finally:
            distributed.teardown()  # under torchrun: the process group ends with the run


def _pretrain(config: PretrainConfig, on_step) -> PretrainResult:
    check_store_name(config.name, config.model)
    run = _start(config, on_step)
    if config.resume or config.resume_with_changes:
        _resume(run)
    _train(run)
    registered = None
    if run.step == run.total and config.register and run.ctx.is_main:
        registered = register_pretrained(config.name or config.model, run.encoder, _card(run), config.data_root)
    if run.ctx.world_size > 1:
        torch.distributed.barrier()
    return PretrainResult(run.run_dir, run.step, run.total, run.history, registered, run.objective)


@dataclass
class _Run:
    """The state of one pre-training run, shared by the steps below."""

    config: PretrainConfig
    ctx: distributed.Context
    architecture: str
    objective_name: str
    run_dir: Path
    dataset: ShardDataset
    sampler: MontageBatchSampler
    per_rank: int
    encoder: nn.Module
    objective: nn.Module
    model: nn.Module  # the objective, DDP-wrapped under torchrun
    optimizer: torch.optim.Optimizer
    manifest_sha: str
    on_step: object = None
    step: int = 0
    history: list = field(default_factory=list)
    change_log: list = field(default_factory=list)
    pending: list = field(default_factory=list)  # (record, values on the device) since the last flush
    part_names: list = field(default_factory=list)
    interval_started: float = 0.0

    @property
    def total(self) -> int:
        return self.config.epochs * self.per_rank

    @property
    def warmup(self) -> int:
        return int(round(self.config.warmup_epochs * self.per_rank))


def _objective_of(config: PretrainConfig) -> tuple[str, str]:
    """(architecture, objective) a model name pre-trains; an error for names that cannot be."""
    parsed = parse_model_name(config.model)
    spec = encoder_spec(parsed.architecture)
    objective_name = parsed.objective or spec.pretrain_objective
    if parsed.scratch or objective_name is None:
        if spec.objectives:
            raise LumambaError(f"pretrain needs a model name with an objective, e.g. {parsed.architecture}-mixed")
        raise LumambaError(f"{parsed.architecture} cannot be pre-trained here: {spec.note or 'no objective'}")
    return parsed.architecture, objective_name


def _start(config: PretrainConfig, on_step) -> _Run:
    """Data, encoder, objective and optimizer of a fresh run."""
    architecture, objective_name = _objective_of(config)
    run_dir = Path(config.out or Path("runs") / "pretrain" / config.model)
    ensure_writable_folder(run_dir, "--out")
    ctx = distributed.setup(config.device)
    torch.manual_seed(config.seed)
    dataset_dir = distributed.main_first(ctx, lambda: ensure_prepared(config.task, config.data_root))
    dataset = ShardDataset(dataset_dir, "train")
    sampler = MontageBatchSampler(dataset, config.batch_size, shuffle=True, seed=config.seed, drop_last=True)
    per_rank = len(sampler) // ctx.world_size
    if per_rank == 0:
        raise LumambaError(
            f"{config.task} has {len(dataset)} training windows: fewer than one batch of "
            f"{config.batch_size} per process; lower --batch-size"
        )
    encoder = build_for_dataset(architecture, read_manifest(dataset_dir))
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
    manifest_sha = sha256_of(Path(dataset_dir) / "manifest.json")
    return _Run(config, ctx, architecture, objective_name, run_dir, dataset, sampler, per_rank, encoder, objective,
                model, optimizer, manifest_sha, on_step)  # fmt: skip


def _resume(run: _Run) -> None:
    """Continue from the run folder's last checkpoint; other settings are refused unless
    ``resume_with_changes`` (then each change is recorded in the card)."""
    config = run.config
    checkpoint = latest_checkpoint(run.run_dir)
    if checkpoint is None:
        raise LumambaError(f"--resume: no checkpoint in {run.run_dir}")
    card = load_training_checkpoint(checkpoint, run.objective, run.optimizer)
    if card.get("model") != config.model:
        raise LumambaError(f"{checkpoint} is a {card.get('model')} checkpoint, not {config.model}")
    run.step, run.history = card["step"], card["history"]
    changes = changed_settings(card, config, run.manifest_sha, compute_record(_card(run)))
    if changes and not config.resume_with_changes:
        raise LumambaError(
            f"--resume: {checkpoint} was trained with other settings ({'; '.join(changes)}); resume with "
            "the same ones, or pass --resume-with-changes to change them (recorded in the card)"
        )
    run.change_log = list(card.get("resumed_with_changes", []))
    if changes:
        run.change_log.append({"step": run.step, "changes": changes})


def _card(run: _Run) -> dict:
    """Everything needed to trust and resume a checkpoint of this run at its current step."""
    config = run.config
    return {
        "model": config.model,
        "name": config.name or config.model,
        "architecture": run.architecture,
        "objective": run.objective_name,
        "encoder_config": run.encoder.config_dict(),
        "input_normalisation": run.encoder.config.input_normalisation,
        "objective_settings": objective_settings(run.objective),
        "parameters": sum(p.numel() for p in run.encoder.parameters()),
        "hyperparameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()
                            if k not in COMPUTE},
        "task": config.task,
        "manifest_sha256": run.manifest_sha,
        "step": run.step,
        "total_steps": run.total,
        "world_size": run.ctx.world_size,
        "scan_backend": scan_report(run.ctx.device),
        "precision": precision.active(),
        "device": run.ctx.device.type,
        "history": run.history,
        "resumed_with_changes": run.change_log,
        "tool_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _save(run: _Run) -> None:
    """A checkpoint, only of finite weights (every rank checks: DDP keeps them equal), so the
    last checkpoint is always a good one."""
    finite = torch.stack([torch.isfinite(p).all() for p in run.objective.parameters()]).all()
    if not bool(finite):  # one host sync per checkpoint
        bad = next(name for name, p in run.objective.named_parameters() if not torch.isfinite(p).all())
        raise _diverged(run, f"weight {bad}", float("nan"), run.step)
    if not run.ctx.is_main:
        return
    save_training_checkpoint(run.run_dir / f"step-{run.step:07d}", run.objective, run.optimizer, _card(run))
    for old in sorted(run.run_dir.glob("step-*"))[: -run.config.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def _diverged(run: _Run, what: str, value: float, at: int) -> TrainingDiverged:
    last = latest_checkpoint(run.run_dir)  # every save follows a flush: nothing diverged was saved
    kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written before it"
    return TrainingDiverged(
        f"{what} became {value} at step {at}; {kept} (nothing after it was saved); lower --lr or raise --warmup-epochs",
        run.history,
    )


def _flush(run: _Run) -> None:
    """One device-to-host transfer for the steps since the last flush: check them, log them."""
    if not run.pending:
        return
    values = distributed.mean_over_ranks(torch.stack([v for _, v in run.pending])).cpu()
    seconds = (time.perf_counter() - run.interval_started) / len(run.pending)
    for (record, _), row in zip(run.pending, values.tolist(), strict=True):
        grad_norm, *parts = row
        if not math.isfinite(parts[0]):  # parts[0] is the loss
            raise _diverged(run, "loss", parts[0], record["step"])
        if not math.isfinite(grad_norm) or grad_norm > MAX_GRAD_NORM:
            raise _diverged(run, "the gradient norm", grad_norm, record["step"])
        record |= {"grad_norm": grad_norm, "seconds": seconds} | dict(zip(run.part_names, parts, strict=True))
        run.history.append(record)
        if run.on_step is not None and run.ctx.is_main:
            run.on_step(record, run.total)
    run.pending.clear()
    run.interval_started = time.perf_counter()


def _train(run: _Run) -> None:
    """Steps until the end (or ``max_steps``), flushing every ``log_every`` steps and before
    every checkpoint."""
    config, ctx = run.config, run.ctx
    run.objective.train()
    run.interval_started = time.perf_counter()
    stream, stream_epoch = None, -1
    pin = ctx.device.type == "cuda"
    stop = run.total if config.max_steps is None else min(run.total, config.max_steps)
    while run.step < stop:
        epoch, index = divmod(run.step, run.per_rank)
        if epoch != stream_epoch:  # this epoch's batches from where the run stands (a resume starts mid-epoch)
            order = itertools.islice(_epoch_batches(run.sampler, epoch, ctx, run.per_rank), index, None)
            stream, stream_epoch = batches_of(run.dataset, order, config.workers, pin), epoch
        _step(run, next(stream), epoch, pin)
        run.step += 1
        checkpoint_due = run.step % config.checkpoint_every == 0 or run.step == stop
        if len(run.pending) >= config.log_every or checkpoint_due:
            _flush(run)
        if checkpoint_due:
            _save(run)
    _flush(run)


def _step(run: _Run, batch: dict, epoch: int, pin: bool) -> None:
    """One optimisation step; its loss parts and gradient norm stay on the device (pending)."""
    config, ctx, optimizer = run.config, run.ctx, run.optimizer
    x = batch["signal"].to(ctx.device, non_blocking=pin)
    coords = batch["coords"].to(ctx.device, non_blocking=pin)
    for group in optimizer.param_groups:
        group["lr"] = warmup_cosine(run.step, run.total, run.warmup, config.lr)
    step_seed = step_seed_of(config.seed, run.step, ctx.rank)
    generator = torch.Generator().manual_seed(step_seed)  # masks, jitter, views
    torch.manual_seed(step_seed)  # dropout: re-seeded every step, so a resumed run repeats it
    with precision.autocast(ctx.device):
        parts = run.model(x, coords, generator, step=run.step, channels=batch["channels"])
    optimizer.zero_grad(set_to_none=True)
    parts["loss"].backward()
    grad_norm = clip_gradients(run.objective.parameters(), config.grad_clip)
    # No host sync here: a non-finite loss or gradient is found at the next flush, which comes
    # before any checkpoint, so diverged weights are never saved.
    optimizer.step()
    run.part_names = ["loss", *(k for k in parts if k != "loss")]
    values = torch.stack([grad_norm.float(), *(parts[k].detach().float() for k in run.part_names)])
    run.pending.append(({"step": run.step, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}, values))
