#!/usr/bin/env bash
# Driver matrix: every mainstream driver's everyday idioms through the proxy with a small app
# of its own (schema.sql: drv_items owned by product, drv_orders by cart, every column kind)
# in dual writes, comparing legacy and the service databases after each driver.
#
#   drivers, in this order: psql, asyncpg, psycopg (3), sqlalchemy (ORM on psycopg2),
#                           node (npm pg, installed here), jdbc (pgJDBC)
#   pass primary_legacy:  primary = legacy;  reads = legacy / service, alternating by driver
#   pass primary_service: primary = service; reads the other way round
#
# Between two drivers the proxy gets a plain SIGHUP reload and a primary flip (config
# changed, SIGHUP, then changed back with the next driver's reads, SIGHUP). A pool of ten
# idle connections (idle_pool.py: five that only logged in, five that ran one statement)
# stays open throughout; after every driver and reload they are probed without a word sent
# (still open?), and at the end each must run a read and a mirrored write. A proxy that dies
# is reported with its log and started again, so the rest of the matrix still runs.
#
# Prints PASS/FAIL (and SKIP) per check and ends with "N passed, M failed".
#
# usage: tests/integration/drivers/run.sh BUILD_DIR
#   PGTANDEM_TEST_PORTS=A-B       take ports from this range (default: free ports in 20000-32000)
#   PGTANDEM_TEST_KEEP=1          keep the temporary directory (logs, outputs) at exit
#   PGTANDEM_TEST_ONLY=REGEX      run only the client checks whose name matches (Python regex;
#                                 psql, node and jdbc match it with grep -E)
#   PGTANDEM_TEST_DRIVERS="a b"   run only these drivers (default: all six)
#   PGTANDEM_TEST_PASSES="a b"    run only these passes (primary_legacy primary_service)
#   PGTANDEM_DRIVERS_CACHE=DIR    where npm installs pg (default ~/.cache/pgtandem-drivers)
set -euo pipefail

BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PY=/usr/bin/python3
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PSQL=$PG_BIN/psql
DRIVERS=${PGTANDEM_TEST_DRIVERS:-psql asyncpg psycopg sqlalchemy node jdbc}
PASSES=${PGTANDEM_TEST_PASSES:-primary_legacy primary_service}
CACHE=${PGTANDEM_DRIVERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgtandem-drivers}
JDBC_JAR=/usr/share/java/postgresql.jar
DRIVER_TIMEOUT=150              # seconds one driver's client may take
NAME=drivers                    # the proxy's config $TMP/drivers.conf, log $TMP/proxy-drivers.log

TMP=$(mktemp -d /tmp/pgtandem-drivers.XXXXXX)
chmod 755 "$TMP"                # the servers run as postgres and must reach $TMP/db
mkdir "$TMP/out"
PROXY_PID=
IDLE_PID=
SETUP_PIDS=()
DB_STARTED=0

cleanup() {
    local rc=$?
    exec 7>&- 2>/dev/null || true
    if [[ -n $IDLE_PID ]]; then kill -KILL "$IDLE_PID" 2>/dev/null || true; fi
    for p in "${SETUP_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [[ -n $PROXY_PID ]] && kill -0 "$PROXY_PID" 2>/dev/null; then
        kill -KILL "$PROXY_PID" 2>/dev/null || true
    fi
    if [[ $DB_STARTED == 1 ]]; then
        "$ROOT/conf/pgtandem-db" stop --dir "$TMP/db" >/dev/null 2>&1 || true
    fi
    if [[ ${PGTANDEM_TEST_KEEP:-0} == 1 ]]; then
        echo "kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pass/fail/skip/indent, finish, free_ports, db_start, kv, compare_sides, start_proxy, stop_proxy
# shellcheck source=tests/integration/lib.sh
source "$HERE/../lib.sh"

# ---------------------------------------------------------------------------
# the clients that need building: npm pg and the Java program, in the background
# ---------------------------------------------------------------------------
want_driver() { [[ " $DRIVERS " == *" $1 "* ]]; }
mkdir -p "$CACHE/node"
if want_driver node; then
    (cd "$CACHE/node" && timeout -k 5 120 npm install --no-save --no-audit --no-fund \
        --no-package-lock pg) >"$TMP/out/npm-install.txt" 2>&1 &
    SETUP_PIDS+=($!); NPM_PID=$!
fi
if want_driver jdbc; then
    mkdir -p "$TMP/java"
    timeout -k 5 120 javac -d "$TMP/java" -cp "$JDBC_JAR" "$HERE/DrvJdbc.java" \
        >"$TMP/out/javac.txt" 2>&1 &
    SETUP_PIDS+=($!); JAVAC_PID=$!
fi

# ---------------------------------------------------------------------------
# databases and the app's schema
# ---------------------------------------------------------------------------
read -r LEGACY_PORT AUTH_PORT PRODUCT_PORT CART_PORT PROMO_PORT PROXY_PORT < <(free_ports 6)
SERVICE_PORTS="$AUTH_PORT,$PRODUCT_PORT,$CART_PORT,$PROMO_PORT"
echo "== databases: legacy $LEGACY_PORT, services $SERVICE_PORTS (in $TMP/db)"
DB_STARTED=1
if ! db_start --no-seed; then
    fail "databases: conf/pgtandem-db start failed"
    tail -n 30 "$TMP/db-start.log" | indent
    finish
fi
LEGACY_KV=$(kv "$LEGACY_PORT" poc poc_user admin123)
PRODUCT_KV=$(kv "$PRODUCT_PORT" product_db product_user product_pass123)
CART_KV=$(kv "$CART_PORT" cart_db cart_user cart_pass123)
COMPARE_ARGS=(--legacy "$LEGACY_KV" --service "product=$PRODUCT_KV" --service "cart=$CART_KV"
              --tables product=drv_items --tables cart=drv_orders)

schema_ok=1
for target in "legacy|$LEGACY_KV" "service|$PRODUCT_KV" "service|$CART_KV"; do
    if ! timeout 60 "$PSQL" -X -q -v side="${target%%|*}" -d "${target#*|}" -f "$HERE/schema.sql" \
            >>"$TMP/out/schema.txt" 2>&1; then
        schema_ok=0
    fi
done
if [[ $schema_ok == 1 ]]; then
    pass "schema: schema.sql applied to legacy, product_db and cart_db"
else
    fail "schema: schema.sql failed"; tail -n 20 "$TMP/out/schema.txt" | indent; finish
fi
compare_sides baseline

# ---------------------------------------------------------------------------
# the proxy: config, reloads, flips, crashes
# ---------------------------------------------------------------------------
printf '"poc_user" "admin123"\n' >"$TMP/users.txt"
CUR_PRIMARY=legacy
CUR_READS=legacy

# write_config PRIMARY READS: both services in dual writes (rewritten for every reload)
write_config() {
    CUR_PRIMARY=$1 CUR_READS=$2
    cat >"$TMP/$NAME.conf.new" <<EOF
; written by tests/integration/drivers/run.sh: primary=$1 reads=$2
[pgtandem]
listen = 127.0.0.1:$PROXY_PORT
auth_file = users.txt
auth_type = scram-sha-256
log_level = info
on_mirror_failure = fail
cross_service_writes = reject

[legacy]
conninfo = $LEGACY_KV

[service product]
conninfo = $PRODUCT_KV
tables = drv_items
writes = dual
primary = $1
reads = $2

[service cart]
conninfo = $CART_KV
tables = drv_orders
writes = dual
primary = $1
reads = $2
EOF
    mv "$TMP/$NAME.conf.new" "$TMP/$NAME.conf"
}

CRASHES=0
# proxy_watch LABEL: a proxy that died is reported (exit status, sanitizer lines, log tail)
# and started again, with a fresh idle pool; returns 1 when it had died.
proxy_watch() {
    [[ -n $PROXY_PID ]] && kill -0 "$PROXY_PID" 2>/dev/null && return 0
    local rc=none log="$TMP/proxy-$NAME.log"
    if [[ -n $PROXY_PID ]]; then set +e; wait "$PROXY_PID" 2>/dev/null; rc=$?; set -e; fi
    CRASHES=$((CRASHES + 1))
    fail "$1/proxy_alive: the proxy died (exit status $rc); log kept as proxy-$NAME.crash$CRASHES.log"
    if grep -q -E "AddressSanitizer|runtime error:" "$log"; then
        grep -m 1 -E "ERROR: AddressSanitizer|runtime error:" "$log" | indent
        grep -E "^ +#[0-9]+ " "$log" | head -n 8 | indent
    else
        tail -n 12 "$log" | indent
    fi
    mv "$log" "$TMP/proxy-$NAME.crash$CRASHES.log"
    PROXY_PID=
    idle_cmd probe "$1/after_crash" || true
    idle_stop
    if start_proxy "$NAME"; then idle_start "restart$CRASHES"; fi
    return 1
}

# reload LABEL: SIGHUP, then the log must say the configuration was loaded within 10 s
reload() {
    local log="$TMP/proxy-$NAME.log" before now
    proxy_watch "$1" || return 0
    before=$(grep -c "configuration .* loaded" "$log" || true)
    kill -HUP "$PROXY_PID"
    for _ in $(seq 100); do
        now=$(grep -c "configuration .* loaded" "$log" || true)
        [[ $now -gt $before ]] && break
        grep -q "configuration not reloaded" "$log" && break
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.1
    done
    # the sessions are told after the "loaded" line: give them a moment to trip on it
    sleep 0.5
    if ! kill -0 "$PROXY_PID" 2>/dev/null; then
        proxy_watch "$1" || true
    elif [[ $now -gt $before ]]; then
        pass "$1: SIGHUP reload loaded (primary=$CUR_PRIMARY reads=$CUR_READS)"
    else
        fail "$1: no 'configuration ... loaded' within 10 s of SIGHUP"
        grep -E "SIGHUP|reload" "$log" | tail -n 5 | indent
    fi
}

# ---------------------------------------------------------------------------
# the idle pool (idle_pool.py), driven through a fifo
# ---------------------------------------------------------------------------
IDLE_N=0
idle_start() {
    IDLE_N=$((IDLE_N + 1))
    rm -f "$TMP/idle.fifo"; mkfifo "$TMP/idle.fifo"
    "$PY" "$HERE/idle_pool.py" --proxy-port "$PROXY_PORT" --legacy-port "$LEGACY_PORT" \
        --product-port "$PRODUCT_PORT" --cart-port "$CART_PORT" --tag "idle-$IDLE_N" \
        <"$TMP/idle.fifo" >>"$TMP/out/idle.txt" 2>>"$TMP/out/idle.err" &
    IDLE_PID=$!
    exec 7>"$TMP/idle.fifo"
    idle_cmd open "idle/$1_open" || true
}
idle_stop() {
    [[ -n $IDLE_PID ]] || return 0
    echo "quit" >&7 2>/dev/null || true
    exec 7>&-
    for _ in $(seq 50); do kill -0 "$IDLE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$IDLE_PID" 2>/dev/null || true
    set +e; wait "$IDLE_PID" 2>/dev/null; set -e
    IDLE_PID=
}
# idle_cmd open|probe|check LABEL: the pool's PASS/FAIL lines for that command, 40 s at most
idle_cmd() {
    [[ -n $IDLE_PID ]] || return 0
    local out="$TMP/out/idle.txt" start line
    start=$(wc -l <"$out")
    if ! echo "$1 $2" >&7 2>/dev/null; then
        fail "$2: the idle pool is gone"; IDLE_PID=; return 1
    fi
    for _ in $(seq 400); do
        tail -n +"$((start + 1))" "$out" | grep -q -x "DONE $2" && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
    while IFS= read -r line; do
        case $line in
            PASS\ *) pass "${line#PASS }" ;;
            FAIL\ *) fail "${line#FAIL }" ;;
        esac
    done < <(tail -n +"$((start + 1))" "$out")
    if ! tail -n +"$((start + 1))" "$out" | grep -q -x "DONE $2"; then
        fail "$2: the idle pool did not answer '$1' within 40 s"
        tail -n 5 "$TMP/out/idle.err" | indent
        idle_stop
        return 1
    fi
}

# ---------------------------------------------------------------------------
# one driver
# ---------------------------------------------------------------------------
# driver_cmd DRIVER TAG: the client's command line, in CMD
driver_cmd() {
    local common=(--proxy-port "$PROXY_PORT" --legacy-port "$LEGACY_PORT"
                  --product-port "$PRODUCT_PORT" --cart-port "$CART_PORT" --tag "$2"
                  --primary "$CUR_PRIMARY" --reads "$CUR_READS")
    [[ -n ${PGTANDEM_TEST_ONLY:-} ]] && common+=(--only "$PGTANDEM_TEST_ONLY")
    case $1 in
        psql) CMD=(bash "$HERE/drv_psql.sh") ;;
        asyncpg|psycopg|sqlalchemy) CMD=("$PY" "$HERE/drv_$1.py") ;;
        node) CMD=(env NODE_PATH="$CACHE/node/node_modules" node "$HERE/drv_node.js") ;;
        jdbc) CMD=(java -Duser.timezone=Pacific/Auckland -cp "$TMP/java:$JDBC_JAR" DrvJdbc) ;;
    esac
    CMD+=("${common[@]}")
}

setup_ready() {  # setup_ready DRIVER: npm pg / javac finished and worked
    case $1 in
        node)
            if [[ -n ${NPM_PID:-} ]]; then
                if wait "$NPM_PID"; then pass "setup/npm_install_pg: $(ls "$CACHE/node/node_modules/pg/package.json" >/dev/null 2>&1 && grep -m1 '"version"' "$CACHE/node/node_modules/pg/package.json" | tr -d ' ,')"
                else fail "setup/npm_install_pg: npm install pg failed or timed out"; tail -n 10 "$TMP/out/npm-install.txt" | indent; fi
                NPM_PID=
            fi
            [[ -f $CACHE/node/node_modules/pg/package.json ]] ;;
        jdbc)
            if [[ -n ${JAVAC_PID:-} ]]; then
                if wait "$JAVAC_PID"; then pass "setup/javac: DrvJdbc.java compiled against $JDBC_JAR"
                else fail "setup/javac: javac failed"; tail -n 15 "$TMP/out/javac.txt" | indent; fi
                JAVAC_PID=
            fi
            [[ -f $TMP/java/DrvJdbc.class ]] ;;
        *) return 0 ;;
    esac
}

# run_driver PASS DRIVER
run_driver() {
    local label="$1/$2" tag="$2-${1#primary_}" out="$TMP/out/$1-$2.txt" rc line n=0
    if ! setup_ready "$2"; then fail "$label: client not available (see setup)"; return 0; fi
    echo "== $label (primary=$CUR_PRIMARY reads=$CUR_READS, rows tagged $tag)"
    driver_cmd "$2" "$tag"
    set +e
    timeout -k 5 "$DRIVER_TIMEOUT" "${CMD[@]}" >"$out" 2>"$out.err"
    rc=$?
    set -e
    while IFS= read -r line; do
        case $line in
            PASS\ *) pass "$label/${line#PASS }"; n=$((n + 1)) ;;
            FAIL\ *) fail "$label/${line#FAIL }"; n=$((n + 1)) ;;
            SKIP\ *) skip "$label/${line#SKIP }" ;;
        esac
    done <"$out"
    if [[ $rc == 124 || $rc == 137 ]]; then
        fail "$label/client: killed after $DRIVER_TIMEOUT s"
    elif [[ $rc != 0 && $rc != 1 ]] || [[ $n == 0 && -z ${PGTANDEM_TEST_ONLY:-} ]]; then
        fail "$label/client: exit status $rc, $n check lines"
        tail -n 15 "$out.err" | indent
    fi
    proxy_watch "$label" || true
    compare_sides "$label"
    idle_cmd probe "idle/after_$label" || true
}

# proxy_ping LABEL: a query through the proxy must be answered (10 s at most); a proxy that
# is dying (a sanitizer report is slow to print) fails it, and proxy_watch starts a new one
proxy_ping() {
    local i
    for i in 1 2; do
        if timeout 10 "$PSQL" -X -q -At -d "$(kv "$PROXY_PORT" poc poc_user admin123) connect_timeout=5" \
                -c "SELECT 1" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
        proxy_watch "$1" || continue
        fail "$1: the proxy is running but does not answer SELECT 1 within 10 s"
        return 1
    done
}

# between LABEL PRIMARY READS: a plain reload, a primary flip away and back (with the next
# driver's reads), each by config + SIGHUP
between() {
    local other=service
    [[ $2 == service ]] && other=legacy
    reload "$1/reload_unchanged"
    write_config "$other" "$CUR_READS"; reload "$1/flip_primary_to_$other"
    write_config "$2" "$3"; reload "$1/flip_primary_back_to_$2"
    proxy_ping "$1" || true
    idle_cmd probe "idle/after_$1_flips" || true
}

write_config legacy legacy
start_proxy "$NAME" || finish
idle_start first

for pass_name in $PASSES; do
    primary=${pass_name#primary_}
    i=0
    for d in $DRIVERS; do
        if [[ $primary == legacy ]]; then reads=$([[ $((i % 2)) == 0 ]] && echo legacy || echo service)
        else reads=$([[ $((i % 2)) == 0 ]] && echo service || echo legacy); fi
        i=$((i + 1))
        between "$pass_name/before_$d" "$primary" "$reads"
        run_driver "$pass_name" "$d"
    done
done

echo "== the end: every idle connection must still work"
idle_cmd check "idle/final" || true
idle_stop
proxy_watch final || true
compare_sides final
if [[ -n $PROXY_PID ]]; then stop_proxy "$NAME"; fi
finish
