#!/usr/bin/env bash
# Where each server's CPU time per message goes, by system call (perf sampling), at 100
# connections, 64-byte messages, open loop: the analysis behind the pool-vs-tokio figures in
# docs/design.md. Needs `perf` (Debian: linux-perf) and root or kernel.perf_event_paranoid <= 1.
#
# For each server: CPU time per message from /proc/PID/stat over the sampled window, split by
# the share of samples under each system call (call-graph "children" of the kernel entry
# points): sending (sendto/write, including the loopback delivery to the client that the
# kernel runs in the sender's context), receiving (recvfrom/read), waiting for readiness
# (epoll_wait, poll), futex (thread wake-ups), other system calls, and user space. Sampling
# adds some cost of its own, the same for every server; compare rows, not absolute figures.
#
# Usage: bench/profile.sh [RATE] [SECONDS]     defaults: 20000 msgs/s, 6 s sampled
# Environment: SERVERS="pool tokio" (also: threads, pool1). Loopback only; stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20000}
seconds=${2:-6}
servers=${SERVERS:-pool tokio}
command -v perf >/dev/null || { echo "perf not found (Debian: apt-get install linux-perf)" >&2; exit 1; }

cargo build --release --quiet --bin shoutd --bin shout
cargo build --release --quiet --manifest-path bench/tokio-echo/Cargo.toml

source bench/lib.sh

for server in $servers; do
  port=$(random_port)
  start_server "$server" "$port"
  ./target/release/shout bench "127.0.0.1:$port" --connections 100 --rate "$rate" --size 64 \
    --warmup 3s --duration "$((seconds + 2))s" --json="$work/$server.json" >/dev/null &
  bench_pid=$!
  sleep 3
  cpu0=$(cpu_ticks "$server_pid")
  perf record --quiet -F 500 -g -p "$server_pid" -o "$work/$server.data" -- sleep "$seconds" \
    >/dev/null 2>&1
  cpu1=$(cpu_ticks "$server_pid")
  wait "$bench_pid"
  stop_server
  perf report --quiet -i "$work/$server.data" --children --sort sym -g none --stdio 2>/dev/null \
    >"$work/$server.txt"
  printf '%s\t%s\t%s\n' "$server" "$((cpu1 - cpu0))" "$work/$server.txt" >>"$work/runs.tsv"
done

python3 - "$work/runs.tsv" "$(getconf CLK_TCK)" "$rate" "$seconds" <<'PY'
import re, sys
tck, rate, seconds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
parts = {
    "send": ["__x64_sys_sendto", "__x64_sys_write"],
    "recv": ["__x64_sys_recvfrom", "__x64_sys_read"],
    "wait": ["__x64_sys_epoll_wait", "__x64_sys_epoll_pwait", "__x64_sys_poll", "__x64_sys_ppoll"],
    "futex": ["__x64_sys_futex"],
}
rows = {}
for line in open(sys.argv[1]):
    server, ticks, report = line.rstrip("\n").split("\t")
    children = {}
    for l in open(report):
        m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[[k.]\]\s+(\S+)", l)
        if m:
            children.setdefault(m.group(2), float(m.group(1)))
    per_msg = int(ticks) / tck / (rate * seconds) * 1e6
    share = {k: sum(children.get(s, 0.0) for s in syms) / 100 for k, syms in parts.items()}
    syscalls = children.get("entry_SYSCALL_64_after_hwframe", 0.0) / 100
    share["other syscalls"] = max(0.0, syscalls - sum(share.values()))
    share["user space"] = max(0.0, 1 - syscalls)
    rows[server] = (per_msg, share)
cols = ["send", "recv", "wait", "futex", "other syscalls", "user space"]
print(f"{rate} msgs/s open loop, 100 connections, 64 B; {seconds} s sampled; µs of server CPU per message")
print()
print("| server | total | " + " | ".join(cols) + " |")
print("|---|---|" + "---|" * len(cols))
for server, (per_msg, share) in rows.items():
    print(f"| {server} | {per_msg:.2f} | " + " | ".join(f"{share[c] * per_msg:.2f}" for c in cols) + " |")
if "pool" in rows and "tokio" in rows:
    pool, tokio = rows["pool"], rows["tokio"]
    floor = (pool[1]["send"] + pool[1]["recv"]) * pool[0]
    print()
    print(f"pool/tokio CPU per message: {pool[0] / tokio[0]:.2f}; pool's send + recv alone: "
          f"{floor:.2f} µs = {floor / tokio[0]:.2f} of tokio's total")
PY
