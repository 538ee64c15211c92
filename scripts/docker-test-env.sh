#!/usr/bin/env bash
# Test environment for nsagent's Docker integration tests (crates/docker-watch and the end-to-end
# tests): a running dockerd and a tiny busybox image built locally, because no registry is
# reachable from the test machines.
#
#   scripts/docker-test-env.sh [ensure]   install packages if missing, start dockerd, build image
#   scripts/docker-test-env.sh start      start dockerd if it is not running, wait until it answers
#   scripts/docker-test-env.sh stop       stop the dockerd this machine runs (pid from its pidfile)
#   scripts/docker-test-env.sh kill       SIGKILL that dockerd (a crash: no clean-up, no events)
#   scripts/docker-test-env.sh image      (re)build the test image if it is missing
#
# Environment: NSAGENT_TEST_IMAGE (default nsagent-test-busybox:latest),
#              NSAGENT_DOCKERD_LOG (default /tmp/nsagent-dockerd.log).
set -euo pipefail

IMAGE="${NSAGENT_TEST_IMAGE:-nsagent-test-busybox:latest}"
LOG="${NSAGENT_DOCKERD_LOG:-/tmp/nsagent-dockerd.log}"
PIDFILE=/var/run/docker.pid

log() { echo "docker-test-env: $*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        log "must run as root (dockerd and the tests need it)"
        exit 1
    fi
}

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

daemon_up() { docker info >/dev/null 2>&1; }

start_daemon() {
    need_root
    if daemon_up; then
        return 0
    fi
    # A daemon that was killed can leave its pidfile behind; dockerd refuses to start over it.
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        rm -f "$PIDFILE"
    fi
    if [ ! -f "$PIDFILE" ]; then
        log "starting dockerd (log: $LOG)"
        setsid nohup dockerd --host unix:///var/run/docker.sock --pidfile "$PIDFILE" \
            >>"$LOG" 2>&1 </dev/null 9>&- &
    fi
    local i
    for i in $(seq 1 120); do
        if daemon_up; then
            log "dockerd is up"
            return 0
        fi
        sleep 0.5
    done
    log "dockerd did not answer within 60 s; last lines of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
}

stop_daemon() {
    local signal="$1"
    need_root
    if [ ! -f "$PIDFILE" ]; then
        log "no $PIDFILE: dockerd is not running"
        return 0
    fi
    local pid
    pid="$(cat "$PIDFILE")"
    log "sending SIG$signal to dockerd (pid $pid)"
    kill "-$signal" "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
        sleep 0.25
    done
    log "dockerd (pid $pid) did not exit within 30 s"
    exit 1
}

build_image() {
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    local root
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' RETURN
    mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/etc" "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    log "importing $IMAGE from a busybox rootfs"
    tar -C "$root" -c . | docker import --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
}

# Test binaries (this crate's and the end-to-end tests) may call this script at the same time:
# one at a time, so that only one dockerd is started and the image is imported once.
if command -v flock >/dev/null 2>&1; then
    exec 9>/tmp/nsagent-docker-test-env.lock
    flock 9
fi

case "${1:-ensure}" in
    ensure)
        need_root
        install_packages
        start_daemon
        build_image
        ;;
    start) start_daemon ;;
    stop) stop_daemon TERM ;;
    kill) stop_daemon KILL ;;
    image) build_image ;;
    *)
        log "unknown command '$1' (ensure|start|stop|kill|image)"
        exit 2
        ;;
esac
