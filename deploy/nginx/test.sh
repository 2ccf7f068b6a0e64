#!/usr/bin/env bash
# The nginx edge, tested for real: nginx -t, then nginx on loopback ports in front of the
# real ai-service binary (two upstream nodes, one of them dead), with a self-signed
# certificate made now. Checks: TLS handshake, HTTP→HTTPS, /health/live, login + an
# authenticated call, /metrics refused, the request id echoed and logged, the body limits (the app's),
# failover past the dead node, and the client IP the app records (X-Forwarded-For believed only
# from the configured proxy).
#
# Usage: deploy/nginx/test.sh [path/to/ai-service]   (default: $CARGO_TARGET_DIR/debug/ai-service)
# Installs Debian's nginx when missing (CI). Needs curl, openssl, python3. Runs in ~10 s.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$here/../../target}/debug/ai-service}"
[ -x "$bin" ] || { echo "no ai-service binary at $bin (cargo build first)" >&2; exit 1; }

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 \
        || apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

tmp="$(mktemp -d)"
app_pid=""
conf="$tmp/conf"
globals="pid $tmp/nginx.pid; error_log $tmp/error.log;"
cleanup() {
    [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    echo "--- nginx error log" >&2; cat "$tmp/error.log" >&2 2>/dev/null || true
    echo "--- app log (tail)" >&2; tail -n 20 "$tmp/app.log" >&2 2>/dev/null || true
    exit 1
}
ok() { echo "ok: $*"; }

read -r app_port dead_port http_port https_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

# The deploy files, with only the environment-specific lines rewritten (each must match).
cp -r "$here/." "$conf/"
"$here/gen-dev-cert.sh" "$conf/certs" >/dev/null
rewrite() { # file, sed expression, what must be in the result
    sed -i "$2" "$conf/$1"
    grep -qF -- "$3" "$conf/$1" || fail "rewriting $1 ($2) matched nothing"
}
rewrite ai-service.conf "s/listen 80;/listen 127.0.0.1:$http_port;/" "127.0.0.1:$http_port"
rewrite ai-service.conf "s/listen 443 ssl;/listen 127.0.0.1:$https_port ssl;/" "127.0.0.1:$https_port"
rewrite nginx.conf "s#access_log /var/log/nginx/access.log edge;#access_log $tmp/access.log edge;#" "$tmp/access.log"
cat > "$conf/upstream.conf" <<UPSTREAM
upstream ai_service {
    server 127.0.0.1:$dead_port max_fails=1 fail_timeout=30s;
    server 127.0.0.1:$app_port max_fails=1 fail_timeout=30s;
    keepalive 16;
}
UPSTREAM

"$nginx_bin" -t -q -c "$conf/nginx.conf" -g "$globals" || fail "nginx -t"
ok "nginx -t"

# The app trusts the edge (127.0.0.1) only; clients below come from 127.0.0.2 and 127.0.0.3.
mkdir -p "$tmp/app"
cd "$tmp/app"
export APP__SECURITY__TRUSTED_PROXIES=127.0.0.1 HOST=127.0.0.1 PORT="$app_port"
export DATABASE_URL="sqlite://$tmp/app/ai.db?mode=rwc"
password="edge-test-password-0123"
printf '%s\n' "$password" | "$bin" user create --username owner --role admin >"$tmp/cli.log" 2>&1 \
    || { cat "$tmp/cli.log" >&2; fail "user create"; }
"$bin" >"$tmp/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$app_port/health/live" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$app_port/health/live" >/dev/null || fail "the app did not start"

"$nginx_bin" -c "$conf/nginx.conf" -g "$globals" || fail "nginx did not start"
base="https://localhost:$https_port"
c() { curl -sS --cacert "$conf/certs/tls.crt" --resolve "localhost:$https_port:127.0.0.1" --interface 127.0.0.2 "$@"; }
for _ in $(seq 1 50); do c -o /dev/null "$base/health/live" 2>/dev/null && break; sleep 0.1; done

# TLS: a verified handshake against the generated certificate, TLS 1.2+ only.
echo | openssl s_client -connect "127.0.0.1:$https_port" -servername localhost \
    -CAfile "$conf/certs/tls.crt" -verify_return_error 2>/dev/null | grep -q "Verify return code: 0 (ok)" \
    || fail "TLS handshake"
echo | openssl s_client -connect "127.0.0.1:$https_port" -tls1_1 >/dev/null 2>&1 \
    && fail "TLS 1.1 accepted"
ok "TLS handshake (certificate verified; TLS 1.1 refused)"

out=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$http_port/v1/auth/me")
[[ "$out" == "301 https://127.0.0.1/v1/auth/me" ]] || fail "HTTP→HTTPS redirect: $out"
ok "HTTP redirects to HTTPS"

# /health/live, through the dead node too: several requests, all answered (passive checks).
for i in 1 2 3 4; do
    c -D "$tmp/h$i" -o "$tmp/live" "$base/health/live"
    grep -q '"ok":true' "$tmp/live" || fail "/health/live #$i: $(cat "$tmp/live")"
done
grep -qi '^strict-transport-security: max-age=31536000' "$tmp/h1" || fail "no HSTS header"
grep -qi '^x-content-type-options: nosniff' "$tmp/h1" || fail "no nosniff header"
[ "$(grep -ci '^x-frame-options' "$tmp/h1")" = 1 ] || fail "x-frame-options not exactly once"
ok "/health/live through the edge (4/4 with a dead upstream node), security headers"

# The request id: the app's x-request-id reaches the client and the edge's access log.
rid=$(grep -i '^x-request-id:' "$tmp/h4" | tr -d '\r' | awk '{print $2}')
[[ "$rid" =~ ^[0-9a-f-]{36}$ ]] || fail "x-request-id missing or odd: '$rid'"
sleep 0.2
grep -q "rid=$rid" "$tmp/access.log" || fail "request id $rid not in the access log"
ok "request id echoed ($rid) and logged"

# Login + an authenticated call. The client forges X-Forwarded-For: the app must see the
# address the edge saw (127.0.0.2), not the forged one.
c -o "$tmp/login" -w '%{http_code}' -H 'content-type: application/json' -H 'X-Forwarded-For: 6.6.6.6' \
    -d "{\"username\":\"owner\",\"password\":\"$password\"}" "$base/v1/auth/login" >"$tmp/code"
[ "$(cat "$tmp/code")" = 200 ] || fail "login: $(cat "$tmp/code") $(cat "$tmp/login")"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$tmp/login")
c -o "$tmp/me" -H "authorization: Bearer $token" "$base/v1/auth/me"
grep -q '"owner"' "$tmp/me" || fail "/v1/auth/me: $(cat "$tmp/me")"
ok "login and an authenticated call through the edge"

# A client talking to the app directly (not a trusted proxy) cannot pick its IP either.
curl -sS -o /dev/null --interface 127.0.0.3 -H 'X-Forwarded-For: 7.7.7.7' -H 'content-type: application/json' \
    -d '{"username":"owner","password":"wrong-password-0123456"}' "http://127.0.0.1:$app_port/v1/auth/login"
# The audit writer batches: poll until both logins are written (at most ~3 s).
for _ in $(seq 1 30); do
    c -o "$tmp/audit" -H "authorization: Bearer $token" "$base/v1/audit?limit=50"
    grep -q '"127.0.0.3"' "$tmp/audit" && break
    sleep 0.1
done
python3 - "$tmp/audit" <<'PY' || fail "client IPs in the audit log: $(cat "$tmp/audit")"
import json, sys
rows = json.load(open(sys.argv[1]))["items"]
ips = {r.get("client_ip") for r in rows}
assert "127.0.0.2" in ips, ips      # through the edge: the address nginx saw
assert "127.0.0.3" in ips, ips      # direct: the TCP peer
assert not ips & {"6.6.6.6", "7.7.7.7", "127.0.0.1"}, ips
PY
grep -qE '6\.6\.6\.6|7\.7\.7\.7' "$tmp/app.log" && fail "a forged X-Forwarded-For reached the app's log"
ok "the app records the client IP (127.0.0.2 via the edge, 127.0.0.3 direct; forged headers ignored in audit and logs)"

code=$(c -o /dev/null -w '%{http_code}' "$base/metrics")
[ "$code" = 403 ] || fail "/metrics through the edge answered $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$app_port/metrics")
[ "$code" = 200 ] || fail "/metrics on the node answered $code"
code=$(c -o /dev/null -w '%{http_code}' "$base/health/ready")
[ "$code" = 404 ] || fail "/health/ready is published ($code)"
ok "/metrics refused at the edge (served on the node), /health/ready not published"

# Body limits match the app's. JSON: 1 MiB (server.json_limit_bytes) reaches the app, a byte
# more is refused by the edge. Imports: a file a byte over the app's 50 MiB passes the edge and
# the app refuses it itself; past the edge's 51 MiB the edge refuses. Every 413 is a problem.
json_body() { python3 -c 'import sys; n = int(sys.argv[1]) - len("{\"name\":\"\"}"); print("{\"name\":\"" + "x" * n + "\"}", end="")' "$1"; }
json_body $((1024 * 1024)) >"$tmp/json_at"
json_body $((1024 * 1024 + 1)) >"$tmp/json_over"
code_at=$(c -o "$tmp/r_at" -w '%{http_code}' -H "authorization: Bearer $token" -H 'content-type: application/json' \
    --data-binary "@$tmp/json_at" "$base/v1/financial/categories")
[[ "$code_at" != 413 && "$code_at" != 5* ]] || fail "a 1 MiB JSON body answered $code_at: $(head -c 300 "$tmp/r_at")"
code=$(c -o "$tmp/r_over" -D "$tmp/h_over" -w '%{http_code} %{content_type}' -H "authorization: Bearer $token" \
    -H 'content-type: application/json' --data-binary "@$tmp/json_over" "$base/v1/financial/categories")
[ "$code" = "413 application/problem+json" ] || fail "1 MiB + 1 byte of JSON answered $code"
grep -qi '^x-content-type-options: nosniff' "$tmp/h_over" || fail "no security headers on the edge's 413"
grep -q '"code":"payload_too_large".*edge accepts request bodies up to 1 MiB' "$tmp/r_over" \
    || fail "the edge's JSON 413: $(cat "$tmp/r_over")"
ok "JSON bodies: 1 MiB reaches the app ($code_at), 1 MiB + 1 byte refused by the edge (413 problem)"

head -c $((50 * 1024 * 1024 + 1)) /dev/zero >"$tmp/file_app"
head -c $((51 * 1024 * 1024 + 1)) /dev/zero >"$tmp/file_edge"
code=$(c -o "$tmp/r_app" -D "$tmp/h_app" -w '%{http_code} %{content_type}' -H "authorization: Bearer $token" \
    -F "file=@$tmp/file_app" "$base/v1/financial/imports")
[ "$code" = "413 application/problem+json" ] || fail "50 MiB + 1 byte upload: $code $(head -c 300 "$tmp/r_app")"
grep -q 'the file exceeds 50 MiB' "$tmp/r_app" && grep -qi '^x-request-id:' "$tmp/h_app" \
    || fail "the 50 MiB + 1 byte upload was not refused by the app: $(cat "$tmp/r_app")"
code=$(c -o "$tmp/r_edge" -w '%{http_code} %{content_type}' -H "authorization: Bearer $token" \
    -F "file=@$tmp/file_edge" "$base/v1/financial/imports")
[ "$code" = "413 application/problem+json" ] || fail "51 MiB + 1 byte upload: $code"
grep -q '"code":"payload_too_large".*edge accepts request bodies up to 51 MiB' "$tmp/r_edge" \
    || fail "the edge's import 413: $(cat "$tmp/r_edge")"
rm -f "$tmp/file_app" "$tmp/file_edge"
ok "imports: 50 MiB + 1 byte refused by the app, 51 MiB + 1 byte by the edge (413 problems)"

# gzip for JSON large enough to matter.
c -o /dev/null -D "$tmp/hz" -H 'accept-encoding: gzip' "$base/openapi.json"
grep -qi '^content-encoding: gzip' "$tmp/hz" || fail "openapi.json not gzipped"
ok "gzip"
echo "nginx edge: all checks passed"
