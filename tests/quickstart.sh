#!/usr/bin/env bash
# The README's first command, on free ports in a temporary folder: conf/quickstart starts the
# five databases and pgtandem in dual mode and runs its tour. Checks that the tour's row is the
# same on legacy and on cart_db (read here, not taken from quickstart's word), that every
# DATABASE_URL quickstart prints logs in through pgtandem, that it stops pgtandem when stopped,
# and that the proxy's log has no sanitizer report.
#
# usage: tests/quickstart.sh BUILD_DIR   (PGTANDEM_TEST_PORTS=A-B, PGTANDEM_TEST_KEEP=1 as for
#                                         the integration suite)
set -euo pipefail
BUILD=$(cd "${1:?usage: quickstart.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PSQL=/usr/lib/postgresql/15/bin/psql
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^PG[A-Z]+$' || true)
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"

TMP=$(mktemp -d /tmp/pgtandem-qs.XXXXXX)
chmod 755 "$TMP"              # the servers run as postgres and must reach $TMP/db
QS_PID=
cleanup() {
    local rc=$?
    [[ -z $QS_PID ]] || kill -TERM "$QS_PID" 2>/dev/null || true
    "$ROOT/conf/pgtandem-db" stop --dir "$TMP/db" >/dev/null 2>&1 || true
    if [[ ${PGTANDEM_TEST_KEEP:-0} == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r P_LEGACY P_AUTH P_PRODUCT P_CART P_PROMO P_TANDEM <<<"$(free_ports 6)"
qs=("$ROOT/conf/quickstart" --pgtandem "$BUILD/pgtandem" --dir "$TMP/db" --port "$P_TANDEM"
    --legacy-port "$P_LEGACY" --service-ports "$P_AUTH,$P_PRODUCT,$P_CART,$P_PROMO")
read_row() {
    "$PSQL" -X -At -v ON_ERROR_STOP=1 -c \
        "SELECT id, cart_id, quantity, updated_at FROM cart_items WHERE id = 1" \
        "postgresql://$1@127.0.0.1:$2/$3"
}

# 1. the tour, exiting after it
if timeout -k 5 600 "${qs[@]}" --no-wait >"$TMP/tour.txt" 2>&1; then
    pass "quickstart_no_wait: exit 0"
else
    fail "quickstart_no_wait: exit $?"; tail -n 30 "$TMP/tour.txt" | indent
fi
legacy=$(read_row poc_user:admin123 "$P_LEGACY" poc || true)
service=$(read_row cart_user:cart_pass123 "$P_CART" cart_db || true)
# the seed's generator and backfill leave quantity as generated; the tour added one on both
if [[ -n $legacy && $legacy == "$service" ]] && grep -qxF "      $legacy" "$TMP/tour.txt"; then
    pass "quickstart_tour_row_same_on_both_sides: $legacy"
else
    fail "quickstart_tour_row_same_on_both_sides: legacy '$legacy', cart_db '$service'"
    indent <"$TMP/tour.txt"
fi
before=$(grep -c '^      ' "$TMP/tour.txt" || true)
if [[ $before -eq 3 ]] && grep -qF "UPDATE 1" "$TMP/tour.txt"; then
    pass "quickstart_tour_three_lines: write, legacy read, cart_db read"
else
    fail "quickstart_tour_three_lines: $before result lines"; indent <"$TMP/tour.txt"
fi

# 2. in the foreground: every printed DATABASE_URL logs in through pgtandem (as that user: the
# log names it; the backend runs as legacy's conninfo user); SIGTERM stops it (a background
# job of a script ignores SIGINT, so Ctrl-C can't be played here; both take the same trap)
"${qs[@]}" >"$TMP/fg.txt" 2>&1 &
QS_PID=$!
for _ in $(seq 1 300); do
    grep -q 'keeps running' "$TMP/fg.txt" && break
    kill -0 "$QS_PID" 2>/dev/null || break
    sleep 0.2
done
mapfile -t urls < <(sed -n 's/.*DATABASE_URL=//p' "$TMP/fg.txt")
bad=()
for u in "${urls[@]}"; do
    user=${u#postgresql://}; user=${user%%:*}
    got=$(timeout 20 "$PSQL" -X -At -c "SELECT 1" "$u" 2>&1 || true)
    grep -qF " $user@${u##*/} from " "$TMP/db/log/pgtandem.log" || got+=" (no session of $user)"
    [[ $got == 1 && $u == *":$P_TANDEM/"* ]] || bad+=("$u: $got")
done
if [[ ${#urls[@]} -eq 5 && ${#bad[@]} -eq 0 ]]; then
    pass "quickstart_urls_log_in: ${#urls[@]} DATABASE_URLs through pgtandem"
else
    fail "quickstart_urls_log_in: ${#urls[@]} URLs, failing: ${bad[*]:-none}"; indent <"$TMP/fg.txt"
fi
kill -TERM "$QS_PID" 2>/dev/null || true
stopped=0
for _ in $(seq 1 100); do
    kill -0 "$QS_PID" 2>/dev/null || { stopped=1; break; }
    sleep 0.1
done
QS_PID=
log="$TMP/db/log/pgtandem.log"
if [[ $stopped == 1 ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$P_TANDEM") 2>/dev/null; then
    pass "quickstart_sigterm_stops_pgtandem"
else
    fail "quickstart_sigterm_stops_pgtandem: still running or port $P_TANDEM still open"
fi
if grep -n -E "AddressSanitizer|LeakSanitizer|runtime error:" "$log" >"$TMP/san.txt"; then
    fail "quickstart_sanitizers: $(wc -l <"$TMP/san.txt") report line(s) in $log"
    head -n 20 "$TMP/san.txt" | indent
else
    pass "quickstart_sanitizers: no reports in pgtandem's log"
fi
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
