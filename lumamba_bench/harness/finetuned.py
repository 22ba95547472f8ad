"""Fine-tuned checkpoints, loaded whole: an encoder *and* its head, as the authors' fine-tuning
code wrote them, for ``run --protocol eval`` (scoring a published fine-tuned model as it is).

Layouts read: BioFoundation's Lightning checkpoints (``state_dict`` of ``model.<encoder>`` +
``model.classifier.*``, or the same keys in a safetensors file), LaBraM's ``checkpoint-best.pth``
(``model`` of encoder + ``fc_norm.*`` + ``head.*``), and our own ``Classifier`` (``encoder.*`` +
``head.*``). The load is strict: every tensor lands in the encoder or the head, every head
tensor must be in the file (none is left at its random initialisation), or nothing is loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from lumamba_bench.errors import LumambaError
from lumamba_bench.files import sha256_of
from lumamba_bench.harness.checkpoints import assign_tensors, read_checkpoint, unique_tensors
from lumamba_bench.models.heads import official_head_state
from lumamba_bench.models.published import PREFIXES

# Keys of a classification head in the authors' layouts; the encoder's loader declares the rest
# (pre-training decoders, constants) and places or refuses everything else.
HEAD_KEYS = r"(classifier|head|fc_norm)\..+"


# Each reference head, known in a checkpoint by a key only it has, and its last layer's bias
# (which gives the output count).
SIGNATURES = {
    "luna-query": ("classifier.learned_agg", "classifier.decoder_ffn.fc2.bias"),
    "mamba": ("classifier.mamba_1.A_log", "classifier.fc3.bias"),
    "mean-pool": ("head.weight", "head.bias"),
    "linear": ("classifier.fc1.weight", "classifier.fc1.bias"),
}


def head_of(keys: set[str]) -> str:
    """The head whose published keys a checkpoint holds, or an error listing what was found."""
    for name, (signature, _) in SIGNATURES.items():
        if signature in keys:
            return name
    found = sorted(k for k in keys if k.startswith(("classifier.", "head.")))
    raise LumambaError(f"no known classification head in the checkpoint (head keys: {', '.join(found[:5]) or 'none'})")


def load_classifier(path: Path, encoder: torch.nn.Module, head_name: str | None, build_classifier) -> tuple:
    """(classifier, head name, output count, sha256): ``encoder`` (built, random) gets the
    checkpoint's encoder tensors, then ``build_classifier(encoder, head, outputs)`` adds the head,
    which gets the rest. ``head_name`` None: the head the checkpoint holds."""
    path = Path(path)
    tensors = read_checkpoint(path)
    stripped = {re.sub(PREFIXES, "", k): v for k, v in tensors.items()}
    if any(k.startswith("encoder.") for k in stripped):
        return _load_ours(path, stripped, encoder, head_name, build_classifier)
    if not encoder.looks_official(tensors):
        raise LumambaError(f"{path} is not a fine-tuned checkpoint of this architecture in a layout known here")
    found = head_of(set(stripped))
    if head_name is not None and head_name != found:
        raise LumambaError(f"{path} holds a {found} head, not the {head_name} head asked for")
    encoder_part, rest = encoder.official_state_dict(tensors)
    assign_tensors(encoder, encoder_part, path)
    rest = {re.sub(PREFIXES, "", k): tensors[k] for k in rest}
    outputs = int(stripped[SIGNATURES[found][1]].shape[0])
    classifier = build_classifier(encoder, found, outputs)
    head_part, unplaced = official_head_state(classifier.head, rest)
    head_keys = classifier.head.state_dict()
    adopted = {k for k in head_keys if classifier.head.takes_encoder_norm and k.startswith("fc_norm.")}  # loaded above
    missing = sorted(set(classifier.head.state_dict()) - set(head_part) - adopted)
    stray = sorted(k for k in unplaced if re.fullmatch(HEAD_KEYS, k))
    if missing or stray:
        raise LumambaError(
            f"{path}: the {found} head does not match the checkpoint (missing: {', '.join(missing[:5]) or 'none'}; "
            f"not placed: {', '.join(stray[:5]) or 'none'}); no head tensor may stay at random, so nothing was loaded"
        )
    own = unique_tensors(classifier.head)
    assign_tensors(classifier.head, head_part | {k: own[k] for k in adopted}, path)
    return classifier, found, outputs, sha256_of(path)


def _load_ours(path, tensors, encoder, head_name, build_classifier):
    """Our ``Classifier``'s own layout (``encoder.*``, ``head.*``): the head must be named."""
    if head_name is None:
        raise LumambaError(f"{path} holds one of our classifiers: name its head with --head")
    biases = [v for k, v in tensors.items() if k.startswith("head.") and k.endswith("bias") and v.ndim == 1]
    if not biases:
        raise LumambaError(f"{path} holds no head tensors")
    classifier = build_classifier(encoder, head_name, int(biases[-1].shape[0]))
    assign_tensors(classifier, tensors, path)
    return classifier, head_name, int(biases[-1].shape[0]), sha256_of(path)
