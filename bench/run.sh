#!/usr/bin/env bash
# Runs the benchmarks side by side and prints their figures (docs/benchmarks.md records them).
# Usage: bench/run.sh [BUILD_DIR]. Bounded: about 12 minutes in all, loopback and Unix sockets only.
set -euo pipefail
build=${1:-build}
seconds=${BENCH_SECONDS:-5}
beta500=$build/src/app/beta500
load=$build/bench/http_load
# A private PostgreSQL cluster while a case needs one; stopped whatever happens.
postgres_dir=
start_postgres() {
    postgres_dir=$(mktemp -d /tmp/beta500-bench-postgres-XXXXXX)
    postgres_url=$(bash scripts/postgres-cluster.sh start "$postgres_dir")
}
stop_postgres() {
    [[ -n $postgres_dir ]] && bash scripts/postgres-cluster.sh stop "$postgres_dir"
    postgres_dir=
}
trap stop_postgres EXIT

echo "== in-process ledger, durable (synchronous=full): group commit vs one transaction per operation"
"$build/bench/ledger_bench" "$seconds"
echo "== the same on PostgreSQL 15 (a private cluster, fsync and synchronous_commit on)"
start_postgres
"$build/bench/ledger_bench" "$seconds" --postgres "$postgres_url"
stop_postgres

data=$(mktemp -d /tmp/beta500-bench-XXXXXX)
log=$data/server.log
cleanup() {
    [[ -n ${server:-} ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$data"
    stop_postgres
}
trap cleanup EXIT
for i in $(seq 1 64); do "$beta500" --data-dir "$data" users create --email "u$i@bench.test" >/dev/null; done
token=$("$beta500" --data-dir "$data" tokens create --scope admin | tail -1)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Request logs off (level warn): the figures are the server's, not stdout's.
BETA500_LOG_LEVEL=warn "$beta500" serve --listen "127.0.0.1:$port" --data-dir "$data" >"$log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
for i in $(seq 1 64); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$port/api/v1/admin/credits/grants" \
        -H "Authorization: Bearer $token" -H "Idempotency-Key: seed-$i" -H 'Content-Type: application/json' \
        -d "{\"user_id\":\"$i\",\"amount\":1000000000,\"reason\":\"bench\"}"
done
deduct='{"user_id":"{user}","amount":1,"feature":"ai_search"}'

echo "== HTTP on loopback, 64 keep-alive connections, closed loop, $seconds s each"
echo -n "baseline GET /healthz:       "; "$load" "$port" GET /healthz "$token" 64 "$seconds" 0
echo -n "POST /api/v1/credits/deduct: "; "$load" "$port" POST /api/v1/credits/deduct "$token" 64 "$seconds" 0 "$deduct"
echo "== HTTP deductions paced at 10,000/s (open loop, latency from the scheduled send time)"
"$load" "$port" POST /api/v1/credits/deduct "$token" 64 "$seconds" 10000 "$deduct"
kill "$server"; wait "$server" || true; server=
"$beta500" --data-dir "$data" ledger verify

echo "== live sessions: one checkpoint cycle over 100,000 sessions vs as many plain deductions"
"$build/bench/checkpoint_bench" 100000
echo "== the same on PostgreSQL 15"
start_postgres
"$build/bench/checkpoint_bench" 100000 --postgres "$postgres_url"
stop_postgres
echo "== live sessions over WebSocket, 30 s checkpoints, 65 s: baseline 100 sessions, then 10,000"
"$beta500" loadtest --sessions 100 --seconds 65 --interval 30
"$beta500" loadtest --sessions 10000 --seconds 65 --interval 30
echo "== AI search and recommendations: demo catalog and 100,000 synthetic titles, against naive baselines"
"$build/bench/catalog_bench" data/demo/catalog.json 100000
echo "== live dubbing: real-time factor per stage, word error rate, in-process translation vs the command, streams"
"$build/bench/dubbing_bench" 8
echo "== usage analytics: 90 days of a 1,000,000-row journal, with the covering index and without"
"$build/bench/analytics_bench" 1000000
