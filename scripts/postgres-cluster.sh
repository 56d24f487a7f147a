#!/usr/bin/env bash
# A private PostgreSQL 15 cluster, for the tests and benchmarks: its own directory, a Unix socket
# in that directory and no TCP port, so it never meets another server on the machine.
#   scripts/postgres-cluster.sh start DIR   # initdb (fresh) and start; prints the database URL
#   scripts/postgres-cluster.sh restart DIR # stop (fast: sessions cut) and start again, data kept
#   scripts/postgres-cluster.sh stop DIR    # stop and remove DIR
# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user the Debian
# package creates (scripts/setup.sh --test installs it).
set -euo pipefail

action=${1:?start, restart or stop}
dir=${2:?a directory}
bin=/usr/lib/postgresql/15/bin
# Never through a link someone else planted: the directory is removed and given to `postgres`.
[[ "$dir" == /* && "$dir" != *[\',\ \&%#]* ]] || { echo "postgres-cluster: DIR must be an absolute path without quotes, commas, spaces, & % or #" >&2; exit 2; }
[[ ! -L "$dir" ]] || { echo "postgres-cluster: $dir is a symbolic link" >&2; exit 2; }

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$action" in
start)
    [[ -x "$bin/initdb" ]] || { echo "postgres-cluster: PostgreSQL 15 is not installed (scripts/setup.sh --test)" >&2; exit 1; }
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -m 700 "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U beta500 -A trust -E UTF8 --no-sync >"$dir/initdb.log"
    # Durable as in production (fsync on), tuned only to start fast and take many connections;
    # trust is safe because only the directory's owner (and root) can reach the socket.
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c unix_socket_permissions=0700 -c max_connections=200" \
        start >/dev/null; then
        cat "$dir/server.log" >&2
        exit 1
    fi
    as_owner "$bin/createdb" -h "$dir" -U beta500 beta500
    echo "postgresql:///beta500?host=$dir&user=beta500"
    ;;
stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true  # a crashed server is stopped already
    fi
    rm -rf "$dir"
    ;;
restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
    ;;
*)
    echo "usage: $0 start|restart|stop DIR" >&2
    exit 2
    ;;
esac
