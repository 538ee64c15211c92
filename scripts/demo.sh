#!/usr/bin/env bash
# The main job: on a fresh Debian machine, installs and starts what nsagent needs, starts the
# agent, publishes the examples and shows what happened. The README's first set-up command.
#
# As root the agent configures the real kernel (namespaces nsa-demo-1 and nsa-demo-2 with a veth
# pair between them, then a ping across); otherwise it runs on the in-memory kernel. It stops
# the agent and removes what it made before it exits; DEMO_KEEP=1 keeps everything running
# until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" = 0 ]; then backend=netlink; else backend=sim; fi
if ! command -v nats-server >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "demo.sh: nats-server is missing; run as root to install it (apt-get install nats-server)" >&2
        exit 1
    fi
    say "installing nats-server and iproute2"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server iproute2 >/dev/null
fi

say "building nsagentd and nsagentctl (release)"
cargo build --release -q -p nsagent-agentd
bin=target/release

work=$(mktemp -d /tmp/nsagent-demo.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nats="nats://127.0.0.1:$port"
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

say "starting nats-server with JetStream on $nats"
nats-server -a 127.0.0.1 -p "$port" -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    sleep 0.1
done

say "starting nsagentd (label '$label', backend $backend, log $work/nsagentd.log)"
"$bin/nsagentd" --label "$label" --nats "$nats" --data-dir "$work/data" --backend "$backend" --kv \
    >"$work/nsagentd.log" 2>&1 &
agent=$!
pids+=("$agent")
ctl() { "$bin/nsagentctl" --label "$label" --nats "$nats" "$@"; }
for _ in $(seq 100); do
    ctl status >/dev/null 2>&1 && break
    kill -0 "$agent" 2>/dev/null || { cat "$work/nsagentd.log"; exit 1; }
    sleep 0.1
done

say "publishing examples/route-and-arp.yaml first: it waits for its interface"
ctl put -f examples/route-and-arp.yaml
ctl status

say "publishing examples/veth-pair.json (two named namespaces, created if missing)"
ctl put -f examples/veth-pair.json
sleep 1
ctl status

say "why is an item where it is"
ctl explain config/linux/l3/v2/route/10.22.0.0/16/demo-veth1

if [ "$backend" = netlink ]; then
    say "the kernel"
    ip -n nsa-demo-1 -br addr show dev demo-veth1
    ip -n nsa-demo-1 route show dev demo-veth1
    ip -n nsa-demo-2 -br addr show dev demo-veth2
    say "ping across the pair"
    ip netns exec nsa-demo-1 ping -c 2 -W 1 192.168.22.2 || true

    say "deleting one end: the pair goes; putting it back: the pair returns"
    ctl del config/linux/interfaces/v2/interface/demo-veth2
    sleep 0.5
    ip -n nsa-demo-1 -br link show | grep demo-veth1 || echo "(demo-veth1 is gone with its peer)"
    ctl put -f examples/veth-pair.json
    sleep 1
    ip -n nsa-demo-1 -br link show dev demo-veth1
fi

say "the event log (first records)"
ctl log --from 1 | head -n 12

if [ "${DEMO_KEEP:-0}" = 1 ]; then
    say "running; NATS at $nats, label '$label'. Ctrl-C stops everything."
    wait "$agent"
fi
say "done"
