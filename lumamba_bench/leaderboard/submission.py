"""Checks a results file must pass before it joins the leaderboard, and where it is stored.

Every check names what is wrong in one line (``SubmissionError``); nothing is written unless all
pass. The stored name is derived from the content (sha256), never from user-supplied strings.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np

from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.metrics import compute_metrics, metric_range, required
from lumamba_bench.harness.results import RESULTS_SCHEMA, SCHEMA_VERSION, summarise

MAX_BYTES = 5 * 1024 * 1024  # a results file is a few kB; anything this large is not one
MAX_PREDICTION_BYTES = 200 * 1024 * 1024
TOLERANCE = 1e-6


class SubmissionError(LumambaError):
    """A results file that cannot join the leaderboard; the message is the one-line reason."""


def content_hash(results: dict) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace): same content, same hash."""
    return hashlib.sha256(json.dumps(results, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_results(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SubmissionError(f"{path.name}: {size / 2**20:.1f} MiB is too large for a results file (limit 5 MiB)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SubmissionError(f"{path.name}: not valid JSON ({error})") from None
    except RecursionError:
        raise SubmissionError(f"{path.name}: JSON nested too deeply to be a results file") from None
    if not isinstance(results, dict):
        raise SubmissionError(f"{path.name}: a results file is a JSON object")
    return results


def check(results: dict, name: str = "results", rerunnable: bool = True) -> None:
    """Every rule a submission must meet; raises ``SubmissionError`` at the first broken one.
    ``rerunnable``: it also records what `leaderboard reproduce` needs (``compare`` of local runs
    does not ask that)."""
    _check_schema(results, name)
    if rerunnable:
        _check_rerunnable(results, name)
    _check_task(results["task"], name)
    _check_parameters(results["model"], name)
    needed = required(results["task"]["type"], results.get("metric_set", 1))  # files before metric sets: set 1
    _check_seeds(results["seeds"], needed, name)
    _check_summary(results, needed, name)


def _check_schema(results: dict, name: str) -> None:
    import jsonschema

    version = results.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SubmissionError(f"{name}: schema version {version!r}; this leaderboard reads version {SCHEMA_VERSION}")
    try:
        jsonschema.validate(results, RESULTS_SCHEMA)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise SubmissionError(f"{name}: schema violation at {where}: {error.message}") from None


def _check_rerunnable(results: dict, name: str) -> None:
    from lumamba_bench.leaderboard.reproduce import rerun_gaps

    gaps = rerun_gaps(results)
    if gaps:
        raise SubmissionError(
            f"{name}: does not record {gaps[0]}, which a re-run (`leaderboard reproduce`) needs; "
            "results written by this version of `lumamba-bench run` record it"
        )


def _check_task(task: dict, name: str) -> None:
    """A known recipe at its current version, with its task type and label names."""
    from lumamba_bench.data.recipe import get_recipe, list_recipes

    if task["recipe"] not in list_recipes() or task["name"] != task["recipe"]:
        raise SubmissionError(f"{name}: unknown task {task['recipe']!r}; known: {', '.join(list_recipes())}")
    recipe = get_recipe(task["recipe"])
    if str(task["recipe_version"]) != recipe.version:
        raise SubmissionError(
            f"{name}: {recipe.name} recipe version {task['recipe_version']!r}; the current version is {recipe.version}"
        )
    if task["type"] != recipe.task_type:
        raise SubmissionError(f"{name}: task type {task['type']!r}; {recipe.name} is {recipe.task_type}")
    if task.get("partial"):
        raise SubmissionError(
            f"{name}: made on part of {recipe.name} ({task['partial']}); the board takes results on the whole release"
        )
    if list(task["label_names"]) != list(recipe.label_names):
        raise SubmissionError(
            f"{name}: label names {task['label_names']}; {recipe.name} has {list(recipe.label_names)}"
        )


def _check_seeds(seeds: list[dict], needed: tuple[str, ...], name: str) -> None:
    """Every seed reports the required metrics, each in its range; no seed twice."""
    for seed in seeds:
        metrics = seed["metrics"]
        for metric in needed:
            if metric not in metrics:
                raise SubmissionError(f"{name}: seed {seed['seed']} lacks the required metric {metric!r}")
        for metric, value in metrics.items():
            low, high = metric_range(metric)
            if value is not None and not low <= value <= high:
                raise SubmissionError(f"{name}: seed {seed['seed']} {metric} = {value} is outside [{low:g}, {high:g}]")
    numbers = [s["seed"] for s in seeds]
    if len(set(numbers)) != len(numbers):
        raise SubmissionError(f"{name}: seeds repeat ({numbers})")


def _check_summary(results: dict, needed: tuple[str, ...], name: str) -> None:
    """The summary is finite and is what the seeds' metrics give (mean, sample std, count)."""
    summary = results["summary"]
    for metric, stated in summary.items():
        for key in ("mean", "std"):
            value = stated.get(key)
            if value is not None and not np.isfinite(value):
                raise SubmissionError(f"{name}: summary {metric} {key} = {value} is not a number")
    for metric in needed:
        if metric not in summary:
            raise SubmissionError(f"{name}: summary lacks the required metric {metric!r}")
    expected = summarise([s["metrics"] for s in results["seeds"]])
    for metric, stated in summary.items():
        want = expected.get(metric)
        if want is None:
            raise SubmissionError(f"{name}: summary has {metric!r}, which no seed reports")
        for key in ("mean", "std"):
            a, b = stated[key], want[key]
            if (a is None) != (b is None) or (a is not None and abs(a - b) > TOLERANCE):
                raise SubmissionError(f"{name}: summary {metric} {key} = {a} does not match the per-seed values ({b})")
        if stated["n"] != want["n"]:
            raise SubmissionError(f"{name}: summary {metric} n = {stated['n']}, but {want['n']} seeds report it")


def windows_of_test_split(results: dict, dataset_dir: Path) -> dict[tuple[str, int], object]:
    """(recording id, window index) -> label of every test window of the prepared dataset the
    results were made on (``check_same_dataset``)."""
    from lumamba_bench.data.integrity import verify_shards
    from lumamba_bench.data.manifest import partial_reason, read_manifest
    from lumamba_bench.data.shards import read_verified

    dataset_dir = Path(dataset_dir)
    manifest_path = dataset_dir / "manifest.json"
    recipe = results["task"]["recipe"]
    if not manifest_path.is_file():
        raise SubmissionError(
            f"cannot check the predictions' windows: {recipe} is not prepared in {dataset_dir.parent} "
            f"(prepare it, or pass --data-root where it is)"
        )
    manifest = read_manifest(dataset_dir, recipe)
    check_same_dataset(results, manifest_path, manifest)
    partial = partial_reason(manifest)
    if partial:
        raise SubmissionError(
            f"the {recipe} dataset in {dataset_dir.parent} was {partial}: the board takes results on the whole release"
        )
    verify_shards(dataset_dir, manifest)
    windows: dict[tuple[str, int], object] = {}
    for shard in manifest["shards"]:
        if shard["split"] == "test":
            table = read_verified(
                dataset_dir / "shards" / shard["file"], columns=["recording_id", "window_index", "label"]
            )
            columns = table.to_pydict()
            for rec, win, label in zip(columns["recording_id"], columns["window_index"], columns["label"], strict=True):
                windows[(rec, int(win))] = label
    return windows


def check_same_dataset(results: dict, manifest_path: Path, manifest: dict) -> None:
    """The local prepared copy is the one the results were made on: the same dataset sha256
    (the manifest without its time and source folder), or, for results written before that was
    recorded, the same manifest file."""
    from lumamba_bench.data.manifest import dataset_sha256
    from lumamba_bench.files import sha256_of

    task, recipe = results["task"], results["task"]["recipe"]
    if "dataset_sha256" in task:
        stated, local, what = task["dataset_sha256"], dataset_sha256(manifest), "dataset"
    else:
        stated, local, what = task["manifest_sha256"], sha256_of(manifest_path), "manifest"
    if stated != local:
        raise SubmissionError(
            f"the results were made on a {recipe} dataset whose {what} sha256 is {stated[:12]}..., "
            f"{manifest_path.parent} has {local[:12]}...: not the same prepared data"
        )


def dataset_identity(results: dict) -> str:
    """What says two results were scored on the same prepared data."""
    task = results["task"]
    return task.get("dataset_sha256") or task["manifest_sha256"]


def _check_windows(name: str, seed: int, keys: list[tuple[str, int]], labels: list, expected: dict) -> None:
    """Exactly the test split's windows, each once, each with its own label."""
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise SubmissionError(f"{name}: seed {seed} predicts window {twice[1]} of {twice[0]} more than once")
    missing = sorted(set(expected) - set(keys))
    extra = sorted(set(keys) - set(expected))
    if missing or extra:
        examples = [f"missing {m[0]}#{m[1]}" for m in missing[:1]]
        examples += [f"not a test window: {e[0]}#{e[1]}" for e in extra[:1]]
        raise SubmissionError(
            f"{name}: seed {seed} predicts {len(keys)} windows; the test split has {len(expected)} "
            f"({len(missing)} missing, {len(extra)} not in it; {'; '.join(examples)})"
        )
    for key, label in zip(keys, labels, strict=True):
        if label != expected[key]:
            raise SubmissionError(
                f"{name}: seed {seed} gives window {key[1]} of {key[0]} the label {label}; "
                f"the dataset says {expected[key]}"
            )


def read_predictions(predictions: Path) -> dict[str, np.ndarray]:
    """A predictions Parquet file as arrays (seed, label, probs (N, K), and recording_id /
    window_index where present), read once; an unreadable or ragged file is one refusal."""
    import pyarrow.parquet as pq

    predictions = Path(predictions)
    if not predictions.is_file():
        raise SubmissionError(f"{predictions}: no such file")
    if predictions.stat().st_size > MAX_PREDICTION_BYTES:
        raise SubmissionError(f"{predictions.name}: larger than 200 MB")
    try:
        table = pq.read_table(predictions)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same refusal
        raise SubmissionError(f"{predictions.name}: not a predictions Parquet file ({error})") from None
    out = {name: np.asarray(table.column(name).to_pylist()) for name in table.column_names if name != "probs"}
    if "probs" in table.column_names:
        column = table.column("probs").combine_chunks()
        lengths = np.asarray(column.value_lengths().to_numpy(zero_copy_only=False))
        if len(set(lengths.tolist())) > 1:
            raise SubmissionError(f"{predictions.name}: probability rows of different lengths")
        width = int(lengths[0]) if len(lengths) else 0
        out["probs"] = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(len(lengths), width)
    return out


def check_predictions(results: dict, predictions: Path, windows: dict | None = None) -> None:
    """Recompute every seed's test metrics from per-window predictions; any mismatch is refused.
    With ``windows`` (``windows_of_test_split``), each seed must cover exactly the test split's windows
    with their labels."""
    check_prediction_table(results, read_predictions(predictions), Path(predictions).name, windows)


def check_prediction_table(results: dict, table: dict, name: str, windows: dict | None = None) -> None:
    """``check_predictions`` on a table already read (``read_predictions``)."""
    needed = ["seed", "label", "probs"] + (["recording_id", "window_index"] if windows is not None else [])
    if not set(needed) <= set(table):
        raise SubmissionError(f"{name}: needs columns {', '.join(needed)}")
    from lumamba_bench.data.recipe import get_recipe

    task_type = results["task"]["type"]
    outputs = get_recipe(results["task"]["recipe"]).outputs  # binary: 2; multi-output: classes x channels
    declared = {seed["seed"] for seed in results["seeds"]}
    extra = sorted(set(np.unique(table["seed"]).tolist()) - declared)
    if extra:
        raise SubmissionError(f"{name}: predictions for seed(s) {extra}, which the results do not report")
    for seed in results["seeds"]:
        rows = table["seed"] == seed["seed"]
        if not rows.any():
            raise SubmissionError(f"{name}: no predictions for seed {seed['seed']}")
        labels, probs = table["label"][rows], table["probs"][rows]
        if windows is not None:
            keys = list(zip(table["recording_id"][rows].tolist(), table["window_index"][rows].tolist(), strict=True))
            _check_windows(name, seed["seed"], keys, labels.tolist(), windows)
        if probs.ndim != 2 or probs.shape[1] != outputs:
            raise SubmissionError(f"{name}: probabilities of shape {probs.shape}; the task needs {outputs} per window")
        _check_probabilities(name, seed["seed"], probs, task_type, len(results["task"]["label_names"]))
        recomputed = compute_metrics(task_type, labels, probs)["metrics"]
        for metric, stated in seed["metrics"].items():
            value = recomputed.get(metric)
            if stated is None and value is None:
                continue
            if stated is None or value is None or abs(stated - value) > TOLERANCE:
                raise SubmissionError(
                    f"{name}: seed {seed['seed']} {metric} recomputes to {value}, the file states {stated}"
                )


PROBABILITY_TOLERANCE = 1e-6


def _check_probabilities(name: str, seed: int, probs: np.ndarray, task_type: str, classes: int) -> None:
    """Probabilities are finite numbers in [0, 1]; a softmax's (binary, multi-class, each channel
    of a multi-output task) sum to 1 within 1e-6. Metrics alone would accept any scores."""
    from lumamba_bench.harness.metrics import BINARY, MULTICLASS, MULTIOUTPUT

    finite = np.isfinite(probs).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise SubmissionError(f"{name}: seed {seed} row {row} holds a probability that is not a finite number")
    outside = ((probs < -PROBABILITY_TOLERANCE) | (probs > 1 + PROBABILITY_TOLERANCE)).any(axis=1)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise SubmissionError(
            f"{name}: seed {seed} row {row} holds a probability outside [0, 1]: {probs[row].tolist()}"
        )
    if task_type in (BINARY, MULTICLASS):
        sums = probs.sum(axis=1, keepdims=True)
    elif task_type == MULTIOUTPUT:
        sums = probs.reshape(len(probs), -1, classes).sum(axis=2)
    else:
        return  # multi-label: one independent probability per class
    off = (np.abs(sums - 1.0) > PROBABILITY_TOLERANCE).any(axis=1)
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise SubmissionError(
            f"{name}: seed {seed} row {row}: probabilities sum to {sums[row].tolist()}, not 1 (within 1e-6)"
        )


@cache
def _encoder_size(architecture: str) -> int | None:
    """Parameters of a registered architecture (built on the meta device, once); None where the
    size depends on the montage (fixed-topology FEMBA) or the architecture is not registered."""
    from lumamba_bench.models.registry import encoder_facts, list_encoders

    if architecture not in list_encoders():
        return None
    facts = encoder_facts(architecture)
    return None if facts.fixed_topology else facts.parameters


def _check_parameters(model: dict, name: str) -> None:
    """A registered architecture's encoder has a known size; a file stating another is refused."""
    expected = _encoder_size(model["architecture"])
    if expected is not None and model["parameters"]["encoder"] != expected:
        raise SubmissionError(
            f"{name}: {model['parameters']['encoder']:,} encoder parameters for {model['architecture']}, "
            f"which has {expected:,}"
        )


def run_identity(results: dict) -> str:
    """sha256 of what makes two results files the same run: model, checkpoint, task, manifest,
    seeds and their metrics (not the timestamp, wall time or environment)."""
    model, task = results["model"], results["task"]
    key = {
        "model": model["name"],
        "checkpoint": (model.get("checkpoint") or {}).get("sha256"),
        "task": task["recipe"],
        "manifest": dataset_identity(results),
        "seeds": sorted((s["seed"], sorted(s["metrics"].items())) for s in results["seeds"]),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def without_local_paths(results: dict) -> dict:
    """The results as the board stores them: the checkpoint's path on the submitter's machine
    dropped (its sha256 identifies it; `reproduce` finds it by that)."""
    checkpoint = results["model"].get("checkpoint")
    if not checkpoint or "path" not in checkpoint:
        return results
    model = dict(results["model"], checkpoint={k: v for k, v in checkpoint.items() if k != "path"})
    return dict(results, model=model)


def stored_name(results: dict) -> str:
    return f"{content_hash(results)[:16]}.json"


def existing_hashes(submissions: Path) -> dict[str, Path]:
    """Content hash and run identity of every stored submission -> its file."""
    out = {}
    for path in sorted(Path(submissions).glob("*/*.json")):
        try:
            stored = json.loads(path.read_text())
            out[content_hash(stored)] = path
            out[run_identity(stored)] = path
        except (json.JSONDecodeError, OSError, KeyError, TypeError):
            continue
    return out


def predictions_path(stored: Path) -> Path:
    """Where a stored submission's predictions live: beside it, same stem."""
    return Path(stored).with_suffix(".predictions.parquet")


def load_stored(path: Path, cards: dict[str, dict] | None = None) -> dict:
    """A stored submission, re-checked: readable, every rule ``submit`` applies, filed under its
    task and named after its own content hash (so a hand-edited file is refused, however
    consistently it was edited), its model card present and matching, and its stored
    predictions (when there are some) recomputing to its metrics."""
    return load_stored_with_predictions(path, cards)[0]


def load_stored_with_predictions(path: Path, cards: dict[str, dict] | None = None) -> tuple[dict, dict | None]:
    """``load_stored``, and the stored predictions it checked (read once), or None."""
    from lumamba_bench.leaderboard.cards import check_card_matches, load_cards

    path = Path(path)
    results = read_results(path)
    check(results, str(path))
    if path.parent.name != results["task"]["recipe"]:
        raise SubmissionError(f"{path}: stored under {path.parent.name} but its task is {results['task']['recipe']}")
    if path.name != stored_name(results):
        raise SubmissionError(
            f"{path}: its content hashes to {stored_name(results)}; the file was edited after it was accepted"
        )
    cards = load_cards(path.parents[2] / "models") if cards is None else cards
    card = cards.get(results["model"]["name"])
    if card is None:
        raise SubmissionError(f"{path}: no model card leaderboard/models/{results['model']['name']}.json")
    check_card_matches(card, results, str(path))
    if not predictions_path(path).is_file():
        return results, None
    table = read_predictions(predictions_path(path))
    check_prediction_table(results, table, predictions_path(path).name)
    return results, table


def submit(
    path: Path, root: Path, predictions: Path | None = None, dataset_dir: Path | None = None, card: Path | None = None
) -> Path:
    """Validate ``path`` (and its predictions, against the test windows of the prepared dataset in
    ``dataset_dir``) and its model card, then store it under ``root/submissions/<task>/`` with
    its predictions beside it (bootstrap intervals and paired tests are computed from them) and
    its card under ``root/models/`` when the board does not have it yet."""
    from lumamba_bench.files import copy_atomic, write_json_atomic
    from lumamba_bench.leaderboard.cards import card_for, check_card_matches, write_card

    results = read_results(path)
    check(results, Path(path).name)
    model_card, on_board = card_for(results, root, card)
    check_card_matches(model_card, results, Path(path).name)
    if predictions is not None:
        if dataset_dir is None:
            raise SubmissionError("predictions are checked against the prepared test split: give its dataset folder")
        check_predictions(results, predictions, windows_of_test_split(results, dataset_dir))
    results = without_local_paths(results)
    submissions = Path(root) / "submissions"
    stored = existing_hashes(submissions)
    duplicate = stored.get(content_hash(results)) or stored.get(run_identity(results))
    if duplicate is not None:
        raise SubmissionError(f"{Path(path).name}: already submitted as {duplicate} (the same run)")
    target = submissions / results["task"]["recipe"] / stored_name(results)  # recipe name: a known, safe slug
    target.parent.mkdir(parents=True, exist_ok=True)
    if predictions is not None:
        copy_atomic(predictions, predictions_path(target))
    if not on_board:
        write_card(model_card, Path(root) / "models" / f"{model_card['name']}.json")
    write_json_atomic(target, results, sort_keys=True)
    return target
