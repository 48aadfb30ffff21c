#!/usr/bin/env bash
# Soak: steady open-loop load against each shoutd model for MINUTES, watching the server for
# leaks. Not part of CI.
#
# Load per model: one `shout bench` of 100 connections at 2,000 msgs/s (64-byte messages) for
# the whole time, plus connection churn beside it: every 10 s a 5-second bench of 50 new
# connections at 500 msgs/s (300 connections opened and closed a minute), so a leaked
# descriptor, thread or buffer per connection would add up. Every answer of every bench is
# checked.
#
# Every 10 s, once that interval's churn run has ended, the server's resident memory (VmRSS,
# /proc/PID/status) and open descriptors (/proc/PID/fd) are sampled; the report gives per model the first, last and largest sample and
# the least-squares slope (KiB/min, fds/min), messages answered and mismatches (goal: flat, and
# every answer exact).
#
# Usage: bench/soak.sh MINUTES [MODEL...]      models: pool, threads (default: both)
# Runs on loopback only, stops by itself, and stops every process it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: bench/soak.sh MINUTES [pool|threads ...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
minutes=$1
shift
case "$minutes" in '' | *[!0-9]* | 0) usage ;; esac
if [ $# -gt 0 ]; then models=("$@"); else models=(pool threads); fi
for model in "${models[@]}"; do
  case "$model" in pool | threads) ;; *) usage ;; esac
done

cargo build --release --quiet --bin shoutd --bin shout
ulimit -n "$(ulimit -Hn)"

source bench/lib.sh
steady_pid=
churn_pid=
bench_cleanup_extra() {
  for pid in $churn_pid $steady_pid; do kill "$pid" 2>/dev/null || true; done
}

seconds=$((minutes * 60))
interval=10
shout=./target/release/shout
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

results="$work/results.tsv"
: >"$results"
for model in "${models[@]}"; do
  port=$(random_port)
  start_server "$model" "$port"
  addr="127.0.0.1:$port"
  echo "soak: $model on $addr for $minutes min" >&2

  "$shout" bench "$addr" --connections 100 --rate 2000 --size 64 --duration "${seconds}s" \
    --json="$work/$model-steady.json" >"$work/$model-steady.txt" 2>&1 &
  steady_pid=$!

  # Each 10 s: a churn run in the first half, then a sample once it has ended, so every sample
  # sees the steady connections only and a leak shows as growth, not as churn's coming and going.
  samples="$work/$model-samples.tsv"
  : >"$samples"
  started=$SECONDS
  k=0
  while kill -0 "$steady_pid" 2>/dev/null; do
    k=$((k + 1))
    if [ $((SECONDS - started + 15)) -lt "$seconds" ]; then
      "$shout" bench "$addr" --connections 50 --rate 500 --size 64 --duration 5s \
        --json="$work/$model-churn-$k.json" >/dev/null 2>&1 &
      churn_pid=$!
    fi
    # Wait for the next multiple of the interval: the sampling cadence.
    pause=$((started + k * interval - SECONDS))
    if [ "$pause" -gt 0 ]; then sleep "$pause"; fi
    if [ -n "$churn_pid" ]; then
      status=0
      wait "$churn_pid" || status=$?
      echo "$status" >>"$work/$model-churn-status"
      churn_pid=
    fi
    kill -0 "$steady_pid" 2>/dev/null || break
    printf '%s\t%s\t%s\n' "$((SECONDS - started))" "$(rss_kib "$server_pid")" \
      "$(fds "$server_pid")" >>"$samples"
  done
  status=0
  wait "$steady_pid" || status=$?
  steady_pid=
  stop_server
  printf '%s\t%s\t%s\t%s\n' "$model" "$minutes" "$status" "$work" >>"$results"
done

python3 - "$results" <<'PY'
import glob, json, sys

def slope(ts, ys):
    """Least-squares slope of ys over ts (seconds), per minute."""
    n = len(ts)
    if n < 2:
        return float("nan")
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var * 60 if var else float("nan")

print()
print("| model | minutes | RSS KiB first / last / max | RSS slope KiB/min | fds first / last / max "
      "| fds slope /min | messages answered | mismatches | other errors | verdict |")
print("|---|---|---|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    model, minutes, status, work = line.rstrip("\n").split("\t")
    rows = [l.split("\t") for l in open(f"{work}/{model}-samples.tsv") if l.strip()]
    ts = [float(r[0]) for r in rows]
    rss = [int(r[1]) for r in rows]
    fds = [int(r[2]) for r in rows]
    reports = [json.load(open(f"{work}/{model}-steady.json"))]
    churn = sorted(glob.glob(f"{work}/{model}-churn-*.json"))
    reports += [json.load(open(p)) for p in churn]
    answered = sum(r["messages"]["answered"] for r in reports)
    mismatches = sum(r["errors"]["mismatches"] for r in reports)
    other = sum(v for r in reports for k, v in r["errors"].items() if k != "mismatches" and isinstance(v, int))
    other += sum(r["messages"]["unsent"] for r in reports)
    statuses = [l.strip() for l in open(f"{work}/{model}-churn-status")] if churn else []
    ok = (status == "0" and all(r["ok"] for r in reports) and other == 0
          and len(statuses) == len(churn) and all(s == "0" for s in statuses))
    churned = sum(r["connections"]["opened"] for r in reports[1:])
    print(f"| {model} | {minutes} | {rss[0]} / {rss[-1]} / {max(rss)} | {slope(ts, rss):+.1f} "
          f"| {fds[0]} / {fds[-1]} / {max(fds)} | {slope(ts, fds):+.2f} | {answered} "
          f"| {mismatches} | {other} | {'OK: every answer exact' if ok else 'FAILED'} |")
    print(f"  ({model}: {len(rows)} samples every 10 s; steady 100 connections at 2000 msgs/s; "
          f"churn {len(churn)} runs, {churned} connections opened and closed; RSS KiB each "
          f"minute: {' '.join(str(rss[i]) for i in range(0, len(rss), 6))}; "
          f"fds each minute: {' '.join(str(fds[i]) for i in range(0, len(fds), 6))})",
          file=sys.stderr)
PY
