#!/usr/bin/env bash
# Generation time with 1 and 2 threads, on a quiet machine and with one
# core kept busy by a bounded busy loop (llama.cpp's worker threads spin at
# every barrier, so a thread that shares its core with another process
# holds all the others up). Prints each run and the medians.
# Usage: scripts/bench_threads.sh [ROUNDS] [TOKENS] [THREADS...]
# (THREADS: numbers, or `default` for no --threads flag; default: 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
B=./target/release/expertsteer
ROUNDS=${1:-3}
TOKENS=${2:-40}
shift $(( $# < 2 ? $# : 2 ))
if [ $# -gt 0 ]; then THREADS=("$@"); else THREADS=(1 2); fi
out=$(mktemp)
busy_pid=
stop_busy() { [ -n "$busy_pid" ] && kill "$busy_pid" 2>/dev/null; wait "$busy_pid" 2>/dev/null || true; busy_pid=; }
trap stop_busy EXIT
for r in $(seq "$ROUNDS"); do
  for load in quiet busy; do
    if [ "$load" = busy ]; then
      # At most 10 minutes, on core 0 only.
      timeout 600 taskset -c 0 sh -c 'while :; do :; done' &
      busy_pid=$!
      sleep 0.5
    fi
    for t in "${THREADS[@]}"; do
      s=$(date +%s.%N)
      flag=(--threads "$t")
      [ "$t" = default ] && flag=()
      timeout 300 "$B" generate -p "Once upon a time" -n "$TOKENS" --ctx 256 "${flag[@]}" >/dev/null 2>&1
      e=$(date +%s.%N)
      secs=$(echo "$e - $s" | bc)
      echo "round $r $load threads $t: $secs s (load $(cut -d' ' -f1 /proc/loadavg))"
      echo "$load $t $secs" >>"$out"
    done
    stop_busy
  done
done
echo "medians (s per $TOKENS-token generate, model load included):"
for load in quiet busy; do
  for t in "${THREADS[@]}"; do
    m=$(awk -v l="$load" -v t="$t" '$1==l && $2==t {print $3}' "$out" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "  $load, threads $t: $m"
  done
done
rm -f "$out"
