#!/usr/bin/env bash
# A loopback-only Postfix for tests: nothing can leave the machine.
#
# Usage: tests/postfix/sandbox.sh COMMAND
#   install    install Postfix and swaks from Debian if missing (needs root and apt)
#   configure  write the sandbox configuration (see below) and check it
#   start      start Postfix, or reload it when already running
#   stop       stop Postfix (no error when it is not running)
#   up         install + configure + start
#   defer on|off
#              make every message wait in the deferred queue (defer_transports = sink) or not
#   clean      delete every queued message (postsuper -d ALL) and empty the sink file
#   status     exit 0 when Postfix runs
#   queue      list the queued mail as "QUEUE_ID QUEUE_NAME" lines (from postqueue -j), by ID
#   settle [SECONDS]
#              wait (default 30 s) until no message is in the incoming, active or maildrop
#              queue: everything is delivered to the sink, held or deferred
#
# The script can also be sourced (`. tests/postfix/sandbox.sh`): it then defines its functions
# (install_postfix, configure, start, stop, defer, clean, queue_state, settle, wait_listen)
# and the SANDBOX_* defaults, and runs nothing; tests/postfix/milter.sh does that.
#
# The configuration follows ../shared/POSTFIX-SANDBOX.md: the only listener is
# 127.0.0.1:$SANDBOX_PORT, the :25 listener is removed, and every transport (default, relay,
# local) is the `sink` pipe, which appends each delivered message to $SANDBOX_SINK. The sink
# file is owned by nobody because pipe(8) refuses to run as root. The pipe runs one process at a
# time (maxproc 1): dd appends in 512-byte writes, so two deliveries at once interleaved their
# blocks and the checks could not find either message in the file (seen once in CI under load;
# Postfix's log showed both delivered).
#
# Parameters (environment):
#   SANDBOX_PORT     SMTP port on 127.0.0.1 (default 2525)
#   SANDBOX_SINK     where delivered mail goes (default /var/tmp/mta-sink/mbox)
#   SANDBOX_LOG      Postfix's own log file; there is no syslog here (default /var/log/postfix.log)
#   SANDBOX_MILTER   milter socket, e.g. inet:127.0.0.1:8894; empty (the default) = no milter.
#                    When set, smtpd_milters and non_smtpd_milters use it, protocol 6.
#   SANDBOX_MILTER_DEFAULT_ACTION
#                    what Postfix does when the milter is down (default tempfail)
#
# Example (what tests/postfix/batch.sh does; tests/postfix/milter.sh sets SANDBOX_MILTER):
#   tests/postfix/sandbox.sh up
#   swaks --server 127.0.0.1 --port 2525 --from alice@localhost --to bob@example.com --data m.eml
#   tests/postfix/sandbox.sh clean; tests/postfix/sandbox.sh stop
#
# This changes the system's Postfix configuration in /etc/postfix: run it on a test machine
# or CI container only. Needs root.
set -euo pipefail

SANDBOX_PORT=${SANDBOX_PORT:-2525}
SANDBOX_SINK=${SANDBOX_SINK:-/var/tmp/mta-sink/mbox}
SANDBOX_LOG=${SANDBOX_LOG:-/var/log/postfix.log}
SANDBOX_MILTER=${SANDBOX_MILTER:-}
SANDBOX_MILTER_DEFAULT_ACTION=${SANDBOX_MILTER_DEFAULT_ACTION:-tempfail}

# Postfix's tools live in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

die() {
  echo "sandbox: $*" >&2
  exit 1
}

install_postfix() {
  if command -v postfix >/dev/null && command -v swaks >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "installing Postfix needs root"
  echo "sandbox: installing postfix and swaks" >&2
  echo 'postfix postfix/main_mailer_type select Local only' | debconf-set-selections
  echo 'postfix postfix/mailname string localhost' | debconf-set-selections
  apt-get -o DPkg::Lock::Timeout=600 -qq update
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y \
    --no-install-recommends postfix swaks >/dev/null
  command -v postfix >/dev/null && command -v swaks >/dev/null || die "install failed"
}

configure() {
  command -v postconf >/dev/null || die "Postfix is not installed (run: $0 install)"
  postconf -e "myhostname = mta-test.localdomain" "mydestination = localhost" \
    "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" "mynetworks = 127.0.0.0/8" \
    "relayhost =" "default_transport = sink" "relay_transport = sink" "local_transport = sink" \
    "maillog_file = $SANDBOX_LOG" "defer_transports ="
  if [ -n "$SANDBOX_MILTER" ]; then
    postconf -e "smtpd_milters = $SANDBOX_MILTER" 'non_smtpd_milters = $smtpd_milters' \
      "milter_protocol = 6" "milter_default_action = $SANDBOX_MILTER_DEFAULT_ACTION"
  else
    # Back to Postfix's defaults (no milter), whatever an earlier run configured.
    postconf -X smtpd_milters non_smtpd_milters milter_protocol milter_default_action
  fi
  postconf -MX smtp/inet 2>/dev/null || true # no :25 listener
  # Remove any listener an earlier run left on another port, then add ours.
  local svc
  for svc in $(postconf -M | awk '$1 ~ /^127\.0\.0\.1:[0-9]+$/ && $2 == "inet" {print $1}'); do
    postconf -MX "$svc/inet"
  done
  postconf -M "127.0.0.1:$SANDBOX_PORT/inet=127.0.0.1:$SANDBOX_PORT inet n - n - - smtpd"
  postconf -M "sink/unix=sink unix - n n - 1 pipe flags=F user=nobody argv=/bin/dd of=$SANDBOX_SINK oflag=append conv=notrunc status=none"
  mkdir -p "$(dirname "$SANDBOX_SINK")"
  [ -f "$SANDBOX_SINK" ] || install -o nobody -g nogroup -m 644 /dev/null "$SANDBOX_SINK"
  chown nobody:nogroup "$SANDBOX_SINK"
  postfix check
}

start() {
  if postfix status >/dev/null 2>&1; then
    postfix reload >/dev/null 2>&1
  else
    postfix start >/dev/null 2>&1 || die "postfix start failed (see $SANDBOX_LOG)"
  fi
  # Wait until the SMTP listener answers (a few hundred ms at most).
  wait_listen 127.0.0.1 "$SANDBOX_PORT" 5 ||
    die "nothing listens on 127.0.0.1:$SANDBOX_PORT after start (see $SANDBOX_LOG)"
}

# wait_listen HOST PORT [SECONDS]: return 0 as soon as a TCP connection to HOST:PORT succeeds,
# 1 after SECONDS (default 5) without one.
wait_listen() {
  local host=$1 port=$2 tries=$((${3:-5} * 10)) i
  for ((i = 0; i < tries; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

stop() {
  if postfix status >/dev/null 2>&1; then
    postfix stop >/dev/null 2>&1 || die "postfix stop failed"
  fi
}

defer() {
  case "${1:-}" in
    on) postconf -e "defer_transports = sink" ;;
    off) postconf -e "defer_transports =" ;;
    *) die "usage: $0 defer on|off" ;;
  esac
  if postfix status >/dev/null 2>&1; then
    postfix reload >/dev/null 2>&1
  fi
}

clean() {
  postsuper -d ALL >/dev/null 2>&1 || true
  postsuper -d ALL maildrop >/dev/null 2>&1 || true # not in -d's default queues
  if [ -f "$SANDBOX_SINK" ]; then
    : >"$SANDBOX_SINK"
  fi
}

# The queued mail as "QUEUE_ID QUEUE_NAME" lines, sorted by ID (empty when the queue is).
queue_state() {
  postqueue -j | python3 -c '
import json, sys
for line in sys.stdin:
    if line.strip():
        e = json.loads(line)
        print(e["queue_id"], e["queue_name"])
' | sort
}

# settle [SECONDS]: wait until nothing is in the incoming, active or maildrop queue (what
# remains is held or deferred); 1 when that takes longer than SECONDS (default 30).
settle() {
  local tries=$((${1:-30} * 5)) i
  for ((i = 0; i < tries; i++)); do
    if ! queue_state | awk '$2 != "hold" && $2 != "deferred" {busy = 1} END {exit !busy}'; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# Sourced: define the functions only.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  return 0
fi

cmd=${1:-}
shift || true
case "$cmd" in
  install) install_postfix ;;
  configure) configure ;;
  start) start ;;
  stop) stop ;;
  up)
    install_postfix
    configure
    start
    ;;
  defer) defer "$@" ;;
  clean) clean ;;
  status) postfix status >/dev/null 2>&1 ;;
  queue) queue_state ;;
  settle) settle "$@" || die "mail still in the incoming/active queue after ${1:-30} s" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
