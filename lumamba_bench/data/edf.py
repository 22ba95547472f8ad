"""Read EDF recordings into float32 microvolts.

Reader choice (measured on the demo corpus, 2-min 25-channel files, and a 20-min file; see
README "Benchmarks"): edfio with lazy loading and our own digital->physical scaling reads only
the wanted channels at ~1.3 ms per 2-min file, against ~7 ms for edfio's float64 physical
values, ~12 ms for pyedflib and ~8-30 ms for MNE. MNE stays as the fallback for files edfio's
strict header parser refuses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lumamba_bench.data.channels import canonical_name, is_known, referential_labels
from lumamba_bench.errors import RecordingError

# Physical dimension -> factor to microvolts (micro written as u, the micro sign or Greek mu).
# A blank or unknown dimension is refused: a blank one is microvolts for some exporters and
# volts for MNE, a factor of 1e6 apart, and guessing would be silent.
_TO_MICROVOLTS = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}


@dataclass
class RawRecording:
    """Referential signals of one recording, float32 microvolts, shape (C, N)."""

    data: np.ndarray
    sfreq: float
    ch_names: list[str]


def _scale(dimension: str, path: Path, label: str) -> float:
    key = dimension.strip().lower()
    if not key:
        raise RecordingError(
            f"{path.name}: channel {label.strip()!r} has no physical dimension (cannot tell uV from V)"
        )
    if key not in _TO_MICROVOLTS:
        raise RecordingError(f"{path.name}: channel {label.strip()!r} has unsupported unit {dimension!r}")
    return _TO_MICROVOLTS[key]


def _pick(labels: list[str], wanted: set[str] | None, exact: list[str] | None = None) -> tuple[list[int], list[str]]:
    """Indices and names of the EEG channels whose canonical names are wanted (ear references
    resolved per file, ``channels.referential_labels``), or, with ``exact``, of the signals with
    exactly those labels, in that order. Two signals naming one electrode, or a wanted label
    present twice, are errors naming them; so is a file with none of the wanted channels."""
    stripped = [label.strip() for label in labels]
    if exact is not None:
        missing = [label for label in exact if label not in stripped]
        if missing:
            raise RecordingError(f"no signal labelled {', '.join(map(repr, missing))}")
        twice = [label for label in exact if stripped.count(label) > 1]
        if twice:
            raise RecordingError(
                f"more than one signal labelled {', '.join(map(repr, twice))}; cannot tell which to use"
            )
        return [stripped.index(label) for label in exact], list(exact)
    names = referential_labels(stripped)
    seen: dict[str, str] = {}
    picks = []
    for i, (label, name) in enumerate(zip(stripped, names, strict=True)):
        if not is_known(name):
            continue
        canon = canonical_name(name)
        if wanted is not None and canon not in wanted:
            continue
        if canon in seen:
            raise RecordingError(
                f"signals {seen[canon]!r} and {label!r} are both electrode {canon}; cannot tell which to use"
            )
        seen[canon] = label
        picks.append(i)
    if not picks:
        looked_for = "no EEG electrode" if wanted is None else f"none of {', '.join(sorted(wanted))}"
        shown = ", ".join(map(repr, stripped[:20])) + (f" and {len(stripped) - 20} more" if len(stripped) > 20 else "")
        raise RecordingError(f"{looked_for} among its {len(stripped)} signal labels ({shown})")
    return picks, [names[i] for i in picks]


def _read_edfio(path: Path, wanted: set[str] | None, exact: list[str] | None, header: _Header | None) -> RawRecording:
    import edfio

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        edf = edfio.read_edf(path, lazy_load_data=True)
        for warning in caught:
            text = str(warning.message)
            if "data records" in text or "truncated" in text.lower():
                raise RecordingError(f"{path.name}: truncated file ({text})")
        signals = edf.signals
        labels = [s.label for s in signals]
        dimensions = header.dimensions_without_annotations() if header else []
        if len(dimensions) != len(signals):
            dimensions = [s.physical_dimension for s in signals]
        try:
            picks, names = _pick(labels, wanted, exact)
        except RecordingError as error:
            raise RecordingError(f"{path.name}: {error}") from None
        rates = {signals[i].sampling_frequency for i in picks}
        if len(rates) != 1:
            raise RecordingError(f"{path.name}: EEG channels have different sampling rates {sorted(rates)}")
        data = np.empty((len(picks), signals[picks[0]].digital.shape[0]), dtype=np.float32)
        for row, i in enumerate(picks):
            signal = signals[i]
            pmin, pmax = signal.physical_range
            dmin, dmax = signal.digital_range
            if dmax == dmin:
                raise RecordingError(f"{path.name}: channel {signal.label!r} has an empty digital range")
            if pmax == pmin:  # every sample would read as one value: not a constant electrode, a broken header
                raise RecordingError(
                    f"{path.name}: channel {signal.label!r} has an empty physical range (min = max = {pmin:g}): "
                    "its samples cannot be scaled"
                )
            unit = _scale(dimensions[i], path, signal.label)
            gain = (pmax - pmin) / (dmax - dmin)
            offset = (pmin - dmin * gain) * unit
            gain *= unit
            np.multiply(signal.digital, np.float32(gain), out=data[row], casting="unsafe")
            data[row] += np.float32(offset)
    return RawRecording(data, float(rates.pop()), names)


def _read_mne(path: Path, wanted: set[str] | None, exact: list[str] | None, header: _Header | None) -> RawRecording:
    import mne

    raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
    try:
        picks, names = _pick(raw.ch_names, wanted, exact)
    except RecordingError as error:
        raise RecordingError(f"{path.name}: {error}") from None
    dimensions = header.dimensions if header else []
    for i in picks:  # MNE reads a blank dimension as volts: hold it to our unit rule first
        _scale(dimensions[i] if i < len(dimensions) else "", path, raw.ch_names[i])
    data = raw.get_data(picks=picks, units="uV").astype(np.float32)
    return RawRecording(data, float(raw.info["sfreq"]), names)


@dataclass
class _Header:
    """The EDF header fields our checks need, decoded once from the file's own bytes. Text is
    Latin-1, so the micro sign exporters write (byte 0xB5) reads as 'µ', where edfio and MNE
    replace it."""

    fixed: bytes  # the 256-byte fixed header
    labels: list[str]
    dimensions: list[str]  # one per signal, EDF+ annotation signals included
    samples: list[int] | None  # samples per data record per signal; None when unreadable

    def dimensions_without_annotations(self) -> list[str]:
        """As edfio lists signals: EDF+ annotation signals left out."""
        return [d for d, label in zip(self.dimensions, self.labels, strict=False) if label != "EDF Annotations"]


def _read_header(path: Path) -> _Header | None:
    """The header (256 bytes, then per signal: 16-byte label, 80-byte transducer, 8-byte dimension,
    4 x 8 bytes of ranges, 80-byte prefilter, 8-byte samples per record); None when the file is
    too short or its signal count is not a number (the readers then report what is wrong)."""
    with open(path, "rb") as handle:
        fixed = handle.read(256)
        try:
            count = int(fixed[252:256].decode("ascii").strip())
        except ValueError:
            return None
        per_signal = handle.read(256 * count)
    if len(fixed) < 256 or count < 0:
        return None

    def field(offset: int, width: int) -> list[str]:
        start = offset * count
        return [per_signal[start + width * i : start + width * (i + 1)].decode("latin-1").strip() for i in range(count)]

    try:
        samples = [int(v) for v in field(216, 8)]
    except ValueError:
        samples = None
    return _Header(fixed, field(0, 16), field(96, 8), samples)


def _check_header(path: Path, header: _Header) -> None:
    """Fixed-header fields both readers would get wrong. An EDF+D file (reserved field, bytes
    192-235) is discontinuous: read as one signal, windows would span its gaps; refused. The
    data-record duration (bytes 244-251) must be a number > 0, or a sampling rate is invented
    (MNE reads such a file without complaint)."""
    fixed = header.fixed
    if fixed[192:197] == b"EDF+D":
        raise RecordingError(f"{path.name}: EDF+D (discontinuous) recording; windows would span its gaps")
    value = fixed[244:252].decode("ascii", errors="replace").strip()
    try:
        duration = float(value)
    except ValueError:
        raise RecordingError(f"{path.name}: data record duration {value!r} is not a number") from None
    if not duration > 0:
        raise RecordingError(f"{path.name}: data record duration {value!r} s (must be > 0)")
    _check_length(path, header)


def _check_length(path: Path, header: _Header) -> None:
    """A file longer than its header declares (header bytes + records x record bytes) is damaged
    in a way a reader would hide (edfio calls the tail a truncated record); say so. A shorter
    one is left to the readers, which report it as truncated."""
    try:
        header_bytes = int(header.fixed[184:192].decode("ascii").strip())
        records = int(header.fixed[236:244].decode("ascii").strip())
    except ValueError:
        return  # malformed numbers: the readers refuse the header itself
    if records < 0 or not header.samples:
        return  # -1: the number of records is unknown (a recording still being written)
    declared = header_bytes + records * sum(header.samples) * 2
    actual = path.stat().st_size
    if actual > declared:
        raise RecordingError(
            f"{path.name}: {actual - declared} bytes longer than its header declares ({records} data records, "
            f"{declared} bytes); the header or the file is damaged"
        )


def read_edf(path: Path | str, channels: list[str] | None = None, labels: list[str] | None = None) -> RawRecording:
    """Read the EEG channels of an EDF file as float32 microvolts.

    ``channels``: canonical electrode names to keep (None keeps every known EEG channel);
    ``labels``: exact signal labels to read instead, in that order (any signal, EEG or not).
    Non-EEG channels (EKG, photic, ...) and unknown labels are ignored. A truncated or corrupt
    file raises ``RecordingError`` naming the file and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    header = _read_header(path)
    if header is not None:
        _check_header(path, header)
    wanted = {canonical_name(c) for c in channels} if channels is not None else None
    try:
        return _read_edfio(path, wanted, labels, header)
    except RecordingError:
        raise
    except Exception as edfio_error:  # noqa: BLE001 - edfio is strict about header fields: let MNE try
        try:
            return _read_mne(path, wanted, labels, header)
        except RecordingError:
            raise
        except Exception as mne_error:  # noqa: BLE001 - neither reader can: both reasons, one line
            raise RecordingError(
                f"{path.name}: unreadable EDF (edfio: {edfio_error}; MNE: {mne_error})"
            ) from edfio_error
