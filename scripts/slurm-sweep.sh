#!/usr/bin/env bash
#SBATCH --job-name=oomless-sweep
#SBATCH --cpus-per-task=2
#SBATCH --output=oomless-sweep-%A_%a.log
# A sweep on a Slurm cluster: a job array with one shard per array task, then
# a dependent job that merges the shards and writes the reports.
#
#   scripts/slurm-sweep.sh submit N [sweep options]   # from a login node: sbatch both jobs
#   scripts/slurm-sweep.sh shard [sweep options]      # what each array task runs
#   scripts/slurm-sweep.sh merge                      # what the merge job runs
#
# Shard i of n comes from the array: i = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN,
# n = SLURM_ARRAY_TASK_COUNT (any contiguous range: --array=0-7 or 1-8).
# Every run is labelled with the array's job id, which the merge selects.
#
# Environment:
#   OOMLESS_BIN      the oomless program (default build/oomless)
#   OOMLESS_RESULTS  directory for the reports (default results), on a shared filesystem
#   OOMLESS_DB       a postgresql:// URL every shard writes to; unset: one SQLite file
#                    per shard (RESULTS/shards/shard-I.db), merged into RESULTS/results.db
#   OOMLESS_DRY_RUN  1: print the commands instead of running them
set -euo pipefail
BIN=${OOMLESS_BIN:-build/oomless}
RESULTS=${OOMLESS_RESULTS:-results}
DB=${OOMLESS_DB:-}

run() {
  if [ "${OOMLESS_DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "$@"
    echo
  else
    "$@"
  fi
}

die() {
  echo "slurm-sweep: $*" >&2
  exit 2
}

# Prints "i/n" for this array task.
shard_of_task() {
  local id=${SLURM_ARRAY_TASK_ID:-} min=${SLURM_ARRAY_TASK_MIN:-} count=${SLURM_ARRAY_TASK_COUNT:-}
  local max=${SLURM_ARRAY_TASK_MAX:-} step=${SLURM_ARRAY_TASK_STEP:-1}
  [ -n "$id" ] && [ -n "$min" ] && [ -n "$count" ] || die "not in a Slurm array task (SLURM_ARRAY_TASK_ID, _MIN and _COUNT are unset)"
  # A step or a list (--array=0-7:2, --array=1,5) would leave shards out.
  if [ "$step" != 1 ] || { [ -n "$max" ] && [ $((max - min + 1)) -ne "$count" ]; }; then
    die "the array must be one contiguous range (e.g. --array=0-7), got min $min max $max count $count step $step"
  fi
  local i=$((id - min))
  [ "$i" -ge 0 ] && [ "$i" -lt "$count" ] || die "task $id is outside $min..$((min + count - 1))"
  echo "$i/$count"
}

cmd=${1:-}
shift || true
case "$cmd" in
  submit)
    n=${1:-}
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "submit N: N shards, a positive number"
    shift
    jid=$(run sbatch --parsable --array="0-$((n - 1))" "$0" shard "$@")
    jid=${jid%%;*}  # "id;cluster" on multi-cluster setups
    run sbatch --parsable --dependency="afterany:$jid" --job-name=oomless-merge \
      --export="ALL,OOMLESS_LABEL=$jid" "$0" merge
    ;;
  shard)
    shard=$(shard_of_task)
    i=${shard%/*}
    label=${SLURM_ARRAY_JOB_ID:-${OOMLESS_LABEL:-}}
    db=${DB:-$RESULTS/shards/shard-$i.db}
    run "$BIN" sweep "$@" --shard "$shard" --label "$label" --db "$db" \
      --out "$RESULTS/shards/shard-$i" --no-progress
    ;;
  merge)
    label=${OOMLESS_LABEL:-}
    [ -n "$label" ] || die "merge: OOMLESS_LABEL (the array job id) is unset"
    if [ -n "$DB" ]; then
      run "$BIN" merge "$DB" --db "$DB" --label "$label" --out "$RESULTS"
    else
      shopt -s nullglob
      files=("$RESULTS"/shards/shard-*.db)
      [ ${#files[@]} -gt 0 ] || die "merge: no $RESULTS/shards/shard-*.db"
      run "$BIN" merge "${files[@]}" --label "$label" --out "$RESULTS"
    fi
    ;;
  *)
    die "usage: $0 submit N [sweep options] | shard [sweep options] | merge"
    ;;
esac
