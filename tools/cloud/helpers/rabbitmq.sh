#!/usr/bin/env bash
# Run the reference cloud's private RabbitMQ node in the foreground, with its own
# epmd on loopback in the same process group, so that tools/cloud/down stops both.
# A SIGTERM or SIGINT stops the broker gracefully, then epmd.
#
# usage: rabbitmq.sh <state>/etc/rabbitmq/env.sh
set -uo pipefail
# shellcheck disable=SC1090
source "${1:?usage: rabbitmq.sh ENV_FILE}"
mkdir -p "$HOME" "$RABBITMQ_LOG_BASE"
epmd -address 127.0.0.1 -port "$ERL_EPMD_PORT" &
epmd_pid=$!
/usr/lib/rabbitmq/bin/rabbitmq-server &
broker=$!
trap 'kill -TERM "$broker" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives: wait again for the broker.
while kill -0 "$broker" 2>/dev/null; do wait "$broker"; done
status=$?
kill -TERM "$epmd_pid" 2>/dev/null
wait "$epmd_pid" 2>/dev/null
exit "$status"
