#!/usr/bin/env bash
# HTTP benchmark (not a test): authenticated reads against the HTTP limit of this machine.
# Builds the service and `examples/hello.rs` (actix-web hello world, `GET /` -> {"ok":true}) in
# release, seeds a user, an API key, 20 categories and 100k transactions, then runs wrk
# (-t2 -c64, DURATION s, default 8) on each row, SQLite then Postgres, printing req/s, p99 and
# the ratio to hello world, with the CPU per request of the process under test and of wrk
# itself (with /usr/bin/time). Rate limits are off for the run. ROUNDS=n repeats the table n
# times per backend, each round with its own hello-world figure (the machine is shared).
# The service runs at its default log level (SERVICE_LOG=warn: RUST_LOG for the service).
# Targets (issue 16): categories (JWT and API key) and /v1/jobs >= 25 % of hello with
# p99 <= 10 ms; the transactions page >= 10 % with p99 <= 15 ms.
#   bench/http.sh [postgres://postgres@127.0.0.1:5432/postgres]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-target}"
pg="${1:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
duration="${DURATION:-8}"
rows="${ROWS:-100000}"
rounds="${ROUNDS:-1}"

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)" >&2
    apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk >/dev/null
fi
if [[ -z "${NO_BUILD:-}" ]]; then
    cargo build --release --quiet --bin ai-service --example hello
fi
# BIN/HELLO: other binaries (e.g. an older build, to compare in one run; with NO_BUILD=1).
bin="${BIN:-$CARGO_TARGET_DIR/release/ai-service}"
hello="${HELLO:-$CARGO_TARGET_DIR/release/examples/hello}"

work="$(mktemp -d)"
pids=()
pgdb=""
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ -n "$pgdb" ]] && psql -q "$pg" -c "DROP DATABASE IF EXISTS \"$pgdb\"" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

# CPU ticks (user + system) of process $1; of every backend serving database $1 (Postgres).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
    local sum=0 p
    for p in $(pgrep -f "postgres: .* $1 " || true); do sum=$((sum + $(ticks "$p"))); done
    echo "$sum"
}

# run NAME URL [wrk args...]: one wrk run; prints a row and sets $rps. The CPU columns are
# what the process under test ($cpu_pid) and its Postgres backends ($cpu_db) spent per
# request: unlike the ratio, they do not move with what hello world gets from this machine.
hello_rps=""
cpu_pid=""
cpu_db=""
run() {
    local name="$1" url="$2"
    shift 2
    local out s0 s1 p0=0 p1=0
    s0="$(ticks "$cpu_pid")"
    [[ -n "$cpu_db" ]] && p0="$(pg_ticks "$cpu_db")"
    local wrk_time="$work/wrk.time" wrk_cpu=""
    if [[ -x /usr/bin/time ]]; then
        # wrk's own CPU: a 25 kB page costs the load generator ~4x what hello world's answer
        # does, on the same two cores (2026-12-04: 19.6 against 4.6 us a request).
        out="$(/usr/bin/time -o "$wrk_time" -f '%U %S' wrk -t2 -c64 -d"${duration}s" --latency "$@" "$url")"
    else
        out="$(wrk -t2 -c64 -d"${duration}s" --latency "$@" "$url")"
    fi
    s1="$(ticks "$cpu_pid")"
    [[ -n "$cpu_db" ]] && p1="$(pg_ticks "$cpu_db")"
    local non2xx
    non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    local p99
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    local ratio="-"
    [[ -n "$hello_rps" ]] && ratio="$(awk -v a="$rps" -v b="$hello_rps" 'BEGIN { printf "%.1f %%", 100 * a / b }')"
    local cpu
    cpu="$(awk -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v r="$rps" -v d="$duration" -v hz="$hz" -v db="$cpu_db" \
        'BEGIN { n = r * d; printf "cpu/req %6.1f us", 1e6 * s / hz / n; if (db != "") printf " + pg %6.1f us", 1e6 * p / hz / n }')"
    [[ -s "$wrk_time" ]] && wrk_cpu="$(awk -v r="$rps" -v d="$duration" \
        '{ printf "  wrk %5.1f us", 1e6 * ($1 + $2) / (r * d) }' "$wrk_time")"
    rm -f "$wrk_time"
    printf '%-44s %10.0f req/s  p99 %8s  %8s of hello  %s%s%s\n' "$name" "$rps" "$p99" "$ratio" "$cpu" \
        "$wrk_cpu" "${non2xx:+  (NON-2XX: $non2xx)}"
}
hz="$(getconf CLK_TCK)"

hello_port="$(free_port)"
"$hello" "127.0.0.1:$hello_port" >/dev/null 2>&1 &
hello_pid=$!
pids+=("$hello_pid")
until curl -fs -o /dev/null "http://127.0.0.1:$hello_port/"; do sleep 0.05; done
# hello NAME: hello world's row (its CPU is hello's own), and the figure ratios are of.
hello() {
    hello_rps=""
    cpu_pid="$hello_pid" cpu_db="" run "$1" "http://127.0.0.1:$hello_port/"
    hello_rps="$rps"
}
hello "hello world (actix-web GET /)"

seed_sql_sqlite() {
    cat <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO fin_transactions (id, account_id, booked_date, amount, amount_e4, currency, description,
    search, dedupe_key, status, category_locked, created_at, updated_at)
SELECT printf('tx%08d', i), '$1', date('2020-01-01', '+' || (i % 2000) || ' days'),
    printf('-%d.%02d', i % 500, i % 100), -((i % 500) * 10000 + (i % 100) * 100), 'EUR',
    'Shop ' || (i % 97), 'shop ' || (i % 97), 'h:' || i, 'booked', 0, 0, 0 FROM n;
SQL
}
seed_sql_postgres() {
    cat <<SQL
INSERT INTO fin_transactions (id, account_id, booked_date, amount, amount_e4, currency, description,
    search, dedupe_key, status, category_locked, created_at, updated_at)
SELECT 'tx' || lpad(i::text, 8, '0'), '$1', to_char(date '2020-01-01' + (i % 2000), 'YYYY-MM-DD'),
    '-' || (i % 500) || '.' || lpad((i % 100)::text, 2, '0'), -((i % 500) * 10000 + (i % 100) * 100), 'EUR',
    'Shop ' || (i % 97), 'shop ' || (i % 97), 'h:' || i, 'booked', FALSE, 0, 0
FROM generate_series(1, $rows) AS i;
SQL
}

bench_backend() {
    local backend="$1" url="$2"
    local dir="$work/$backend"
    mkdir -p "$dir"
    local port
    port="$(free_port)"
    # The service logs as it would for a user (default level: an access-log line per request,
    # into service.log) unless SERVICE_LOG sets RUST_LOG; errors capture no backtraces, as in
    # the container.
    (cd "$dir" && unset RUST_LOG && { [[ -z "${SERVICE_LOG:-}" ]] || export RUST_LOG="$SERVICE_LOG"; } &&
        DATABASE_URL="$url" PORT="$port" RUST_LIB_BACKTRACE=0 \
        APP__RATE_LIMIT__PER_IP_PER_MINUTE=0 APP__RATE_LIMIT__PER_CREDENTIAL_PER_MINUTE=0 \
        APP__RATE_LIMIT__LOGIN_PER_MINUTE=0 APP__RATE_LIMIT__PROBES_PER_IP_PER_MINUTE=0 \
        exec "$bin" >"$dir/service.log" 2>&1) &
    local pid=$!
    pids+=("$pid")
    local base="http://127.0.0.1:$port"
    until curl -fs -o /dev/null "$base/health/ready"; do
        kill -0 "$pid" 2>/dev/null || { cat "$dir/service.log" >&2; echo "service exited" >&2; exit 1; }
        sleep 0.05
    done
    local password="bench-password-0123456789"
    (cd "$dir" && printf '%s\n' "$password" | DATABASE_URL="$url" RUST_LOG=warn \
        "$bin" user create --username bench --role admin >/dev/null)
    local jwt key account
    jwt="$(curl -fs "$base/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"bench\",\"password\":\"$password\"}" | json_field access_token)"
    local auth=(-H "authorization: Bearer $jwt" -H 'content-type: application/json')
    key="$(curl -fs "${auth[@]}" "$base/v1/api-keys" -d '{"name":"bench","role":"viewer"}' | json_field secret)"
    for i in $(seq 1 20); do
        curl -fs -o /dev/null "${auth[@]}" "$base/v1/financial/categories" \
            -d "{\"name\":\"Category $i\",\"kind\":\"expense\"}"
    done
    account="$(curl -fs "${auth[@]}" "$base/v1/financial/accounts" \
        -d '{"name":"Bench","account_type":"checking","currency":"EUR"}' | json_field id)"
    local start end
    start="$(date +%s%3N)"
    if [[ "$backend" == sqlite ]]; then
        seed_sql_sqlite "$account" | sqlite3 "${url#sqlite://}"
    else
        seed_sql_postgres "$account" | psql -q "$url" >/dev/null
    fi
    end="$(date +%s%3N)"
    echo "-- $backend: seeded $rows transactions in $((end - start)) ms (one INSERT ... SELECT)"
    local round
    for round in $(seq 1 "$rounds"); do
        if ((rounds > 1)); then
            # Each round re-measures hello world: the machine is shared, ratios are per round.
            echo "-- $backend round $round"
            hello "hello world (actix-web GET /)"
        fi
        cpu_pid="$pid"
        cpu_db=""
        [[ "$backend" == postgres ]] && cpu_db="$pgdb"
        run "$backend /health/live" "$base/health/live"
        run "$backend /v1/auth/me (JWT)" "$base/v1/auth/me" -H "authorization: Bearer $jwt"
        run "$backend /v1/financial/categories (JWT)" "$base/v1/financial/categories" -H "authorization: Bearer $jwt"
        run "$backend /v1/financial/categories (API key)" "$base/v1/financial/categories" -H "x-api-key: $key"
        run "$backend /v1/jobs?limit=20" "$base/v1/jobs?limit=20" -H "authorization: Bearer $jwt"
        run "$backend /v1/financial/transactions?limit=50" "$base/v1/financial/transactions?limit=50" \
            -H "authorization: Bearer $jwt"
    done
    if [[ "$backend" == postgres ]]; then
        # The database's own ceiling on this machine: the same queries with no HTTP and no
        # service in between (pgbench, prepared, as many clients as the service's pool).
        ceiling "postgres: the jobs page query alone (pgbench)" "$url" \
            "SELECT $job_columns FROM jobs ORDER BY id DESC LIMIT 21"
        ceiling "postgres: the transactions page query alone (pgbench)" "$url" \
            "SELECT $tx_columns FROM fin_transactions ORDER BY booked_date DESC, id DESC LIMIT 51"
    fi
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}

# The columns the service reads (src/jobs/store.rs COLUMNS, src/finance/transactions.rs READ_COLUMNS).
job_columns="id, queue, name, payload, state, attempts, max_attempts, backoff, run_at, lease_owner,
    lease_expires_at, progress, progress_message, result, last_error, trace_id, idempotency_key, created_at,
    updated_at, finished_at"
tx_columns="id, account_id, booked_date, value_date, amount, amount_e4, currency, description,
    counterparty, notes, external_id, dedupe_key, import_batch, status, category_id, categorized_by, category_locked,
    auto_category_id, auto_tier, rule_id, suggested_category_id, suggestion_confidence, created_at, updated_at"

# ceiling NAME URL QUERY: pgbench running QUERY for DURATION s with the pool's 8 clients.
ceiling() {
    command -v pgbench >/dev/null || { echo "-- pgbench missing: no database ceiling rows"; return; }
    local name="$1" url="$2" script="$work/ceiling.sql"
    tr '\n' ' ' <<<"$3" >"$script"
    echo ';' >>"$script"
    local tps
    tps="$(pgbench -n -M prepared -c 8 -j 2 -T "$duration" -f "$script" "$url" 2>/dev/null |
        awk '/^tps/ {print $3; exit}')"
    local ratio
    ratio="$(awk -v a="$tps" -v b="$hello_rps" 'BEGIN { printf "%.1f %%", 100 * a / b }')"
    printf '%-44s %10.0f q/s                 %8s of hello\n' "$name" "$tps" "$ratio"
}

bench_backend sqlite "sqlite://$work/sqlite/data/ai.db"
if pg_isready -q -d "$pg" 2>/dev/null; then
    pgdb="bench_http_$$"
    psql -q "$pg" -c "CREATE DATABASE \"$pgdb\"" >/dev/null
    pgurl="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$pg" "$pgdb")"
    bench_backend postgres "$pgurl"
else
    echo "Postgres not reachable at $pg; SQLite only" >&2
fi
