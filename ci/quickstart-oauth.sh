#!/usr/bin/env bash
# The quickstart's printed OAuth walkthrough (step 11: the authorization-code flow with PKCE, in
# curl) runs as printed and does what its comments say: a code for the user, tokens for the code,
# the client's refresh and introspection, the metadata, and a replayed code revoking its tokens.
# Run from the workspace root: bash ci/quickstart-oauth.sh
set -euo pipefail

cargo build -q --all-features -p tower-api-auth-examples --example quickstart
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

PORT=0 RUST_LOG=warn "$target/debug/examples/quickstart" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q '^Listening on ' "$work/log" && break
  sleep 0.1
done
grep -q '^Listening on ' "$work/log" || { echo "the quickstart did not start:"; cat "$work/log"; exit 1; }

# The walkthrough's shell setup and its step 11, exactly as printed (comments dropped).
{
  echo 'set -euo pipefail'
  grep -m1 '^  BASE=' "$work/log"
  grep -m1 '^  field()' "$work/log"
  sed -n '/^  # 11\./,/401 token_revoked/p' "$work/log" | grep -v '^ *#'
} >"$work/walk.sh"
[[ $(wc -l <"$work/walk.sh") -gt 10 ]] || { echo "FAIL: no step 11 in the walkthrough"; cat "$work/log"; exit 1; }
out=$(bash "$work/walk.sh" 2>/dev/null)

check() { # check <what> <text the output must hold>
  if ! grep -qF -- "$2" <<<"$out"; then echo "FAIL: $1: no $2 in:"; echo "$out"; exit 1; fi
  echo "ok: $1"
}
check "the code comes back to the callback with state and iss" 'callback?code=ac_'
check "the code's access token names the user" '"user_id":"user_demo"'
check "the client refreshes its token" '"refresh_token":"rt_1_'
check "introspection answers the active token with its client" '"client_id":"demo-webapp"'
check "the metadata names the authorization endpoint" '"code_challenge_methods_supported":["S256"]'
check "a replayed code is refused" 'The authorization code was already used'
check "the replayed code's tokens are revoked" 'token_revoked'
echo "quickstart OAuth walkthrough: as printed"
