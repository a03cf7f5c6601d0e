# Shared by tools/cloud/{up,down,status}: paths, the service table, process helpers.
# shellcheck shell=bash

CLOUD_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLOUD_TOOLS/../.." && pwd)
STATE=${TCUP_CLOUD_DIR:-$REPO_ROOT/.cloud}
DEV_CACHE=${TCUP_DEV_CACHE:-$HOME/.cache/tcup-dev}
VENV=$DEV_CACHE/cloud-venv
PY=$VENV/bin/python
ETC=$STATE/etc
RUN=$STATE/run
LOGS=$STATE/logs

# Everything here talks to 127.0.0.1: never through a proxy of the caller's environment.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# Every service, in start order. Groups are what --only accepts besides names.
SERVICES=(keystone swift-account swift-container swift-object swift-proxy
  swift-container-updater swift-object-updater swift-container-replicator glance)
GROUPS_=(keystone swift glance)

die() {
  echo "error: $*" >&2
  exit 1
}

log() { echo "cloud: $*" >&2; }

service_group() {
  case $1 in
    swift-*) echo swift ;;
    *) echo "$1" ;;
  esac
}

service_port() {
  case $1 in
    keystone) echo 5000 ;;
    glance) echo 9292 ;;
    swift-proxy) echo 8080 ;;
    swift-object) echo 6200 ;;
    swift-container) echo 6201 ;;
    swift-account) echo 6202 ;;
    *) echo - ;;
  esac
}

service_url() {
  case $1 in
    keystone) echo http://127.0.0.1:5000/v3 ;;
    glance) echo http://127.0.0.1:9292/versions ;;
    swift-*updater | swift-*replicator) echo - ;;
    swift-*) echo "http://127.0.0.1:$(service_port "$1")/healthcheck" ;;
  esac
}

# The command line of a service. Each one names a file under $STATE, which is
# how a pid is recognised as ours (see is_running).
service_cmd() {
  case $1 in
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
