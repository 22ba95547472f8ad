"""The embedded demo corpus: synthetic EEG in the TUAB layout, prepared like TUAB.

``prepare demo`` writes the corpus (``demo_corpus.write_demo_corpus``) under the data root
when no ``--source`` is given, then runs the TUAB recipe's discovery and pipeline on it.
"""

from __future__ import annotations

from pathlib import Path

from lumamba_bench.recipes.base import register_recipe
from lumamba_bench.recipes.demo_corpus import write_demo_corpus
from lumamba_bench.recipes.tuab import TUAB


@register_recipe
class Demo(TUAB):
    name = "demo"
    version = "1"
    part_of = ()  # synthetic: generated here, part of no corpus
    synthetic = True
    corpus_version = ""
    expected_files = {}  # generated here, at whatever size asked for
    summary = "synthetic TUAB-layout EEG (34 subjects, 1 min each): 22 TCP bipolar, 5 s, normal/abnormal"
    source_layout = "written by `lumamba-bench demo-data DIR` (TUAB layout); default: generated"
    split_salt = "lumamba-bench/demo/v1"
    # Measured on 2 CPU cores: ~50 s a seed; test AUROC 0.9997 from scratch and from lumamba-mixed.
    finetune_defaults = {"epochs": 6, "batch_size": 16, "lr": 1e-3, "patience": 6}

    @staticmethod
    def default_source(data_root: Path) -> Path:
        """Where the generated corpus lives; written on first use."""
        source = data_root / "sources" / "demo"
        write_demo_corpus(source)
        return source
