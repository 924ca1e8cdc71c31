#!/usr/bin/env bash
# psql through the proxy: \copy FROM STDIN in text and CSV (inline in a script), \copy TO
# STDOUT byte-identical to legacy's own, ON_ERROR_ROLLBACK (psql's implicit savepoints
# around each statement of a transaction), a -c string of several statements under SET
# TimeZone, and a rolled-back transaction. Each check compares its rows straight on legacy
# and the service database. Prints PASS/FAIL lines; every psql call is under timeout.
# usage: drv_psql.sh --proxy-port P --legacy-port L --product-port P --cart-port C --tag T [--only RE]
set -uo pipefail
declare -A opt
while [[ $# -ge 2 ]]; do opt[${1#--}]=$2; shift 2; done
T=${opt[tag]}
PSQL=${PSQL:-/usr/lib/postgresql/15/bin/psql}
dsn() { echo "host=127.0.0.1 port=$1 dbname=$2 user=$3 password=$4 connect_timeout=10"; }
PROXY=$(dsn "${opt[proxy-port]}" poc poc_user admin123)
declare -A DIRECT=([legacy]=$(dsn "${opt[legacy-port]}" poc poc_user admin123)
                   [product]=$(dsn "${opt[product-port]}" product_db product_user product_pass123)
                   [cart]=$(dsn "${opt[cart-port]}" cart_db cart_user cart_pass123))
WORK=$(mktemp -d /tmp/drv-psql.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=0

psql_proxy() { PGOPTIONS=${PGOPTIONS_X:-} timeout 30 "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PROXY" "$@"; }
psql_direct() { PGOPTIONS="-c TimeZone=UTC" timeout 30 "$PSQL" -X -q -At -d "${DIRECT[$1]}" -c "$2"; }

# same_on_both SERVICE QUERY: the query's rows straight on legacy and on SERVICE, equal; in $ROWS
same_on_both() {
    local l s
    l=$(psql_direct legacy "$2" 2>&1) || { WHY="legacy: $l"; return 1; }
    s=$(psql_direct "$1" "$2" 2>&1) || { WHY="$1: $s"; return 1; }
    ROWS=$l
    [[ $l == "$s" ]] || { WHY="rows differ: legacy [$(head -c 300 <<<"$l" | tr '\n' ';')] / $1 [$(head -c 300 <<<"$s" | tr '\n' ';')]"; return 1; }
}

ITEMS="SELECT sku, status, price, qty, total, tags, dims, list_price, attrs, blob, available_at FROM drv_items WHERE tag = '$T' AND sku LIKE 'PSQ-%' ORDER BY sku"
ORDERS="SELECT item_id, status, amount, placed_at, placed_day, lines FROM drv_orders WHERE tag = '$T' AND item_id BETWEEN 2000 AND 2999 ORDER BY item_id"

# copy_script SERVICE QUERY N WHAT: runs $WORK/copy.sql (a \copy with its rows inline)
# through the proxy; QUERY's rows must then be N, the same on both sides
copy_script() {
    psql_proxy -f "$WORK/copy.sql" >"$WORK/out" 2>&1 || { WHY=$(tr '\n' ' ' <"$WORK/out"); return 1; }
    same_on_both "$1" "$2" || return 1
    [[ $(wc -l <<<"$ROWS") == "$3" ]] || { WHY="$(wc -l <<<"$ROWS") $4, expected $3"; return 1; }
    DETAIL="$3 $4 by \\copy, identical on both sides"
}

check_copy_in_items() {
    {
        echo "\\copy drv_items (tag, sku, name, title, status, price, qty, tags, dims, list_price, attrs, blob, available_at) FROM STDIN"
        for i in $(seq 1 20); do
            printf '%s\tPSQ-%d\tpsql %d\tÉté %d\tshipped\t%d.05\t%d\t{p,"q r"}\t{%d,0}\t(%d.00,CHF)\t{"psql": %d}\t\\\\x%02x\t2024-10-27 02:30:00+02\n' \
                "$T" "$i" "$i" "$i" "$i" "$i" "$i" "$i" "$i" "$i"
        done
        echo '\.'
    } >"$WORK/copy.sql"
    copy_script product "$ITEMS" 20 "items (text)"
}

check_copy_in_orders() {
    {
        echo "\\copy drv_orders (tag, item_id, status, amount, placed_at, lines) FROM STDIN (FORMAT csv)"
        for i in $(seq 1 10); do
            printf '%s,%d,paid,"(%d.00,CHF)",2024-01-0%d 08:00:00+01,"{""csv"": %d}"\n' "$T" "$((2000 + i))" "$i" "$((i % 9 + 1))" "$i"
        done
        echo '\.'
    } >"$WORK/copy.sql"
    copy_script cart "$ORDERS" 10 "orders (CSV)"
}

check_copy_out() {
    local q="\\copy (SELECT item_id, status, amount, placed_at, lines FROM drv_orders WHERE tag = '$T' ORDER BY item_id) TO STDOUT"
    psql_proxy -c "$q" >"$WORK/proxy.out" 2>&1 || { WHY=$(head -c 300 "$WORK/proxy.out"); return 1; }
    timeout 30 "$PSQL" -X -q -d "${DIRECT[legacy]}" -c "$q" >"$WORK/legacy.out" 2>&1
    [[ -s $WORK/legacy.out ]] || { WHY="nothing to copy out"; return 1; }
    cmp -s "$WORK/proxy.out" "$WORK/legacy.out" || { WHY="\\copy TO through the proxy differs from legacy's"; return 1; }
    DETAIL="$(wc -l <"$WORK/proxy.out") rows, byte-identical to legacy's own"
}

check_on_error_rollback() {
    cat >"$WORK/oer.sql" <<EOF
\\set ON_ERROR_ROLLBACK on
\\set ON_ERROR_STOP off
BEGIN;
INSERT INTO drv_orders (tag, item_id, placed_at, lines) VALUES ('$T', 2101, now(), '[1]');
UPDATE drv_orders SET status = 'bogus' WHERE tag = '$T' AND item_id = 2101;
INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ('$T', NULL, now());
UPDATE drv_orders SET status = 'cancelled', lines = lines || '[2]' WHERE tag = '$T' AND item_id = 2101;
INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ('$T', 2102, now());
COMMIT;
EOF
    PGOPTIONS_X="" psql_proxy -v ON_ERROR_STOP=0 -f "$WORK/oer.sql" >"$WORK/out" 2>&1
    grep -q "invalid input value for enum" "$WORK/out" || { WHY="no enum error: $(tr '\n' ' ' <"$WORK/out")"; return 1; }
    same_on_both cart "${ORDERS/BETWEEN 2000 AND 2999/BETWEEN 2101 AND 2199}" || return 1
    [[ $ROWS == 2101\|cancelled\|* && $(wc -l <<<"$ROWS") == 2 ]] || { WHY="orders: $(tr '\n' ';' <<<"$ROWS")"; return 1; }
    DETAIL="two failed statements rolled back to psql's savepoints, the transaction committed"
}

check_multi_statement() {
    psql_proxy -c "SET TimeZone = 'Europe/Lisbon'; INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ('$T', 2201, '2024-03-31 01:30:00'); UPDATE drv_orders SET placed_at = placed_at + interval '1 day', status = 'paid' WHERE tag = '$T' AND item_id = 2201; INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ('$T', 2202, '2024-07-01 00:00:00')" >"$WORK/out" 2>&1 ||
        { WHY=$(tr '\n' ' ' <"$WORK/out"); return 1; }
    same_on_both cart "${ORDERS/BETWEEN 2000 AND 2999/BETWEEN 2201 AND 2202}" || return 1
    [[ $ROWS == 2201\|paid\|\|"2024-04-01 01:30:00+00"* ]] || { WHY="order 2201: $(head -n1 <<<"$ROWS")"; return 1; }
    DETAIL="SET TimeZone + 3 writes in one -c string, Lisbon's times on both sides"
}

check_rollback() {
    psql_proxy -c "BEGIN" -c "INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ('$T', 2301, now())" \
        -c "UPDATE drv_orders SET status = 'cancelled' WHERE tag = '$T' AND item_id BETWEEN 2001 AND 2010" -c "ROLLBACK" \
        >"$WORK/out" 2>&1 || { WHY=$(tr '\n' ' ' <"$WORK/out"); return 1; }
    same_on_both cart "SELECT count(*) FILTER (WHERE item_id = 2301), count(*) FILTER (WHERE status = 'cancelled' AND item_id BETWEEN 2001 AND 2010) FROM drv_orders WHERE tag = '$T'" || return 1
    [[ $ROWS == "0|0" ]] || { WHY="after ROLLBACK: $ROWS"; return 1; }
    DETAIL="nothing kept on either side"
}

for c in copy_in_items copy_in_orders copy_out on_error_rollback multi_statement rollback; do
    if [[ -n ${opt[only]:-} ]] && ! grep -q -E "${opt[only]}" <<<"$c"; then continue; fi
    WHY="" DETAIL="" ROWS=""
    if "check_$c"; then
        echo "PASS $c: $DETAIL"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $c: ${WHY:0:600}"
    fi
done
[[ $FAILED == 0 ]]
