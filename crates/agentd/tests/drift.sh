# Run by tests/drift.rs inside `unshare -n`: everything here happens in a namespace of the
# test's own. Prints one line per finding; the test reads them.
set -e
now() { date +%s%3N; }
ip link set lo up
/usr/sbin/nats-server -a 127.0.0.1 -p 4222 >"$DIR/nats.log" 2>&1 &
NATS=$!
D=
trap 'kill $D $NATS 2>/dev/null || true' EXIT
CTL="$NSAGENTCTL --label dr --nats nats://127.0.0.1:4222 --timeout 3"
start() {
  "$NSAGENTD" --label dr --nats nats://127.0.0.1:4222 --data-dir "$DIR/data" --backend netlink \
    --no-docker --resync-interval "$1" >>"$DIR/d.log" 2>&1 &
  D=$!
  for i in $(seq 100); do $CTL status >/dev/null 2>&1 && break; sleep 0.1; done
}
state() { $CTL status | grep -F "$1" | awk '{print $2}'; }
# until_back PHASE START CHECK KEY [TELL_MS]: waits (5 s at most) until CHECK holds again, and
# reports any moment, once the agent had TELL_MS (500) to hear of the change, at which KEY's
# status said applied while CHECK did not hold; then how long it took, and KEY's state once it
# settled.
until_back() {
  phase=$1; t0=$2; check=$3; key=$4; tell=${5:-500}
  while ! sh -c "$check" >/dev/null 2>&1; do
    el=$(( $(now) - t0 ))
    if [ $el -gt 5000 ]; then echo "never-back $phase"; return 0; fi
    if [ $el -gt "$tell" ] && [ "$(state "$key")" = applied ] && ! sh -c "$check" >/dev/null 2>&1; then
      echo "applied-while-missing $phase"
    fi
    sleep 0.02
  done
  echo "back-ms $phase $(( $(now) - t0 ))"
  for i in $(seq 40); do [ "$(state "$key")" = applied ] && break; sleep 0.05; done
  echo "state $phase $(state "$key")"
}
ROUTE='ip route show 10.80.0.0/24 | grep -q "proto static"'
NEIGH='ip neigh show 10.79.0.9 dev dr-v1 | grep -q "02:00:00:00:00:09 PERMANENT"'
start off
$CTL put -f "$DIR/items.json" >/dev/null
for i in $(seq 100); do [ "$($CTL status | grep -c ' applied')" = 4 ] && break; sleep 0.1; done
echo "applied $($CTL status | grep -c ' applied')"
# The kernel's own follow-ups (IPv6 DAD on the new links) wake the watcher: let them pass, so
# that what follows is told only by the change it makes.
for i in $(seq 50); do
  [ -z "$(ip -6 addr show tentative)" ] && [ "$(ip -6 addr show scope link | grep -c inet6)" -ge 2 ] && break
  sleep 0.1
done
sleep 0.5

t=$(now); ip route del 10.80.0.0/24; until_back route-del $t "$ROUTE" 10.80.0.0/24
t=$(now); ip neigh del 10.79.0.9 dev dr-v1; until_back neigh-del $t "$NEIGH" 10.79.0.9

# A managed entry replaced by a learnt one: the watcher does not tell, a resync does.
ip neigh replace 10.79.0.9 lladdr 02:00:00:00:00:0a dev dr-v1 nud reachable
sleep 1.5
if sh -c "$NEIGH"; then echo "unseen-change repaired-without-resync"; else echo "unseen-change kept"; fi
t=$(now)
echo "resync $($CTL resync --ns default -o json | tr -d ' \n')"
until_back on-demand $t "$NEIGH" 10.79.0.9
echo "bad-ns $($CTL resync --ns nowhere 2>&1 || true)"

# The same change with a periodic resync of one second: until it runs (within 1.5 s, with
# the start-up in between) nothing tells the agent.
kill $D; wait $D || true
start 1s
ip neigh replace 10.79.0.9 lladdr 02:00:00:00:00:0a dev dr-v1 nud reachable
t=$(now); until_back periodic $t "$NEIGH" 10.79.0.9 1500

# A permanent entry made by hand on the agent's link carries no protocol: it is not the
# agent's, and neither a resync nor the periodic one removes it.
ip neigh add 10.79.0.77 lladdr 02:00:00:00:00:77 dev dr-v1 nud permanent
$CTL resync --ns default >/dev/null
sleep 2
if ip neigh show 10.79.0.77 dev dr-v1 | grep -q PERMANENT; then echo "hand-neigh kept"; else echo "hand-neigh removed"; fi
echo "agent-neigh $(ip neigh show 10.79.0.9 dev dr-v1)"

# The kernel's view: the agent's link and one made by hand, told apart by their marks.
ip link add dr-h0 type veth peer name dr-h1
echo "dump $($CTL -o json dump --ns default | tr -d '\n')"
