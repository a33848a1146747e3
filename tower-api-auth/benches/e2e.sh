#!/usr/bin/env bash
# End-to-end load test: requests/s of GET /v1/me over real HTTP on 127.0.0.1, with each credential
# kind, next to the same route with no auth layer.
#
# Usage:
#   bash tower-api-auth/benches/e2e.sh                     # hs256 rs256 es256 eddsa apikey (tokens cached), 2 rounds
#   bash tower-api-auth/benches/e2e.sh hs256-cold apikey   # any variants of examples/e2e_server.rs
#   bash tower-api-auth/benches/e2e.sh control-identity hs256 hs256-limited   # the floor of an identity-inserting axum layer, auth, auth + limits
#   ROUNDS=3 DURATION=5 CONNECTIONS=32 bash tower-api-auth/benches/e2e.sh
#   bash tower-api-auth/benches/e2e.sh hs256-feed-memory hs256-feed-postgres hs256-feed-redis   # a fleet's feed on
#   bash tower-api-auth/benches/e2e.sh apikey-cached-memory apikey-cached-postgres              # cached API keys
#
# The server (examples/e2e_server.rs, built here with `cargo build --release -p tower-api-auth-examples --example e2e_server`)
# runs on core 0 (`taskset -c 0`, one tokio thread), wrk on core 1 (`taskset -c 1 wrk -t1`). Each
# variant run is bracketed by two no-auth runs (base, v1, base, base, v2, base, …, every round), so
# slow drift of the machine cancels: each run's ratio is its requests/s over the mean of the two
# runs around it. The no-auth runs send the variant's own request, credential headers included
# (`noauth+<variant>` of the server), so that the ratio is what the layer costs, not what receiving
# a 600-byte header costs; BASELINE=bare sends the no-auth runs no credential headers at all.
# Each wrk run lasts DURATION seconds (5) and is killed if it overruns; the
# server is stopped after every run; no new run starts after MAX_SECONDS (280), and the tables
# are printed for the triplets done by then. Needs 2 cores, curl, taskset and wrk, which the
# script installs with apt-get when it is missing.
# Only 127.0.0.1 is used. Figures are noisy if anything else runs, so every run states the load
# average at its start, the CPU other programs used during it (`other`, in cores: the user and
# system time of every process of this PID namespace but this script, the server, wrk and kernel
# threads, with what each reaped; a program in another container is not seen) and the
# hypervisor's steal. A triplet (no-auth, variant, no-auth) in which either exceeds LOAD_LIMIT
# cores (0.10) is marked `under load` and run again, up to RETRIES (2) times; one still loaded
# after that is kept, and marked `*` in the tables. On a shared 2-vCPU VM, loopback throughput of
# the same server swings by ±25% between 3-second runs even when idle; use more ROUNDS (with two
# variants, 4 fit in MAX_SECONDS) and read the median ratio.
set -euo pipefail

cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
MAX_SECONDS=${MAX_SECONDS:-280}
BASELINE=${BASELINE:-same}
LOAD_LIMIT=${LOAD_LIMIT:-0.10}
RETRIES=${RETRIES:-2}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
if [[ $# -gt 0 ]]; then
    VARIANTS=("$@")
else
    VARIANTS=(hs256 rs256 es256 eddsa apikey)
fi

if ! command -v wrk >/dev/null; then
    echo "e2e.sh: installing wrk" >&2
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq wrk >&2 || {
        echo "e2e.sh: could not install wrk; install it (apt-get install wrk) and run again" >&2
        exit 1
    }
fi
for tool in wrk curl taskset; do
    command -v "$tool" >/dev/null || {
        echo "e2e.sh: $tool is missing" >&2
        exit 1
    }
done

# The server lives in the examples package (its fleet variants use the store crates).
cargo build --release -p tower-api-auth-examples --example e2e_server >&2
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
SERVER="$target_dir/release/examples/e2e_server"
[[ -x $SERVER ]] || {
    echo "e2e.sh: $SERVER was not built" >&2
    exit 1
}

# MAX_SECONDS counts from here: the build above may have waited on cargo's lock.
SECONDS=0
work=$(mktemp -d)
server_pid=""
stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case $BASELINE in
same | bare) ;;
*)
    echo "e2e.sh: BASELINE is 'same' (no-auth runs send the variant's headers) or 'bare'" >&2
    exit 1
    ;;
esac
# The run order: each variant between two no-auth runs, ROUNDS times.
order=()
for ((round = 1; round <= ROUNDS; round++)); do
    for variant in "${VARIANTS[@]}"; do
        if [[ $BASELINE == same ]]; then base="noauth+$variant"; else base=noauth; fi
        order+=("$base" "$variant" "$base")
    done
done
runs=${#order[@]}
# Estimated wall time: the run plus about a second of start-up and stop per run.
estimate=$((runs * (DURATION + 1)))
if ((estimate > MAX_SECONDS)); then
    echo "e2e.sh: $runs runs of ${DURATION}s (~${estimate}s) exceed MAX_SECONDS=$MAX_SECONDS" >&2
    exit 1
fi

echo "load before: $(uptime)"
echo "$runs runs of ${DURATION}s, wrk -t1 -c$CONNECTIONS on core $CLIENT_CORE, server on core $SERVER_CORE, baseline: $BASELINE"

# The CPU other programs used during a run, in clock ticks: the user and system time of every
# process but this script (whose reaped children are wrk and curl), the server and kernel threads,
# with the time of the children each has reaped, so that a program that ends during the run still
# counts. The machine's steal (the hypervisor's) is read beside it.
hz=$(getconf CLK_TCK)
other_ticks() {
    # `cat`, not awk's own file list: a process may end between the glob and the read.
    # `|| true`: cat fails when one of them has ended, which must not stop the script.
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v self="$$" -v server="${server_pid:-0}" '{
        pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
        # f[2] is the parent: 2 (kthreadd) for kernel threads; f[12..15] utime stime cutime cstime.
        if (pid != self && pid != server && pid != 2 && f[2] != 2) total += f[12] + f[13] + f[14] + f[15]
    } END { print total + 0 }'
}
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }

# run <variant>: starts the server, checks one request, loads it, stops it; sets `rps`, `load`
# (the 1-minute load average at the start), `other` and `steal` (cores, averaged over the run).
# (Not run in a subshell, so that the EXIT trap always knows the server to stop.)
rps="" load="" other="" steal=""
run() {
    local variant=$1 info="$work/$1.$RANDOM.info" url output
    local -a headers=()
    taskset -c "$SERVER_CORE" "$SERVER" "$variant" "$info" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        [[ -s $info ]] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    [[ -s $info ]] || {
        echo "e2e.sh: the $variant server did not start:" >&2
        cat "$work/server.log" >&2
        return 1
    }
    url=$(head -n 1 "$info")
    while IFS= read -r line; do
        headers+=(-H "$line")
    done < <(tail -n +2 "$info")
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${headers[@]}" "$url" || true)
    if [[ $status != 200 ]]; then
        echo "e2e.sh: $variant answered $status, not 200" >&2
        return 1
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    local other0 steal0 start other1 steal1
    other0=$(other_ticks)
    steal0=$(steal_ticks)
    start=$(date +%s.%N)
    if ! output=$(timeout $((DURATION + 10)) taskset -c "$CLIENT_CORE" \
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 2s "${headers[@]}" "$url"); then
        echo "e2e.sh: wrk failed or overran on $variant" >&2
        return 1
    fi
    other1=$(other_ticks)
    steal1=$(steal_ticks)
    read -r other steal < <(awk -v hz="$hz" -v t0="$start" -v t1="$(date +%s.%N)" \
        -v o=$((other1 - other0)) -v st=$((steal1 - steal0)) \
        'BEGIN { if (o < 0) o = 0; printf "%.2f %.2f\n", o / hz / (t1 - t0), st / hz / (t1 - t0) }')
    stop_server
    if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$output"; then
        echo "e2e.sh: $variant had errors:" >&2
        echo "$output" >&2
        return 1
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$output")
    [[ -n $rps ]] || {
        echo "e2e.sh: no Requests/sec in wrk's output:" >&2
        echo "$output" >&2
        return 1
    }
}

# One triplet at a time (no-auth, variant, no-auth), run again while under load.
declare -a results=() loaded=()
for ((i = 0; i < runs; i += 3)); do
    if ((SECONDS > MAX_SECONDS)); then
        echo "e2e.sh: over MAX_SECONDS=$MAX_SECONDS (retries took the time): $((i / 3)) of $((runs / 3)) triplets done; the tables show those" >&2
        runs=$i
        break
    fi
    for ((attempt = 0; ; attempt++)); do
        worst=0
        for ((j = i; j < i + 3; j++)); do
            run "${order[j]}"
            results[j]=$rps
            printf '  run %2d  %-22s %10.0f req/s   load %5s   other %4s cores   steal %4s\n' \
                "$((j + 1))" "${order[j]}" "$rps" "$load" "$other" "$steal"
            worst=$(awk -v w="$worst" -v o="$other" -v s="$steal" 'BEGIN { m = (o > s ? o : s); print (m > w ? m : w) }')
        done
        if awk -v w="$worst" -v l="$LOAD_LIMIT" 'BEGIN { exit !(w <= l) }'; then
            loaded[i + 1]=""
            break
        fi
        if ((attempt >= RETRIES)); then
            echo "  under load (${worst} cores beside the benchmark) after $((RETRIES + 1)) tries: kept, marked *"
            loaded[i + 1]="*"
            break
        fi
        echo "  under load (${worst} cores beside the benchmark > LOAD_LIMIT=$LOAD_LIMIT): repeating runs $((i + 1))-$((i + 3))"
    done
done
echo "load after: $(uptime)"
if ((runs == 0)); then
    echo "e2e.sh: no triplet finished within MAX_SECONDS=$MAX_SECONDS" >&2
    exit 1
fi

# Per run: ratio to the mean of the no-auth runs around it; per variant: means over the rounds.
echo
printf '%-12s %5s %12s %12s %8s\n' variant round "req/s" "noauth req/s" ratio
declare -A sum_rps=() sum_ratio=() min_ratio=() max_ratio=() count=() ratios=()
for ((i = 1; i < runs; i += 3)); do
    variant=${order[i]}
    read -r base ratio < <(awk -v a="${results[i - 1]}" -v b="${results[i + 1]}" -v r="${results[i]}" \
        'BEGIN { m = (a + b) / 2; printf "%.1f %.4f\n", m, r / m }')
    count[$variant]=$((${count[$variant]:-0} + 1))
    printf '%-12s %5d %12.0f %12.0f %8.3f%s\n' "$variant" "${count[$variant]}" "${results[i]}" "$base" "$ratio" "${loaded[i]}"
    sum_rps[$variant]=$(awk -v s="${sum_rps[$variant]:-0}" -v r="${results[i]}" 'BEGIN { print s + r }')
    sum_ratio[$variant]=$(awk -v s="${sum_ratio[$variant]:-0}" -v r="$ratio" 'BEGIN { print s + r }')
    min_ratio[$variant]=$(awk -v m="${min_ratio[$variant]:-9}" -v r="$ratio" 'BEGIN { print (r < m ? r : m) }')
    ratios[$variant]="${ratios[$variant]:-} $ratio"
    max_ratio[$variant]=$(awk -v m="${max_ratio[$variant]:-0}" -v r="$ratio" 'BEGIN { print (r > m ? r : m) }')
done

noauth_mean=$(for ((i = 0; i < runs; i += 3)); do echo "${results[i]}" "${results[i + 2]}"; done |
    tr ' ' '\n' |
    awk '{ s += $1; n++; if (min == "" || $1 < min) min = $1; if ($1 > max) max = $1 }
         END { printf "%.0f (min %.0f, max %.0f, %d runs)", s / n, min, max, n }')
echo
echo "noauth: mean $noauth_mean req/s"
printf '%-12s %12s %10s %12s %18s\n' variant "mean req/s" "mean ratio" "median ratio" "ratio range"
for variant in "${VARIANTS[@]}"; do
    [[ -n ${count[$variant]:-} ]] || continue # not reached before MAX_SECONDS
    # shellcheck disable=SC2086 # the list is meant to split into one ratio a line
    median=$(printf '%s\n' ${ratios[$variant]} | sort -g |
        awk '{ r[NR] = $1 } END { print (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2) }')
    awk -v v="$variant" -v s="${sum_rps[$variant]}" -v q="${sum_ratio[$variant]}" -v md="$median" \
        -v n="${count[$variant]}" -v lo="${min_ratio[$variant]}" -v hi="${max_ratio[$variant]}" \
        'BEGIN { printf "%-12s %12.0f %10.3f %12.3f %8.3f - %-8.3f\n", v, s / n, q / n, md, lo, hi }'
done
echo "elapsed: ${SECONDS}s"
