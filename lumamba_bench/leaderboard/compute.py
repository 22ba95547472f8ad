"""The compute columns of a model card: forward GFLOPs and training-step memory of one 5 s,
22-channel window, measured by the profiler (``lumamba-bench profile``) on the CPU."""

from __future__ import annotations

from pathlib import Path

from lumamba_bench.leaderboard.cards import CardError, read_card, write_card

SECONDS, CHANNELS = 5.0, 22


def measure(architecture: str) -> dict:
    import torch

    from lumamba_bench.analysis.profile import ProfileConfig, granularity, montage, profile_point, samples_for
    from lumamba_bench.models.registry import list_encoders

    if architecture not in list_encoders():
        raise CardError(f"{architecture!r} is not a registered architecture: its compute cannot be measured here")
    config = ProfileConfig(models=(architecture,), channels=CHANNELS, seconds=(SECONDS,), measure_throughput=False)
    _, coords = montage(CHANNELS)
    point = profile_point(
        architecture, samples_for(SECONDS, granularity(architecture)), config, coords, torch.device("cpu")
    )
    if point.error or point.gflops is None or point.memory_mib is None:
        raise CardError(f"{architecture}: the profiler could not measure a 5 s window ({point.error})")
    return {
        "gflops_forward_5s": round(point.gflops, 6),
        "train_step_memory_mib_5s": round(point.memory_mib, 1),
        "channels": CHANNELS,
        "device": "cpu",
        "torch": torch.__version__,
        "command": "lumamba-bench leaderboard compute NAME",
    }


def card_path(name: str, board: Path) -> Path:
    """The board's card of a model name: a name, never a path (``../x`` or ``a/b`` is refused)."""
    cards = sorted(p.stem for p in (Path(board) / "models").glob("*.json"))
    if name not in cards:
        raise CardError(f"no model card named {name!r} on the board; cards: {', '.join(cards) or 'none'}")
    return Path(board) / "models" / f"{name}.json"


def measure_into_card(path: Path) -> dict:
    """Measure the card's architecture and write the figures into the card."""
    path = Path(path)
    if not path.is_file():
        raise CardError(f"{path}: no such model card")
    card = read_card(path)
    card["compute"] = measure(card["architecture"])
    write_card(card, path)
    return card["compute"]
