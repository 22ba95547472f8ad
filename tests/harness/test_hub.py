"""--checkpoint hf://ORG/REPO/FILE[@REVISION], offline, against a cache laid out as the
huggingface_hub client lays it out (models--ORG--REPO/{blobs,snapshots/COMMIT,refs/main})."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lumamba_bench.leaderboard.cards import CardError, with_hub_weights
from lumamba_bench.models.registry import build_encoder

pytest.importorskip("huggingface_hub")

COMMIT = "4f2b0c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"
ADDRESS = "hf://toy-org/toy-lumamba/weights/lumamba.safetensors"
CLI = Path(sys.executable).with_name("lumamba-bench")


@pytest.fixture
def hub_cache(tmp_path) -> tuple[Path, str]:
    """A hub cache holding one file at one commit, ``main`` pointing at it; returns the cache
    folder and the file's sha256 (computed here, from the bytes written)."""
    cache = tmp_path / "hub"
    repo = cache / "models--toy-org--toy-lumamba"
    torch.manual_seed(0)
    weights = {k: v.contiguous() for k, v in build_encoder("lumamba").state_dict().items()}
    staged = tmp_path / "staged.safetensors"
    save_file(weights, str(staged))
    sha256 = hashlib.sha256(staged.read_bytes()).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    staged.rename(repo / "blobs" / sha256)  # the client names an LFS blob by its sha256
    snapshot = repo / "snapshots" / COMMIT / "weights"
    snapshot.mkdir(parents=True)
    (snapshot / "lumamba.safetensors").symlink_to(Path("../../..") / "blobs" / sha256)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache, sha256


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("revision", ["", "@main", f"@{COMMIT}"])
def test_a_hub_checkpoint_loads_from_the_cache_and_records_its_commit_and_sha256(hub_cache, small_demo, tmp_path,
                                                                                 revision):  # fmt: skip
    cache, sha256 = hub_cache
    done = _cli("run", "--model", "lumamba", "--checkpoint", ADDRESS + revision, "--task", "demo", "--seeds", "1",
                "--epochs", "1", "--out", str(tmp_path / "results"), "--no-check", cache=cache)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = (tmp_path / "results" / "demo" / "lumamba").glob("*.json")
    checkpoint = json.loads(path.read_text())["model"]["checkpoint"]
    assert checkpoint["sha256"] == sha256
    assert checkpoint["hub"] == {"address": ADDRESS + revision, "repo": "toy-org/toy-lumamba",
                                 "file": "weights/lumamba.safetensors", "revision": COMMIT}  # fmt: skip


def test_a_file_absent_from_the_offline_cache_is_one_line_naming_the_address(hub_cache, tmp_path):
    cache, _ = hub_cache
    missing = "hf://toy-org/toy-lumamba/weights/absent.safetensors"
    done = _cli("run", "--model", "lumamba", "--checkpoint", missing, "--out", str(tmp_path), cache=cache)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert missing in line and "offline" in line


def test_a_malformed_address_says_what_an_address_is(hub_cache, tmp_path):
    cache, _ = hub_cache
    done = _cli("run", "--model", "lumamba", "--checkpoint", "hf://just-a-name", "--out", str(tmp_path), cache=cache)
    assert done.returncode == 1 and "hf://ORG/REPO/FILE" in done.stderr


def _results(sha256: str) -> dict:
    hub = {"address": ADDRESS, "repo": "toy-org/toy-lumamba", "file": "weights/lumamba.safetensors", "revision": COMMIT}
    return {"model": {"checkpoint": {"sha256": sha256, "hub": hub}}}


def test_a_card_for_hub_weights_gets_their_commit_and_sha256_and_must_agree():
    card = {"weights": {"licence": "MIT", "source": "somewhere", "sha256": None}}
    filled = with_hub_weights(card, _results("a" * 64))
    assert filled["weights"] == {"licence": "MIT", "source": "hf://toy-org/toy-lumamba/weights/lumamba.safetensors",
                                 "sha256": "a" * 64, "revision": COMMIT}  # fmt: skip
    with pytest.raises(CardError, match="the card's weights have sha256 bbbb"):
        with_hub_weights({"weights": {"licence": "MIT", "source": "x", "sha256": "b" * 64}}, _results("a" * 64))
