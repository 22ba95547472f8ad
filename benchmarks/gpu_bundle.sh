#!/usr/bin/env bash
# Run here (CPU, with the package index): download what the offline GPU test machine lacks into
# .whl/ (ignored by git), for its CPython 3.12 on manylinux x86-64: the wheels lumamba-bench needs
# beyond that machine's image (benchmarks/gpu_machine_packages.txt), one version each, and the
# source of mamba-ssm, which benchmarks/gpu_check.sh builds there for its chip. Then check that
# every requirement of every wheel is in the bundle or on the machine, that pip accepts the wheels
# for Python 3.12 with no index, and that the bundle stays under 60 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${BUNDLE:-.whl}
LIMIT_MIB=60
# What lumamba-bench's requirements need that the machine's image does not hold (versions tested here).
WHEELS=(
  mne==1.13.2 decorator==5.2.1 pooch==1.9.0 platformdirs==4.14.9
  pyEDFlib==0.1.42 edfio==0.4.18
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==0.30.0
)
# mamba-ssm 2.2.6.post3: its kernels need only torch, triton, einops, ninja, transformers and
# packaging, all on the machine (2.3 adds tilelang and quack-kernels, which are not).
SOURCES=(mamba-ssm==2.2.6.post3)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE"
platform_args=()
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platform_args[@]}" -d "$BUNDLE" "${WHEELS[@]}"
# The source only: its metadata is read with this machine's torch (no isolated build, no CUDA).
MAMBA_SKIP_CUDA_BUILD=TRUE python3 -m pip download --quiet --no-deps --no-binary=:all: --no-build-isolation \
  -d "$BUNDLE" "${SOURCES[@]}"

python3 benchmarks/gpu_bundle_check.py "$BUNDLE" --machine benchmarks/gpu_machine_packages.txt --limit-mib "$LIMIT_MIB"
target=$(mktemp -d)
python3 -m pip install --quiet --dry-run --no-index --find-links "$BUNDLE" --python-version 3.12 --implementation cp \
  "${platform_args[@]}" --only-binary=:all: --no-deps --target "$target" "$BUNDLE"/*.whl
rm -rf "$target"
echo "pip accepts the wheels for CPython 3.12 without an index"
