"""A small pre-training configuration for tests: one epoch, batch 4, few SIGReg slices."""

from lumamba_bench.harness.pretrain import PretrainConfig


def small_config(tmp_path, **overrides) -> PretrainConfig:
    base = dict(
        model="lumamba-recon",
        task="demo",
        epochs=1,
        batch_size=4,
        num_slices=16,
        out=tmp_path / "run",
        checkpoint_every=2,
    )
    return PretrainConfig(**(base | overrides))
