#!/usr/bin/env bash
# The quickstart's printed OAuth walkthrough (step 11: the authorization-code flow with PKCE, in
# curl) runs as printed and does what its comments say: a code for the user, tokens for the code,
# the client's refresh and introspection, the metadata, and a replayed code revoking its tokens.
# Then step 12: the resource_server example, given only the quickstart's URL, accepts its tokens.
# Last, the quickstart from one configuration file that keeps its own signing key and also trusts
# an outside identity provider: both kinds of token pass.
# Run from the workspace root: bash ci/quickstart-oauth.sh
set -euo pipefail

cargo build -q --all-features -p tower-api-auth-examples --example quickstart --example resource_server
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work=$(mktemp -d)
pid=
rs_pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  [[ -n $rs_pid ]] && kill "$rs_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# listening <log> <what>: waits up to 10 s for the server writing <log> to print its address,
# and prints it; fails with the log when it does not.
listening() {
  local address=
  for _ in $(seq 1 100); do
    address=$(sed -n 's/^Listening on \(http:[^ ]*\)$/\1/p' "$1")
    [[ -n $address ]] && break
    sleep 0.1
  done
  [[ -n $address ]] || { echo "FAIL: $2 did not start:" >&2; cat "$1" >&2; exit 1; }
  echo "$address"
}

PORT=0 RUST_LOG=warn "$target/debug/examples/quickstart" >"$work/log" 2>&1 &
pid=$!
base=$(listening "$work/log" "the quickstart")

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

# Step 12: a second service, given only the issuer's URL, trusts the quickstart's tokens.
ISSUER=$base PORT=0 RUST_LOG=warn "$target/debug/examples/resource_server" >"$work/rs.log" 2>&1 &
rs_pid=$!
rs=$(listening "$work/rs.log" "the resource server")
jwks=$(curl -s "$base/.well-known/jwks.json")
grep -q '"alg":"ES256"' <<<"$jwks" || { echo "FAIL: no ES256 key in the JWK set: $jwks"; exit 1; }
echo "ok: the quickstart publishes its ES256 keys"
challenge=$(curl -s -o /dev/null -D - "$rs/v1/me" | tr -d '\r' | sed -n 's/^www-authenticate: //Ip')
grep -q "resource_metadata=\"$rs/.well-known/oauth-protected-resource/v1\"" <<<"$challenge" \
  || { echo "FAIL: the 401 names no resource metadata: $challenge"; exit 1; }
echo "ok: the resource server's 401 names its metadata"
curl -s "$rs/.well-known/oauth-protected-resource/v1" | grep -qF "\"authorization_servers\":[\"$base\"]" \
  || { echo "FAIL: the resource metadata does not name $base"; exit 1; }
echo "ok: its metadata names the quickstart as the authorization server"
login=$(grep -m1 'LOGIN=$(curl' "$work/log" | sed 's/^ *LOGIN=\$(//; s/)$//')
access=$(BASE=$base bash -c "$login" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[[ -n $access ]] || { echo "FAIL: no login token"; exit 1; }
got=$(curl -s -o /dev/null -w '%{http_code}' "$rs/v1/me" -H "Authorization: Bearer $access")
[[ $got == 200 ]] || { echo "FAIL: the quickstart's token on the resource server: $got"; exit 1; }
echo "ok: the quickstart's token passes on the resource server (200)"

# One file, two issuers: examples/quickstart.toml plus an outside provider (PyJWT's keys and
# tokens from testdata/interop, valid until 2100).
kill "$pid" 2>/dev/null || true
{
  cat examples/quickstart.toml
  printf '\n[[auth.jwt.providers]]\nissuer = "https://interop.example.test"\njwks_file = "testdata/interop/jwks.json"\naudiences = ["api"]\n'
} >"$work/two_issuers.toml"
PORT=0 RUST_LOG=warn "$target/debug/examples/quickstart" "$work/two_issuers.toml" >"$work/log2" 2>&1 &
pid=$!
base=$(listening "$work/log2" "the quickstart with an outside provider")
own=$(curl -s -X POST "$base/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"username":"demo@silentchat.test","password":"correct horse battery staple"}' |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[[ -n $own ]] || { echo "FAIL: no login token from the two-issuer quickstart"; cat "$work/log2"; exit 1; }
got=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/me" -H "Authorization: Bearer $own")
[[ $got == 200 ]] || { echo "FAIL: the quickstart's own token beside a provider: $got"; exit 1; }
outside=$(sed -n 's/.*"py-rs256": "\([^"]*\)".*/\1/p' testdata/interop/tokens.json)
me=$(curl -s "$base/v1/me" -H "Authorization: Bearer $outside")
[[ $me == *'"user_id":"sub-py-rs256"'* ]] || { echo "FAIL: the outside provider's token: $me"; exit 1; }
echo "ok: one file, the quickstart's own tokens and an outside provider's both pass"
echo "quickstart OAuth walkthrough: as printed"
