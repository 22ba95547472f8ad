"""Check a bundle of wheels for the offline GPU machine: one version of each distribution, every
requirement (markers evaluated for CPython 3.12 on Linux x86-64, extras skipped) either in the
bundle or among the machine's packages, nothing the machine already has, and a total size under
the limit. Prints the bundle's contents and size; exits 1 naming what is wrong.

    python benchmarks/gpu_bundle_check.py .whl --machine benchmarks/gpu_machine_packages.txt
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

MACHINE_ENVIRONMENT = default_environment() | {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "extra": "",
}


def machine_packages(path: Path) -> set[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return {canonicalize_name(line) for line in lines if line and not line.startswith("#")}


def requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    found = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.marker is None or requirement.marker.evaluate(MACHINE_ENVIRONMENT):
                found.append(requirement)
    return found


def check(bundle: Path, machine: set[str], limit_mib: float) -> list[str]:
    problems, names, wheels = [], {}, []
    for path in sorted(p for p in bundle.iterdir() if p.is_file()):
        try:
            if path.name.endswith(".whl"):
                name, version, _, _ = parse_wheel_filename(path.name)
                wheels.append(path)
            else:
                name, version = parse_sdist_filename(path.name)
        except (InvalidWheelFilename, InvalidSdistFilename) as error:
            problems.append(f"{path.name} is neither a wheel nor a source distribution ({error})")
            continue
        names.setdefault(name, []).append(str(version))
    for name, versions in names.items():
        if len(versions) > 1:
            problems.append(f"{name}: {len(versions)} versions ({', '.join(versions)}); pip stops at two")
        if name in machine:
            problems.append(f"{name} is already on the machine; carry it only for another version")
    for path in wheels:
        for requirement in requirements(path):
            needed = canonicalize_name(requirement.name)
            if needed not in names and needed not in machine:
                problems.append(f"{path.name} needs {requirement}, which is neither in the bundle nor on the machine")
    size = sum(p.stat().st_size for p in bundle.iterdir() if p.is_file())
    for name, versions in sorted(names.items()):
        print(f"  {name} {versions[0]}")
    print(f"bundle: {len(names)} distributions, {size / 2**20:.1f} MiB (limit {limit_mib:g} MiB)")
    if size > limit_mib * 2**20:
        problems.append(f"the bundle is {size / 2**20:.1f} MiB, over the {limit_mib:g} MiB limit")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--machine", type=Path, required=True)
    parser.add_argument("--limit-mib", type=float, default=60)
    args = parser.parse_args()
    if not args.bundle.is_dir() or not any(args.bundle.iterdir()):
        sys.exit(f"no bundle at {args.bundle}: run benchmarks/gpu_bundle.sh first")
    problems = check(args.bundle, machine_packages(args.machine), args.limit_mib)
    for problem in problems:
        print(f"bundle: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
