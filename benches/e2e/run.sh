#!/usr/bin/env bash
# End-to-end benchmark (needs root): publish N veth pairs (each end addressed and up; one end in
# one of M spoke namespaces, the other in a hub) through NATS to a running nsagentd (log, core,
# netlink backend) until `nsagentctl wait` sees every item applied, against `ip -batch`
# doing the same work in namespaces of its own, in the same run. Prints both rates and the
# ratio of medians over R rounds (order alternated), and how many times the agent observed a
# namespace again because of a notification it took for someone else's change.
#
#   benches/e2e/run.sh [PAIRS [SPOKES [ROUNDS]]]      # defaults 1000 100 3
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "the e2e benchmark needs root (network namespaces)" >&2; exit 1; }
PAIRS=${1:-1000}
SPOKES=${2:-100}
ROUNDS=${3:-3}
cargo build --release -q -p nsagent-agentd
bin=$PWD/target/release
work=$(mktemp -d /tmp/nsagent-e2e.XXXXXX)
tag=e2e$$
pids=()
made=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
# Makes the hub and spokes of one round (untimed) and prints the hub's name.
namespaces() {
    local round=$1 s
    ip netns add "$tag-$round-hub"
    made+=("$tag-$round-hub")
    for ((s = 0; s < SPOKES; s++)); do
        ip netns add "$tag-$round-s$s"
        made+=("$tag-$round-s$s")
    done
}
# Deletes a round's namespaces and waits until the kernel has destroyed their links, which it
# does later under the rtnl lock and would slow whatever runs next.
drop_namespaces() {
    local round=$1 s
    ip netns del "$tag-$round-hub"
    for ((s = 0; s < SPOKES; s++)); do ip netns del "$tag-$round-s$s"; done
    sleep 2
}
address() { # pair index, end (1 or 2)
    local base=$(($1 * 4))
    echo "10.201.$((base >> 8)).$(((base & 255) + $2))/30"
}

run_ip() {
    local round=$1 hub="$tag-$1-hub" i s
    local -a scripts
    local hub_script=""
    for ((i = 0; i < PAIRS; i++)); do
        s=$((i % SPOKES))
        scripts[s]+="link add e$i up type veth peer name h$i netns $hub"$'\n'"addr add $(address "$i" 1) dev e$i"$'\n'
        hub_script+="link set h$i up"$'\n'"addr add $(address "$i" 2) dev h$i"$'\n'
    done
    local t0 t1
    t0=$(now)
    for ((s = 0; s < SPOKES; s++)); do
        ip -n "$tag-$round-s$s" -batch - <<<"${scripts[s]}"
    done
    ip -n "$hub" -batch - <<<"$hub_script"
    t1=$(now)
    echo "$t0 $t1" | awk '{printf "%.4f", $2 - $1}'
}

start_nats() {
    nats-server -a 127.0.0.1 -p -1 -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
    pids+=($!)
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/nats.log")
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$work/nats.log" >&2; exit 1; }
    nats="nats://127.0.0.1:$port"
}
# A fresh agent per round, so that the items of a round are gone with it (their namespaces are
# deleted by hand afterwards; an agent still holding them would make them again).
start_agent() {
    "$bin/nsagentd" --label "$tag" --nats "$nats" --data-dir "$work/data-$1" --backend netlink \
        >"$work/nsagentd-$1.log" 2>&1 &
    agent=$!
    for _ in $(seq 100); do
        ctl status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "nsagentd did not answer" >&2
    exit 1
}
ctl() { "$bin/nsagentctl" --label "$tag" --nats "$nats" "$@"; }

items() { # round: a JSON list of 2*PAIRS interfaces
    local round=$1 hub="$tag-$1-hub" i sep=""
    printf '['
    for ((i = 0; i < PAIRS; i++)); do
        local spoke="$tag-$round-s$((i % SPOKES))"
        printf '%s{"name":"r%se%s","host_if_name":"e%s","type":"VETH","enabled":true,"ip_addresses":["%s"],"veth":{"peer_if_name":"r%sh%s"},"namespace":{"type":"NSID","reference":"%s"}}' \
            "$sep" "$round" "$i" "$i" "$(address "$i" 1)" "$round" "$i" "$spoke"
        sep=,
        printf ',{"name":"r%sh%s","host_if_name":"h%s","type":"VETH","enabled":true,"ip_addresses":["%s"],"veth":{"peer_if_name":"r%se%s"},"namespace":{"type":"NSID","reference":"%s"}}' \
            "$round" "$i" "$i" "$(address "$i" 2)" "$round" "$i" "$hub"
    done
    printf ']\n'
}

run_agent() {
    local round=$1 t0 t1 applied
    items "$round" >"$work/items-$round.json"
    start_agent "$round"
    t0=$(now)
    ctl put -f "$work/items-$round.json" >/dev/null
    ctl wait "config/linux/interfaces/v2/interface/r$round" --within 300 --every 20 >/dev/null
    t1=$(now)
    applied=$(ctl status | grep -c "interface/r$round[eh][0-9]* *applied" || true)
    [ "$applied" -eq $((2 * PAIRS)) ] || { echo "status shows $applied of $((2 * PAIRS)) applied" >&2; exit 1; }
    local reobserved
    reobserved=$(grep -c "observing again" "$work/nsagentd-$round.log" || true)
    echo "$t0 $t1 $reobserved" | awk '{printf "%.4f %d", $2 - $1, $3}'
    # Verify, untimed, that the kernel holds what status says.
    local up
    up=$(ip -n "$tag-$round-hub" -br addr show | grep -c "^h[0-9]*@[^ ]* *UP .*10\.201\." || true)
    [ "$up" -eq "$PAIRS" ] || { echo "hub holds $up of $PAIRS ends up and addressed" >&2; exit 1; }
    kill "$agent"
    wait "$agent" 2>/dev/null || true
}

start_nats
echo "e2e benchmark: $PAIRS veth pairs, $SPOKES spoke namespaces + 1 hub, address on each end, both up; $ROUNDS rounds"
ip_times=()
agent_times=()
for ((r = 0; r < ROUNDS; r++)); do
    for way in $( ((r % 2)) && echo "agent ip" || echo "ip agent"); do
        namespaces "$r$way"
        if [ "$way" = ip ]; then
            t=$(run_ip "$r$way")
            ip_times+=("$t")
            printf 'round %d: ip -batch          %7.0f pairs/s\n' "$r" "$(echo "$PAIRS $t" | awk '{print $1 / $2}')"
        else
            read -r t reobserved <<<"$(run_agent "$r$way")"
            agent_times+=("$t")
            printf 'round %d: nsagent via NATS   %7.0f pairs/s (%d re-observations)\n' "$r" \
                "$(echo "$PAIRS $t" | awk '{print $1 / $2}')" "$reobserved"
        fi
        drop_namespaces "$r$way"
    done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mi=$(median "${ip_times[@]}")
ma=$(median "${agent_times[@]}")
echo "median: ip -batch ${mi}s, nsagent ${ma}s; nsagent / ip -batch speed ratio: $(echo "$mi $ma" | awk '{printf "%.2f", $1 / $2}')x"
