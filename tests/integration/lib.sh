# Shared by the integration suites (sourced, not run): the PASS/FAIL/SKIP
# bookkeeping every check reports through, and free loopback ports.

PASSED=0
FAILED=0
SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP $*"; }
indent() { sed 's/^/    | /'; }
# finish: the closing line the suites end with; fails when any check failed
finish() {
    [[ $SKIPPED -gt 0 ]] && echo "($SKIPPED skipped)"
    echo "$PASSED passed, $FAILED failed"
    [[ $FAILED -eq 0 ]]
}

# free_ports N: N free ports from $PGTANDEM_TEST_PORTS (default 20000-32000)
free_ports() {
    /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/free_ports.py" \
        "${PGTANDEM_TEST_PORTS:-20000-32000}" "$1"
}

# ---------------------------------------------------------------------------
# Shared by the suites that run the five databases and one proxy at a time (dual/,
# drivers/). They expect the caller's globals: ROOT, BUILD, TMP, PY, LEGACY_PORT,
# SERVICE_PORTS, PROXY_PORT, PROXY_PID, and COMPARE_ARGS for compare_sides.
# ---------------------------------------------------------------------------
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# db_start [pgtandem-db options]: the five servers in $TMP/db, log $TMP/db-start.log
db_start() {
    "$ROOT/conf/pgtandem-db" start --dir "$TMP/db" --legacy-port "$LEGACY_PORT" \
        --service-ports "$SERVICE_PORTS" "$@" >>"$TMP/db-start.log" 2>&1
}

kv() { echo "host=127.0.0.1 port=$1 dbname=$2 user=$3 password=$4"; }

# compare_sides LABEL: every shared table identical on both sides, all columns
# (compare.py with the suite's "${COMPARE_ARGS[@]}": --legacy, --service, --tables).
compare_sides() {
    local out="$TMP/out/compare-${1//\//_}.txt"
    if timeout 120 "$PY" "$LIB_DIR/dual/compare.py" "${COMPARE_ARGS[@]}" >"$out" 2>&1; then
        pass "$1/tables_identical: $(tail -n 1 "$out")"
    else
        fail "$1/tables_identical: $(tail -n 1 "$out")"
        head -n 40 "$out" | indent
        # Say whether updated_at alone explains it.
        if timeout 120 "$PY" "$LIB_DIR/dual/compare.py" --quiet --ignore-column updated_at \
                "${COMPARE_ARGS[@]}" >"$out.ignoring" 2>&1; then
            echo "    | -> with updated_at left out: $(tail -n 1 "$out.ignoring")"
        else
            echo "    | -> with updated_at left out still: $(tail -n 1 "$out.ignoring")"
        fi
    fi
}

# start_proxy NAME: runs the proxy on $TMP/NAME.conf, log $TMP/proxy-NAME.log
start_proxy() {
    local log="$TMP/proxy-$1.log"
    [[ -x $BUILD/pgtandem ]] || { fail "$1/proxy_start: $BUILD/pgtandem not found"; return 1; }
    ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$BUILD/pgtandem" -c "$TMP/$1.conf" 2>"$log" &
    PROXY_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null && break
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$PROXY_PID" 2>/dev/null || ! (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null; then
        fail "$1/proxy_start: not listening on $PROXY_PORT (config $TMP/$1.conf)"
        tail -n 20 "$log" | indent
        if kill -0 "$PROXY_PID" 2>/dev/null; then kill -KILL "$PROXY_PID" 2>/dev/null || true; fi
        set +e; wait "$PROXY_PID" 2>/dev/null; set -e
        PROXY_PID=
        return 1
    fi
}

# stop_proxy NAME: still alive, exits 0 on SIGTERM, no sanitizer reports in its log
stop_proxy() {
    local log="$TMP/proxy-$1.log" rc=
    if kill -0 "$PROXY_PID" 2>/dev/null; then
        kill -TERM "$PROXY_PID"
        for _ in $(seq 100); do
            kill -0 "$PROXY_PID" 2>/dev/null || { set +e; wait "$PROXY_PID"; rc=$?; set -e; break; }
            sleep 0.1
        done
        if [[ -z $rc ]]; then
            fail "$1/proxy_exit: still running 10 s after SIGTERM"
            kill -KILL "$PROXY_PID" 2>/dev/null || true
            set +e; wait "$PROXY_PID" 2>/dev/null; set -e
        elif [[ $rc != 0 ]]; then
            fail "$1/proxy_exit: exit status $rc after SIGTERM"
        else
            pass "$1/proxy_exit: alive after the checks, exit status 0 on SIGTERM"
        fi
    else
        set +e; wait "$PROXY_PID"; rc=$?; set -e
        fail "$1/proxy_exit: the proxy died during the checks (exit status $rc)"
    fi
    PROXY_PID=
    if grep -n -E "AddressSanitizer|LeakSanitizer|runtime error:" "$log" >"$TMP/san.txt"; then
        fail "$1/proxy_sanitizers: $(wc -l <"$TMP/san.txt") report line(s) in $log"
        head -n 20 "$TMP/san.txt" | indent
    else
        pass "$1/proxy_sanitizers: no AddressSanitizer/LeakSanitizer/UBSan reports"
    fi
}
