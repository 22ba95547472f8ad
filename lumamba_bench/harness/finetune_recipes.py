"""Fine-tuning recipes: every setting of a fine-tuning run, and where each value came from.

``reference`` (the default) fine-tunes each family as its authors did; ``common`` fine-tunes every
encoder the same way, for comparisons at one budget. Sources, read from the authors' code:

- LuMamba: BioFoundation ``config/experiment/LuMamba_finetune.yaml``, ``config/scheduler/cosine.yaml``
  (``schedulers/cosine.py``: timm's ``CosineLRScheduler`` stepped per optimiser step),
  ``config/criterion/finetune_criterion.yaml`` (``nn.CrossEntropyLoss()``), the layer decay of
  ``tasks/finetune_task_LUNA.py`` (only ``blocks.i``/``mamba_blocks.i``/``norm_layers.i``, by
  ``decay ** (num_blocks - i)``).
- LUNA: ``config/experiment/LUNA_finetune.yaml`` (batch 256 on each of 4 GPUs), ``config/model/LUNA_*.yaml``
  (drop path 0.1), the same task and scheduler.
- FEMBA: ``config/experiment/FEMBA_finetune.yaml`` (batch 256 x 4, weight decay 0.5, no early
  stopping), ``tasks/finetune_task.py``.
- LaBraM: ``run_class_finetuning.py`` with its README's TUAB command (batch 64 x 8, layer decay
  0.65, drop path 0.1), ``optim_factory.py`` (layer ids, weight-decay exemptions),
  ``utils.cosine_scheduler`` (warm-up from 0), ``engine_for_finetuning.py`` (one logit and
  ``BCEWithLogitsLoss`` for a binary task, label smoothing 0.1 otherwise; the epoch with the best
  validation accuracy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.metrics import load_metrics


@dataclass
class FinetuneSettings:
    recipe: str = "common"
    protocol: str = "full"  # full | linear (encoder frozen) | eval (no training: a fine-tuned checkpoint)
    head: str = "attention-pool"  # models/heads.py
    epochs: int = 50
    batch_size: int = 32  # windows per optimiser step, all processes together
    micro_batch: int | None = None  # windows per forward/backward; gradients accumulate up to batch_size
    drop_last: bool = True  # the reference drops a ragged last batch every epoch
    lr: float = 5e-4
    weight_decay: float = 0.05
    weight_decay_exempt: str = "none"  # none | labram (1-D tensors, biases, cls/pos/time embeddings)
    layer_decay: float = 0.75
    layer_decay_scope: str = "blocks"  # blocks: the encoder's decay_blocks() only | labram: its layer ids
    schedule: str = "timm-cosine"  # timm-cosine (BioFoundation) | labram-cosine (LaBraM's utils)
    warmup_epochs: int = 5
    warmup_lr: float = 1e-6  # timm-cosine only: LaBraM's warm-up starts at 0
    min_lr: float = 1e-6
    loss: str = "cross-entropy"  # cross-entropy | weighted-cross-entropy (inverse class frequency on train)
    label_smoothing: float = 0.0
    single_logit_binary: bool = False  # LaBraM: one logit and BCE-with-logits for a binary task
    selection: str = "val_loss"  # val_loss (lowest) | val_accuracy | val_<metric>: the first epoch reaching its best
    patience: int | None = 10  # epochs without a better selection value before stopping; None: all epochs
    clip_grad: float | None = None  # global gradient-norm clip; None: none
    encoder_overrides: dict = field(default_factory=dict)  # encoder config values for fine-tuning (drop path, ...)
    workers: int = 0  # DataLoader worker processes decoding batches ahead (not a training setting)


COMMON = dict(
    head="attention-pool", epochs=50, batch_size=32, lr=5e-4, weight_decay=0.05, layer_decay=0.75,
    layer_decay_scope="blocks", schedule="timm-cosine", warmup_epochs=5, warmup_lr=1e-6, min_lr=1e-6,
    loss="weighted-cross-entropy", selection="val_loss", patience=10, clip_grad=1.0, encoder_overrides={},
    drop_last=True,
)  # fmt: skip

_BIOFOUNDATION = dict(
    head="reference", lr=5e-4, weight_decay=0.05, layer_decay=0.75, layer_decay_scope="blocks",
    schedule="timm-cosine", loss="cross-entropy", selection="val_loss", clip_grad=None, drop_last=True,
)  # fmt: skip

REFERENCE = {
    "lumamba": _BIOFOUNDATION | dict(batch_size=512, epochs=50, warmup_epochs=5, warmup_lr=1e-6, min_lr=1e-6,
                                     patience=15, encoder_overrides={}),
    "luna": _BIOFOUNDATION | dict(batch_size=1024, epochs=30, warmup_epochs=10, warmup_lr=2.5e-7, min_lr=2.5e-6,
                                  patience=8, encoder_overrides={"drop_path": 0.1}),
    "femba": _BIOFOUNDATION | dict(batch_size=1024, epochs=30, warmup_epochs=10, warmup_lr=2.5e-7, min_lr=2.5e-6,
                                   weight_decay=0.5, patience=None, encoder_overrides={}),
    "labram": dict(head="reference", batch_size=512, epochs=50, lr=5e-4, weight_decay=0.05,
                   weight_decay_exempt="labram", layer_decay=0.65, layer_decay_scope="labram",
                   schedule="labram-cosine", warmup_epochs=5, min_lr=1e-6, loss="cross-entropy",
                   label_smoothing=0.1, single_logit_binary=True, selection="val_accuracy", patience=None,
                   clip_grad=None, drop_last=True,
                   encoder_overrides={"drop_path": 0.1, "qkv_bias": False}),  # the TUAB command's --disable_qkv_bias
}  # fmt: skip

RECIPES = ("reference", "common")
CHOICES = {
    "protocol": ("full", "linear", "eval"),
    "weight_decay_exempt": ("none", "labram"),
    "layer_decay_scope": ("blocks", "labram"),
    "schedule": ("timm-cosine", "labram-cosine"),
    "loss": ("cross-entropy", "weighted-cross-entropy"),
}
SELECTION_VALUES = {"val_loss": ("validation loss", False), "val_accuracy": ("validation accuracy", True)}


def selection_rule(selection: str, task_type: str | None = None) -> tuple[str, bool]:
    """What ``selection`` reads and its direction: (description, higher is better). Besides the
    loss and LaBraM's accuracy, any registered metric of the task type selects the epoch as
    ``val_<name>``, in the direction its registry entry gives."""
    if selection in SELECTION_VALUES:
        return SELECTION_VALUES[selection]
    metric = load_metrics().get(selection.removeprefix("val_")) if selection.startswith("val_") else None
    if metric is None or (task_type is not None and task_type not in metric.task_types):
        usable = [f"val_{m.name}" for m in load_metrics().values() if task_type is None or task_type in m.task_types]
        raise LumambaError(f"selection {selection!r} is not one of {', '.join([*SELECTION_VALUES, *usable])}")
    return f"validation {metric.name}", metric.higher_is_better


def recipe_values(recipe: str, family: str) -> dict:
    """The recipe's settings for one encoder family (``reference`` needs a family the authors
    fine-tuned; a plugin family takes ``common``'s values and is told so)."""
    if recipe == "common":
        return dict(COMMON)
    if recipe != "reference":
        raise LumambaError(f"unknown fine-tuning recipe {recipe!r}; use {' or '.join(RECIPES)}")
    if family not in REFERENCE:
        raise LumambaError(
            f"no reference fine-tuning recipe for the {family} family (known: {', '.join(REFERENCE)}); "
            "use --recipe common"
        )
    return dict(REFERENCE[family])


def default_recipe(family: str) -> str:
    """``reference`` for a family the authors fine-tuned, ``common`` for any other (a plugin's)."""
    return "reference" if family in REFERENCE else "common"


def task_overrides(task_recipe, recipe: str) -> dict:
    """What a task changes for a recipe (``Recipe.finetune_defaults``: ``all`` and per recipe)."""
    defaults = getattr(task_recipe, "finetune_defaults", {}) or {}
    return dict(defaults.get("all", {})) | dict(defaults.get(recipe, {}))


def build_settings(recipe: str, family: str, task: dict, command_line: dict) -> tuple[FinetuneSettings, dict]:
    """The settings (recipe, then the task's exceptions, then the command line) and the record
    of which values did not come from the recipe."""
    known = {f.name for f in fields(FinetuneSettings)}
    for source in (task, command_line):
        unknown = sorted(set(source) - known)
        if unknown:
            raise LumambaError(f"unknown fine-tuning settings: {', '.join(unknown)}")
    settings = replace(FinetuneSettings(), recipe=recipe, **recipe_values(recipe, family))
    settings = replace(settings, **task)
    settings = replace(settings, **command_line)
    check(settings)
    record = {"recipe": recipe, "task": dict(task), "command_line": dict(command_line)}
    return settings, record


def check(settings: FinetuneSettings) -> None:
    for name, allowed in CHOICES.items():
        if getattr(settings, name) not in allowed:
            raise LumambaError(f"{name} {getattr(settings, name)!r} is not one of {', '.join(allowed)}")
    selection_rule(settings.selection)
    if settings.batch_size < 1 or settings.epochs < 1:
        raise LumambaError("batch size and epochs must be at least 1")
    if settings.micro_batch is not None and not 1 <= settings.micro_batch:
        raise LumambaError("--micro-batch must be at least 1")


def hyperparameters(settings: FinetuneSettings) -> dict:
    """The settings as the results file records them (``workers`` is how, not what: left out)."""
    out = asdict(settings)
    out.pop("workers")
    return out
