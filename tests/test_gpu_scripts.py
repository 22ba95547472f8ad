"""The offline GPU machine's scripts, checked here without a GPU: the bundle checker (requirements,
versions, what the machine has, size), the check's dry run (its plan fits ten minutes and it
refuses an incomplete bundle), the build narrowing and the summary it writes as steps end."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import gpu_bundle_check  # noqa: E402
import gpu_summary  # noqa: E402


def wheel(folder: Path, name: str, version: str, requires: list[str] = (), tag: str = "py3-none-any") -> Path:
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        lines = [f"Name: {name}", f"Version: {version}"] + [f"Requires-Dist: {r}" for r in requires]
        archive.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


def sdist(folder: Path, name: str, version: str) -> Path:
    path = folder / f"{name}-{version}.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    return path


@pytest.fixture
def machine(tmp_path) -> set[str]:
    return {"numpy", "packaging", "requests", "attrs"}


def test_a_complete_bundle_passes(tmp_path, machine):
    wheel(tmp_path, "pooch", "1.9.0", ["packaging>=20", "platformdirs>=2.5", "requests>=2.19"])
    wheel(tmp_path, "platformdirs", "4.14.9", ['pytest>=8; extra == "test"'])  # an extra's needs are skipped
    wheel(tmp_path, "edfio", "0.4.18", ["numpy>=1.22", 'tomli; python_version < "3.11"'])  # a marker false on 3.12
    sdist(tmp_path, "mamba_ssm", "2.2.6.post3")
    assert gpu_bundle_check.check(tmp_path, machine, 60) == []


def test_each_bundle_fault_is_named(tmp_path, machine):
    wheel(tmp_path, "pooch", "1.9.0", ["platformdirs>=2.5"])  # platformdirs neither bundled nor there
    wheel(tmp_path, "mne", "1.13.2")
    wheel(tmp_path, "mne", "1.12.0")  # two versions
    wheel(tmp_path, "numpy", "2.0.0")  # already on the machine
    problems = " | ".join(gpu_bundle_check.check(tmp_path, machine, 60))
    assert "needs platformdirs>=2.5" in problems
    assert "mne: 2 versions" in problems
    assert "numpy is already on the machine" in problems
    (tmp_path / "padding-1.0.tar.gz").write_bytes(b"\0" * (2 * 2**20))
    (tmp_path / "notes.txt").write_text("stray")
    wheel(tmp_path, "platformdirs", "4.14.9")
    problems = gpu_bundle_check.check(tmp_path, machine, 1)
    assert any("over the 1 MiB limit" in p for p in problems)
    assert any("notes.txt is neither a wheel nor a source distribution" in p for p in problems)


def test_the_machine_list_holds_torch_and_not_what_we_carry():
    listed = gpu_bundle_check.machine_packages(BENCHMARKS / "gpu_machine_packages.txt")
    assert {"torch", "triton", "numpy", "typer", "rich", "einops", "ninja"} <= listed
    assert not {"mne", "pyedflib", "edfio", "jsonschema", "mamba-ssm"} & listed


def test_the_dry_run_plan_fits_ten_minutes_and_refuses_a_missing_bundle(tmp_path):
    result = subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh"), "--dry-run"], capture_output=True, text=True,
                            env={"BUNDLE": str(tmp_path / "none"), "PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
                            cwd=ROOT)  # fmt: skip
    assert "foreground limits together" in result.stdout
    total = int(result.stdout.split("foreground limits together: ")[1].split(" s")[0])
    assert total <= 600
    assert result.returncode == 1 and "run benchmarks/gpu_bundle.sh first" in result.stderr


def test_narrowing_the_build_keeps_one_gencode_pair(tmp_path):
    setup = tmp_path / "setup.py"
    setup.write_text(
        "def build():\n    cc_flag = []\n    cc_flag.append('-gencode')\n"
        "    cc_flag.append('arch=compute_80,code=sm_80')\n"
        "    cc_flag.append('-gencode')\n    cc_flag.append('arch=compute_90,code=sm_90')\n\n"
        "    # HACK: The compiler flag -D_GLIBCXX_USE_CXX11_ABI is set\n    return cc_flag\n"
    )
    subprocess.run([sys.executable, str(BENCHMARKS / "gpu_narrow_build.py"), str(setup)], check=True)
    namespace: dict = {}
    exec(setup.read_text(), namespace)
    assert namespace["build"]() == ["-gencode", "arch=compute_90,code=sm_90"]
    setup.write_text("cc_flag = []\n")
    assert subprocess.run([sys.executable, str(BENCHMARKS / "gpu_narrow_build.py"), str(setup)]).returncode == 1


def test_the_summary_is_rewritten_as_each_step_ends(tmp_path):
    status = tmp_path / "status.jsonl"
    gpu_summary.main(["--init", str(tmp_path), str(status)])
    gpu_summary.main(["--step", str(tmp_path), str(status), "doctor-chunked", "ok", "12", "40"])
    assert "| doctor-chunked | ok | 12 | 40 |" in (tmp_path / "summary.md").read_text()
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"points": [
        {"model": "lumamba", "seconds": 60.0, "memory_mib": 400.0, "windows_per_s": 30.0},
        {"model": "luna-base", "seconds": 60.0, "memory_mib": 1000.0, "windows_per_s": 20.0},
    ]}))  # fmt: skip
    gpu_summary.main(["--profile", str(tmp_path), str(status), "chunked", str(profile)])
    gpu_summary.main(["--step", str(tmp_path), str(status), "build", "failed (exit 124)", "420", "420"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [s["name"] for s in summary["steps"]] == ["doctor-chunked", "build"]
    assert summary["versions"]["python"] and len(summary["profile"]) == 2
    text = (tmp_path / "summary.md").read_text()
    assert "chunked, 60.0 s: LuMamba memory 0.40x LUNA-Base's, windows/s 1.50x" in text
    assert "| build | failed (exit 124) | 420 | 420 |" in text


def test_the_tree_installs_without_a_build_as_pyproject_maps_it(tmp_path):
    """recipes/ and baselines/ land as lumamba_bench.recipes/.baselines; the version is readable."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, str(BENCHMARKS / "gpu_install_tree.py"), str(site)], check=True)
    probe = (
        "import lumamba_bench; from lumamba_bench.data.recipe import get_recipe; from lumamba_bench.models import "
        "list_encoders; print(lumamba_bench.__version__, lumamba_bench.__file__, get_recipe('demo').name, "
        "'lumamba' in list_encoders())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}).stdout.split()  # fmt: skip
    assert out[0] != "0.0.0+unknown" and out[1].startswith(str(site)) and out[2:] == ["demo", "True"]
