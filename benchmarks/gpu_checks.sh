#!/usr/bin/env bash
# The transformer track's accelerator checks, as one script for a GPU machine without network:
#
#   [CHECKS=add,bench,plan,all] bash benchmarks/gpu_checks.sh [OUTDIR]
#
# OUTDIR (default $OUT, else /tmp/rarelearn/gpu_checks) receives the logs, JSONs and figures.
# The runs themselves live in RUNS (default workdirs/gpu_checks: ignored by git, so a device
# machine that stays warm keeps it between calls): a T_ADD run stopped by its time limit is
# resumed from its last checkpoint by the same command, and a finished one is read back.
# CHECKS (default all four, in this order):
# add   Fig. 5 for T_ADD on configs/olmo_tiny.py:long (the CPU ladder's shapes with the step and
#       batch budget T_ADD needs), 3 seeds, then Fig. 7 on the same run: fig5_olmo_heatmap.{json,
#       png,npz}, fig7_features.{json,png}. One seed ran in 317 s on one H200 (2026-11-26): learned
#       (test accuracy >= 0.9) from 1, 0.5, 0.2, 0.2 instances per sequence for d32, d64, d96,
#       d128, never for d16; three seeds are three times the members of every rung's program.
# bench time and tokens/s of the OLMo 4M and 20M rungs (python -m rarelearn.bench
#       --workloads=olmo: configs/olmo_ladder.py:small, 2 frequencies each, sequences of 512);
#       one H200: 2.54 steps/s, 333,000 member tokens/s (docs/performance.md).
# plan  (not yet run on a GPU) the planner on the device: the 300M rung as planned for this
#       device (bfloat16; MFU against a bf16 dense matmul timed in the same run, goal >= 0.40;
#       predicted peak against the measured one, goal within 25%) and one 1B member alone
#       (benchmarks/plan_check.py).
# all   python -m rarelearn.bench for every workload (goal: the toy sweep >= 10x its loop).
# Time limits per step (seconds): ADD_TIMEOUT (480), BENCH_TIMEOUT (150), PLAN_TIMEOUT (240
# each), ALL_TIMEOUT (400). ADD_TIMEOUT's SIGTERM lets the run end its current 500-step chunk
# and checkpoint it (seconds on a GPU): leave the call that much time beyond it.
# ml-collections is installed from wheels in .whl/ where the machine lacks it (pip download
# --no-deps ml-collections==1.1.0 -d .whl).
set -u
out=${1:-${OUT:-/tmp/rarelearn/gpu_checks}}
runs=${RUNS:-$PWD/workdirs/gpu_checks}
checks=,${CHECKS:-add,bench,plan,all},
mkdir -p "$out" "$runs"
if ! python3 -c 'import ml_collections' 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.95
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import jax, flax, optax, orbax.checkpoint as o; print("jax", jax.__version__, "flax",
  flax.__version__, "optax", optax.__version__, jax.devices())'

timed() {  # timed NAME LIMIT COMMAND...: runs COMMAND under LIMIT seconds, log in OUTDIR/NAME.log
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  timeout "$limit" "$@" >> "$out/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc after $(( $(date +%s) - start )) s"
  return $rc
}

if [[ $checks == *,add,* ]]; then
  add=$runs/fig5_add
  if timed fig5_add "${ADD_TIMEOUT:-480}" python3 experiments/fig5_olmo_heatmap.py --tasks=add \
      --config=configs/olmo_tiny.py:long --workdir="$add"; then
    timed fig7_add 300 python3 experiments/fig7_features.py --tasks=add \
      --config=configs/olmo_tiny.py:long --workdir="$add"  # reads fig5's run back: seconds
    grep 'claim' "$out/fig7_add.log"
    cp "$add"/fig5_olmo_heatmap.{json,png,npz} "$add"/fig7_features.{json,png} "$out"/
    python3 -c "import json; r = json.load(open('$add/fig5_olmo_heatmap.json'));
print(json.dumps({k: r[k] for k in ('claims', 'test_accuracy', 'min_learned_frequency_by_size',
  'learning_step', 'grokking_delay', 'wall_time_s')}, indent=1))" 2>&1 | tail -80
  else
    echo "fig5_add did not finish: the same command resumes it from its last checkpoint in $add"
  fi
  tr '\r' '\n' < "$out/fig5_add.log" | grep -v '^ *$' | awk 'NR % 20 == 1 || /rarelearn|rror/' \
    | tail -40
fi
if [[ $checks == *,bench,* ]]; then
  timed bench_olmo "${BENCH_TIMEOUT:-150}" python3 -m rarelearn.bench --workloads=olmo --repeats=1
  tail -25 "$out/bench_olmo.log"
fi
if [[ $checks == *,plan,* ]]; then
  for rung in "300M 0" "1B 1"; do
    set -- $rung
    timed "plan_check_$1" "${PLAN_TIMEOUT:-240}" python3 benchmarks/plan_check.py --rung="$1" \
      --members="$2" --peak_tflops=989
    tail -12 "$out/plan_check_$1.log"
  done
fi
if [[ $checks == *,all,* ]]; then
  timed bench_all "${ALL_TIMEOUT:-400}" python3 -m rarelearn.bench --repeats=1
  tail -30 "$out/bench_all.log"
fi
