#!/usr/bin/env bash
# Floors under seed 001's schema for the `intents` and `webhooks` load scenarios: what PostgreSQL alone costs
# for the least work those scenarios' issues require, beside pgbench's TPC-B with the same clients on the same
# throwaway server. Prints each figure and the ratio it bounds. See docs/decisions/0025-performance-floors.md.
#
#   bash benchmarks/floors/run.sh [seconds=10] [clients=8] [plain-post-us=54]
#
# plain-post-us is the harness CPU of one plain HttpClient POST in the `webhooks` scenario (it prints it).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
clients=${2:-8}
plain_us=${3:-54}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found" >&2; exit 1; }
root=$(mktemp -d)
as_pg=()
if [ "$(id -u)" = "0" ]; then chown postgres "$root"; as_pg=(runuser -u postgres --); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$bin/initdb" -D "$root/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
# The settings of the tests' and load harness's throwaway server (tests/PaymentsKit.Testing/ThrowawayPostgres.cs).
printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nlisten_addresses = %s\nport = %s\nunix_socket_directories = %s\nmax_connections = 200\n' \
  "'127.0.0.1'" "$port" "'$root'" >> "$root/data/postgresql.conf"
"${as_pg[@]}" "$bin/pg_ctl" -D "$root/data" -l "$root/log" -w start >/dev/null
trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$root/data" -m immediate -w stop >/dev/null; rm -rf "$root"' EXIT
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=floor
psql -qX -d postgres -c "CREATE DATABASE floor"
psql -qX -v ON_ERROR_STOP=1 -f schema.sql
"$bin/pgbench" -i -q -s "$clients" >/dev/null 2>&1

# CPU ticks (1/100 s) of the server: live processes, plus the postmaster's reaped children (ended backends).
server_ticks() {
  local postmaster total=0 pid stat fields
  postmaster=$(head -1 "$root/data/postmaster.pid")
  for pid in $(pgrep -u "$(stat -c %U "$root/data")" postgres); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a fields <<< "${stat##*) }"
    total=$((total + fields[11] + fields[12]))
    [ "$pid" = "$postmaster" ] && total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}

# run NAME OPS_PER_TRANSACTION PGBENCH_ARGS... : prints "NAME: rate/s, server µs per op" and sets RATE, CPU_US.
run() {
  local name=$1 per=$2 before out processed
  shift 2
  before=$(server_ticks)
  out=$("$bin/pgbench" -n "$@" 2>&1) || { echo "$out" >&2; exit 1; }
  sleep 1
  processed=$(grep -oP 'processed: \K[0-9]+' <<< "$out")
  RATE=$(grep -oP 'tps = \K[0-9.]+' <<< "$out" | awk -v p="$per" '{printf "%.1f", $1 * p}')
  CPU_US=$(( ($(server_ticks) - before) * 10000 / (processed * per) ))
  echo "$name: $RATE/s, server CPU $CPU_US µs each (load average $(cut -d' ' -f1 /proc/loadavg))"
}

echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), $clients clients, $seconds s per run, $(nproc) cores"
run "pgbench TPC-B transactions" 1 -c "$clients" -j 2 -T "$seconds"; tpcb=$RATE; tpcb_cpu=$CPU_US
run "intent flows, one per caller (intent-flow.sql)" 1 -c "$clients" -j 2 -T "$seconds" -f intent-flow.sql; flow=$RATE; flow_cpu=$CPU_US
run "intent flows, 8 per transaction set, 2 writers (intent-flows-grouped.sql)" 8 -c 2 -j 2 -T "$seconds" -f intent-flows-grouped.sql; grouped=$RATE; grouped_cpu=$CPU_US
awk -v t="$tpcb" -v f="$flow" -v g="$grouped" -v tc="$tpcb_cpu" -v fc="$flow_cpu" -v gc="$grouped_cpu" 'BEGIN {
  printf "intents floor, one flow per caller: ratio %.4f by rate, %.4f by server CPU\n", f / t, tc / fc
  printf "intents floor, 8 flows per transaction set: ratio %.4f by rate, %.4f by server CPU (no client CPU counted)\n", g / t, tc / gc }'

events=200000
psql -qX -v ON_ERROR_STOP=1 -f fill-outbox.sql
run "outbox deliveries, leased (delivery-leased.sql)" 500 -c 2 -j 2 -t $((events / 1000)) -f delivery-leased.sql; leased_cpu=$CPU_US
psql -qX -v ON_ERROR_STOP=1 -f fill-outbox.sql
run "outbox deliveries, one row version (delivery-locked.sql)" 500 -c 2 -j 2 -t $((events / 1000)) -f delivery-locked.sql; locked_cpu=$CPU_US
awk -v p="$plain_us" -v l="$leased_cpu" -v o="$locked_cpu" 'BEGIN {
  printf "webhooks ceiling with a %d µs plain POST on CPU-bound cores: ratio %.4f leased, %.4f one row version (no signing, no client work counted)\n", p, p / (p + l), p / (p + o) }'
