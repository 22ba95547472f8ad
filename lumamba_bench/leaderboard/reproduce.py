"""``lumamba-bench leaderboard reproduce``: re-run a stored submission from what it records and
compare, per seed and per metric, the stored value with the re-run's.

A results file records what a re-run needs (``rerun_gaps`` names anything missing, and
``submit`` refuses such a file): the model by name and checkpoint sha256, the task's recipe
version and prepared-dataset sha256, the fine-tuning recipe, every setting and where it came
from, the seeds and the channel sets. On the CPU, with the same software and thread count, ``run``
is deterministic per seed, so the metrics must be identical; elsewhere a tolerance is given.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lumamba_bench.errors import LumambaError

# Dotted fields a re-run reads; ``model.checkpoint.sha256`` too unless the model is -scratch.
RERUN_FIELDS = (
    "model.name",
    "task.recipe",
    "task.recipe_version",
    "task.dataset_sha256",
    "protocol.name",
    "protocol.recipe",
    "protocol.hyperparameters",
    "protocol.overrides.command_line",
    "seeds",
)
EVAL_FIELDS = ("model.name", "model.checkpoint.sha256", "task.recipe", "task.dataset_sha256", "protocol.name")
# What must match for bit-identical CPU metrics: the software, the kernels torch picked, the threads.
ENVIRONMENT_KEYS = ("device", "torch", "cpu_capability", "threads", "precision", "world_size")


def _get(results: dict, dotted: str):
    value = results
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def rerun_gaps(results: dict) -> list[str]:
    """The fields a re-run needs that ``results`` lacks (empty: it can be re-run)."""
    eval_protocol = _get(results, "protocol.name") == "eval"
    needed = list(EVAL_FIELDS if eval_protocol else RERUN_FIELDS)
    if not eval_protocol and _get(results, "model.checkpoint") is not None:
        needed.append("model.checkpoint.sha256")
    return [f for f in needed if _get(results, f) is None]


@dataclass
class Reproduction:
    frame: object  # pandas DataFrame: seed, metric, stored, rerun, difference, within
    environment: list[str]  # "key: stored -> here" where the re-run's environment differs
    rule: str  # how "within" was judged
    rerun_path: Path | None

    @property
    def failed(self) -> list[str]:
        """"seed S metric" for every value outside the rule."""
        rows = self.frame[~self.frame["within"]]
        return [f"seed {s} {m}" for s, m in zip(rows["seed"], rows["metric"], strict=True)]


def _checkpoint(results: dict, given: Path | None, data_root: Path | None) -> Path | None:
    """The encoder (or, for eval, fine-tuned) checkpoint whose sha256 the results record: the
    file given, the hub file at the recorded commit, or a match in the local model store."""
    from lumamba_bench.files import sha256_of
    from lumamba_bench.harness.checkpoints import ENCODER_WEIGHTS, model_store, read_card

    wanted = _get(results, "model.checkpoint.sha256")
    if wanted is None:
        if given is not None:
            raise LumambaError(f"{results['model']['name']} was trained from random initialisation: drop --checkpoint")
        return None
    hub = _get(results, "model.checkpoint.hub")
    if given is None and hub is not None:  # published weights: the same commit, from the hub cache
        from lumamba_bench.harness.hub import fetch, parse

        address = parse(hub["address"])
        given, _ = fetch(f"hf://{address.repo}/{address.file}@{hub['revision']}")
    if given is not None:
        found = sha256_of(given)
        if found != wanted:
            raise LumambaError(f"{given}: sha256 {found[:12]}..., the submission used {wanted[:12]}...")
        return Path(given)
    for candidate in sorted(model_store(data_root).glob(f"*/{ENCODER_WEIGHTS}")):
        # the store's card records each encoder's sha256 when registered: one hash, of the match
        if (read_card(candidate) or {}).get("encoder_sha256") == wanted and sha256_of(candidate) == wanted:
            return candidate
    raise LumambaError(
        f"no checkpoint with sha256 {wanted[:12]}... in the model store ({model_store(data_root)}): "
        "pass --checkpoint FILE"
    )


def rerunnable_here(path: Path, data_root: Path | None) -> str:
    """Why a stored submission cannot be re-run on this machine ("" when it can): its data are
    neither generated here (synthetic recipes) nor prepared, or its checkpoint is not here."""
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.data.store import data_root as resolve_root
    from lumamba_bench.leaderboard.submission import read_results

    results = read_results(path)
    recipe = get_recipe(results["task"]["recipe"])
    if not recipe.synthetic and not (resolve_root(data_root) / recipe.name / "manifest.json").is_file():
        return f"{recipe.name} is not prepared here (licensed data: prepare it to re-run)"
    try:
        _checkpoint(results, None, data_root)
    except LumambaError as error:
        return str(error)
    return ""


def _scan_backend(recorded: dict, device: str | None) -> str:
    """The scan the stored run used where it can run here (the same numbers need the same kernel,
    whatever ``auto`` picks today), else the one it requested."""
    import torch

    from lumamba_bench.models import scan

    used = recorded.get("used")
    on_cuda = str(device).startswith("cuda") if device is not None else torch.cuda.is_available()
    runnable = {"chunked": True, "numba": scan.numba_available() and not on_cuda,
                "mamba-ssm": scan.mamba_ssm_available() and on_cuda}  # fmt: skip
    return used if runnable.get(used, False) else recorded.get("requested", "auto")


def rerun_config(results: dict, checkpoint: Path | None, out: Path, data_root: Path | None, device: str | None):
    """The ``RunConfig`` that repeats the run ``results`` records."""
    from lumamba_bench.harness.run import RunConfig

    protocol = results["protocol"]
    seeds = [s["seed"] for s in results["seeds"]]
    if seeds != list(range(len(seeds))):
        raise LumambaError(f"seeds {seeds}: run trains seeds 0..n-1, so these cannot be re-run")
    shift = protocol.get("montage_shift") or {}
    channels = {k: (None if shift.get(k) in (None, "all") else shift[k]) for k in ("train_channels", "test_channels")}
    environment = results.get("environment", {})
    compute = {"precision": environment.get("precision", "fp32"),  # the stored run's, not this process's
               "scan_backend": _scan_backend(environment.get("scan_backend") or {}, device)}  # fmt: skip
    return RunConfig(
        model=results["model"]["name"],
        task=results["task"]["recipe"],
        checkpoint=checkpoint,
        protocol=protocol["name"],
        recipe=protocol.get("recipe") or "reference",
        head=protocol["hyperparameters"].get("head") if protocol["name"] == "eval" else None,
        seeds=len(seeds),
        settings=dict(protocol.get("overrides", {}).get("command_line", {})),
        out=out,
        save_predictions=True,
        data_root=data_root,
        device=device,
        **channels,
        **compute,
    )


def _check_settings(results: dict, config) -> None:
    """The recipe, task exceptions and command line give today what they gave then; a setting
    whose default has changed since is named before anything trains."""
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.harness.finetune_recipes import hyperparameters
    from lumamba_bench.harness.run import resolved_settings

    settings, _ = resolved_settings(config, get_recipe(config.task), results["model"]["architecture"])
    now = json.loads(json.dumps(hyperparameters(settings)))
    stored = {k: v for k, v in results["protocol"]["hyperparameters"].items() if k != "seeds"}
    changed = sorted(k for k in set(now) | set(stored) if now.get(k) != stored.get(k))
    if changed:
        detail = ", ".join(f"{k} {stored.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise LumambaError(f"the same command now trains with other settings ({detail}): not a re-run")


def _check_dataset(results: dict, data_root: Path | None) -> None:
    from lumamba_bench.data.manifest import read_manifest
    from lumamba_bench.data.store import ensure_prepared
    from lumamba_bench.leaderboard.submission import check_same_dataset

    recipe = results["task"]["recipe"]
    folder = ensure_prepared(recipe, data_root)  # the demo is generated and prepared here
    check_same_dataset(results, folder / "manifest.json", read_manifest(folder, recipe))


def environment_differences(stored: dict, here: dict) -> list[str]:
    return [
        f"{k}: {stored.get(k)} -> {here.get(k)}" for k in ENVIRONMENT_KEYS if stored.get(k) != here.get(k)
    ]


def _metric_pairs(stored: dict, rerun: dict):
    """(seed, metric, stored, rerun) for every per-seed metric, logit and recording metric."""
    for old, new in zip(stored["seeds"], rerun["seeds"], strict=True):
        for group, prefix in (("metrics", ""), ("recording_metrics", "recording_"), ("logit_metrics", "")):
            for metric, value in (old.get(group) or {}).items():
                yield old["seed"], prefix + metric, value, (new.get(group) or {}).get(metric)


def compare_metrics(stored: dict, rerun: dict, tolerance: float = 0.0, sigma: float | None = None):
    """Per seed and metric: stored, re-run, difference and whether it is within the rule: equal
    (``tolerance`` 0), within ``tolerance``, or (``sigma``) the re-run's seed mean within ``sigma``
    stored seed standard deviations of the stored mean, judged per metric."""
    import pandas as pd

    frame = pd.DataFrame(
        list(_metric_pairs(stored, rerun)), columns=["seed", "metric", "stored", "rerun"]
    ).astype({"stored": float, "rerun": float})
    frame["difference"] = frame["rerun"] - frame["stored"]
    both_missing = frame["stored"].isna() & frame["rerun"].isna()
    if sigma is None:
        frame["within"] = both_missing | (frame["difference"].abs() <= tolerance)
        rule = "identical" if tolerance == 0 else f"|difference| <= {tolerance:g}"
        return frame, rule
    means = frame.groupby("metric")[["stored", "rerun"]].mean()
    spread = frame.groupby("metric")["stored"].std(ddof=1).fillna(0.0)
    ok = ((means["rerun"] - means["stored"]).abs() <= sigma * spread + tolerance).rename("within")
    frame = frame.join(ok, on="metric")
    frame["within"] = frame["within"] | both_missing
    return frame, f"seed mean within {sigma:g} stored std of the stored mean" + (
        f" (+ {tolerance:g})" if tolerance else ""
    )


def reproduce(
    submission: Path,
    checkpoint: Path | None = None,
    data_root: Path | None = None,
    device: str | None = None,
    tolerance: float = 0.0,
    sigma: float | None = None,
    out: Path | None = None,
) -> Reproduction:
    """Re-run a stored submission and compare its metrics with the stored ones."""
    import torch

    from lumamba_bench.harness.run import run_benchmark
    from lumamba_bench.leaderboard.submission import load_stored

    results = load_stored(submission)
    gaps = rerun_gaps(results)
    if gaps:
        raise LumambaError(f"{submission}: cannot be re-run, it does not record {', '.join(gaps)}")
    if tolerance < 0 or (sigma is not None and sigma < 0):
        raise LumambaError("--tolerance and --sigma must not be negative")
    weights = _checkpoint(results, checkpoint, data_root)
    threads = torch.get_num_threads()
    stored_threads = results.get("environment", {}).get("threads")
    with tempfile.TemporaryDirectory(prefix="lumamba-reproduce-") as scratch:
        config = rerun_config(results, weights, Path(out or scratch), data_root, device)
        if config.protocol != "eval":
            _check_settings(results, config)
        _check_dataset(results, data_root)
        try:
            if stored_threads:  # CPU reductions split by thread: run with the stored count
                torch.set_num_threads(stored_threads)
            repeated = run_benchmark(config)
        finally:
            torch.set_num_threads(threads)
    frame, rule = compare_metrics(results, repeated.results, tolerance, sigma)
    differences = environment_differences(results.get("environment", {}), repeated.results["environment"])
    return Reproduction(frame, differences, rule, repeated.path if out is not None else None)
