#!/usr/bin/env bash
# Issue 27's GPU checks in one run (about 10 minutes on one H100; nothing is downloaded):
#   bash benchmarks/gpu_train_checks.sh [OUT_DIR] [OFFICIAL_DIR]
# OUT_DIR (default $OUT or ./gpu-out) receives one JSON-lines / text file per check.
# OFFICIAL_DIR: the authors' repositories (see benchmarks/train_vs_official.py); skipped if absent.
set -u
out=${1:-${OUT:-gpu-out}}
official=${2:-/work/official}
mkdir -p "$out"
py=${PYTHON:-python}
run() { local t=$1; shift; echo "== $*"; timeout "$t" "$@" 2>&1 | tail -40; }
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
$py -c "import torch, importlib.util as u; print(torch.__version__, torch.version.cuda, \
'mamba_ssm' if u.find_spec('mamba_ssm') else 'no mamba_ssm')" | tee -a "$out/gpu.txt"
# 1. the scan alone: kernel (if installed) vs PyTorch, time and peak memory, up to 256x256
run 120 $py benchmarks/selective_scan.py --lengths 4096 65536 --device cuda | tee "$out/scan.md"
# 2. Semi-LLIE at its paper batch (8 x 256²): chunk recomputation, then + block recomputation
run 120 $py benchmarks/train_step_gpu.py semi_llie --steps 2 --out "$out/steps.jsonl"
run 120 $py benchmarks/train_step_gpu.py semi_llie --steps 2 --set params.checkpoint_blocks=true \
  --out "$out/steps.jsonl"
# 3. SCUF from the published SD-Turbo / CLIP configs, random weights, 1 x 256²
run 150 $py benchmarks/train_step_gpu.py scuf --steps 2 --out "$out/steps.jsonl"
# 4. HVR-SSLE with torch.compile (as released) and without, at a reduced batch (compile warm-up)
run 150 $py benchmarks/train_step_gpu.py hvr_ssle --steps 2 --batch 64 --out "$out/steps.jsonl"
run 90 $py benchmarks/train_step_gpu.py hvr_ssle --steps 2 --batch 64 --set compile=false \
  --out "$out/steps.jsonl"
# 5. the releases' training code against the suite's at paper shapes
if [ -d "$official" ]; then
  run 60 $py benchmarks/train_vs_official.py --official "$official" zero_dce --device cuda \
    --batch 8 --size 256 --steps 10 | tee "$out/vs_official.md"
  run 60 $py benchmarks/train_vs_official.py --official "$official" scl_lle --device cuda \
    --batch 2 --size 384 --steps 10 | tee -a "$out/vs_official.md"
  run 60 $py benchmarks/train_vs_official.py --official "$official" zero_dce_pp --device cuda \
    --batch 8 --size 512 --steps 10 | tee -a "$out/vs_official.md"
  run 90 $py benchmarks/train_vs_official.py --official "$official" sagc --device cuda \
    --batch 32 --size 256 --steps 5 | tee -a "$out/vs_official.md"
  # HVR-SSLE: one GPU's share of the released batch (64 x 224², bf16), both eager
  run 120 $py benchmarks/train_vs_official.py --official "$official" hvr_ssle --device cuda \
    --batch 64 --size 224 --steps 5 | tee -a "$out/vs_official.md"
fi
