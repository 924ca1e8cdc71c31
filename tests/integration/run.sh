#!/usr/bin/env bash
# Integration and compatibility suite: starts the five local PostgreSQL
# clusters (conf/pgtandem-db) on free loopback ports, runs BUILD_DIR/pgtandem
# in front of legacy under the sanitizers (two instances, see below), and
# drives real clients through it: psql, the libpq programs built from this
# folder, raw-socket Python, asyncpg, psycopg and pgbench. Prints PASS/FAIL
# per check and ends with "N passed, M failed"; exits non-zero on a failure.
#
# usage: tests/integration/run.sh BUILD_DIR
#   PGTANDEM_TEST_DIRECT=1   aim every check at legacy itself, no proxy (validates the checks)
#   PGTANDEM_TEST_PORTS=A-B  take ports from this range (default: free ports in 20000-32000)
#   PGTANDEM_TEST_KEEP=1     keep the temporary directory (logs, data) at exit
#   PGTANDEM_TEST_ONLY=REGEX run only the checks whose name matches (bash regex)
set -euo pipefail

BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3           # the interpreter with asyncpg and psycopg
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DIRECT=${PGTANDEM_TEST_DIRECT:-0}
# Two proxies: "main" for the clients, "short" (login_timeout 3 s) for bad_input.py,
# whose idle-socket case waits out the login timeout. The main one gets a longer
# timeout because 200 SCRAM logins at once on a busy two-core machine can take
# PostgreSQL itself several seconds.
MAIN_LOGIN_TIMEOUT=20
LOGIN_TIMEOUT=3
# libpq settings from the caller's environment (PGHOST, PGOPTIONS, ...) must not leak in
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^PG[A-Z]+$' || true)
SCRAM_USER=scram_user
SCRAM_PASS='only-the-verifier-is-stored'

TMP=$(mktemp -d /tmp/pgtandem-it.XXXXXX)
chmod 755 "$TMP"              # the servers run as postgres and must reach $TMP/db
mkdir "$TMP/out"
declare -A PROXY_PID=() PROXY_PORT=()
DB_STARTED=0

cleanup() {
    local rc=$?
    local pid
    for pid in "${PROXY_PID[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
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

# ---------------------------------------------------------------------------
# bookkeeping: every check ends in exactly one PASS/FAIL/SKIP line
# ---------------------------------------------------------------------------
# shared with the dual-write suite: pass/fail/skip/indent and free_ports
# shellcheck source=tests/integration/lib.sh
source "$HERE/lib.sh"

# run_check NAME SECONDS COMMAND...: runs a program (or a shell function of
# this file) with its output in $TMP/out/NAME.txt. A program that prints its
# own "PASS x"/"FAIL x"/"SKIP... x" lines has each counted as NAME/x;
# otherwise its exit status decides, and its last lines are the reason.
run_check() {
    local name=$1 secs=$2 out="$TMP/out/$1.txt" rc t0 line subs=0 subfails=0
    shift 2
    [[ -z ${PGTANDEM_TEST_ONLY:-} || $name =~ $PGTANDEM_TEST_ONLY ]] || return 0
    t0=$SECONDS
    set +e
    if [[ $(type -t "$1") == function ]]; then
        (set -e; "$@") >"$out" 2>&1
    else
        timeout -k 5 "$secs" "$@" >"$out" 2>&1
    fi
    rc=$?
    set -e
    while IFS= read -r line; do
        case $line in
            PASS\ *) subs=$((subs + 1)); pass "$name/${line#PASS }" ;;
            FAIL\ *) subs=$((subs + 1)); subfails=$((subfails + 1)); fail "$name/${line#FAIL }" ;;
            SKIP*) subs=$((subs + 1)); skip "$name/${line#SKIP* }" "[${line%% *}]" ;;
        esac
    done <"$out"
    if [[ $rc == 124 || $rc == 137 ]]; then
        fail "$name: timed out after ${secs}s"
        tail -n 15 "$out" | indent
    elif [[ $rc != 0 && $subfails == 0 ]]; then
        fail "$name: exit status $rc ($((SECONDS - t0))s)"
        grep -v -E '^(PASS|SKIP)' "$out" | tail -n 15 | indent
    elif [[ $rc == 0 && $subs == 0 ]]; then
        pass "$name ($((SECONDS - t0))s): $(tail -n 1 "$out")"
    fi
}

# ---------------------------------------------------------------------------
# ports, databases, proxy
# ---------------------------------------------------------------------------
if ! PORTS=$(free_ports 8 2>&1); then
    fail "ports: $PORTS"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi
read -r LEGACY_PORT AUTH_PORT PRODUCT_PORT CART_PORT PROMO_PORT 'PROXY_PORT[main]' \
    'PROXY_PORT[short]' METRICS_PORT <<<"$PORTS"

echo "== databases: legacy $LEGACY_PORT, services $AUTH_PORT,$PRODUCT_PORT,$CART_PORT,$PROMO_PORT (in $TMP/db)"
DB_STARTED=1
if ! "$ROOT/conf/pgtandem-db" start --dir "$TMP/db" --legacy-port "$LEGACY_PORT" \
        --service-ports "$AUTH_PORT,$PRODUCT_PORT,$CART_PORT,$PROMO_PORT" >"$TMP/db-start.log" 2>&1; then
    fail "databases: conf/pgtandem-db start failed"
    tail -n 30 "$TMP/db-start.log" | indent
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi

LEGACY_KV="host=127.0.0.1 port=$LEGACY_PORT dbname=poc user=poc_user password=admin123 sslmode=disable"

# SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, made with hashlib.pbkdf2_hmac
VERIFIER=$("$PY" -c "import sys; sys.path.insert(0, sys.argv[1]); import pgraw; print(pgraw.scram_verifier(sys.argv[2]))" "$HERE" "$SCRAM_PASS")
KEYS=${VERIFIER##*\$}
cat >"$TMP/users.txt" <<EOF
"poc_user" "admin123"
"auth_user" "auth_pass123"
"$SCRAM_USER" "$VERIFIER"
EOF
# start_proxy NAME LOGIN_TIMEOUT: writes $TMP/NAME.conf, runs the proxy under the
# sanitizers with its log in $TMP/NAME.log, and waits until it listens.
start_proxy() {
    local name=$1 port=${PROXY_PORT[$1]} pid
    cat >"$TMP/$name.conf" <<EOF
[pgtandem]
listen = 127.0.0.1:$port
auth_file = $TMP/users.txt
auth_type = scram-sha-256
log_level = info
login_timeout = $2
$([[ $name == main ]] && echo "metrics_listen = 127.0.0.1:$METRICS_PORT")

[legacy]
conninfo = $LEGACY_KV
EOF
    echo "== proxy $name: $BUILD/pgtandem on $port, login_timeout $2 s (log $TMP/$name.log)"
    ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$BUILD/pgtandem" -c "$TMP/$name.conf" 2>"$TMP/$name.log" &
    pid=$!
    PROXY_PID[$name]=$pid
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "proxy_$name: not listening on $port"
    tail -n 30 "$TMP/$name.log" | indent
    return 1
}

if [[ $DIRECT == 1 ]]; then
    echo "== DIRECT mode: every check talks to legacy on $LEGACY_PORT, no proxy"
    PORT=$LEGACY_PORT
    SHORT_PORT=$LEGACY_PORT
    # legacy knows only poc_user; the proxy-side accounts map onto it here
    AUTH_LOGIN=poc_user:admin123
    SCRAM_LOGIN=poc_user:admin123
else
    [[ -x $BUILD/pgtandem ]] || { fail "proxy: $BUILD/pgtandem not found"; echo "$PASSED passed, $FAILED failed"; exit 1; }
    PORT=${PROXY_PORT[main]}
    SHORT_PORT=${PROXY_PORT[short]}
    AUTH_LOGIN=auth_user:auth_pass123
    SCRAM_LOGIN=$SCRAM_USER:$SCRAM_PASS
    if ! start_proxy main "$MAIN_LOGIN_TIMEOUT" || ! start_proxy short "$LOGIN_TIMEOUT"; then
        echo "$PASSED passed, $FAILED failed"
        exit 1
    fi
fi

URL="postgresql://poc_user:admin123@127.0.0.1:$PORT/poc"
KV="host=127.0.0.1 port=$PORT dbname=poc user=poc_user password=admin123 sslmode=disable connect_timeout=10"

# ---------------------------------------------------------------------------
# psql
# ---------------------------------------------------------------------------
psql_q() { timeout 30 psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

check_psql_select() {
    local n
    n=$(psql_q "$URL" -c "select count(*) from products")
    echo "products: $n rows"
    [[ $n -gt 0 ]]
}

check_psql_copy() {
    local t=itest_psql_copy_$$
    seq 1 20000 | awk '{ printf "%d,\"row %d, \"\"quoted\"\"\",%d.5\n", $1, $1, $1 % 97 }' >"$TMP/in.csv"
    psql_q "$URL" -c "drop table if exists $t" -c "create table $t (id int primary key, t text, v numeric)" \
        -c "\\copy $t from '$TMP/in.csv' csv" \
        -c "\\copy (select * from $t order by id) to '$TMP/out.csv' csv" -c "drop table $t"
    cmp "$TMP/in.csv" "$TMP/out.csv"
    echo "\\copy in and out of 20000 CSV rows: files identical"
}

check_psql_search_path() {   # options=-c search_path=... must reach the backend
    local sp=itest_sp_$$ got
    psql_q "$URL" -c "drop schema if exists $sp cascade" -c "create schema $sp" \
        -c "create table $sp.itest_where (v text)" -c "insert into $sp.itest_where values ('found')"
    got=$(psql_q "$URL?options=-c%20search_path%3D$sp%2Cpublic" -c "show search_path" \
        -c "select v from itest_where" | paste -sd' ')
    psql_q "$URL" -c "drop schema $sp cascade"
    echo "show search_path; select from an unqualified table -> $got"
    [[ $got == "$sp,public found" ]]
}

check_psql_application_name() {
    local got
    got=$(psql_q "$URL?application_name=itest_app" -c "show application_name")
    echo "show application_name -> $got"
    [[ $got == itest_app ]]
}

check_psql_login() {   # check_psql_login USER:PASSWORD
    local got
    got=$(psql_q "postgresql://$1@127.0.0.1:$PORT/poc" -c "select 'logged in'")
    [[ $got == "logged in" ]] || { echo "select as ${1%%:*} gave '$got'"; return 1; }
    if psql_q "postgresql://${1%%:*}:wrong-${1#*:}@127.0.0.1:$PORT/poc" -c "select 1" 2>"$TMP/err.txt"; then
        echo "a wrong password was accepted"; return 1
    fi
    grep -q "password authentication failed" "$TMP/err.txt" || { cat "$TMP/err.txt"; return 1; }
    echo "${1%%:*} logs in; a wrong password is refused"
}

echo "== psql"
run_check psql_select_seeded_table 30 check_psql_select
run_check psql_copy 60 check_psql_copy
run_check psql_options_search_path 30 check_psql_search_path
run_check psql_application_name 30 check_psql_application_name
run_check psql_login_auth_user 30 check_psql_login "$AUTH_LOGIN"
run_check psql_login_scram_verifier_user 30 check_psql_login "$SCRAM_LOGIN"

# ---------------------------------------------------------------------------
# libpq programs
# ---------------------------------------------------------------------------
echo "== libpq"
for prog in pq_multistmt pq_pipeline pq_portal pq_copy pq_cancel pq_notify pq_client_killed \
            pq_session_state pq_concurrent pq_auth; do
    if [[ ! -x $BUILD/$prog ]]; then
        fail "$prog: $BUILD/$prog not built"
        continue
    fi
    args=("$KV")
    [[ $prog == pq_multistmt ]] && args+=("$LEGACY_KV")   # the reference transcript
    run_check "$prog" 120 "$BUILD/$prog" "${args[@]}"
done

# ---------------------------------------------------------------------------
# raw protocol, bad input, drivers
# ---------------------------------------------------------------------------
echo "== raw protocol"
if [[ $DIRECT == 1 ]]; then
    run_check raw_protocol 120 "$PY" "$HERE/raw_protocol.py" "$URL"
    run_check bad_input 180 "$PY" "$HERE/bad_input.py" "$URL" --direct
else
    run_check raw_protocol 120 "$PY" "$HERE/raw_protocol.py" "$URL" \
        --extra-login "postgresql://$AUTH_LOGIN@127.0.0.1:$PORT/poc" \
        --extra-login "postgresql://$SCRAM_LOGIN@127.0.0.1:$PORT/poc"
    run_check bad_input 180 "$PY" "$HERE/bad_input.py" \
        "postgresql://poc_user:admin123@127.0.0.1:$SHORT_PORT/poc" --login-timeout "$LOGIN_TIMEOUT"
fi

LEGACY_URL="postgresql://poc_user:admin123@127.0.0.1:$LEGACY_PORT/poc"
if [[ $DIRECT == 1 ]]; then
    run_check backpressure 120 "$PY" "$HERE/backpressure.py" "$URL" --legacy "$LEGACY_URL"
else
    run_check backpressure 120 "$PY" "$HERE/backpressure.py" "$URL" --legacy "$LEGACY_URL" \
        --pid "${PROXY_PID[main]}"
fi

echo "== drivers"
run_check asyncpg 180 "$PY" "$HERE/compat_asyncpg.py" "$URL"
run_check psycopg 180 "$PY" "$HERE/compat_psycopg.py" "$URL"
run_check backend_pid 60 "$PY" "$HERE/backend_pid.py" "$URL"

# ---------------------------------------------------------------------------
# pgbench: schema made on legacy directly, load through the proxy
# ---------------------------------------------------------------------------
pgbench_run() {   # pgbench_run ARGS...: runs, shows the summary, requires 0 failures
    local out="$TMP/pgbench.out" n
    PGPASSWORD=admin123 timeout 60 "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U poc_user "$@" poc \
        >"$out" 2>&1 || { tail -n 20 "$out"; return 1; }
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    echo "$n transactions, $(grep "^number of failed" "$out" | cut -d: -f2-) failed," \
         "$(grep -m1 "^tps" "$out" | cut -d' ' -f1-3)"
    grep -q "^number of failed transactions: 0 " "$out" && [[ ${n:-0} -gt 0 ]] &&
        ! grep -qi "error" "$out"
}

pgbench_consistent() {   # TPC-B keeps all four sums equal
    local sums
    sums=$(timeout 30 psql -X -At "$LEGACY_URL" -c \
        "select (select sum(abalance) from pgbench_accounts), (select sum(bbalance) from pgbench_branches),
                (select sum(tbalance) from pgbench_tellers), (select sum(delta) from pgbench_history),
                (select count(*) from pgbench_history)")
    echo "accounts|branches|tellers|history sums, history rows: $sums"
    awk -F'|' '{ exit !($1 == $2 && $2 == $3 && $3 == $4 && $5 > 0) }' <<<"$sums"
}

if [[ $DIRECT != 1 ]]; then
    echo "== metrics (pass-through)"
    run_check metrics 60 "$PY" "$HERE/metrics_passthrough.py" "$URL" "$METRICS_PORT"
fi

echo "== pgbench"
if PGPASSWORD=admin123 timeout 120 "$PG_BIN/pgbench" -i -s 1 -q -h 127.0.0.1 -p "$LEGACY_PORT" \
        -U poc_user poc >"$TMP/pgbench-init.log" 2>&1; then
    for mode in simple extended prepared; do
        run_check "pgbench_$mode" 90 pgbench_run -n -M "$mode" -c 4 -j 2 -T 5
    done
    run_check pgbench_select_only 90 pgbench_run -n -S -c 8 -j 2 -T 10
    run_check pgbench_balances_consistent 30 pgbench_consistent
else
    fail "pgbench: pgbench -i on legacy failed"
    tail -n 10 "$TMP/pgbench-init.log" | indent
fi

# ---------------------------------------------------------------------------
# the proxy itself: still up, clean exit on SIGTERM, no sanitizer reports
# ---------------------------------------------------------------------------
# finish_proxy NAME: the proxy must still be up, exit 0 on SIGTERM, and leave no
# sanitizer report and no password or SCRAM key in its log.
finish_proxy() {
    local name=$1 pid=${PROXY_PID[$1]} log="$TMP/$1.log" rc='' s leaked=() secrets
    if kill -0 "$pid" 2>/dev/null; then
        pass "proxy_${name}_alive_after_all_checks"
        kill -TERM "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || { set +e; wait "$pid"; rc=$?; set -e; break; }
            sleep 0.1
        done
        if [[ -z $rc ]]; then
            fail "proxy_${name}_exit_on_sigterm: still running 10 s after SIGTERM"
            kill -KILL "$pid" 2>/dev/null || true
        elif [[ $rc != 0 ]]; then
            fail "proxy_${name}_exit_on_sigterm: exit status $rc"
        else
            pass "proxy_${name}_exit_on_sigterm: exit status 0"
        fi
    else
        set +e; wait "$pid"; rc=$?; set -e
        fail "proxy_${name}_alive_after_all_checks: the proxy died (exit status $rc)"
    fi
    unset "PROXY_PID[$name]"
    if grep -n -E "AddressSanitizer|LeakSanitizer|runtime error:" "$log" >"$TMP/san.txt"; then
        fail "proxy_${name}_sanitizers: $(wc -l <"$TMP/san.txt") report line(s) in $name.log"
        head -n 20 "$TMP/san.txt" | indent
    else
        pass "proxy_${name}_sanitizers: no AddressSanitizer/LeakSanitizer/UBSan reports"
    fi
    # passwords and SCRAM keys (right and wrong ones the checks sent) never reach the log
    secrets=(admin123 auth_pass123 "$SCRAM_PASS" definitely-wrong not-the-password
             "${KEYS%%:*}" "${KEYS#*:}")
    for s in "${secrets[@]}"; do
        if grep -qF -- "$s" "$log"; then leaked+=("$s"); fi
    done
    if [[ ${#leaked[@]} -gt 0 ]]; then
        fail "proxy_${name}_log_has_no_secrets: the log contains ${leaked[*]}"
        grep -nF -e "${leaked[0]}" "$log" | head -n 5 | indent
    else
        pass "proxy_${name}_log_has_no_secrets: none of ${#secrets[@]} passwords/keys in the log"
    fi
}

if [[ $DIRECT != 1 ]]; then
    echo "== proxy processes"
    finish_proxy main
    finish_proxy short
    if [[ $FAILED -gt 0 ]]; then
        for name in main short; do
            echo "== last 25 lines of the $name proxy's log"
            tail -n 25 "$TMP/$name.log" | indent
        done
    fi
fi

[[ $SKIPPED -gt 0 ]] && echo "($SKIPPED skipped)"
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
