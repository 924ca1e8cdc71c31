#!/usr/bin/env bash
# Dual-write suite: starts the five local PostgreSQL clusters (conf/pgtandem-db) on free
# loopback ports, then runs BUILD_DIR/pgtandem under the sanitizers with the four services in
# dual writes, once per migration state, and after each group of client checks (checks.py)
# compares every shared table between legacy and its service database (compare.py): "no
# difference" is part of the verdict.
#
#   group            on_mirror_failure  primary  reads
#   dual             fail               legacy   legacy
#   continue         continue           legacy   legacy
#   reads_service    fail               legacy   service
#   primary_service  fail               service  service
#   two_phase        fail               legacy   legacy   (two_phase = on)
#   shadow           fail               legacy   shadow   (+ metrics_listen, shadow_max_inflight
#                                                         = 4, promotion's shadow_sample = 0.1)
#   control          fail               (cart walked through every state: checks_control.py)
#
# Prints PASS/FAIL (and SKIP) per check and ends with "N passed, M failed".
#
# usage: tests/integration/dual/run.sh BUILD_DIR
#   PGTANDEM_TEST_PORTS=A-B     take ports from this range (default: free ports in 20000-32000)
#   PGTANDEM_TEST_KEEP=1        keep the temporary directory (logs, data) at exit
#   PGTANDEM_TEST_ONLY=REGEX    run only the client checks whose name matches (Python regex)
#   PGTANDEM_TEST_GROUPS="a b"  run only these groups (default: all five, in the order above)
#   PGTANDEM_DUAL_SECONDS=S     length of the concurrent-updates run and of each of the two
#                               pgbench runs in group dual (default 20)
set -euo pipefail

BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PY=/usr/bin/python3             # the interpreter with psycopg 3 and asyncpg
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
GROUPS_WANTED=${PGTANDEM_TEST_GROUPS:-dual continue reads_service primary_service two_phase shadow control}
SECONDS_CONC=${PGTANDEM_DUAL_SECONDS:-20}

TMP=$(mktemp -d /tmp/pgtandem-dual.XXXXXX)
chmod 755 "$TMP"                # the servers run as postgres and must reach $TMP/db
mkdir "$TMP/out"
PROXY_PID=
DB_STARTED=0

cleanup() {
    local rc=$?
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

# shared with the main suite: pass/fail/skip/indent, finish and free_ports; with drivers/:
# db_start, kv, compare_sides, start_proxy, stop_proxy
# shellcheck source=tests/integration/lib.sh
source "$HERE/../lib.sh"

# ---------------------------------------------------------------------------
# ports and databases
# ---------------------------------------------------------------------------
read -r LEGACY_PORT AUTH_PORT PRODUCT_PORT CART_PORT PROMO_PORT PROXY_PORT METRICS_PORT < <(free_ports 7)
SERVICE_PORTS="$AUTH_PORT,$PRODUCT_PORT,$CART_PORT,$PROMO_PORT"

echo "== databases: legacy $LEGACY_PORT, services $SERVICE_PORTS (in $TMP/db)"
DB_STARTED=1
if ! db_start; then
    fail "databases: conf/pgtandem-db start failed"
    tail -n 30 "$TMP/db-start.log" | indent
    finish
fi

# Commit timestamps let a check see that the secondary commits before the primary. The
# setting needs a restart; the servers run as postgres when we are root (see pgtandem-db).
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
enable_commit_ts() {
    local p
    for p in $LEGACY_PORT ${SERVICE_PORTS//,/ }; do
        as_pg "$PG_BIN/psql" -X -q -h "$TMP/db/run" -p "$p" -U postgres -d postgres \
            -c "ALTER SYSTEM SET track_commit_timestamp = on" || return 1
    done
    "$ROOT/conf/pgtandem-db" stop --dir "$TMP/db" >>"$TMP/db-start.log" 2>&1 && db_start
}
if ! enable_commit_ts >>"$TMP/db-start.log" 2>&1; then
    echo "   (could not turn on track_commit_timestamp: the commit-order checks will skip)"
    db_start || { fail "databases: restart failed"; tail -n 30 "$TMP/db-start.log" | indent; finish; }
fi

# The column-kinds tables (checks_coltypes.py), on legacy and on cart_db, which owns them.
apply_coltypes() {
    "$ROOT/conf/pgtandem-db" psql --dir "$TMP/db" legacy -X -q -v ON_ERROR_STOP=1 -v legacy=true \
        -f "$HERE/coltypes.sql" &&
    "$ROOT/conf/pgtandem-db" psql --dir "$TMP/db" cart -X -q -v ON_ERROR_STOP=1 -v legacy=false \
        -f "$HERE/coltypes.sql"
}
if ! apply_coltypes >>"$TMP/db-start.log" 2>&1; then
    fail "databases: tests/integration/dual/coltypes.sql failed"
    tail -n 10 "$TMP/db-start.log" | indent
fi
CART_TABLES="carts,cart_items,wishlists,wishlist_items,coltype_all,coltype_dropped"

LEGACY_KV=$(kv "$LEGACY_PORT" poc poc_user admin123)
AUTH_KV=$(kv "$AUTH_PORT" auth_db auth_user auth_pass123)
PRODUCT_KV=$(kv "$PRODUCT_PORT" product_db product_user product_pass123)
CART_KV=$(kv "$CART_PORT" cart_db cart_user cart_pass123)
PROMO_KV=$(kv "$PROMO_PORT" promotion_db promotion_user promotion_pass123)

COMPARE_ARGS=(--legacy "$LEGACY_KV" --service "auth=$AUTH_KV" --service "product=$PRODUCT_KV"
              --service "cart=$CART_KV" --service "promotion=$PROMO_KV" --tables "cart=$CART_TABLES")

echo "== compare.py on the freshly backfilled databases"
compare_sides baseline

# ---------------------------------------------------------------------------
# the proxy
# ---------------------------------------------------------------------------
cat >"$TMP/users.txt" <<EOF
"poc_user" "admin123"
EOF

# write_config NAME POLICY PRIMARY READS [TWO_PHASE]: with READS=shadow, also the metrics
# endpoint, a small cap on shadow reads, and promotion's reads sampled at 0.1
write_config() {
    local f="$TMP/$1.conf" svc port db user pw tables two_phase=${5:-off}
    cat >"$f" <<EOF
; written by tests/integration/dual/run.sh, group $1
[pgtandem]
listen = 127.0.0.1:$PROXY_PORT
auth_file = users.txt
auth_type = scram-sha-256
log_level = info
on_mirror_failure = $2
cross_service_writes = reject
two_phase = $two_phase
copy_buffer_limit = 1048576
verify_writes_sample = 1.0
EOF
    if [[ $4 == shadow ]]; then
        cat >>"$f" <<EOF
metrics_listen = 127.0.0.1:$METRICS_PORT
shadow_max_inflight = 4
shadow_timeout = 3
EOF
    fi
    cat >>"$f" <<EOF

[legacy]
conninfo = $LEGACY_KV
EOF
    while read -r svc port db user pw tables; do
        cat >>"$f" <<EOF

[service $svc]
conninfo = $(kv "$port" "$db" "$user" "$pw")
tables = $tables
writes = dual
primary = $3
reads = $4
EOF
        if [[ $4 == shadow && $svc == promotion ]]; then
            echo "shadow_sample = 0.1" >>"$f"
        fi
    done <<EOF
auth $AUTH_PORT auth_db auth_user auth_pass123 users, user_sessions, user_profiles
product $PRODUCT_PORT product_db product_user product_pass123 categories, products, product_inventory, product_images, product_variants
cart $CART_PORT cart_db cart_user cart_pass123 carts, cart_items, wishlists, wishlist_items, coltype_*
promotion $PROMO_PORT promotion_db promotion_user promotion_pass123 promo_codes, promotion_campaigns, promo_usage, campaign_promo_codes, user_promo_eligibility, promo_analytics, promo_suggestions
EOF
}

# run_group NAME POLICY PRIMARY READS [TWO_PHASE]
run_group() {
    local name=$1 out="$TMP/out/$1.txt" rc line fails_before=$FAILED
    [[ " $GROUPS_WANTED " == *" $name "* ]] || return 0
    echo "== group $name: on_mirror_failure=$2, primary=$3, reads=$4, two_phase=${5:-off}"
    write_config "$@"
    if ! start_proxy "$name"; then
        compare_sides "$name"
        return 0
    fi
    local only=()
    [[ -n ${PGTANDEM_TEST_ONLY:-} ]] && only=(--only "$PGTANDEM_TEST_ONLY")
    set +e
    timeout -k 5 600 "$PY" "$HERE/checks.py" "$name" --proxy-port "$PROXY_PORT" \
        --legacy-port "$LEGACY_PORT" --service-ports "$SERVICE_PORTS" \
        --proxy-log "$TMP/proxy-$name.log" --proxy-config "$TMP/$name.conf" --metrics-port "$METRICS_PORT" --concurrency-seconds "$SECONDS_CONC" --build-dir "$BUILD" \
        "${only[@]}" >"$out" 2>&1
    rc=$?
    set -e
    while IFS= read -r line; do
        case $line in
            PASS\ *) pass "$name/${line#PASS }" ;;
            FAIL\ *) fail "$name/${line#FAIL }" ;;
            SKIP\ *) skip "$name/${line#SKIP }" ;;
        esac
    done <"$out"
    if [[ $rc == 124 || $rc == 137 ]]; then
        fail "$name/checks: timed out after 600 s"
        tail -n 10 "$out" | indent
    elif [[ $rc != 0 && $rc != 1 ]]; then
        fail "$name/checks: checks.py exit status $rc"
        grep -v -E '^(PASS|FAIL|SKIP) ' "$out" | tail -n 15 | indent
    fi
    stop_proxy "$name"
    compare_sides "$name"
    if [[ $FAILED -gt $fails_before ]]; then
        echo "   -- last 25 lines of $TMP/proxy-$name.log"
        tail -n 25 "$TMP/proxy-$name.log" | indent
    fi
}

# run_control: the migration control plane (checks_control.py): admin console, reloads,
# cart walked through every state and back under load (by SIGHUP, then by console), PAUSE
# and flips, then a restart that must keep a console change (the state file).
run_control() {
    local name=control out="$TMP/out/control.txt" rc
    [[ " $GROUPS_WANTED " == *" $name "* ]] || return 0
    echo "== group control: cart from writes=legacy and back, reload, console, pause, state file"
    write_config control fail legacy legacy
    # cart starts before its migration; an admin user and one who is not
    sed -i -e '/^\[service cart\]/,/^\[/{s/^writes = .*/writes = legacy/}' \
        -e 's/^auth_file = .*/auth_file = users-control.txt\nadmin_users = poc_user\npause_timeout = 20/' \
        "$TMP/control.conf"
    printf '"poc_user" "admin123"\n"intruder" "intruder_pw"\n' >"$TMP/users-control.txt"
    rm -f "$TMP/control.conf.state"
    start_proxy control || { compare_sides control; return 0; }
    local only=()
    [[ -n ${PGTANDEM_TEST_ONLY:-} ]] && only=(--only "$PGTANDEM_TEST_ONLY")
    control_checks() {
        set +e
        timeout -k 5 300 "$PY" "$HERE/checks_control.py" "$1" --proxy-port "$PROXY_PORT" \
            --legacy-port "$LEGACY_PORT" --service-ports "$SERVICE_PORTS" \
            --config "$TMP/control.conf" --proxy-pid "$PROXY_PID" \
            --proxy-log "$TMP/proxy-control.log" "${only[@]}" >>"$out" 2>&1
        rc=$?
        set -e
        [[ $rc == 124 || $rc == 137 ]] && fail "control/checks: timed out"
        [[ $rc != 0 && $rc != 1 && $rc != 124 && $rc != 137 ]] && \
            { fail "control/checks: exit status $rc"; tail -n 15 "$out" | indent; }
        return 0
    }
    control_checks main
    stop_proxy control
    mv "$TMP/proxy-control.log" "$TMP/proxy-control-1.log"
    if start_proxy control; then
        control_checks restart
        stop_proxy control
    fi
    while IFS= read -r line; do
        case $line in
            PASS\ *) pass "control/${line#PASS }" ;;
            FAIL\ *) fail "control/${line#FAIL }" ;;
        esac
    done <"$out"
    compare_sides control
}

run_group dual fail legacy legacy
run_group continue continue legacy legacy
run_group reads_service fail legacy service
run_group primary_service fail service service
run_group two_phase fail legacy legacy on
run_group shadow fail legacy shadow
run_control

finish
