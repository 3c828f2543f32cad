#!/usr/bin/env bash
# The transformer track's accelerator checks, as one script for a GPU machine without network:
#
#   bash benchmarks/gpu_checks.sh [OUTDIR]        (default $OUT, else /tmp/rarelearn/gpu_checks)
#
# 1. Fig. 5 for T_ADD on configs/olmo_tiny.py:long (the CPU ladder's shapes with the step and
#    batch budget T_ADD needs) -> OUTDIR/fig5_add/fig5_olmo_heatmap.{json,png,npz};
# 2. time and tokens/s of the OLMo 4M and 20M rungs (python -m rarelearn.bench
#    --workloads=olmo: configs/olmo_ladder.py:small, 2 frequencies each, sequences of 512).
# On one H200 (2026-11-26): 1. ran in 317 s — learned (test accuracy >= 0.9) from 1, 0.5, 0.2, 0.2
# instances per sequence for d32, d64, d96, d128, never for d16; 2. 2.54 steps/s, 333,000
# member tokens/s. README "The transformer track" has the table.
# 3. (prepared, not yet run on a GPU) the planner on the device: the 300M rung as planned for
#    this device (bfloat16; MFU against a bf16 dense matmul timed in the same run, goal >= 0.40;
#    predicted peak against the measured one, goal within 25%) and one 1B member alone
#    (benchmarks/plan_check.py); 4. python -m rarelearn.bench for every workload (goal: the toy
#    sweep >= 10x its sequential loop). Time limits: PLAN_TIMEOUT (240 each), ALL_TIMEOUT (400).
# ml-collections is installed from wheels in .whl/ where the machine lacks it (pip download
# --no-deps ml-collections==1.1.0 -d .whl). Each step has its own time limit (seconds):
# ADD_TIMEOUT (default 420) and BENCH_TIMEOUT (150).
set -u
out=${1:-${OUT:-/tmp/rarelearn/gpu_checks}}
mkdir -p "$out"
if ! python3 -c 'import ml_collections' 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.95
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import jax, flax, optax, orbax.checkpoint as o; print("jax", jax.__version__, "flax",
  flax.__version__, "optax", optax.__version__, jax.devices())'
start=$(date +%s)
timeout "${ADD_TIMEOUT:-420}" python3 experiments/fig5_olmo_heatmap.py --tasks=add \
  --config=configs/olmo_tiny.py:long --workdir="$out/fig5_add" > "$out/fig5_add.log" 2>&1
echo "fig5 T_ADD (3 seeds): exit $? after $(( $(date +%s) - start )) s"
python3 experiments/fig7_features.py --tasks=add --config=configs/olmo_tiny.py:long \
  --workdir="$out/fig5_add" > "$out/fig7_add.log" 2>&1  # reads fig5's run: seconds
grep 'claim' "$out/fig7_add.log"
tr '\r' '\n' < "$out/fig5_add.log" | grep -v '^ *$' | awk 'NR % 20 == 1 || /rarelearn|Error|error/' | tail -60
python3 -c "import json; r = json.load(open('$out/fig5_add/fig5_olmo_heatmap.json'));
print(json.dumps({k: r[k] for k in ('claims', 'test_accuracy', 'min_learned_frequency_by_size',
  'learning_step', 'grokking_delay', 'wall_time_s')}, indent=1))" 2>&1 | tail -80
start=$(date +%s)
timeout "${BENCH_TIMEOUT:-150}" python3 -m rarelearn.bench --workloads=olmo --repeats=1 \
  > "$out/bench_olmo.log" 2>&1
echo "bench olmo: exit $? after $(( $(date +%s) - start )) s"
tail -25 "$out/bench_olmo.log"
for rung in "300M 0" "1B 1"; do
  set -- $rung
  start=$(date +%s)
  timeout "${PLAN_TIMEOUT:-240}" python3 benchmarks/plan_check.py --rung="$1" --members="$2" \
    --peak_tflops=989 > "$out/plan_check_$1.log" 2>&1
  echo "plan_check $1: exit $? after $(( $(date +%s) - start )) s"
  tail -12 "$out/plan_check_$1.log"
done
start=$(date +%s)
timeout "${ALL_TIMEOUT:-400}" python3 -m rarelearn.bench --repeats=1 > "$out/bench_all.log" 2>&1
echo "bench (every workload): exit $? after $(( $(date +%s) - start )) s"
tail -30 "$out/bench_all.log"
