#!/usr/bin/env bash
# The GPU check, for the offline GPU test machine (one H200, Python 3.12, torch 2.11 + CUDA 13,
# no network), as one command that fits one 10-minute run. Prepare here with
# `bash benchmarks/gpu_bundle.sh` (the wheels that machine lacks and mamba-ssm's source, in .whl/),
# then there, from the repository root with .whl carried:
#
#     OUT=/path/to/results bash benchmarks/gpu_check.sh          # the check
#     bash benchmarks/gpu_check.sh --dry-run                      # here: the steps, their limits, the bundle
#
# Steps, each under its own time limit: install the bundle into a private site folder (no index);
# start building mamba-ssm for sm_90 only in the background; meanwhile run what needs no kernel
# (doctor with the PyTorch scan on CUDA; a short pretrain + resume + run on the demo in bf16;
# profile at 5 / 60 / 600 s for lumamba, luna-base and labram-base; training-step throughput and
# peak memory in fp32 and bf16); then, if the build finished, the kernel's parity (doctor) and the
# same profile with it. $OUT/summary.json and $OUT/summary.md (each figure, each step's status,
# the versions that ran) are rewritten as each step ends, so they come back even when a later
# step runs out of time. At most 8 files are written under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY_RUN=0
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1

# name | limit in seconds | what runs (foreground steps in order; "build" runs in the background)
STEPS=(
  "install|30|the bundled wheels and this project into a private site folder, no index"
  "build|420|mamba-ssm for sm_90 only (one -gencode pair, MAX_JOBS = cores, no build isolation), in the background"
  "doctor-chunked|40|doctor --device cuda --scan-backend chunked: the PyTorch scan against the step loop on the GPU"
  "demo-bf16|120|pretrain lumamba-mixed 20 steps, resume to 30, run 1 seed x 2 epochs on the demo, bf16, PyTorch scan"
  "profile-chunked|110|profile lumamba, luna-base, labram-base at 5, 60, 600 s (memory, windows/s), PyTorch scan"
  "step-throughput|60|training-step windows/s and peak memory, fp32 and bf16, PyTorch scan"
  "build-wait|100|wait for the background build (what is left of its limit)"
  "doctor-kernel|30|doctor --device cuda --scan-backend mamba-ssm: the kernel's parity (only if it built)"
  "profile-kernel|90|the same profile with the mamba-ssm kernel (only if it built)"
)
FOREGROUND_LIMIT=600  # the run's limit: every foreground step's limit together must fit it

plan() {
  local total=0
  printf "%-16s %7s  %s\n" step "limit s" "what"
  for entry in "${STEPS[@]}"; do
    IFS="|" read -r name limit what <<<"$entry"
    printf "%-16s %7s  %s\n" "$name" "$limit" "$what"
    [[ "$name" != build ]] && total=$((total + limit))
  done
  echo "foreground limits together: ${total} s of ${FOREGROUND_LIMIT} s (the build overlaps doctor-chunked .. build-wait)"
  ((total <= FOREGROUND_LIMIT))
}

limit_of() {
  for entry in "${STEPS[@]}"; do
    IFS="|" read -r name limit _ <<<"$entry"
    [[ "$name" == "$1" ]] && echo "$limit" && return
  done
}

if ((DRY_RUN)); then
  plan || { echo "the steps' limits exceed ${FOREGROUND_LIMIT} s" >&2; exit 1; }
  "${PYTHON:-python3}" benchmarks/gpu_bundle_check.py "${BUNDLE:-.whl}" --machine benchmarks/gpu_machine_packages.txt || exit 1
  ls "${BUNDLE:-.whl}"/mamba_ssm-*.tar.gz >/dev/null 2>&1 || { echo "no mamba-ssm source in the bundle" >&2; exit 1; }
  bash -n "$0" && echo "dry run: the plan fits and the bundle is complete"
  exit 0
fi

OUT=${OUT:?set OUT to the folder whose files come back}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gpu-check.XXXXXX)
SITE=$WORK/site
export LUMAMBA_BENCH_DATA=$WORK/data PYTHONUNBUFFERED=1
LOG=$OUT/steps.log
: >"$LOG"
STATUS=$WORK/status.jsonl
: >"$STATUS"
python3 benchmarks/gpu_summary.py --init "$OUT" "$STATUS"

# One foreground step: a shell snippet (it may call the exported helpers below) under its limit;
# its status and seconds go to the summary.
step() {
  local name=$1 snippet=$2
  local limit started status
  limit=$(limit_of "$name")
  started=$(date +%s)
  echo "== $name (limit ${limit} s): $snippet" | tee -a "$LOG"
  timeout --kill-after=5 "$limit" bash -c "$snippet" >>"$LOG" 2>&1
  case $? in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  echo "== $name: $status after $(($(date +%s) - started)) s" | tee -a "$LOG"
  python3 benchmarks/gpu_summary.py --step "$OUT" "$STATUS" "$name" "$status" "$(($(date +%s) - started))" "$limit"
  [[ $status == ok ]]
}

export SITE WORK OUT
bench() { PYTHONPATH=$SITE python3 -m lumamba_bench "$@"; }
kernel() { PYTHONPATH=$WORK/kernel:$SITE python3 -m lumamba_bench "$@"; }

install() {  # the wheels, then this tree as pyproject.toml maps its packages (no build: gpu_install_tree.py)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl &&
    python3 benchmarks/gpu_install_tree.py "$SITE"
}

build_kernel() {  # mamba-ssm's source, its setup.py narrowed to sm_90, built against the machine's torch
  local source=$WORK/mamba
  mkdir -p "$source" && tar xzf .whl/mamba_ssm-*.tar.gz -C "$source" --strip-components=1 &&
    python3 benchmarks/gpu_narrow_build.py "$source/setup.py" &&
    MAMBA_FORCE_BUILD=TRUE MAX_JOBS=$(nproc) python3 -m pip install -q --no-index --no-deps --no-build-isolation \
      --no-cache-dir --target "$WORK/kernel" "$source"
}

wait_build() {  # what is left of the build's limit
  while [[ ! -f $WORK/build.rc ]]; do sleep 2; done
  [[ $(cat "$WORK/build.rc") == 0 ]]
}

demo_bf16() {
  local common=(--device cuda --precision bf16 --scan-backend chunked)
  bench pretrain --model lumamba-mixed "${common[@]}" --epochs 1 --batch-size 64 --max-steps 20 --out "$WORK/pretrain" &&
    bench pretrain --model lumamba-mixed "${common[@]}" --epochs 1 --batch-size 64 --max-steps 30 --resume \
      --out "$WORK/pretrain" &&
    bench run --model lumamba-mixed --task demo "${common[@]}" --seeds 1 --epochs 2 --out "$WORK/results"
}

profile_with() {  # backend, runner
  "$2" profile --models lumamba,luna-base,labram-base --seconds 5,60,600 --device cuda --scan-backend "$1" \
    --out "$WORK/profile-$1" && cp "$WORK/profile-$1/profile.json" "$OUT/profile-$1.json"
}
export -f bench kernel install build_kernel wait_build demo_bf16 profile_with

step install install || { echo "install failed: nothing else can run" | tee -a "$LOG"; exit 1; }
build_limit=$(limit_of build)
build_started=$(date +%s)
(timeout --kill-after=5 "$build_limit" bash -c build_kernel >"$OUT/mamba-build.log" 2>&1; echo $? >"$WORK/build.rc") &

step doctor-chunked "bench doctor --device cuda --scan-backend chunked --length 1024"
step demo-bf16 demo_bf16
step profile-chunked "profile_with chunked bench"
python3 benchmarks/gpu_summary.py --profile "$OUT" "$STATUS" chunked "$OUT/profile-chunked.json"
step step-throughput "PYTHONPATH=\$SITE python3 benchmarks/step_throughput.py --device cuda --batches 16,64,256 \
  | tee \$OUT/step-throughput.txt"
step build-wait wait_build
build_rc=$(cat "$WORK/build.rc" 2>/dev/null || echo none)
build_status=$([[ $build_rc == 0 ]] && echo ok || echo "failed (exit $build_rc)")
python3 benchmarks/gpu_summary.py --step "$OUT" "$STATUS" build "$build_status" "$(($(date +%s) - build_started))" \
  "$build_limit"
tail -c 200000 "$OUT/mamba-build.log" >"$WORK/build.tail" && mv "$WORK/build.tail" "$OUT/mamba-build.log"

if [[ $build_rc == 0 ]]; then
  step doctor-kernel "kernel doctor --device cuda --scan-backend mamba-ssm --length 1024"
  step profile-kernel "profile_with mamba-ssm kernel"
  python3 benchmarks/gpu_summary.py --profile "$OUT" "$STATUS" mamba-ssm "$OUT/profile-mamba-ssm.json"
else
  for name in doctor-kernel profile-kernel; do
    python3 benchmarks/gpu_summary.py --step "$OUT" "$STATUS" "$name" "skipped: the kernel did not build" 0 \
      "$(limit_of "$name")"
  done
fi
echo "done: $OUT/summary.md"
