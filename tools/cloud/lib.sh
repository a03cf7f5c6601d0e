# Shared by tools/cloud/{up,down,status}: paths, the service table, process helpers.
# shellcheck shell=bash

CLOUD_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLOUD_TOOLS/../.." && pwd)
STATE=${TCUP_CLOUD_DIR:-$REPO_ROOT/.cloud}
DEV_CACHE=${TCUP_DEV_CACHE:-$HOME/.cache/tcup-dev}
VENV=$DEV_CACHE/cloud-venv
PY=$VENV/bin/python
# Nova, Placement, Neutron, Cinder, Designate and Heat: a venv of their own beside the cloud venv.
PLATFORM_VENV=$DEV_CACHE/platform-venv
ETC=$STATE/etc
RUN=$STATE/run
LOGS=$STATE/logs

# Everything here talks to 127.0.0.1: never through a proxy of the caller's environment.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# Every service, in start order, per profile. Groups are what --only accepts
# besides names. `storage`: Keystone, Swift, Glance (and MariaDB for Keystone);
# `platform` (the default): those plus RabbitMQ, Placement, Nova, Neutron, Cinder,
# and the add-ons DNS (BIND's named and Designate) and Orchestration (Heat).
STORAGE_SERVICES=(mariadb keystone swift-account swift-container swift-object swift-proxy
  swift-container-updater swift-object-updater swift-container-replicator glance)
PLATFORM_SERVICES=(rabbitmq placement-api nova-api nova-conductor nova-scheduler nova-compute
  neutron-api cinder-api cinder-scheduler cinder-volume
  named designate-central designate-api designate-worker designate-mdns designate-producer
  heat-api heat-api-cfn heat-engine)
SERVICES=("${STORAGE_SERVICES[@]}" "${PLATFORM_SERVICES[@]}")
GROUPS_=(mariadb keystone swift glance rabbitmq placement nova neutron cinder dns orchestration)
# Infrastructure: started first, stopped last.
INFRA_SERVICES=(mariadb rabbitmq named)
# Started only once the others answer: designate-producer calls designate-central
# at once, and a call sent before central made its queue is lost (a 60 s timeout).
LATE_SERVICES=(designate-producer)

die() {
  echo "error: $*" >&2
  exit 1
}

log() { echo "cloud: $*" >&2; }

service_group() {
  case $1 in
    swift-*) echo swift ;;
    nova-*) echo nova ;;
    cinder-*) echo cinder ;;
    neutron-*) echo neutron ;;
    placement-*) echo placement ;;
    named | designate-*) echo dns ;;
    heat-*) echo orchestration ;;
    *) echo "$1" ;;
  esac
}

# The profile recorded by the last `up` (platform when none was).
stored_profile() {
  local profile
  profile=$(cat "$STATE/profile" 2>/dev/null || true)
  echo "${profile:-platform}"
}

# The services of profile $1, in start order, into PROFILE_SERVICES.
profile_services() {
  case $1 in
    storage) PROFILE_SERVICES=("${STORAGE_SERVICES[@]}") ;;
    platform) PROFILE_SERVICES=("${SERVICES[@]}") ;;
    *) die "unknown profile '$1' (profiles: platform, storage)" ;;
  esac
}

is_platform_service() { [[ " ${PLATFORM_SERVICES[*]} " == *" $1 "* ]]; }

service_port() {
  case $1 in
    mariadb) echo 3318 ;;
    rabbitmq) echo 5682 ;;
    keystone) echo 5000 ;;
    glance) echo 9292 ;;
    placement-api) echo 8778 ;;
    nova-api) echo 8774 ;;
    neutron-api) echo 9696 ;;
    cinder-api) echo 8776 ;;
    swift-proxy) echo 8080 ;;
    swift-object) echo 6200 ;;
    swift-container) echo 6201 ;;
    swift-account) echo 6202 ;;
    named) echo 5322 ;;
    designate-mdns) echo 5354 ;;
    designate-api) echo 9001 ;;
    heat-api) echo 8004 ;;
    heat-api-cfn) echo 8010 ;;
    *) echo - ;;
  esac
}

service_url() {
  case $1 in
    mariadb | rabbitmq | named | designate-mdns) echo "tcp://127.0.0.1:$(service_port "$1")" ;;
    keystone) echo http://127.0.0.1:5000/v3 ;;
    glance) echo http://127.0.0.1:9292/versions ;;
    swift-*updater | swift-*replicator) echo - ;;
    swift-*) echo "http://127.0.0.1:$(service_port "$1")/healthcheck" ;;
    *-api | heat-api-cfn) echo "http://127.0.0.1:$(service_port "$1")/" ;;
    *) echo - ;;
  esac
}

# The command line of a service. Each one names a file under $STATE, which is
# how a pid is recognised as ours (see is_running).
service_cmd() {
  case $1 in
    mariadb) CMD=(/usr/sbin/mariadbd "--defaults-file=$ETC/mysql/my.cnf") ;;
    rabbitmq) CMD=(bash "$CLOUD_TOOLS/helpers/rabbitmq.sh" "$ETC/rabbitmq/env.sh") ;;
    keystone) CMD=("$VENV/bin/uwsgi" --ini "$ETC/keystone/uwsgi.ini") ;;
    glance) CMD=("$VENV/bin/uwsgi" --ini "$ETC/glance/uwsgi.ini") ;;
    swift-proxy) CMD=("$VENV/bin/swift-proxy-server" "$ETC/swift/proxy-server.conf" -v) ;;
    swift-account | swift-container | swift-object)
      CMD=("$VENV/bin/swift-${1#swift-}-server" "$ETC/swift/${1#swift-}-server.conf" -v) ;;
    swift-container-updater)
      CMD=("$PY" "$CLOUD_TOOLS/helpers/swift_daemon.py" "$ETC/swift" container-updater
        "$ETC/swift/container-server.conf" -v) ;;
    swift-object-updater)
      CMD=("$PY" "$CLOUD_TOOLS/helpers/swift_daemon.py" "$ETC/swift" object-updater
        "$ETC/swift/object-server.conf" -v) ;;
    swift-container-replicator)
      CMD=("$PY" "$CLOUD_TOOLS/helpers/swift_daemon.py" "$ETC/swift" container-replicator
        "$ETC/swift/container-server.conf" -v) ;;
    placement-api | nova-api | neutron-api | cinder-api)
      CMD=("$PLATFORM_VENV/bin/uwsgi" --ini "$ETC/${1%-api}/uwsgi.ini") ;;
    nova-conductor | nova-scheduler | nova-compute)
      CMD=("$PLATFORM_VENV/bin/$1" --config-file "$ETC/nova/nova.conf") ;;
    cinder-scheduler | cinder-volume)
      CMD=("$PLATFORM_VENV/bin/$1" --config-file "$ETC/cinder/cinder.conf") ;;
    # In the foreground, one worker thread, as the calling user.
    named) CMD=(/usr/sbin/named -c "$ETC/bind/named.conf" -f -n 1) ;;
    designate-api | heat-api)
      CMD=("$PLATFORM_VENV/bin/uwsgi" --ini "$ETC/${1%-api}/uwsgi.ini") ;;
    heat-api-cfn) CMD=("$PLATFORM_VENV/bin/uwsgi" --ini "$ETC/heat/cfn-uwsgi.ini") ;;
    designate-*) CMD=("$PLATFORM_VENV/bin/$1" --config-file "$ETC/designate/designate.conf") ;;
    heat-engine) CMD=("$PLATFORM_VENV/bin/heat-engine" --config-file "$ETC/heat/heat.conf") ;;
    *) die "unknown service '$1'" ;;
  esac
}

pidfile() { echo "$RUN/$1.pid"; }

# Print the pid of a running service we started, or fail. A pid counts only if
# its command line mentions this state dir, so a recycled pid is never ours.
service_pid() {
  local file pid
  file=$(pidfile "$1")
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  grep -qF -- "$STATE/" <(tr '\0' '\n' <"/proc/$pid/cmdline") || return 1
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  echo "$pid"
}

is_running() { service_pid "$1" >/dev/null; }

port_busy() {
  # Something accepts connections on 127.0.0.1:$1.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Expand a comma/space separated list of services and groups into SELECTED.
select_services() {
  local item svc found
  SELECTED=()
  for item in ${1//,/ }; do
    found=0
    for svc in "${SERVICES[@]}"; do
      if [[ $svc == "$item" || $(service_group "$svc") == "$item" ]]; then
        [[ " ${SELECTED[*]} " == *" $svc "* ]] || SELECTED+=("$svc")
        found=1
      fi
    done
    ((found)) || die "unknown service '$item' (services: ${SERVICES[*]}; groups: ${GROUPS_[*]})"
  done
}

# Serialise up/down across concurrent callers (parallel test sessions).
take_lock() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  if ! flock -w 600 9; then
    die "another tools/cloud command holds $STATE/.lock for over 10 minutes"
  fi
}

# How a service is asked to stop. uWSGI masters stop gracefully on SIGTERM too,
# but take 3-4 s; SIGINT stops them at once. Swift parents, the oslo.service
# daemons, MariaDB and RabbitMQ (helpers/rabbitmq.sh) stop cleanly on SIGTERM.
stop_signal() {
  case $1 in
    keystone | glance | *-api | heat-api-cfn) echo INT ;;
    *) echo TERM ;;
  esac
}

# Stop the running services among "$@" at once and wait until each one's process
# group is gone and its port is free; SIGKILL the group after $STOP_TIMEOUT s.
stop_services() {
  local svc pid port deadline
  local -A pids=()
  for svc in "$@"; do
    if pid=$(service_pid "$svc"); then
      pids[$svc]=$pid
      kill "-$(stop_signal "$svc")" "$pid" 2>/dev/null || true
    else
      rm -f "$(pidfile "$svc")"
    fi
  done
  ((${#pids[@]})) || return 0
  deadline=$((SECONDS + ${STOP_TIMEOUT:-20}))
  for svc in "${!pids[@]}"; do
    pid=${pids[$svc]}
    until service_gone "$svc" "$pid"; do
      if ((SECONDS >= deadline)); then
        log "$svc (pid $pid) ignored SIG$(stop_signal "$svc") for ${STOP_TIMEOUT:-20} s; sending SIGKILL to its process group"
        kill -KILL -- "-$pid" 2>/dev/null || true
        # A process group of several hundred MiB takes a moment to be torn down.
        for _ in $(seq 50); do service_gone "$svc" "$pid" && break; sleep 0.1; done
        service_gone "$svc" "$pid" || die "$svc (pid $pid) still runs or holds its port after SIGKILL"
        break
      fi
      sleep 0.1
    done
    rm -f "$(pidfile "$svc")"
  done
  STOPPED+=("${!pids[@]}")
}

service_gone() {
  local svc=$1 pid=$2 port
  # Neither the leader nor any process of its group may remain.
  [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] && return 1
  pgrep -g "$pid" >/dev/null 2>&1 && return 1
  port=$(service_port "$svc")
  [[ $port == - ]] || ! port_busy "$port"
}

# Stop "$@": the OpenStack services first, all at once, then MariaDB,
# RabbitMQ and BIND, which the others use while they shut down.
stop_in_order() {
  local svc first=() last=()
  STOPPED=()
  for svc in "$@"; do
    if [[ " ${INFRA_SERVICES[*]} " == *" $svc "* ]]; then last+=("$svc"); else first+=("$svc"); fi
  done
  ((${#first[@]} == 0)) || stop_services "${first[@]}"
  ((${#last[@]} == 0)) || stop_services "${last[@]}"
}
