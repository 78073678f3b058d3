#!/usr/bin/env bash
# Alternates this crate's conv benchmark (criterion, `ours` only) with the PyTorch timing of the
# same layers, PASSES times, then prints medians and ratios. THREADS (default 2) sets both sides'
# thread count (RAYON_NUM_THREADS / torch.set_num_threads).
#   PYTHON=/path/to/venv/bin/python THREADS=2 crates/kernels/benches/compare_torch.sh [PASSES]
set -euo pipefail
cd "$(dirname "$0")/../../.."
passes=${1:-3}
py=${PYTHON:-python3}
threads=${THREADS:-2}
out=target/kernels-torch-compare
mkdir -p "$out"
rm -f "$out"/pass*.json
for i in $(seq 1 "$passes"); do
  RAYON_NUM_THREADS=$threads CANDLE_NUM_THREADS=$threads \
    cargo bench -q -p histo-kernels --bench conv -- ours --noplot > "$out/criterion-pass$i.log" 2>&1
  OMP_NUM_THREADS=$threads "$py" crates/kernels/benches/torch_conv.py --threads "$threads" \
    --criterion target/criterion --json "$out/pass$i.json" > /dev/null
done
echo "threads: $threads"
"$py" crates/kernels/benches/torch_conv.py --summary "$out"/pass*.json
