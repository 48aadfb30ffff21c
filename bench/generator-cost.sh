#!/usr/bin/env bash
# How much CPU `shout bench` spends per message compared with the shoutd it drives.
#
# Offered load: open loop, 100 connections x 200 msgs/s (20,000 msgs/s), 64-byte messages, for
# DURATION (default 10s) after a 2 s warm-up, on loopback. Server CPU comes from /proc/PID/stat
# (utime + stime) over the whole bench run; client CPU from the bench's own JSON report
# (CLOCK_PROCESS_CPUTIME_ID over the same run). Both are divided by the messages answered.
#
# Usage: bench/generator-cost.sh [DURATION]     (builds release binaries first)
#        TUI=1 bench/generator-cost.sh [DURATION]   the same with the live dashboard drawn (the
#        bench runs on a pseudo-terminal made by script(1)); without it, no dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
cargo build --release --quiet --bin shoutd --bin shout
source bench/lib.sh
port=$(random_port)

./target/release/shoutd --listen "127.0.0.1:$port" -q &
server_pid=$!
wait_for_port "$port"
ticks_per_s=$(getconf CLK_TCK)

before=$(cpu_ticks "$server_pid")
bench=(./target/release/shout bench "127.0.0.1:$port" --connections 100 --rate 20000 --size 64
  --warmup 2s --duration "$duration" --json="$work/report.json")
if [[ ${TUI:-0} == 1 ]]; then
  # On a pseudo-terminal of 120x40, so the live dashboard draws the whole run.
  script -q -e -c "stty cols 120 rows 40; ${bench[*]}" /dev/null >"$work/screen.txt"
  after=$(cpu_ticks "$server_pid")
  echo "(with the live dashboard on a 120x40 pseudo-terminal)"
else
  "${bench[@]}" >"$work/table.txt"
  after=$(cpu_ticks "$server_pid")
  cat "$work/table.txt"
fi

python3 - "$work/report.json" "$((after - before))" "$ticks_per_s" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
server_s = int(sys.argv[2]) / int(sys.argv[3])
answered = report["messages"]["answered"]
client_s = report["cpu"]["client_s"]
print(f"messages answered       {answered}")
print(f"server CPU              {server_s:.2f} s  = {server_s / answered * 1e6:.2f} us/msg")
print(f"client (shout bench)    {client_s:.2f} s  = {client_s / answered * 1e6:.2f} us/msg")
print(f"client / server         {client_s / server_s:.2f}")
PY
