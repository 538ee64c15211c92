#!/usr/bin/env bash
# The project's test command (the README's second set-up command; `.ci/run` calls it).
# On a fresh Debian machine it installs what the tests need — iproute2, nats-server, docker.io,
# busybox-static, ping — starts dockerd, builds the busybox test image, and then runs the whole
# workspace's tests, lints included. Needs root: the kernel tests make network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run as root (the kernel and Docker tests make namespaces, links and containers)" >&2
    exit 1
fi

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# The kernel tests of checksum offloading read it back with ethtool, an independent view.
command -v ethtool >/dev/null 2>&1 || missing+=(ethtool)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "test.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# dockerd and the test image for the microservice tests.
scripts/docker-test-env.sh ensure

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The kernel tests share the host's namespace list; one test binary at a time keeps their
# clean-up checks meaningful, and each binary runs its tests in parallel as usual.
cargo test --workspace --no-fail-fast -j 2 -- --test-threads 4 --skip simulation_
# The deterministic simulation, in release: every check (invariants, determinism, restoring
# from snapshots changes nothing) on every seed, and the committed trace hashes of seeds 1..500.
cargo test --release --test simulation
# A deeper mix within CI's time: 150 seeds of 1,000 steps, every check on each.
SIM_SEEDS=150 SIM_STEPS=1000 cargo test --release --test simulation simulation_holds
