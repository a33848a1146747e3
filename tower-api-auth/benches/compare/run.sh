#!/usr/bin/env bash
# tower-api-auth compared with its peers, per request, in one command:
#
#     bash tower-api-auth/benches/compare/run.sh            # minimal requests
#     REALISTIC=1 bash tower-api-auth/benches/compare/run.sh  # + host, user-agent, accept,
#                                                           #   accept-encoding, x-request-id
#
# Runs from any directory. Builds into $CARGO_TARGET_DIR (default: this crate's target/) and writes
# the table to $CARGO_TARGET_DIR/compare/compare.md (compare-realistic.md with REALISTIC=1).
#
# Contenders (each an axum 0.8 Router with one route, GET /v1/me, prepared with `.with_state(())`
# once and driven with `router.clone().oneshot(request)` on a current-thread tokio runtime; the
# request is built inside the measured loop the same way for all):
#   bare / bare_apikey   the route with no layer (handler returns "ok"), sent an
#                        `Authorization: Bearer <jwt>` header / `X-API-Key` + `X-Tenant-ID`:
#                        the baselines every figure is taken over.
#   noop_layer           control: the bare route behind a do-nothing Router::layer, what axum
#                        charges any layer.
#   identity_layer       control: a layer that inserts a ready Identity, extracted by the handler:
#                        what handing an identity to a handler costs, before any credential is read.
#   ours_*               tower_api_auth::AuthLayer: HS256, RS256, ES256 with the default token
#                        cache (warmed by one request), HS256 and RS256 with
#                        TokenCacheConfig::disabled() (every request verified),
#                        an API key in a MemoryKeyStore, and one through CachedKeyProvider over a
#                        MemoryKeyStore. The handler extracts `Identity`.
#   ours_hs256_limited   ours_hs256_cached with one per-principal rate-limit policy (a quota no run
#                        spends) checked by the auth layer (AuthLayer::with_rate_limits), and
#   ours_hs256_limit_layer  the same in a RateLimitLayer of its own: the limits' cost, each over
#                        ours_hs256_cached.
#   towerhttp_bearer     tower-http ValidateRequestHeaderLayer::bearer(static token): the floor for
#                        a layer that reads one header (no token is verified, nothing extracted).
#   jwta_hs256/rs256     jwt-authorizer 0.15 (no cache: every request verified), iss, aud, exp,
#                        sub (by the claims type), one algorithm; the handler extracts its
#                        TokenData<Claims> extension.
#   fromfn_apikey        a hand-written axum middleware::from_fn_with_state API-key check: reads
#                        X-API-Key and X-Tenant-ID, looks the key id up in a HashMap, blake3 hash,
#                        subtle constant-time compare, inserts an Arc<Principal> extension.
#
# Method:
#   1. cargo build --release (line tables) of this crate: one binary, `compare`.
#   2. `compare check`: every contender answers 200 with its credential, 401 without, and refuses a
#      wrong-audience / wrong-issuer / expired / sub-less token (JWT), another token (tower-http), a tampered
#      key and another tenant's (API keys). Any wrong status fails the run.
#   3. `compare allocs`: a counting #[global_allocator] over System; allocations per request,
#      average over 1000 requests after 200 warm-up ones, inside one block_on.
#   4. `compare time`: ns per request, median of 7 rounds of ~300 ms after ~300 ms of warm-up.
#   5. callgrind: each contender at n=1000 and n=3000 requests, counting inside the request loop
#      only (--toggle-collect=compare::requests); instructions per request =
#      (Ir(3000) - Ir(1000)) / 2000, which also cancels the loop's block_on entry and exit.
#   6. dhat, the same way: heap blocks per request including those C code (aws-lc) mallocs, which
#      the counting allocator does not see; shown next to its count where the two differ.
#   Every figure in the table is the contender's minus its baseline's (the bare route sent the same
#   headers), except ns/request, which is absolute (the baselines' are in the second table).
#
# Instruction and allocation counts repeat from run to run (to a few instructions); wall times swing
# by ±50 % on this shared 2-core machine: read the ns column as an order of magnitude. The load
# average is printed before and after.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HERE/target}"
OUT="$CARGO_TARGET_DIR/compare"
if [[ "${REALISTIC:-}" == "1" ]]; then
    OUT="$OUT/realistic"
    TABLE="$CARGO_TARGET_DIR/compare/compare-realistic.md"
else
    OUT="$OUT/minimal"
    TABLE="$CARGO_TARGET_DIR/compare/compare.md"
fi
mkdir -p "$OUT"
started=$(date +%s)

echo "load before: $(uptime)"

# Not --locked: the lock pins the peers, but a dependency the core gains since must be added to it.
cargo build --release --manifest-path "$HERE/Cargo.toml"
BIN="$CARGO_TARGET_DIR/release/compare"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind missing: installing it with apt-get"
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq valgrind
fi

# The contenders, once: a failing `list` stops the run here (set -e), not as an empty loop.
mapfile -t CONTENDERS < <("$BIN" list)
[[ ${#CONTENDERS[@]} -gt 0 ]] || { echo "compare list gave no contenders" >&2; exit 1; }

echo "== sanity checks"
"$BIN" check

echo "== allocations per request"
"$BIN" allocs | tee "$OUT/allocs.tsv"

echo "== wall time per request"
"$BIN" time | tee "$OUT/time.tsv"

echo "== instructions per request (callgrind, n=1000 and n=3000)"
# Ir of one run: callgrind's "Collected : N" line, counted inside `compare::requests` only (the
# loop of n requests): the set-up before it varies by ~10^5 instructions between runs (aws-lc's
# random blinding and primality checks while keys are parsed and tokens signed). The client's exit
# status is valgrind's, so a failed sanity check fails the run here too.
ir() {
    local log
    log=$(mktemp)
    if ! valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='compare::requests' \
        "$BIN" run "$1" "$2" \
        >/dev/null 2>"$log"; then
        cat "$log" >&2
        echo "callgrind run of $1 failed" >&2
        exit 1
    fi
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$log"
    rm -f "$log"
}
# measure <count function> <what> <file> <columns>: the count at n=1000 and n=3000 for every
# contender, as a table.
measure() {
    local count=$1 what=$2 file=$3 a b
    printf 'contender\t%s_1000\t%s_3000\n' "$4" "$4" >"$file"
    for contender in "${CONTENDERS[@]}"; do
        a=$("$count" "$contender" 1000)
        b=$("$count" "$contender" 3000)
        if [[ -z "$a" || -z "$b" ]]; then
            echo "no $what for $contender" >&2
            exit 1
        fi
        printf '%s\t%s\t%s\n' "$contender" "$a" "$b" | tee -a "$file"
    done
}
measure ir "instruction count" "$OUT/ir.tsv" ir

echo "== heap blocks per request, C code's included (dhat, n=1000 and n=3000)"
# The counting allocator sees only Rust's allocations; aws-lc (ours' crypto) calls malloc from C.
# DHAT intercepts malloc itself: its "Total: ... in N blocks" counts both.
blocks() {
    local log
    log=$(mktemp)
    if ! valgrind --tool=dhat --dhat-out-file=/dev/null "$BIN" run "$1" "$2" >/dev/null 2>"$log"; then
        cat "$log" >&2
        echo "dhat run of $1 failed" >&2
        exit 1
    fi
    sed -n 's/.*Total: .* in \([0-9,]*\) blocks.*/\1/p' "$log" | tr -d ,
    rm -f "$log"
}
measure blocks "heap-block count" "$OUT/dhat.tsv" blocks

echo
"$BIN" table "$OUT" | tee "$TABLE"
echo
echo "written to $TABLE"
echo "load after: $(uptime)"
echo "run.sh took $(($(date +%s) - started)) s"
