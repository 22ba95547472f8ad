"""Model cards: what a leaderboard row's model is, where its weights come from, what it was
pre-trained on, and what one step of it costs.

One JSON file per model under ``leaderboard/models/<name>.json`` (schema ``CARD_SCHEMA``, written
into ``schema.json``). Every row, measured or reported, names a card by its model name. From the
card and the task's recipe the board derives the pre-training overlap flag:

``none``                the pre-training corpora hold none of the task's recordings;
``same corpus``         they come from the task's corpus (or the corpus it is part of, TUEG for
                        TUAB), but the task's test subjects were left out;
``test subjects seen``  the test subjects may have been seen in pre-training.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.checkpoints import pretraining_task
from lumamba_bench.models.registry import encoder_facts, list_encoders

NONE, SAME_CORPUS, SEEN = "none", "same corpus", "test subjects seen"
RANKED_OVERLAPS = (NONE, SAME_CORPUS)  # what the default view ranks
SCRATCH_SOURCE = "none (random initialisation)"
TRAINED_HERE = "trained here"
CARD_FILE = "model-card.json"  # written by `pretrain` beside the encoder weights

_SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"}
_TEXT = {"type": "string", "maxLength": 1000}

CARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lumamba-bench model card",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "name",
        "family",
        "architecture",
        "parameters",
        "weights",
        "pretraining",
        "input_normalisation",
        "code_revision",
    ],  # fmt: skip
    "properties": {
        "name": _SLUG,
        "family": {"type": "string", "maxLength": 64},
        "architecture": {"type": "string", "maxLength": 64},
        "parameters": {"type": ["integer", "null"], "minimum": 1},
        "weights": {
            "type": "object",
            "additionalProperties": False,
            "required": ["licence", "source", "sha256"],
            "properties": {
                "licence": {"type": "string", "maxLength": 200},
                "source": {"type": "string", "maxLength": 500},  # a URL, hf://..., "trained here" or SCRATCH_SOURCE
                "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
                "revision": {"type": "string", "pattern": "^[0-9a-f]{40}$"},  # the hub commit of hf:// weights
            },
        },
        "pretraining": {
            "type": "object",
            "additionalProperties": False,
            "required": ["corpora", "test_subjects_excluded_for", "notes"],
            "properties": {
                "corpora": {"type": "array", "items": _SLUG, "maxItems": 64},
                "test_subjects_excluded_for": {"type": "array", "items": _SLUG, "maxItems": 64},
                "notes": _TEXT,
            },
        },
        "input_normalisation": {"type": "string", "maxLength": 200},
        "code_revision": {"type": "string", "maxLength": 200},
        "citation": _TEXT,
        "compute": {
            "type": "object",
            "additionalProperties": False,
            "required": ["gflops_forward_5s", "train_step_memory_mib_5s", "channels", "device", "torch", "command"],
            "properties": {
                "gflops_forward_5s": {"type": "number", "minimum": 0},
                "train_step_memory_mib_5s": {"type": "number", "minimum": 0},
                "channels": {"type": "integer", "minimum": 1},
                "device": {"type": "string", "maxLength": 100},
                "torch": {"type": "string", "maxLength": 100},
                "command": {"type": "string", "maxLength": 300},
            },
        },
    },
}


class CardError(LumambaError):
    """A model card that is missing, unreadable or inconsistent; the message names the file."""


def check_card(card: object, where: str) -> dict:
    import jsonschema

    try:
        jsonschema.validate(card, CARD_SCHEMA)
    except jsonschema.ValidationError as error:
        path = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise CardError(f"{where}: model card schema violation at {path}: {error.message}") from None
    return card


MAX_CARD_BYTES = 256 * 1024  # a card is about a kilobyte


def read_card(path: Path) -> dict:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise CardError(f"{path}: {path.stat().st_size:,} bytes is too large for a model card (limit 256 KiB)")
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CardError(f"{path}: not a readable model card ({type(error).__name__}: {error})") from None
    except RecursionError:
        raise CardError(f"{path}: JSON nested too deeply to be a model card") from None
    return check_card(card, str(path))


def load_cards(models: Path) -> dict[str, dict]:
    """Every card under ``models`` by name; a file must be named after the card it holds."""
    cards = {}
    for path in sorted(Path(models).glob("*.json")):
        card = read_card(path)
        if path.stem != card["name"]:
            raise CardError(f"{path}: holds the card of {card['name']!r}; name the file {card['name']}.json")
        cards[card["name"]] = card
    return cards


def overlap(card: dict, task: str) -> str:
    """How the card's pre-training data relate to ``task``'s test set (see the module docstring)."""
    from lumamba_bench.data.recipe import get_recipe

    recipe = get_recipe(task)
    names = {task, recipe.corpus or task}  # TUAR's protocols are one corpus
    corpora = set(card["pretraining"]["corpora"])
    if not corpora & (names | set(recipe.part_of)):
        return NONE
    return SAME_CORPUS if names & set(card["pretraining"]["test_subjects_excluded_for"]) else SEEN


def check_card_matches(card: dict, results: dict, name: str) -> None:
    """A submission's model must be the one its card describes."""
    model = results["model"]
    if card["architecture"] != model["architecture"]:
        raise CardError(
            f"{name}: the card of {card['name']} is a {card['architecture']}, the results a {model['architecture']}"
        )
    if card["parameters"] is not None and card["parameters"] != model["parameters"]["encoder"]:
        raise CardError(
            f"{name}: the card of {card['name']} states {card['parameters']:,} encoder parameters, "
            f"the results {model['parameters']['encoder']:,}"
        )
    pretrained_on = ((model.get("checkpoint") or {}).get("pretraining") or {}).get("task")
    if pretrained_on and pretrained_on not in card["pretraining"]["corpora"]:
        raise CardError(
            f"{name}: the results record pre-training on {pretrained_on}; the card of {card['name']} lists "
            f"{', '.join(card['pretraining']['corpora']) or 'no pre-training corpus'}"
        )
    if model["architecture"] not in list_encoders() and card["parameters"] is None:
        raise CardError(
            f"{name}: {model['architecture']} is not an encoder this package knows; its card must state its "
            "parameter count (the board cannot count it)"
        )
    stated, used = card["weights"]["sha256"], (model.get("checkpoint") or {}).get("sha256")
    if (stated is None) != (used is None) or (stated is not None and stated != used):
        raise CardError(
            f"{name}: the card of {card['name']} names weights {str(stated)[:12]}..., "
            f"the results were made with {str(used)[:12]}..."
        )


def scratch_card(name: str, architecture: str, family: str, parameters: int, normalisation: str) -> dict:
    """The card of a randomly initialised encoder (``-scratch`` models): no weights, no pre-training."""
    from lumamba_bench import __version__

    return {
        "name": name,
        "family": family,
        "architecture": architecture,
        "parameters": parameters,
        "weights": {"licence": "not applicable", "source": SCRATCH_SOURCE, "sha256": None},
        "pretraining": {"corpora": [], "test_subjects_excluded_for": [], "notes": "no pre-training"},
        "input_normalisation": normalisation,
        "code_revision": f"lumamba-bench {__version__}",
    }


_EXCLUDED_REASON = re.compile(r"^subject .* is in ([a-z0-9._-]+)$")  # recipes/tueg.py's reason for a left-out file


def card_from_pretraining(store_card: dict, manifest: dict, encoder_sha256: str, family: str) -> dict:
    """The card of an encoder ``pretrain`` made: pre-trained on the corpus's train split (subject-
    hash splits keep its test subjects out), minus the subjects of every corpus the manifest says
    were excluded (``--exclude-subjects-of``)."""
    corpus = pretraining_task(store_card)
    excluded = {corpus} | {
        m.group(1) for f in manifest.get("excluded_files", []) if (m := _EXCLUDED_REASON.match(f.get("reason", "")))
    }
    return {
        "name": store_card.get("name") or store_card["model"],  # pretrain --name, else the model
        "family": family,
        "architecture": store_card["architecture"],
        "parameters": store_card["parameters"],
        "weights": {"licence": "not stated (trained here)", "source": TRAINED_HERE, "sha256": encoder_sha256},
        "pretraining": {
            "corpora": [corpus],
            "test_subjects_excluded_for": sorted(excluded),
            "notes": f"{store_card['objective']} objective, {store_card['step']} steps on the train split of "
            f"{corpus} (manifest sha256 {store_card['manifest_sha256'][:12]}...)",
        },
        "input_normalisation": store_card["input_normalisation"],
        "code_revision": f"lumamba-bench {store_card.get('tool_version', 'unknown')}",
    }


def write_card(card: dict, path: Path) -> Path:
    from lumamba_bench.files import write_json_atomic

    check_card(card, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, card)
    return path


def summary(card: dict) -> str:
    """One line for a tooltip: weights, licence, pre-training."""
    weights, pre = card["weights"], card["pretraining"]
    corpora = ", ".join(pre["corpora"]) or "none"
    return f"{card['name']}: weights {weights['source']} ({weights['licence']}); pre-training: {corpora}"


def write_pretraining_card(weights: Path, data_root: Path | None = None) -> Path:
    """After ``pretrain`` registers an encoder: its model card, beside the weights."""
    from lumamba_bench.data.manifest import read_manifest
    from lumamba_bench.data.store import data_root as resolve_root
    from lumamba_bench.harness.checkpoints import read_card as read_store_card

    store_card = read_store_card(weights)
    if store_card is None:
        raise CardError(f"{weights}: no card.json beside the weights; re-run pretrain")
    task = pretraining_task(store_card)
    manifest = read_manifest(resolve_root(data_root) / task, task)
    family = encoder_facts(store_card["architecture"]).family
    card = card_from_pretraining(store_card, manifest, store_card["encoder_sha256"], family)
    return write_card(card, Path(weights).parent / CARD_FILE)


def with_hub_weights(card: dict, results: dict) -> dict:
    """A card for results whose weights came from the hub (``--checkpoint hf://...``): it must
    agree with the file loaded (its sha256 and commit, where it states them), and gets them
    where it does not, with the address as the source."""
    hub = ((results["model"].get("checkpoint") or {}).get("hub")) or None
    if hub is None:
        return card
    sha256 = results["model"]["checkpoint"]["sha256"]
    weights = card["weights"]
    for key, loaded in (("sha256", sha256), ("revision", hub["revision"])):
        if weights.get(key) not in (None, loaded):
            raise CardError(f"the card's weights have {key} {weights[key]}; the run loaded {hub['address']} "
                            f"with {loaded}")
    source = weights["source"] if weights["source"].startswith("http") else f"hf://{hub['repo']}/{hub['file']}"
    return card | {"weights": weights | {"sha256": sha256, "revision": hub["revision"], "source": source}}


def card_for(results: dict, board: Path, card_path: Path | None = None) -> tuple[dict, bool]:
    """The card a submission names: ``card_path`` if given, else the board's card of that model
    name, else the one ``pretrain`` wrote beside the checkpoint, else (``-scratch`` models) a
    scratch card. Returns (card, already on the board)."""
    model = results["model"]
    on_board = Path(board) / "models" / f"{model['name']}.json"
    if card_path is not None:
        card = with_hub_weights(read_card(card_path), results)
    elif on_board.is_file():
        card = read_card(on_board)
        with_hub_weights(card, results)  # checks the board's card agrees with the file loaded
        return card, True
    elif model.get("checkpoint") and (Path(model["checkpoint"].get("path", "")).parent / CARD_FILE).is_file():
        card = read_card(Path(model["checkpoint"]["path"]).parent / CARD_FILE)
    elif model.get("scratch") and model.get("checkpoint") is None:
        facts = encoder_facts(model["architecture"])
        card = scratch_card(model["name"], model["architecture"], facts.family, facts.parameters,
                            facts.input_normalisation)  # fmt: skip
    else:
        raise CardError(
            f"no model card for {model['name']!r}: write leaderboard/models/{model['name']}.json "
            f"(schema in leaderboard/schema.json) or pass --card"
        )
    if card["name"] != model["name"]:
        raise CardError(f"the card describes {card['name']!r}; the results are of {model['name']!r}")
    if on_board.is_file() and read_card(on_board) != card:
        raise CardError(f"{on_board} already holds a different card named {model['name']!r}")
    return card, on_board.is_file()
