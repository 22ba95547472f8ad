import json
import math

import pytest

from lumamba_bench.analysis.analyze import AnalyzeConfig, analyze
from lumamba_bench.analysis.dial import DialConfig, sweep
from lumamba_bench.errors import LumambaError


def test_analyze_writes_isotropy_tsne_and_topomaps(small_demo, tmp_path):
    report = analyze(AnalyzeConfig(model="lumamba-mixed-scratch", task="demo", out=tmp_path))
    out = tmp_path / "demo" / "lumamba-mixed-scratch"
    on_disk = json.loads((out / "analysis.json").read_text())
    assert on_disk["isotropy"] == report["isotropy"]
    iso = report["isotropy"]
    assert iso["dimensions"] == 384 and iso["windows"] > 5
    assert 1.0 <= iso["effective_rank"] <= 384 and iso["epps_pulley"] > 0
    for name in ("tsne.png", "topomaps.png"):
        assert (out / name).stat().st_size > 5000
    ((montage, attention),) = report["query_attention"].items()
    assert len(attention) == 6 and len(attention[0]) == len(report["channels"][montage]) == 22
    for row in attention:  # each query's softmax over channels, averaged: still sums to 1
        assert sum(row) == pytest.approx(1.0, abs=1e-3)


def test_encoders_without_a_front_end_get_no_topomaps(small_demo, tmp_path):
    report = analyze(AnalyzeConfig(model="labram-base-scratch", task="demo", out=tmp_path))
    assert report["query_attention"] == {} and "tsne" in report["figures"]
    assert not (tmp_path / "demo" / "labram-base-scratch" / "topomaps.png").exists()


def test_pretrained_name_without_weights_is_refused(small_demo, tmp_path):
    with pytest.raises(LumambaError, match="no pre-trained weights"):
        analyze(AnalyzeConfig(model="lumamba-lejepa", task="demo", out=tmp_path))


def test_dial_sweep_pretrains_one_encoder_per_weight_and_plots(small_demo, tmp_path):
    report = sweep(DialConfig(task="demo", weights=(0.0, math.inf), pretrain_epochs=1, finetune_epochs=1, out=tmp_path))
    rows = report["rows"]
    assert [r["lejepa_weight"] for r in rows] == [0.0, math.inf]
    # Weight 0 is reconstruction only (no LeJEPA terms in its loss); inf is LeJEPA only.
    assert rows[0]["loss_terms"] == ["masked", "query", "visible"]
    assert "lejepa" in rows[1]["loss_terms"] and "masked" not in rows[1]["loss_terms"]
    assert all(r["steps"] > 0 and 0.0 <= r["auroc"] <= 1.0 and r["effective_rank"] >= 1 for r in rows)
    out = tmp_path / "demo" / "dial-lumamba"
    assert (out / "dial.png").stat().st_size > 5000
    saved = json.loads((out / "dial.json").read_text())
    assert saved["rows"][1]["lejepa_weight"] == "inf"
    assert (out / "weight-0" / "tsne.png").exists() and (out / "lejepa-only" / "topomaps.png").exists()
    # The sweep's short runs never enter the model store.
    from lumamba_bench.harness.checkpoints import find_pretrained

    assert find_pretrained("lumamba-mixed") is None and find_pretrained("lumamba-lejepa") is None
