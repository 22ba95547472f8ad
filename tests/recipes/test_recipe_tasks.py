"""Every labelled recipe's prepared fixture can be fine-tuned on end to end (1 seed, 1 epoch)."""

import pytest
from corpora import write_apava_fixture, write_tdbrain_fixture, write_tuar_fixture, write_tusl_fixture

from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.store import data_root
from lumamba_bench.harness.results import validate
from lumamba_bench.harness.run import RunConfig, run_benchmark

WRITERS = {
    "apava": write_apava_fixture,
    "tdbrain": write_tdbrain_fixture,
    "tuar-mc": write_tuar_fixture,
    "tuar-mmc": write_tuar_fixture,
    "tuar-mcc": write_tuar_fixture,
    "tusl": write_tusl_fixture,
}


@pytest.mark.parametrize("task", sorted(WRITERS))
def test_run_on_a_prepared_fixture(tmp_path, task):
    source = tmp_path / "source"
    WRITERS[task](source)
    prepare(get_recipe(task), source, data_root() / task, allow_partial=True)
    config = RunConfig(model="lumamba-mixed-scratch", task=task, seeds=1, epochs=1, batch_size=8, out=tmp_path / "r")
    results, _ = run_benchmark(config)
    validate(results)
    assert results["task"]["recipe"] == task
    expected = {"apava": "binary", "tdbrain": "binary", "tuar-mc": "multilabel", "tuar-mmc": "multioutput",
                "tuar-mcc": "multiclass", "tusl": "multiclass"}
    assert results["task"]["type"] == expected[task]
    assert results["summary"], "no metric was computed"
    if task in ("tuar-mc", "tuar-mmc"):  # per-channel tasks: per-channel scores averaged
        metrics = results["seeds"][0]["metrics"]
        assert "auroc_macro" in metrics and any(k.startswith("auroc_c") for k in metrics)
