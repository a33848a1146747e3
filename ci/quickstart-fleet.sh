#!/usr/bin/env bash
# Two quickstart instances started at the same moment with the same configuration file,
# DATABASE_URL and REDIS_URL behave as one service: a session started on A refreshes on B,
# a logout on A is refused on B,
# a key made and revoked with the command-line tool works, then stops working, on B, and the
# two spend one rate-limit quota between them.
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and Redis on 127.0.0.1:6379 (.ci/run starts
# them). Run from the workspace root: bash ci/quickstart-fleet.sh
set -euo pipefail

cargo build -q --all-features -p tower-api-auth-examples -p tower-api-auth-cli --example quickstart --bin tower-api-auth
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
quickstart="$target/debug/examples/quickstart"
cli="$target/debug/tower-api-auth"

db="taa_test_quickstart_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" REDIS_URL="redis://127.0.0.1:6379"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" || true
  rm -rf "$work"
}
trap cleanup EXIT

# launch <name>: one instance on a free port, in the background.
launch() {
  PORT=0 RUST_LOG=warn "$quickstart" examples/quickstart.toml >"$work/$1.log" 2>&1 &
  pids+=($!)
}
# started <name>: waits until it listens; sets BASE_<name>.
started() {
  for _ in $(seq 1 100); do
    base=$(sed -n 's/^Listening on \(http:[^ ]*\)$/\1/p' "$work/$1.log")
    [[ -n $base ]] && break
    sleep 0.1
  done
  [[ -n $base ]] || { echo "instance $1 did not start:"; cat "$work/$1.log"; exit 1; }
  printf -v "BASE_$1" '%s' "$base"
}
# Started at the same moment, as a fleet rolls out: both import the file's API keys into the
# fresh database, and both must start.
launch A
launch B
started A
started B
echo "A=$BASE_A B=$BASE_B"

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect() { # expect <what> <wanted status> <got status>
  if [[ $2 != "$3" ]]; then echo "FAIL: $1: wanted $2, got $3"; exit 1; fi
  echo "ok: $1 ($3)"
}
json=(-H 'Content-Type: application/json')

login=$(curl -s -X POST "$BASE_A/v1/auth/login" "${json[@]}" \
  -d '{"username":"demo@silentchat.test","password":"correct horse battery staple"}')
access=$(echo "$login" | field access_token)
refresh=$(echo "$login" | field refresh_token)
[[ -n $access && -n $refresh ]] || { echo "FAIL: login on A: $login"; exit 1; }
expect "A's access token on B" 200 "$(status "$BASE_B/v1/me" -H "Authorization: Bearer $access")"
next=$(curl -s -X POST "$BASE_B/v1/auth/refresh" "${json[@]}" -d "{\"refresh_token\":\"$refresh\"}")
access=$(echo "$next" | field access_token)
[[ -n $access ]] || { echo "FAIL: A's refresh token on B: $next"; exit 1; }
echo "ok: A's refresh token rotates on B"
expect "the spent refresh token on A" 400 \
  "$(status -X POST "$BASE_A/v1/auth/refresh" "${json[@]}" -d "{\"refresh_token\":\"$refresh\"}")"
login=$(curl -s -X POST "$BASE_A/v1/auth/login" "${json[@]}" \
  -d '{"username":"demo@silentchat.test","password":"correct horse battery staple"}')
access=$(echo "$login" | field access_token)
expect "logout on A" 204 "$(status -X POST "$BASE_A/v1/auth/logout" -H "Authorization: Bearer $access")"
sleep 0.2
expect "the logged-out token on B" 401 "$(status "$BASE_B/v1/me" -H "Authorization: Bearer $access")"

key=$("$cli" keys create --owner svc_ci --tenant tn_demo --scope conversations:read 2>/dev/null | head -n1)
key_headers=(-H "X-API-Key: $key" -H 'X-Tenant-ID: tn_demo')
expect "a key made with the CLI, on B" 200 "$(status "$BASE_B/v1/conversations" "${key_headers[@]}")"
expect "the same key, cached on B" 200 "$(status "$BASE_B/v1/conversations" "${key_headers[@]}")"
"$cli" keys revoke "$(echo "$key" | cut -d_ -f3)" >/dev/null 2>&1
sleep 0.2
expect "the key revoked with the CLI, on B" 401 "$(status "$BASE_B/v1/conversations" "${key_headers[@]}")"
# One quota for the fleet: the demo's burst (20 a minute per caller) counted in Redis, so that
# ten requests on A and ten on B spend it and the next is refused on either.
quota_key=$("$cli" keys create --owner "svc_quota_$$" --tenant tn_demo --scope conversations:read 2>/dev/null | head -n1)
quota_headers=(-H "X-API-Key: $quota_key" -H 'X-Tenant-ID: tn_demo')
for i in $(seq 1 10); do
  expect "request $i of the shared quota on A" 200 "$(status "$BASE_A/v1/me" "${quota_headers[@]}")"
  expect "request $i of the shared quota on B" 200 "$(status "$BASE_B/v1/me" "${quota_headers[@]}")"
done
expect "the 21st request of the minute, on A" 429 "$(status "$BASE_A/v1/me" "${quota_headers[@]}")"
expect "the 22nd, on B" 429 "$(status "$BASE_B/v1/me" "${quota_headers[@]}")"

# The authorization-code flow across the fleet: a code issued on A is redeemed once, on B; a replay
# on A is refused and revokes, on B too, what the code gave (RFC 7636's example PKCE pair).
verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
redirect=http://localhost:3000/callback
location=$(curl -s -o /dev/null -w '%{redirect_url}' -u 'demo@silentchat.test:correct horse battery staple' \
  "$BASE_A/v1/oauth/authorize?response_type=code&client_id=demo-webapp&redirect_uri=$redirect&scope=conversations:read&state=s1&code_challenge=$challenge&code_challenge_method=S256")
code=$(echo "$location" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
[[ -n $code ]] || { echo "FAIL: no code from A's authorization endpoint: $location"; exit 1; }
echo "ok: A issued a code"
exchange="{\"grant_type\":\"authorization_code\",\"code\":\"$code\",\"client_id\":\"demo-webapp\",\"client_secret\":\"demo-webapp-secret-for-the-walkthrough\",\"redirect_uri\":\"$redirect\",\"code_verifier\":\"$verifier\"}"
tokens=$(curl -s -X POST "$BASE_B/v1/auth/token" "${json[@]}" -d "$exchange")
access=$(echo "$tokens" | field access_token)
[[ -n $access ]] || { echo "FAIL: A's code on B: $tokens"; exit 1; }
echo "ok: A's code redeemed on B"
expect "the code's access token on A" 200 "$(status "$BASE_A/v1/me" -H "Authorization: Bearer $access")"
expect "the same code again, on A" 400 "$(status -X POST "$BASE_A/v1/auth/token" "${json[@]}" -d "$exchange")"
sleep 0.2
expect "the replayed code's access token on B" 401 "$(status "$BASE_B/v1/me" -H "Authorization: Bearer $access")"
# Readiness names what each instance depends on; liveness is a plain 200. (The 503 side, a stale
# feed or a store that does not answer, is tested in tests/core/health.rs and remote.rs.)
health=$(curl -s "$BASE_B/v1/health")
expect "B's readiness" 200 "$(status "$BASE_B/v1/health")"
for part in redis postgresql revocation_feed; do
  [[ $health == *"\"name\":\"$part\",\"status\":\"ready\""* ]] || { echo "FAIL: readiness without $part ready: $health"; exit 1; }
done
echo "ok: readiness checks redis, postgresql and the feed"
expect "B's liveness" 200 "$(status "$BASE_B/v1/live")"
echo "quickstart fleet: two instances behave as one"
