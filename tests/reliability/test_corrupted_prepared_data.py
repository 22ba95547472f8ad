"""Prepared data is checked before it is trusted: flipped bytes, swapped, missing or escaped
shards and a malformed manifest are one clear error naming the shard and the rebuild command."""

import json
import os
import shutil

import pytest

from lumamba_bench.data import integrity
from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.errors import LumambaError


@pytest.fixture
def dataset(demo_source, tmp_path):
    prepare(get_recipe("demo"), demo_source, tmp_path / "demo")
    return tmp_path / "demo"


def _manifest(dataset):
    return json.loads((dataset / "manifest.json").read_text())


def _shard(dataset, split):
    return next(s for s in _manifest(dataset)["shards"] if s["split"] == split)


def test_a_flipped_byte_in_a_shard_is_refused(dataset):
    path = dataset / "shards" / _shard(dataset, "test")["file"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(LumambaError, match=f"shard .*{path.name} has changed since it was written.*--force"):
        ShardDataset(dataset, "test")


def test_a_test_shard_copied_over_a_train_shard_is_refused(dataset):
    train, test = _shard(dataset, "train"), _shard(dataset, "test")
    shutil.copy(dataset / "shards" / test["file"], dataset / "shards" / train["file"])
    with pytest.raises(LumambaError, match=train["file"]):
        ShardDataset(dataset, "val")  # any split: the whole dataset is checked


def test_missing_shard_escaped_path_and_malformed_manifest(dataset):
    manifest = _manifest(dataset)
    (dataset / "shards" / manifest["shards"][0]["file"]).unlink()
    with pytest.raises(LumambaError, match="is missing"):
        ShardDataset(dataset, "train")
    escaped = manifest | {"shards": [manifest["shards"][1] | {"file": "../manifest.json"}]}
    (dataset / "manifest.json").write_text(json.dumps(escaped))
    with pytest.raises(LumambaError, match="'../manifest.json' is not a file name inside shards/"):
        ShardDataset(dataset, "train")
    (dataset / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "shards"}))
    with pytest.raises(LumambaError, match="not a valid manifest: at \\(top level\\): 'shards' is a required property"):
        ShardDataset(dataset, "train")


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda m: m["shards"][0].update(sha256="0" * 12), "shards/0/sha256"),
        (lambda m: m["shards"][0].update(rows=-1), "shards/0/rows"),
        (lambda m: m["files"][0].update(split="holdout"), "files/0/split"),
        (lambda m: m["montages"][next(iter(m["montages"]))].update(coords=[[0, 0]]), "coords/0"),
        (lambda m: m.update(label_names="normal"), "label_names"),
        (lambda m: m.pop("preprocessing"), "top level"),
    ],
)  # fmt: skip
def test_a_manifest_that_breaks_the_schema_is_refused_naming_the_field(dataset, edit, where):
    manifest = _manifest(dataset)
    edit(manifest)
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LumambaError, match=f"not a valid manifest: at [^:]*{where}"):
        ShardDataset(dataset, "train")


def test_a_flipped_byte_is_caught_by_the_page_checksum_even_when_the_hash_cache_is_fooled(dataset):
    """The sha256 cache trusts an unchanged (size, mtime); a byte flipped and the mtime put back
    still fails the CRC of the page that holds it, when that page is read."""
    import os

    from lumamba_bench.data.shards import ShardChecksumError, read_windows

    ShardDataset(dataset, "test")  # hashes cached
    path = dataset / "shards" / _shard(dataset, "test")["file"]
    stat = path.stat()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    data = ShardDataset(dataset, "test")  # the cache says unchanged
    with pytest.raises(ShardChecksumError, match=f"shard .*{path.name} is corrupt .*CRC.*--force"):
        for i in range(len(data)):
            data[i]
    with pytest.raises(ShardChecksumError):
        read_windows(path)


def test_hashes_are_cached_until_a_shard_changes(dataset, monkeypatch):
    manifest = _manifest(dataset)
    assert integrity.verify_shards(dataset, manifest, use_cache=False) == len(manifest["shards"])
    assert integrity.verify_shards(dataset, manifest) == 0  # all cached by size and mtime
    path = dataset / "shards" / manifest["shards"][0]["file"]
    path.touch()  # a new mtime: hashed again (and still correct)
    assert integrity.verify_shards(dataset, manifest) == 1


def test_an_edited_window_count_is_refused_even_when_hashes_are_cached(dataset):
    ShardDataset(dataset, "train")  # hashes now cached
    manifest = _manifest(dataset)
    manifest["shards"][0]["rows"] += 1
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LumambaError, match="windows, the file holds"):
        ShardDataset(dataset, "train")


def test_a_truncated_shard_and_a_zeroed_hash_are_refused(dataset):
    manifest = _manifest(dataset)
    zeroed = json.loads(json.dumps(manifest))
    zeroed["shards"][0]["sha256"] = "0" * 64
    (dataset / "manifest.json").write_text(json.dumps(zeroed))
    with pytest.raises(LumambaError, match="the manifest records 000000000000"):
        integrity.verify_shards(dataset, zeroed, use_cache=False)
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    path = dataset / "shards" / manifest["shards"][0]["file"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(LumambaError, match=f"shard .*{path.name} has changed since it was written"):
        ShardDataset(dataset, "train")


@pytest.mark.parametrize("content", ["[1, 2]", '{"shard.parquet": 1}', "\udcff".encode("utf-8", "surrogatepass"), "{"])
def test_a_malformed_hash_cache_is_ignored_and_rebuilt(dataset, content):
    manifest = _manifest(dataset)
    cache = dataset / integrity.CACHE
    if isinstance(content, bytes):
        cache.write_bytes(content)
    else:
        cache.write_text(content)
    assert integrity.verify_shards(dataset, manifest) == len(manifest["shards"])  # every shard hashed again
    rebuilt = json.loads(cache.read_text())
    assert sorted(rebuilt) == sorted(s["file"] for s in manifest["shards"])
    assert integrity.verify_shards(dataset, manifest) == 0  # and trusted from then on


def test_a_shard_listed_twice_is_refused(dataset):
    """Read twice, a shard's windows would count twice in every metric."""
    manifest = _manifest(dataset)
    test = _shard(dataset, "test")
    (dataset / "manifest.json").write_text(json.dumps(manifest | {"shards": [*manifest["shards"], test]}))
    with pytest.raises(LumambaError, match=f"lists shard {test['file']} twice"):
        ShardDataset(dataset, "test")


def _forge_footer(dataset, shard, metadata: bytes) -> None:
    """Rewrite a shard with other footer metadata (its data pages as they were), then forge the
    hash cache so that it vouches for the new file: only the footer check is left to notice."""
    import pyarrow.parquet as pq

    table = pq.read_table(shard)
    pq.write_table(table.replace_schema_metadata({b"lumamba_bench": metadata}), shard)
    cache_path = dataset / integrity.CACHE
    cache = json.loads(cache_path.read_text())
    stat = shard.stat()
    cache[shard.name]["stamp"] = [stat.st_size, stat.st_mtime_ns]
    cache_path.write_text(json.dumps(cache))


def test_footer_metadata_changed_behind_a_fooled_hash_cache_is_refused(dataset):
    from lumamba_bench.data.shards import shard_metadata

    ShardDataset(dataset, "train")  # caches every shard's hash and stamp
    shard = dataset / "shards" / _shard(dataset, "train")["file"]
    meta = shard_metadata(shard)
    meta["coords"][0][0] += 0.01  # one electrode moved by a centimetre
    _forge_footer(dataset, shard, json.dumps(meta).encode())
    with pytest.raises(LumambaError, match=rf"shard .*{shard.name}: its footer disagrees with the manifest on coords"):
        ShardDataset(dataset, "train")


@pytest.mark.parametrize("footer", [b"{not json", b"[1, 2]"])
def test_a_broken_footer_is_one_line_naming_the_shard(dataset, footer):
    ShardDataset(dataset, "train")
    shard = dataset / "shards" / _shard(dataset, "train")["file"]
    _forge_footer(dataset, shard, footer)
    with pytest.raises(LumambaError, match=rf"shard .*{shard.name}: its footer cannot be read"):
        ShardDataset(dataset, "train")


def test_a_zeroed_footer_with_size_and_mtime_kept_is_one_line_naming_the_shard(dataset):
    ShardDataset(dataset, "train")
    shard = dataset / "shards" / _shard(dataset, "train")["file"]
    stat = shard.stat()
    data = shard.read_bytes()
    shard.write_bytes(data[:-64] + bytes(64))  # the footer's end, its length and the magic zeroed
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(LumambaError, match=rf"shard .*{shard.name}: its footer cannot be read"):
        ShardDataset(dataset, "train")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["splits"]["train"].update(windows=m["splits"]["train"]["windows"] + 12),
         r"says split train has \d+ windows; its shards hold \d+"),
        (lambda m: m.update(label_names=["abnormal", "normal"]), "footer disagrees with the manifest on label_names"),
    ],
)
def test_hand_edited_counts_and_label_names_in_a_manifest_are_refused(dataset, edit, message):
    manifest = _manifest(dataset)
    edit(manifest)
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LumambaError, match=message):
        ShardDataset(dataset, "train")
