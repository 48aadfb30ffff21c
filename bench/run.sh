#!/usr/bin/env bash
# Server comparison under `shout bench`: shoutd --model pool, shoutd --model threads, and a
# canonical tokio echo server (bench/tokio-echo), each at 100 and at 10,000 connections, with
# 64-byte messages, open loop at a fixed offered rate so every server does the same work.
#
# For each run: server CPU time per message (from /proc/PID/stat over the measured window, in
# microseconds), messages per second, p50 and p99 latency (shout bench, from scheduled send
# times), errors, and server RSS per connection (VmRSS during the run minus VmRSS before it,
# divided by the connections), and how often the server's threads went to sleep and were woken
# (voluntary context switches per second over the first half of the measured window).
#
# Usage: bench/run.sh [RATE] [DURATION_S]        defaults: 20000 msgs/s, 10 s
# Environment: SERVERS="pool threads tokio" (also: pool1, the pool model with --workers 1),
# CONNS="100 10000" to choose a subset; REPEAT=N
# runs each configuration N times (interleaved) and reports the median of each figure.
# Runs on loopback only; every process it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20000}
duration=${2:-10}
servers=${SERVERS:-pool threads tokio}
repeat=${REPEAT:-1}
conns_list=${CONNS:-100 10000}

cargo build --release --quiet --bin shoutd --bin shout
cargo build --release --quiet --manifest-path bench/tokio-echo/Cargo.toml
ulimit -n "$(ulimit -Hn)"

source bench/lib.sh
tck=$(getconf CLK_TCK)

results="$work/results.tsv"
: >"$results"
for conns in $conns_list; do
  if [ "$conns" -ge 1000 ]; then connect_rate=5000; warmup=$((conns / connect_rate + 3)); else connect_rate=0; warmup=3; fi
  for rep in $(seq "$repeat"); do
  for server in $servers; do
    port=$(random_port)
    start_server "$server" "$port"
    sleep 0.5
    rss_before=$(rss_kib "$server_pid")
    args=(bench "127.0.0.1:$port" --connections "$conns" --rate "$rate" --size 64
          --warmup "${warmup}s" --duration "${duration}s" --json="$work/$server-$conns-$rep.json")
    [ "$connect_rate" -gt 0 ] && args+=(--connect-rate "$connect_rate")
    ./target/release/shout "${args[@]}" >"$work/$server-$conns-$rep.txt" &
    bench_pid=$!
    sleep "$warmup"
    cpu_start=$(cpu_ticks "$server_pid")
    wake_start=$(wakeups "$server_pid")
    time_start=$(date +%s.%N)
    sleep $((duration / 2))
    rss_during=$(rss_kib "$server_pid")
    wake_end=$(wakeups "$server_pid") # before the bench ends and connection threads exit
    time_end=$(date +%s.%N)
    status=0
    wait "$bench_pid" || status=$?
    cpu_end=$(cpu_ticks "$server_pid")
    wake_rate=$(awk -v n=$((wake_end - wake_start)) -v a="$time_start" -v b="$time_end" 'BEGIN {print n / (b - a)}')
    stop_server
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$conns" "$((cpu_end - cpu_start))" \
      "$rss_before" "$rss_during" "$status" "$wake_rate" "$work/$server-$conns-$rep.json" >>"$results"
  done
  done
done

python3 - "$results" "$tck" "$rate" "$duration" "$repeat" <<'PY'
import json, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
tck, rate, duration, repeat = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
groups = {}
for server, conns, ticks, rss0, rss1, status, wake, path in rows:
    r = json.load(open(path))
    msgs = r["messages"]["measured"]
    groups.setdefault((conns, server), []).append({
        "cpu": int(ticks) / tck / msgs * 1e6 if msgs else float("nan"),
        "rate": r["throughput"]["msgs_per_s"],
        "p50": r["latency_us"]["p50"],
        "p99": r["latency_us"]["p99"],
        "errors": sum(v for v in r["errors"].values() if isinstance(v, int)) + (0 if status == "0" else 1),
        "rss": (int(rss1) - int(rss0)) / int(conns),
        "wake": float(wake),
    })
print(f"offered load: {rate} msgs/s open loop, 64-byte messages, {duration} s measured; "
      f"median of {repeat} run(s)")
print()
print("| server | connections | server CPU/msg (µs) | msgs/s | p50 (µs) | p99 (µs) | errors | RSS/conn (KiB) | wake-ups/s |")
print("|---|---|---|---|---|---|---|---|---|")
order = {"pool": 0, "pool1": 1, "threads": 2, "tokio": 3}
for (conns, server), runs in sorted(groups.items(), key=lambda kv: (int(kv[0][0]), order.get(kv[0][1], 9))):
    med = lambda k: statistics.median(run[k] for run in runs)
    errors = sum(run["errors"] for run in runs)
    print(f"| {server} | {conns} | {med('cpu'):.2f} | {med('rate'):.0f} | {med('p50'):.0f} | "
          f"{med('p99'):.0f} | {errors} | {med('rss'):.2f} | {med('wake'):.0f} |")
PY
