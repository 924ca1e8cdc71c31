"""Hidden writes (item 16 of issue 10). With standard_conforming_strings = off, or a client
encoding whose multibyte characters hold the byte 0x5C (SJIS, BIG5, GBK, ...), the server
reads `SELECT 'a\\'' ; DELETE ...; --'` as a SELECT and a DELETE, while libpg_query, which
lexes as with standard_conforming_strings on in UTF-8, sees one SELECT: the DELETE would run
on legacy only, unmirrored. pgtandem refuses such settings: a login that has them (options=-c,
client_encoding, role defaults) is refused, and once a session gets them (SET, set_config)
every statement but a plain SET, RESET, DISCARD or transaction control is refused with
0A000 until they are set back. Each check: the DELETE never runs (the rows are still on both
sides), the client gets the clear error, and the session works again after setting it back.
Ids -945000 and below (group dual). Registered into checks.py's list (imported from there)."""

import psycopg
from psycopg import errors

from checks import check, err_text, need
from checks_cancel import fresh_items

BASE = -945000
SCS = "standard_conforming_strings"


def hidden_delete(wid):
    """One SELECT to libpg_query; a SELECT and a DELETE to a server with scs off."""
    return "SELECT 'a\\'' ; DELETE FROM wishlist_items WHERE id = %d; --'" % wid


def hidden_cte_delete(wid):
    """One statement either way (fit for Parse): a read to libpg_query, a data-modifying
    WITH to a server with scs off."""
    return ("WITH q AS (SELECT 'a\\'' ), d AS (DELETE FROM wishlist_items WHERE id = %d"
            " RETURNING 1) SELECT 1 --') SELECT 1" % wid)


def seed(ctx, *wids):
    fresh_items(ctx, 1996, wids, "hidden")


def still_there(ctx, *wids):
    for w in wids:
        ctx.same("wishlist_items", "id = %d" % w, 1)


def refused(c, sql, setting, prepare=None):
    """Runs sql through c; it must fail with 0A000 naming `setting`."""
    try:
        c.execute(sql, prepare=prepare)
    except psycopg.Error as e:
        need(e.sqlstate == "0A000" and setting in str(e),
             "%r: wanted 0A000 naming %s, got %s" % (sql[:60], setting, err_text(e)))
        return str(e).strip().splitlines()[0]
    raise AssertionError("%r ran (wanted a refusal naming %s)" % (sql[:60], setting))


def works_again(ctx, c, wid):
    need(c.execute("SELECT 7").fetchone() == (7,), "SELECT after setting it back")
    c.execute("UPDATE wishlist_items SET note = 'back' WHERE id = %d" % wid)
    ctx.same("wishlist_items", "id = %d AND note = 'back'" % wid, 1)


def _check_refusals(c, wid, setting):
    """The hidden DELETE as a simple query and as a single Parse, refused."""
    msg = refused(c, hidden_delete(wid), setting)
    refused(c, hidden_cte_delete(wid), setting, prepare=True)
    refused(c, "SELECT 1 FROM wishlist_items WHERE note = 'x'", setting)
    return msg


@check("dual")
def hidden_write_after_set_scs_off(ctx):
    w = BASE
    seed(ctx, w)
    with ctx.proxy() as c:
        c.execute("SET standard_conforming_strings = off")
        msg = _check_refusals(c, w, SCS)
        still_there(ctx, w)
        c.execute("SET standard_conforming_strings = on")
        works_again(ctx, c, w)
    return "refused: %s" % msg


@check("dual")
def hidden_write_after_set_config(ctx):
    w = BASE - 1
    seed(ctx, w)
    with ctx.proxy() as c:
        c.execute("SELECT set_config('standard_conforming_strings', 'off', false)")
        _check_refusals(c, w, SCS)
        still_there(ctx, w)
        c.execute("RESET standard_conforming_strings")
        works_again(ctx, c, w)
        # in a transaction that rolls back, the server's word after ROLLBACK counts
        c.execute("BEGIN")
        c.execute("SET standard_conforming_strings = off")
        refused(c, hidden_delete(w), SCS)
        c.execute("ROLLBACK")
        works_again(ctx, c, w)
    return "set_config(... 'off', false) then refused; RESET, and a rolled-back SET, restore it"


def login_refused(ctx, setting, **kw):
    try:
        c = psycopg.connect(host="127.0.0.1", port=ctx.proxy_port, dbname="poc", user="poc_user",
                            password="admin123", connect_timeout=10, autocommit=True, **kw)
    except psycopg.OperationalError as e:
        need(setting in str(e), "login with %r refused, but not naming %s: %s" % (kw, setting, e))
        return str(e).strip().splitlines()[-1]
    return c


@check("dual")
def hidden_write_options_c(ctx):
    w = BASE - 2
    seed(ctx, w)
    got = login_refused(ctx, SCS, options="-c standard_conforming_strings=off")
    if not isinstance(got, str):
        with got as c:  # the login went through: show what follows
            e = None
            try:
                c.execute(hidden_delete(w))
            except psycopg.Error as ex:
                e = ex
            still_there(ctx, w)
            need(False, "login with options=-c standard_conforming_strings=off accepted (%s)"
                 % err_text(e))
    still_there(ctx, w)
    return "refused: %s" % got


@check("dual")
def hidden_write_role_default(ctx):
    w = BASE - 3
    seed(ctx, w)
    admin = ctx.fresh_direct("legacy")
    try:
        admin.execute("ALTER ROLE poc_user IN DATABASE poc SET standard_conforming_strings = off")
        got = login_refused(ctx, SCS)
    finally:
        admin.execute("ALTER ROLE poc_user IN DATABASE poc RESET standard_conforming_strings")
        admin.close()
    if not isinstance(got, str):
        with got as c:
            try:
                c.execute(hidden_delete(w))
            except psycopg.Error:
                pass
            still_there(ctx, w)
            need(False, "login under a role default standard_conforming_strings=off accepted")
    still_there(ctx, w)
    # the service database's own default: its backend is not used for the write
    svc = ctx.fresh_direct("cart")
    try:
        svc.execute("ALTER ROLE cart_user IN DATABASE cart_db SET standard_conforming_strings = off")
        with ctx.proxy() as c:
            e = None
            try:
                c.execute("UPDATE wishlist_items SET note = 'x\\y' WHERE id = %d" % w)
            except psycopg.Error as ex:
                e = ex
            need(e is not None and SCS in str(e),
                 "a write mirrored to cart_db under its default scs=off: %s" % err_text(e))
    finally:
        svc.execute("ALTER ROLE cart_user IN DATABASE cart_db RESET standard_conforming_strings")
        svc.close()
    ctx.same("wishlist_items", "id = %d AND note = 'hidden'" % w, 1)
    with ctx.proxy() as c:
        works_again(ctx, c, w)
    return "legacy's role default: login refused (%s); cart_db's: its backend refused" % got


# A character whose second byte is 0x5C in each encoding: the server sees it whole, pgtandem
# sees a backslash escaping the quote after it.
ENCODINGS = {"SJIS": b"\x95\x5c", "BIG5": b"\xa4\x5c", "GBK": b"\x81\x5c"}


@check("dual")
def hidden_write_client_encodings(ctx):
    wids = [BASE - 10 - i for i in range(len(ENCODINGS))]
    seed(ctx, *wids)
    for (enc, ch), w in zip(ENCODINGS.items(), wids):
        sql = (b"SELECT E'" + ch + b"' ; DELETE FROM wishlist_items WHERE id = "
               + str(w).encode() + b"; --'")
        with ctx.proxy() as c:
            c.execute("SET client_encoding = %s" % enc)
            refused(c, sql, enc)
            refused(c, b"SELECT '" + ch + b"'", enc)
            still_there(ctx, w)
            c.execute("SET client_encoding = UTF8")
            works_again(ctx, c, w)
        got = login_refused(ctx, enc, client_encoding=enc)
        if not isinstance(got, str):
            got.close()
            need(False, "login with client_encoding %s accepted" % enc)
    still_there(ctx, *wids)
    return "SJIS, BIG5, GBK: SET then refused, login refused"


@check("dual")
def hidden_write_pipelined_after_set(ctx):
    """The server reports a change of setting at ReadyForQuery, i.e. at Sync: a Parse
    pipelined after the SET is read with the new value before pgtandem hears of it."""
    w = BASE - 4
    seed(ctx, w)
    with ctx.proxy() as c:
        e = None
        try:
            with c.pipeline():
                c.execute("SET standard_conforming_strings = off")
                c.execute(hidden_cte_delete(w))
        except psycopg.Error as ex:
            e = ex
        need(e is not None and e.sqlstate == "0A000" and "pipeline" in str(e),
             "the statement pipelined after SET ... = off: %s" % err_text(e))
        still_there(ctx, w)
        # and in one query string, which pgtandem may send on statement by statement
        refused(c, "SET standard_conforming_strings = off; " + hidden_cte_delete(w),
                "standard_conforming_strings")
        c.execute("SET standard_conforming_strings = on")
        works_again(ctx, c, w)
    return "refused: %s" % str(e).strip().splitlines()[0]
