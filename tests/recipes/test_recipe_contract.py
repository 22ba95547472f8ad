"""A new recipe is one module with one decorator: a toy one, registered here, is found by name,
prepared, and carries the metadata every recipe declares."""

import pytest

from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import (
    REGISTERED,
    Discovery,
    Recipe,
    Recording,
    get_recipe,
    list_recipes,
    register_recipe,
)
from lumamba_bench.errors import LumambaError
from lumamba_bench.recipes.tuh_files import tuh_files, tuh_subject


@pytest.fixture
def toy_recipe():
    @register_recipe
    class Toy(Recipe):
        """The demo corpus read as a two-split task: eval -> test, train -> train or val by subject parity."""

        name = "toy-recipe"
        citation, licence, url = "a test", "MIT", ""
        summary = "toy: the demo corpus, file-level labels"
        source_layout = "edf/{train,eval}/{normal,abnormal}/01_tcp_ar/*.edf"
        label_names = ("normal", "abnormal")
        expected_files = {"eval": 4, "train": 8}

        def count_group(self, recording):
            return recording.recording_id.split("/")[1]

        def discover(self, source):
            recordings = []
            for path in tuh_files(self, source):
                folder, label = path.relative_to(source / "edf").parts[:2]
                subject = tuh_subject(path)
                split = "test" if folder == "eval" else ("val" if subject.endswith(("1", "3")) else "train")
                recording_id = str(path.relative_to(source).with_suffix(""))
                recordings.append(Recording(path, recording_id, subject, split, int(label == "abnormal")))
            return Discovery(recordings)

    yield Toy
    REGISTERED.pop("toy-recipe")


def test_a_registered_toy_recipe_is_listed_prepared_and_described(toy_recipe, demo_source, tmp_path):
    assert "toy-recipe" in list_recipes() and isinstance(get_recipe("toy-recipe"), toy_recipe)
    recipe = get_recipe("toy-recipe")
    assert recipe.task_type == "binary" and recipe.outputs == 2 and recipe.citation == "a test"
    manifest = prepare(recipe, demo_source, tmp_path / "toy").manifest
    assert manifest["recipe"]["name"] == "toy-recipe" and manifest["recipe"]["completeness"]["complete"] is True
    assert manifest["splits"]["test"]["recordings"] == 4 and manifest["splits"]["train"]["windows"] > 0
    with pytest.raises(LumambaError, match=r"'tuab' is taken: lumamba_bench\.recipes\.tuab\.TUAB and .*Other both"):
        register_recipe(type("Other", (toy_recipe,), {"name": "tuab"}))


def test_every_registered_recipe_declares_its_metadata():
    for name in list_recipes():
        recipe = get_recipe(name)
        assert recipe.summary and recipe.source_layout and recipe.citation and recipe.licence, name
        assert recipe.task_type in ("binary", "multiclass", "multilabel", "multioutput", None), name
        if recipe.task_type is None:
            with pytest.raises(LumambaError, match="no labels"):
                recipe.outputs  # noqa: B018 - the property raises
        assert all(n > 0 for n in recipe.expected_files.values()), name
