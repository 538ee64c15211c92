#!/usr/bin/env bash
# The long simulation campaign: SEEDS seeds x STEPS steps (default 20,000 x 1,000), every check
# on every seed (invariants, determinism, restore-changes-nothing), in chunks of CHUNK seeds run
# JOBS at a time (default: one per core). A chunk stops at its first failing seed; every failing
# chunk is reported with the command that reproduces it, and the script exits non-zero.
#
#   scripts/campaign.sh                       # 20,000 x 1,000 over all cores
#   SEEDS=2000 STEPS=400 JOBS=2 scripts/campaign.sh
#   SIM_REPLAY=0 scripts/campaign.sh          # leave out the replay check (a third less time)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-20000}
STEPS=${STEPS:-1000}
FIRST=${FIRST:-1}
CHUNK=${CHUNK:-250}
JOBS=${JOBS:-$(nproc)}
out=${OUT:-$(mktemp -d /tmp/nsagent-campaign.XXXXXX)}
mkdir -p "$out"

# Built once and copied, so that a build of the same tree meanwhile cannot swap the binary
# under the chunks that are running.
built=$(cargo test --release --test simulation --no-run 2>&1 |
    sed -n 's/.*Executable tests\/simulation.rs (\(.*\))$/\1/p' | tail -1)
[ -x "$built" ] || { echo "could not build the simulation test" >&2; exit 1; }
mkdir -p "$out"
exe=$out/simulation
cp "$built" "$exe"
# The tree the binary was built from (HEAD may move while the campaign runs).
rev=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo "+changes")
start=$(date +%s)
last=$(( FIRST + SEEDS ))
for ((from = FIRST; from < last; from += CHUNK)); do
  count=$CHUNK
  (( from + count > last )) && count=$(( last - from ))
  echo "$from $count"
done | EXE=$exe STEPS=$STEPS OUT=$out xargs -P "$JOBS" -L 1 sh -c '
  if SIM_FIRST=$0 SIM_SEEDS=$1 SIM_STEPS=$STEPS SIM_REPLAY=${SIM_REPLAY:-1} \
      "$EXE" simulation_holds_every_invariant --nocapture >"$OUT/chunk-$0.log" 2>&1; then
    echo "seeds $0+$1: ok"
  else
    echo "seeds $0+$1: FAILED"; grep -m1 -A3 "broke an invariant\|panicked" "$OUT/chunk-$0.log"
    touch "$OUT/failed"
  fi' || true
secs=$(( $(date +%s) - start ))
commands=$(cat "$out"/chunk-*.log | sed -n 's/.* steps: \([0-9]*\) commands.*/\1/p' | paste -sd+ | bc)
runs=$([ "${SIM_REPLAY:-1}" = 0 ] && echo 2 || echo 3)
echo "campaign: $SEEDS seeds x $STEPS steps, $JOBS jobs, ${secs}s, ${commands:-0} commands" \
  "(each seed run $runs times), built at $rev; logs in $out"
[ ! -e "$out/failed" ]
