"""What checking prepared data costs, per GB of shards, as a ratio to reading them.

Writes realistic shards (22 x 1280 float32 windows of filtered-noise EEG, zstd, page checksums)
into a temporary folder, then, in this one process, with the files in the page cache, times
(interleaved, repeated, median):
  read            every shard decoded without checking page CRCs (the baseline)
  read + CRC      the same with ``page_checksum_verification`` (what every read now does)
  sha256          hashing every shard (``verify``, or opening a dataset whose shards changed)
  cached check    ``verify_shards`` when the ``.verified.json`` cache matches (a stat per shard)

    python benchmarks/verification.py [--megabytes 512] [--repeats 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def write_shards(folder: Path, megabytes: float) -> tuple[list[dict], int]:
    from scipy import signal as sps

    from lumamba_bench.data.channels import positions
    from lumamba_bench.data.montages import TCP_NAMES
    from lumamba_bench.data.shards import ShardBuffer, write_table_atomic

    (folder / "shards").mkdir(parents=True)
    rng = np.random.default_rng(0)
    b, a = sps.butter(4, [1, 40], btype="bandpass", fs=256)
    entries, total, index = [], 0, 0
    while total < megabytes * 2**20:
        windows = sps.lfilter(b, a, 30 * rng.standard_normal((512, 22, 1280)), axis=-1).astype(np.float32)
        metadata = {"channels": list(TCP_NAMES), "coords": positions(list(TCP_NAMES)).tolist(), "montage": "tcp22",
                    "n_samples": 1280, "sfreq": 256.0, "units": "uV"}  # fmt: skip
        buffer = ShardBuffer("train", "tcp22", metadata, n_values=22 * 1280)
        buffer.add(f"rec{index}", f"subj{index}", windows, np.arange(512) * 5.0, np.zeros(512))
        name = f"train-tcp22-{index:05d}.parquet"
        digest = write_table_atomic(buffer.to_table(), folder / "shards" / name)
        entries.append({"file": name, "split": "train", "montage": "tcp22", "rows": 512, "sha256": digest})
        total += (folder / "shards" / name).stat().st_size
        index += 1
    return entries, total


def main() -> None:
    import pyarrow.parquet as pq

    from lumamba_bench.data.integrity import verify_shards

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lumamba-bench-verify-"))
    try:
        entries, size = write_shards(folder, args.megabytes)
        paths = [folder / "shards" / e["file"] for e in entries]
        manifest = {"shards": entries}
        steps = {
            "read": lambda: [pq.ParquetFile(p).read() for p in paths],
            "read + CRC": lambda: [pq.ParquetFile(p, page_checksum_verification=True).read() for p in paths],
            "sha256": lambda: verify_shards(folder, manifest, use_cache=False),
            "cached check": lambda: verify_shards(folder, manifest),
        }
        for fn in steps.values():  # warm the page cache and the hash cache
            fn()
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, fn in steps.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    gigabytes = size / 2**30
    read = np.array(times["read"])
    print(f"{len(entries)} shards, {size / 2**20:.0f} MiB, one core, median of {args.repeats}")
    print(f"{'step':14s} {'s per GB':>9s} {'/ read':>8s}")
    for name, values in times.items():
        ratio = np.median(np.array(values) / read)
        print(f"{name:14s} {np.median(values) / gigabytes:9.3f} {ratio:8.3f}")
    crc_extra = np.median((np.array(times["read + CRC"]) - read) / read)
    print(
        f"page checksums add {100 * crc_extra:.1f}% to a read; a full sha256 costs "
        f"{np.median(np.array(times['sha256']) / read):.2f} reads; a cached check "
        f"{1e3 * np.median(times['cached check']):.2f} ms for the whole dataset"
    )


if __name__ == "__main__":
    main()
