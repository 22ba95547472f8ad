"""Published weights by their hub address: ``hf://ORG/REPO/FILE[@REVISION]``.

The file is resolved through ``huggingface_hub`` (the ``hub`` extra) into its local cache, then
loaded strictly as a local file is. What was loaded is recorded: the repository, the revision
as the commit hash the cache holds it under (a branch name moves; a commit does not) and the
file's sha256. Offline (``HF_HUB_OFFLINE=1``) a cached file is used; a missing one is one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lumamba_bench.errors import LumambaError
from lumamba_bench.files import sha256_of

PREFIX = "hf://"
_ADDRESS = re.compile(r"^hf://(?P<repo>[\w.-]+/[\w.-]+)/(?P<file>[^@]+?)(?:@(?P<revision>[\w./-]+))?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
HUB_FIELDS = ("address", "repo", "file", "revision")  # what a results file records of a hub checkpoint


@dataclass(frozen=True)
class HubFile:
    repo: str
    file: str
    revision: str | None  # as asked (a branch, tag or commit); None: the default branch

    @property
    def address(self) -> str:
        return f"{PREFIX}{self.repo}/{self.file}" + (f"@{self.revision}" if self.revision else "")


def is_hub_address(checkpoint) -> bool:
    return isinstance(checkpoint, str) and checkpoint.startswith(PREFIX)


def parse(address: str) -> HubFile:
    match = _ADDRESS.match(address)
    if match is None:
        raise LumambaError(f"{address}: a hub checkpoint is hf://ORG/REPO/FILE or hf://ORG/REPO/FILE@REVISION")
    return HubFile(match["repo"], match["file"], match["revision"])


def fetch(address: str) -> tuple[Path, dict]:
    """The local file behind ``address`` (downloaded into the hub cache unless there already, or
    offline) and its record: address, repo, file, revision (commit), sha256."""
    wanted = parse(address)
    try:
        import huggingface_hub
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise LumambaError(
            f"{address}: hub checkpoints need huggingface_hub (pip install 'lumamba-bench[hub]')"
        ) from None
    try:
        path = Path(huggingface_hub.hf_hub_download(wanted.repo, wanted.file, revision=wanted.revision))
    except LocalEntryNotFoundError:
        offline = huggingface_hub.constants.HF_HUB_OFFLINE
        why = "offline (HF_HUB_OFFLINE=1) and it is not in the hub cache" if offline else (
            "not in the hub cache, and the hub cannot be reached")  # fmt: skip
        raise LumambaError(f"{address}: {why} ({huggingface_hub.constants.HF_HUB_CACHE})") from None
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise LumambaError(f"{address}: {type(error).__name__}: {str(error).splitlines()[0]}") from None
    return path, {
        "address": wanted.address,
        "repo": wanted.repo,
        "file": wanted.file,
        "revision": commit_of(path, wanted),
        "sha256": sha256_of(path),
    }


def commit_of(path: Path, wanted: HubFile) -> str:
    """The commit the cache holds the file under (``.../snapshots/<commit>/<file>``)."""
    parts = path.parts
    depth = len(Path(wanted.file).parts)
    commit = parts[-depth - 1] if len(parts) > depth and parts[-depth - 2] == "snapshots" else ""
    if not _COMMIT.match(commit):
        raise LumambaError(f"{wanted.address}: {path} is not in a hub cache snapshot folder; its revision is unknown")
    return commit


def local_checkpoint(checkpoint: str | Path | None) -> tuple[Path | None, dict | None]:
    """A ``--checkpoint`` as a local path, and its hub record when it was a hub address."""
    if checkpoint is None:
        return None, None
    if is_hub_address(str(checkpoint)):
        return fetch(str(checkpoint))
    return Path(checkpoint), None
