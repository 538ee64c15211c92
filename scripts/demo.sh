#!/usr/bin/env bash
# The main job: on a fresh Debian machine, installs and starts what nsagent needs, starts the
# agent, publishes the examples and shows what happened. The README's first set-up command.
#
# As root the agent configures the real kernel (namespaces nsa-demo-1 and nsa-demo-2 with a veth
# pair between them, then a ping across); otherwise it runs on the in-memory kernel. Every step
# checks that it did what it says and stops the demo with a non-zero exit and a line saying what
# went wrong when it did not. It stops the agent and removes what it made before it exits;
# DEMO_KEEP=1 keeps everything running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() {
    printf '\n\033[1;31mdemo.sh: FAILED: %s\033[0m\n' "$*" >&2
    if [ -n "${work:-}" ] && [ -f "$work/nsagentd.log" ]; then
        echo "last lines of the agent's log ($work/nsagentd.log):" >&2
        tail -n 20 "$work/nsagentd.log" >&2 || true
    fi
    exit 1
}
# Waits up to $1 seconds for the command after it to succeed.
within() {
    local seconds=$1
    shift
    local i
    for i in $(seq $((seconds * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

command -v cargo >/dev/null 2>&1 || fail "cargo is missing: install a Rust toolchain first (see README)"
if [ "$(id -u)" = 0 ]; then backend=netlink; else backend=sim; fi

# Everything the demo runs, by the command that shows it is there.
missing=()
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
if [ "$backend" = netlink ]; then
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
    command -v iptables >/dev/null 2>&1 || missing+=(iptables)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "${missing[*]} missing; run as root to install (apt-get install ${missing[*]})"
    say "installing ${missing[*]}"
    apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
        fail "installing ${missing[*]} failed"
fi

say "building nsagentd and nsagentctl (release)"
cargo build --release -q -p nsagent-agentd || fail "the build failed"
bin=target/release

work=$(mktemp -d /tmp/nsagent-demo.XXXXXX)
label=demo
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$backend" = netlink ]; then
        ip netns del nsa-demo-1 2>/dev/null || true
        ip netns del nsa-demo-2 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# nats-server picks a free loopback port itself (-p -1) and says which in its log.
say "starting nats-server with JetStream"
nats-server -a 127.0.0.1 -p -1 -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/nats.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$work/nats.log" >&2; fail "nats-server did not start listening"; }
nats="nats://127.0.0.1:$port"
echo "NATS at $nats"

say "starting nsagentd (label '$label', backend $backend, log $work/nsagentd.log)"
"$bin/nsagentd" --label "$label" --nats "$nats" --data-dir "$work/data" --backend "$backend" --kv \
    >"$work/nsagentd.log" 2>&1 &
agent=$!
pids+=("$agent")
ctl() { "$bin/nsagentctl" --label "$label" --nats "$nats" "$@"; }
agent_answers() {
    kill -0 "$agent" 2>/dev/null || fail "nsagentd exited"
    ctl status
}
within 10 agent_answers || fail "nsagentd did not answer on NATS within 10 s"

# The state the agent reports for one key (applied, pending, failed), from its JSON status.
state_of() {
    ctl -o json status "$1" | grep -o '"state": *"[a-z]*"' | sed -n '1s/.*"\([a-z]*\)"$/\1/p'
}
is_applied() { [ "$(state_of "$1")" = applied ]; }

veth1=config/linux/interfaces/v2/interface/demo-veth1
veth2=config/linux/interfaces/v2/interface/demo-veth2
route=config/linux/l3/v2/route/10.22.0.0/16/demo-veth1
arp=config/linux/l3/v2/arp/demo-veth1/192.168.22.99

say "publishing examples/route-and-arp.yaml first: it waits for its interface"
ctl put -f examples/route-and-arp.yaml || fail "the put of examples/route-and-arp.yaml was refused"
ctl status
[ "$(state_of "$route")" = pending ] || fail "the route should be pending until its interface exists"

say "publishing examples/veth-pair.json (two named namespaces, created if missing)"
ctl put -f examples/veth-pair.json || fail "the put of examples/veth-pair.json was refused"
for key in "$veth1" "$veth2" "$route" "$arp"; do
    within 10 is_applied "$key" || { ctl status; fail "$key was not applied within 10 s"; }
done
ctl status

say "why is an item where it is"
ctl explain "$route" || fail "explain $route failed"

if [ "$backend" = netlink ]; then
    say "the kernel"
    ip -n nsa-demo-1 -br addr show dev demo-veth1 || fail "demo-veth1 is not in nsa-demo-1"
    ip -n nsa-demo-1 route show dev demo-veth1 | grep 10.22.0.0/16 ||
        fail "the route to 10.22.0.0/16 is not in nsa-demo-1"
    ip -n nsa-demo-2 -br addr show dev demo-veth2 || fail "demo-veth2 is not in nsa-demo-2"

    say "ping across the pair"
    ip netns exec nsa-demo-1 ping -c 2 -W 1 192.168.22.2 ||
        fail "no ping from demo-veth1 (nsa-demo-1) to 192.168.22.2 (demo-veth2, nsa-demo-2)"

    say "a firewall: examples/rulechain.json drops ICMP arriving on demo-veth2"
    chain=config/linux/iptables/v2/rulechain/demo-no-ping
    ctl put -f examples/rulechain.json || fail "the put of examples/rulechain.json was refused"
    within 10 is_applied "$chain" || { ctl status; fail "$chain was not applied within 10 s"; }
    ip netns exec nsa-demo-2 iptables -S || fail "cannot list the rules of nsa-demo-2"
    ! ip netns exec nsa-demo-1 ping -c 1 -W 1 192.168.22.2 >/dev/null ||
        fail "the ping still passes with ICMP dropped in nsa-demo-2"
    echo "no ping across the pair while the chain is there"
    ctl del "$chain" || fail "the delete of $chain was refused"
    within 5 ip netns exec nsa-demo-1 ping -c 1 -W 1 192.168.22.2 >/dev/null ||
        fail "no ping 5 s after the chain was deleted"
    echo "the chain is gone and the ping passes again"

    gone() { ! ip -n nsa-demo-1 link show dev demo-veth1 >/dev/null 2>&1; }
    back() { ip -n nsa-demo-1 link show dev demo-veth1 >/dev/null 2>&1; }
    say "deleting one end: the pair goes"
    ctl del "$veth2" || fail "the delete of $veth2 was refused"
    within 5 gone || fail "demo-veth1 is still in nsa-demo-1 5 s after its peer was deleted"
    echo "demo-veth1 is gone with its peer"
    ctl status
    say "putting it back: the pair returns"
    ctl put -f examples/veth-pair.json || fail "the re-put of examples/veth-pair.json was refused"
    within 10 back || fail "demo-veth1 did not come back within 10 s"
    within 10 is_applied "$route" || fail "the route was not applied again within 10 s"
    ip -n nsa-demo-1 -br link show dev demo-veth1
    ip netns exec nsa-demo-1 ping -c 1 -W 1 192.168.22.2 || fail "no ping across the re-made pair"
fi

say "the event log (first records)"
ctl log --from 1 >"$work/log.txt" || fail "reading the event log failed"
head -n 12 "$work/log.txt"
[ "$(wc -l <"$work/log.txt")" -gt 3 ] || fail "the event log is nearly empty"

if [ "${DEMO_KEEP:-0}" = 1 ]; then
    say "running; NATS at $nats, label '$label'. Ctrl-C stops everything."
    wait "$agent"
fi
say "done: every step of the demo did what it said"
