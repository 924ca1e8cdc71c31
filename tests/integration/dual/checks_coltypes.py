"""Every kind of column through row images (coltypes.sql, owned by cart): identity ALWAYS and
BY DEFAULT, stored generated columns, a domain, an enum, arrays (of text, of an enum, of a
composite), a composite, jsonb, bytea, numeric, float8 and real, timestamptz, timestamp,
date, interval, timetz, texts with collations, and a table with dropped columns in the middle
(one more on legacy than on the service). INSERT, UPDATE, INSERT .. ON CONFLICT and DELETE
through the proxy, with the values made by the database (so they go as row images), under
client settings that change how values print: TimeZone Asia/Kathmandu with DateStyle 'SQL,
DMY', and Asia/Kolkata (whose abbreviation IST reads back as Israel time) with DateStyle
'Postgres, DMY', extra_float_digits 0, IntervalStyle sql_standard and bytea_output escape.
After each profile, both sides must hold the same rows, compared as text under one fixed
session (like compare.py). Simple queries (no parameters) and the extended protocol (with
parameters) both. Registered into checks.py's list (imported from there)."""

import psycopg

from checks import check, err_text, need

GROUPS = ("dual", "continue", "reads_service", "primary_service", "two_phase")
FIXED = ("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';"
         " SET extra_float_digits = 3; SET bytea_output = 'hex'")
PROFILES = {
    "kathmandu": ["SET TimeZone = 'Asia/Kathmandu'", "SET DateStyle = 'SQL, DMY'"],
    "kolkata": ["SET TimeZone = 'Asia/Kolkata'", "SET DateStyle = 'Postgres, DMY'",
                "SET extra_float_digits = 0", "SET IntervalStyle = 'sql_standard'",
                "SET bytea_output = 'escape'"],
}


def fixed(ctx, db):
    c = psycopg.connect(ctx.conninfo(db), autocommit=True)
    c.execute(FIXED)
    return c


def rows_of(conn, table, where, params=()):
    return conn.execute("SELECT t::text FROM %s t WHERE %s ORDER BY id" % (table, where),
                        params).fetchall()


def same_sides(ctx, table, where, params=()):
    """The rows on legacy and on cart_db, as text under one fixed session; they must match."""
    with fixed(ctx, "legacy") as lc, fixed(ctx, "cart") as sc:
        lrows, srows = rows_of(lc, table, where, params), rows_of(sc, table, where, params)
    if lrows != srows:
        diff = [(a, b) for a, b in zip(lrows, srows) if a != b][:2]
        raise AssertionError_(
            "%s differs between legacy (%d rows) and cart_db (%d rows): %s"
            % (table, len(lrows), len(srows),
               " | ".join("legacy %s / service %s" % (a[0][:400], b[0][:400]) for a, b in diff)))
    return lrows


class AssertionError_(Exception):
    pass


def run(c, sql, params=None):
    try:
        return c.execute(sql, params)
    except psycopg.Error as e:
        raise AssertionError_("%s: %s" % (sql[:120], err_text(e)))


def one_profile(ctx, name, settings):
    p = "ct-%s-%s-" % (ctx.group, name)
    with fixed(ctx, "legacy") as lc:
        lc.execute("DELETE FROM coltype_all WHERE slug LIKE %s", (p + "%",))
    with fixed(ctx, "cart") as sc:
        sc.execute("DELETE FROM coltype_all WHERE slug LIKE %s", (p + "%",))
    with ctx.proxy() as c:
        for s in settings:
            run(c, s)
        # simple queries: every generated column from the database
        client_returning = " RETURNING id, at, doc" if name == "kathmandu" else ""
        run(c, "INSERT INTO coltype_all (slug) VALUES ('%s1'), ('%s2'), ('%s3')%s"
            % (p, p, p, client_returning))
        run(c, "UPDATE coltype_all SET qty = qty + 1, at = clock_timestamp(), ratio = random(),"
               " ratio4 = random(), span = span + make_interval(secs => random()),"
               " amount = (random() * 100)::numeric(20, 10), blob = blob || '\\x00'::bytea,"
               " pair = ROW('upd', 2.5, clock_timestamp())::coltype_pair,"
               " doc = doc || jsonb_build_object('u', clock_timestamp()),"
               " tags = tags || ARRAY['x'], moods = moods || 'ok'::coltype_mood,"
               " local_at = localtimestamp, day = current_date, at_time = current_time"
               " WHERE slug LIKE '%s%%'" % p)
        run(c, "INSERT INTO coltype_all (slug, qty) VALUES ('%s1', 7), ('%s4', 2)"
               " ON CONFLICT (slug) DO UPDATE SET qty = coltype_all.qty + excluded.qty,"
               " at = clock_timestamp(), name_c = 'conflict ' || md5(random()::text)" % (p, p))
        run(c, "DELETE FROM coltype_all WHERE slug = '%s2'" % p)
        # extended protocol: parameters, and the database still fills in the rest
        run(c, "INSERT INTO coltype_all (slug, mood, tags, qty) VALUES (%s, %s, %s, %s)",
            (p + "5", "happy", ["q r", None, "s\"t"], 3))
        run(c, "UPDATE coltype_all SET mood = %s, at = clock_timestamp(), ratio = random()"
               " WHERE slug = %s", ("sad", p + "5"))
        run(c, "INSERT INTO coltype_all (slug) VALUES (%s) ON CONFLICT (slug) DO UPDATE"
               " SET amount = (random() * 10)::numeric(20, 10), at = clock_timestamp()",
            (p + "5",))
        # the table with dropped columns
        got = run(c, "INSERT INTO coltype_dropped (kept) VALUES (md5(random()::text)),"
                     " (DEFAULT) RETURNING id").fetchall()
        ids = [r[0] for r in got]
        run(c, "UPDATE coltype_dropped SET kept = md5(random()::text), at = clock_timestamp()"
               " WHERE id = %d" % ids[0])
        run(c, "UPDATE coltype_dropped SET at = clock_timestamp() WHERE id = %s", (ids[1],))
        run(c, "DELETE FROM coltype_dropped WHERE id = %s", (ids[1],))
    rows = same_sides(ctx, "coltype_all", "slug LIKE %s", (p + "%",))
    need(len(rows) == 4, "%s: %d rows of %s* on both sides, wanted 4" % (name, len(rows), p))
    same_sides(ctx, "coltype_dropped", "id = ANY(%s)", (ids,))
    with fixed(ctx, "cart") as sc:
        gen = sc.execute("SELECT qty, total = qty * amount, label = upper(name_c) || ':' ||"
                         " (qty * 2)::text FROM coltype_all WHERE slug = %s", (p + "1",)).fetchone()
    need(gen == (9, True, True), "%s: %s1 on the service: qty, total and label %r, wanted"
         " (9, True, True): the stored generated columns are the service's own" % (name, p, gen))
    return len(rows)


@check(*GROUPS, timeout=60)
def coltypes_row_images(ctx):
    """Each profile of client settings, then both sides compared exactly."""
    out = []
    for name, settings in PROFILES.items():
        try:
            n = one_profile(ctx, name, settings)
        except AssertionError_ as e:
            need(False, "%s: %s" % (name, e))
        out.append("%s: %d rows identical" % (name, n))
    return "; ".join(out)
