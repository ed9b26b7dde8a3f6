#!/usr/bin/env bash
# Throwaway PostgreSQL and Mosquitto for the test suite, on 127.0.0.1 only, in a temporary folder.
#   eval "$(.ci/services.sh start)"   starts them (idempotent) and prints the env vars the tests read:
#                                     STATION_TEST_PG_URL, STATION_TEST_PG_BIN, STATION_TEST_MQTT, STATION_TEST_MOSQUITTO,
#                                     STATION_TEST_MLFLOW (an MLflow server on the PostgreSQL, when `mlflow` is installed;
#                                     it may take a minute to answer: the tests wait for /health)
#   .ci/services.sh stop              stops them and removes the folder (idempotent)
# Installs the Debian packages first when they are missing and we are root. PostgreSQL refuses to run as
# root: as root, the cluster belongs to the `postgres` user. Without the binaries the tests that need a
# service skip with the reason.
set -uo pipefail
DIR="${STATION_SERVICES_DIR:-/tmp/station-ci-services}"
AS_PG=()
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install_missing() {
  local need=()
  [ -n "$(pg_bin)" ] || need+=(postgresql)
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >&2 \
      || echo "services: could not install ${need[*]}; tests that need them will skip" >&2
    # the packages start their system services; ours are separate, on free ports
    service mosquitto stop >/dev/null 2>&1 || true
  fi
}

start() {
  install_missing
  mkdir -p "$DIR"
  local bin; bin="$(pg_bin)"
  if [ -n "$bin" ]; then
    if [ ! -f "$DIR/pg.port" ] || ! "${AS_PG[@]}" "$bin/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
      rm -rf "$DIR/pg"; mkdir -p "$DIR/pg" "$DIR/pgsock"
      [ ${#AS_PG[@]} -gt 0 ] && chown postgres "$DIR/pg" "$DIR/pgsock" && chmod 755 "$DIR"
      local port; port="$(free_port)"
      "${AS_PG[@]}" "$bin/initdb" -D "$DIR/pg" -U postgres -A trust --no-sync >"$DIR/initdb.log" 2>&1 \
        || { echo "services: initdb failed, see $DIR/initdb.log" >&2; }
      "${AS_PG[@]}" "$bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pgsock/pg.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR/pgsock -c fsync=off" >/dev/null \
        && echo "$port" >"$DIR/pg.port" || echo "services: PostgreSQL did not start, see $DIR/pgsock/pg.log" >&2
    fi
    if [ -f "$DIR/pg.port" ]; then
      echo "export STATION_TEST_PG_URL=postgresql://postgres@127.0.0.1:$(cat "$DIR/pg.port")/postgres"
      echo "export STATION_TEST_PG_BIN=$bin"
    fi
  fi
  local mosq; mosq="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
  if [ -x "$mosq" ]; then
    if [ ! -f "$DIR/mqtt.pid" ] || ! kill -0 "$(cat "$DIR/mqtt.pid")" 2>/dev/null; then
      local port; port="$(free_port)"
      printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$DIR/mosquitto.conf"
      "$mosq" -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
      echo $! >"$DIR/mqtt.pid"; echo "$port" >"$DIR/mqtt.port"
      sleep 0.3
    fi
    echo "export STATION_TEST_MQTT=127.0.0.1:$(cat "$DIR/mqtt.port")"
    echo "export STATION_TEST_MOSQUITTO=$mosq"
  fi
  local mlflow; mlflow="$(command -v mlflow || true)"
  if [ -n "$mlflow" ] && [ -n "$bin" ] && [ -f "$DIR/pg.port" ]; then
    if [ ! -f "$DIR/mlflow.pid" ] || ! kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null; then
      local port; port="$(free_port)"
      local pg="postgresql+psycopg://postgres@127.0.0.1:$(cat "$DIR/pg.port")"
      "${AS_PG[@]}" "$bin/psql" -h 127.0.0.1 -p "$(cat "$DIR/pg.port")" -U postgres -tAc \
        "select 1 from pg_database where datname = 'mlflow'" | grep -q 1 \
        || "${AS_PG[@]}" "$bin/createdb" -h 127.0.0.1 -p "$(cat "$DIR/pg.port")" -U postgres mlflow >&2
      mkdir -p "$DIR/mlflow-artifacts"
      # started in the background: its first start migrates the database (a minute on a busy machine)
      setsid "$mlflow" server --backend-store-uri "$pg/mlflow" --artifacts-destination "$DIR/mlflow-artifacts" \
        --serve-artifacts --host 127.0.0.1 --port "$port" --workers 1 >"$DIR/mlflow.log" 2>&1 &
      echo $! >"$DIR/mlflow.pid"; echo "$port" >"$DIR/mlflow.port"
    fi
    echo "export STATION_TEST_MLFLOW=http://127.0.0.1:$(cat "$DIR/mlflow.port")"
  fi
}

stop() {
  local bin; bin="$(pg_bin)"
  if [ -n "$bin" ] && [ -d "$DIR/pg" ]; then
    "${AS_PG[@]}" "$bin/pg_ctl" -D "$DIR/pg" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if [ -f "$DIR/mqtt.pid" ]; then kill "$(cat "$DIR/mqtt.pid")" 2>/dev/null || true; fi
  if [ -f "$DIR/mlflow.pid" ]; then kill -- -"$(cat "$DIR/mlflow.pid")" 2>/dev/null || kill "$(cat "$DIR/mlflow.pid")" 2>/dev/null || true; fi
  # the server's workers may have left its process group: match them by our artifacts folder
  pkill -f -- "--artifacts-destination $DIR/mlflow-artifacts" 2>/dev/null || true
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
