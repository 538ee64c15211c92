#!/usr/bin/env bash
# Instructions per event at 1k and at 100k configured interfaces, counted by callgrind in the
# same run, and their ratio. Wall-clock figures are in `cargo bench --bench apply`; this one
# shows whether the work per event grows with the configuration (it should not).
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build --release --bench instructions -q 2>/dev/null || cargo build --release --bench instructions
bin=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -1)
rounds=${ROUNDS:-5}
measure() {
    local n=$1 out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*measured_churn*' \
        "$bin" "$n" "$rounds" 2>/dev/null | sed -n 's/^events //p' >"$out.events"
    local ir events
    ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
    events=$(cat "$out.events")
    rm -f "$out" "$out.events"
    echo "$ir $events"
}
read -r ir1 ev1 < <(measure 1000)
read -r ir2 ev2 < <(measure 100000)
per1=$((ir1 / ev1)); per2=$((ir2 / ev2))
echo "1k interfaces:   $ev1 events, $per1 instructions/event"
echo "100k interfaces: $ev2 events, $per2 instructions/event"
awk -v a="$per1" -v b="$per2" 'BEGIN { printf "ratio 100k/1k: %.2f\n", b / a }'
