"""Install this repository's package into a plain folder without building it (the offline GPU
machine's setuptools may be too old for pyproject.toml's licence field): the packages are copied
as `[tool.setuptools.package-dir]` maps them (recipes/ -> lumamba_bench/recipes, ...), and a
minimal .dist-info gives importlib.metadata the name, version and entry points (how encoders,
recipes and metrics are found).

    python benchmarks/gpu_install_tree.py SITE_FOLDER
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def install(site: Path) -> Path:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, setuptools = config["project"], config["tool"]["setuptools"]
    folders = setuptools.get("package-dir", {})
    for package in setuptools["packages"]:
        parent = package.rpartition(".")[0]
        if package in folders:
            source = ROOT / folders[package]
        elif parent in folders:
            source = ROOT / folders[parent] / package.rpartition(".")[2]
        else:
            source = ROOT / package.replace(".", "/")
        target = site / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        for file in source.glob("*.py"):  # each package's own modules; subpackages are listed apart
            shutil.copy2(file, target / file.name)
        for pattern in setuptools.get("package-data", {}).get(package, []):  # the page's CSS and JS
            for file in source.glob(pattern):
                (target / file.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target / file.relative_to(source))
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project.get("entry-points", {})  # how the package finds its encoders, recipes, metrics
    lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) for group, points in groups.items()]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return info


if __name__ == "__main__":
    print(f"installed {install(Path(sys.argv[1]))}")
