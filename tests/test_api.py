"""The Python API: the README's "From Python" example runs verbatim; one import holds the public
names; compute settings are the call's, put back afterwards."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import lumamba_bench
from lumamba_bench.harness import precision
from lumamba_bench.models import registry, scan

README = Path(__file__).resolve().parents[1] / "README.md"


def _from_python_example() -> str:
    section = README.read_text().split("## From Python\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


@pytest.mark.slow
def test_the_readmes_from_python_example_runs_verbatim(small_demo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # its results go to ./results, as a user's would
    script = types.ModuleType("readme_example")  # a script of its own, as a user's would be
    monkeypatch.setitem(sys.modules, "readme_example", script)
    namespace = script.__dict__
    try:  # dont_inherit: none of this test module's __future__ imports
        exec(compile(_from_python_example(), "README.md (From Python)", "exec", dont_inherit=True), namespace)
    finally:
        registry._ENCODERS.pop("patch-mean", None)
    scratch, mine = namespace["scratch"], namespace["mine"]
    assert isinstance(scratch, lumamba_bench.RunResult) and scratch.path.is_file() and scratch.predictions.is_file()
    assert list(scratch.summary.index) == sorted(scratch.results["summary"])
    assert scratch.summary.loc["auroc", "seeds"] == 2 and len(scratch.seed_metrics) == 2
    assert mine.results["model"]["name"] == "patch-mean" and mine.results["model"]["family"] == "patch-mean"
    assert mine.results["model"]["factory"].startswith("an instance of readme_example.PatchMean")
    assert mine.results["protocol"]["recipe"] == "common"
    assert mine.path.resolve().parent == tmp_path / "results" / "demo" / "patch-mean"
    printed = capsys.readouterr().out  # pandas shortens wide tables as it prints them
    assert "check" in printed and "auroc" in printed and "[2 rows x" in printed


def test_one_import_holds_the_public_api():
    for name in ("prepare", "pretrain", "run", "profile", "check_model", "compare", "Encoder", "Recipe", "Metric",
                 "register_encoder", "register_recipe", "register_metric", "RunConfig", "PretrainConfig",
                 "RunResult", "load_plugin"):  # fmt: skip
        assert name in dir(lumamba_bench) and getattr(lumamba_bench, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        lumamba_bench.nothing  # noqa: B018


def test_compute_settings_are_the_calls_and_are_put_back():
    from lumamba_bench.harness.compute import compute_settings

    precision.configure("cpu", "fp32")
    scan.set_scan_backend("auto")
    with compute_settings("cpu", "bf16", "chunked"):
        assert precision.active() == "bf16" and scan.requested() == "chunked"
    assert precision.active() == "fp32" and scan.requested() == "auto"
    with pytest.raises(lumamba_bench.LumambaError, match="unknown precision"), compute_settings("cpu", "fp8", "auto"):
        pass
    assert precision.active() == "fp32"


def test_unknown_settings_are_refused_naming_them():
    with pytest.raises(lumamba_bench.LumambaError, match="unknown RunConfig settings: epoch "):
        lumamba_bench.run("lumamba-scratch", "demo", epoch=3)


def test_a_factory_runs_from_python_under_its_name(small_demo, tmp_path):
    from lumamba_bench.models.lumamba import LuMamba, LuMambaConfig

    def tiny_lumamba():
        return LuMamba(LuMambaConfig())

    try:
        result = lumamba_bench.run(tiny_lumamba, "demo", seeds=1, epochs=1, out=tmp_path, check=False)
    finally:
        registry._ENCODERS.pop("tiny-lumamba", None)
    model = result.results["model"]
    assert model["name"] == "tiny-lumamba" and model["scratch"] is False and model["checkpoint"] is None
    assert model["factory"].startswith("the factory ") and model["factory"].endswith("<locals>.tiny_lumamba")


def test_pretrain_registers_the_encoder_and_writes_its_model_card(small_demo, tmp_path):
    import json

    result = lumamba_bench.pretrain("lumamba-recon", "demo", name="recon-from-python", epochs=1, batch_size=8,
                                    out=tmp_path / "pretrain")  # fmt: skip
    card = json.loads(result.card.read_text())
    assert result.card.parent == result.registered.parent
    assert card["name"] == "recon-from-python" and card["architecture"] == "lumamba"
    assert card["pretraining"]["corpora"] == ["demo"]
    # The Quick start's next step: `run --model NAME` checks the stored encoder's inputs first.
    from lumamba_bench.api import require_checked

    assert lumamba_bench.check_model("recon-from-python", ["demo"]).ok
    require_checked("recon-from-python", ["demo"], [])
