"""Preparation throughput on one core: our pipeline vs an MNE pipeline vs a raw EDF read.

Writes TUH-style EDF recordings (the demo generator, 250 Hz, 25 signals), then, in this one
process and on the same files, times:
  raw read      edfio.read_edf, every signal as physical float64 (what reading alone costs)
  ours          lumamba_bench's per-recording pipeline: read, TCP bipolar, band-pass +
                notch at 250 Hz, resample to 256 Hz, window, validate
  ours+shards   the whole `prepare` (also Parquet/zstd writing and sha256 of sources and shards)
  MNE           read_raw_edf(preload) + pick + bipolar + filter(0.1-75) + notch_filter(60) +
                resample(256) + windowing (the reference's steps and order)
and prints hours of EEG per wall-second and the ratios.

    python benchmarks/prepare_throughput.py [--recordings 6] [--minutes 10] [--repeats 3]
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


def write_corpus(root: Path, recordings: int, minutes: float) -> list[Path]:
    from lumamba_bench.recipes.demo_corpus import SOURCE_SFREQ, _write_edf, synthesize_recording

    paths = []
    for i in range(recordings):
        path = root / "edf" / "eval" / ("normal", "abnormal")[i % 2] / "01_tcp_ar" / f"bench{i:03d}_s001_t000.edf"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = synthesize_recording(np.random.default_rng(i), abnormal=bool(i % 2), duration_s=minutes * 60)
        _write_edf(path, data, np.zeros((4, data.shape[1])), f"bench{i:03d}")
        paths.append(path)
    assert SOURCE_SFREQ == 250
    return paths


def raw_read(paths: list[Path]) -> None:
    import edfio

    for path in paths:
        edf = edfio.read_edf(path)
        for signal in edf.signals:
            signal.data  # noqa: B018 - decode every signal to physical values


def read_ours(paths: list[Path]) -> None:
    from lumamba_bench.data.edf import read_edf
    from lumamba_bench.data.montages import tcp_electrodes

    for path in paths:
        read_edf(path, tcp_electrodes())


def read_pyedflib(paths: list[Path]) -> None:
    import pyedflib

    from lumamba_bench.data.channels import canonical_name, is_known
    from lumamba_bench.data.montages import tcp_electrodes

    wanted = set(tcp_electrodes())
    for path in paths:
        with pyedflib.EdfReader(str(path)) as reader:
            labels = reader.getSignalLabels()
            picks = [i for i, n in enumerate(labels) if is_known(n) and canonical_name(n) in wanted]
            np.stack([reader.readSignal(i) for i in picks]).astype(np.float32)


def read_mne(paths: list[Path]) -> None:
    import mne

    for path in paths:
        raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
        raw.get_data(picks=[n for n in raw.ch_names if n.startswith("EEG") and "EKG" not in n][:21], units="uV")


def ours(paths: list[Path], source: Path) -> None:
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.data.recording import process_recording

    recipe = get_recipe("tuab")
    for recording in recipe.discover(source).recordings:
        assert process_recording(recipe, recording).status == "ok"


def ours_with_shards(paths: list[Path], source: Path, out: Path) -> None:
    from lumamba_bench.data.prepare import prepare
    from lumamba_bench.data.recipe import get_recipe

    prepare(get_recipe("tuab"), source, out, force=True, allow_partial=True)  # a few synthetic files, not TUAB


def mne_pipeline(paths: list[Path]) -> None:
    import mne

    from lumamba_bench.data.montages import TCP_PAIRS

    for path in paths:
        raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
        names = {n.replace("EEG ", "").replace("-REF", ""): n for n in raw.ch_names}
        raw.pick([names[e] for e in sorted({e for pair in TCP_PAIRS for e in pair})])
        index = {n.replace("EEG ", "").replace("-REF", ""): i for i, n in enumerate(raw.ch_names)}
        data = raw.get_data()
        bipolar = np.stack([data[index[a]] - data[index[b]] for a, b in TCP_PAIRS])
        info = mne.create_info([f"{a}-{b}" for a, b in TCP_PAIRS], raw.info["sfreq"], "eeg")
        derived = mne.io.RawArray(bipolar, info, verbose="error")
        derived.filter(0.1, 75.0, verbose="error")
        derived.notch_filter(60.0, verbose="error")
        derived.resample(256.0, npad="auto", verbose="error")
        signal = derived.get_data(units="uV").astype(np.float32)
        n = signal.shape[1] // 1280
        signal[:, : n * 1280].reshape(22, n, 1280).transpose(1, 0, 2).copy()


def best_of(repeats: int, fn, *args) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lumamba-bench-prepare-"))
    try:
        paths = write_corpus(workdir / "source", args.recordings, args.minutes)
        hours = args.recordings * args.minutes / 60.0
        ours(paths[:1], workdir / "source")  # warm-up: imports, template, filter design
        readers = {
            "edfio, our scaling (chosen)": best_of(args.repeats, read_ours, paths),
            "pyedflib": best_of(args.repeats, read_pyedflib, paths),
            "MNE read_raw_edf": best_of(args.repeats, read_mne, paths),
        }
        timings = {
            "raw read (edfio, all signals)": best_of(args.repeats, raw_read, paths),
            "ours (pipeline)": best_of(args.repeats, ours, paths, workdir / "source"),
            "ours + shards (prepare)": best_of(
                args.repeats, ours_with_shards, paths, workdir / "source", workdir / "out"
            ),
            "MNE pipeline": best_of(args.repeats, mne_pipeline, paths),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{args.recordings} recordings x {args.minutes:g} min = {hours:g} h of 25-signal EEG at 250 Hz, one core")
    print(f"{'stage':34s} {'seconds':>8s} {'h EEG / s':>10s}")
    for name, seconds in timings.items():
        print(f"{name:34s} {seconds:8.3f} {hours / seconds:10.1f}")
    print("reading the 21 TCP electrodes as float32 microvolts:")
    for name, seconds in readers.items():
        print(f"  {name:30s} {seconds:8.3f} s  ({seconds / readers['edfio, our scaling (chosen)']:.1f}x ours)")
    mne_time = timings["MNE pipeline"]
    read_time = timings["raw read (edfio, all signals)"]
    for name in ("ours (pipeline)", "ours + shards (prepare)"):
        print(
            f"{name}: {mne_time / timings[name]:.1f}x faster than MNE, "
            f"{timings[name] / read_time:.1f}x the raw read time"
        )


if __name__ == "__main__":
    main()
