#!/usr/bin/env bash
# GPU acceptance check for a 1-GPU machine (under 10 minutes once mamba-ssm is built):
# kernel parity, a short pretrain + resume + run on the demo on CUDA, profiles with both scan
# backends, and train-step throughput in fp32 and bf16. Run from the repository root, after the
# CUDA install in the README ("On a GPU"). Writes everything under ${OUT:-results/gpu-check}.
set -euo pipefail
OUT=${OUT:-results/gpu-check}
mkdir -p "$OUT"
export LUMAMBA_BENCH_DATA=${LUMAMBA_BENCH_DATA:-$OUT/data}

echo "== doctor: the kernel, then our chunked scan, each against the step-by-step scan on the GPU"
lumamba-bench doctor --device cuda --scan-backend mamba-ssm --length 1024 | tee "$OUT/doctor-kernel.txt"
lumamba-bench doctor --device cuda --scan-backend chunked --length 1024 | tee "$OUT/doctor-chunked.txt"

echo "== pretrain (interrupted at step 20, resumed), then run, on the demo, on CUDA"
lumamba-bench pretrain --model lumamba-mixed --device cuda --scan-backend mamba-ssm --epochs 1 \
  --batch-size 64 --max-steps 20 --out "$OUT/pretrain"
lumamba-bench pretrain --model lumamba-mixed --device cuda --scan-backend mamba-ssm --epochs 1 \
  --batch-size 64 --resume --out "$OUT/pretrain"
lumamba-bench run --model lumamba-mixed --task demo --device cuda --precision bf16 --seeds 1 \
  --out "$OUT/results"

echo "== profile at 5, 60 and 600 s with each scan backend"
for backend in mamba-ssm chunked; do
  lumamba-bench profile --models lumamba,luna-base --seconds 5,60,600 --device cuda \
    --scan-backend "$backend" --out "$OUT/profile-$backend"
done

echo "== training-step throughput, fp32 and bf16"
python benchmarks/step_throughput.py --device cuda --batches 16,64,256,1024 | tee "$OUT/step-throughput.txt"
echo "done: $OUT"
