#!/usr/bin/env bash
# Kernel benchmark of the netlink backend against `ip -batch`, in one run (needs root).
# Usage: benches/kernel/run.sh [--rounds R] [--pairs N] [--namespaces M] [--resync-links L]
# Defaults: 3 rounds (medians reported) of 1000 veth pairs over 100 namespaces, then a resync of 10000 managed links.
# Every namespace it makes is named nsab-<pid>-* and deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
    echo "kernel benchmark needs root (network namespaces)" >&2
    exit 1
fi
cargo build --release -q -p nsagent-netlink --example kernel_bench
exec target/release/examples/kernel_bench "$@"
