#!/usr/bin/python3
"""The SQLAlchemy ORM on psycopg2 (Debian's python3-sqlalchemy 1.4 and python3-psycopg2)
through the proxy: add_all and flush (a multi-row INSERT ... RETURNING of the identity key),
server-computed columns read back, begin_nested() savepoints with an IntegrityError inside,
bulk_insert_mappings, bulk_update_mappings, a query-level UPDATE with RETURNING ('fetch'),
an ORM delete, all under a login TimeZone of Europe/Berlin. Verified on both sides."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import (BigInteger, Column, Computed, Date, DateTime, Enum, Identity, Integer, LargeBinary,
                        Numeric, Text, create_engine, func, select, update)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, declarative_base

from drvlib import Env, need, parse_args, run_checks, same_on_both

args = parse_args()
env = Env(args)
T = env.tag
Base = declarative_base()
Status = Enum("new", "paid", "shipped", "cancelled", name="drv_status", create_type=False)


class Item(Base):
    __tablename__ = "drv_items"
    id = Column(BigInteger, Identity(always=True), primary_key=True)
    tag = Column(Text, nullable=False)
    sku = Column(Text, nullable=False)
    name = Column(Text, nullable=False)
    title = Column(Text)
    status = Column(Status, nullable=False, server_default="new")
    price = Column(Numeric(12, 2), nullable=False)
    qty = Column(Integer, server_default="0")
    total = Column(Numeric(14, 2), Computed("price * qty", persisted=True))
    weight = Column(Numeric(20, 6))
    tags = Column(ARRAY(Text), nullable=False, server_default="{}")
    dims = Column(ARRAY(Integer))
    list_price = Column(Text)            # drv_money, sent as its text form
    attrs = Column(JSONB, nullable=False, server_default="{}")
    blob = Column(LargeBinary)
    available_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), server_default=func.now())
    updated_at = Column(DateTime(timezone=True), server_default=func.now())


class Order(Base):
    __tablename__ = "drv_orders"
    id = Column(Integer, Identity(always=True), primary_key=True)
    tag = Column(Text, nullable=False)
    item_id = Column(BigInteger, nullable=False)
    status = Column(Status, nullable=False, server_default="new")
    amount = Column(Text)
    placed_at = Column(DateTime(timezone=True), nullable=False)
    placed_day = Column(Date, server_default=func.current_date())
    lines = Column(JSONB)
    updated_at = Column(DateTime(timezone=True), server_default=func.now())


a = env.args
engine = create_engine("postgresql+psycopg2://poc_user:admin123@127.0.0.1:%d/poc" % a.proxy_port,
                       future=True, pool_size=3, max_overflow=0, pool_timeout=10,
                       connect_args={"connect_timeout": 10, "options": "-c TimeZone=Europe/Berlin"})
BERLIN = dt.timezone(dt.timedelta(hours=2))


def items_same(prefix, expect=None):
    rows = same_on_both(env, "product", "SELECT sku, status, price, qty, total, tags, dims, list_price::text,"
                        " attrs, blob, available_at FROM drv_items WHERE tag = %s AND sku LIKE %s ORDER BY sku",
                        (T, prefix + "%"), "drv_items rows")
    if expect is not None:
        need(len(rows) == expect, "%d items %s*, expected %d" % (len(rows), prefix, expect))
    return rows


def orders_same(where, expect=None):
    rows = same_on_both(env, "cart", "SELECT item_id, status, amount::text, placed_at, placed_day, lines"
                        " FROM drv_orders WHERE tag = %%s AND %s ORDER BY item_id" % where, (T,), "drv_orders rows")
    if expect is not None:
        need(len(rows) == expect, "%d orders, expected %d" % (len(rows), expect))
    return rows


def orm_add_all():
    with Session(engine) as s, s.begin():
        items = [Item(tag=T, sku="SQA-%d" % i, name="orm %d" % i, title="Título %d" % i, price=Decimal("2.50"),
                      qty=i, tags=["orm", str(i)], dims=[i, i], list_price="(%d.00,GBP)" % i,
                      attrs={"orm": i}, blob=b"\x00\x01" * i,
                      available_at=dt.datetime(2024, 8, 1, 9, 0, tzinfo=BERLIN)) for i in range(1, 21)]
        s.add_all(items)
        s.flush()
        ids = [it.id for it in items]
    with Session(engine) as s:
        totals = s.execute(select(Item.sku, Item.total).where(Item.tag == T, Item.sku.like("SQA-%"))
                           .order_by(Item.qty)).all()
    need(len(set(ids)) == 20 and None not in ids, "ids %r" % ids)
    need([t for _, t in totals] == [Decimal("2.50") * i for i in range(1, 21)], "totals %r" % totals[:3])
    items_same("SQA-", 20)
    return "20 objects flushed with their identity keys, totals computed"


def begin_nested():
    with Session(engine) as s, s.begin():
        o = Order(tag=T, item_id=801, amount="(9.99,EUR)", placed_at=dt.datetime(2024, 3, 31, 1, 59, tzinfo=BERLIN),
                  lines={"n": 1})
        s.add(o)
        s.flush()
        try:
            with s.begin_nested():
                s.add(Order(tag=T, item_id=None, placed_at=dt.datetime.now(dt.timezone.utc)))
                s.flush()
            raise AssertionError("NOT NULL violation not raised")
        except IntegrityError:
            pass
        o.status = "paid"
        with s.begin_nested():
            s.add(Order(tag=T, item_id=802, placed_at=dt.datetime(2024, 10, 27, 2, 30, tzinfo=BERLIN)))
        try:
            with s.begin_nested():
                s.execute(update(Order).where(Order.tag == T, Order.item_id == 801).values(status="bogus"))
        except DBAPIError:
            pass
    got = orders_same("item_id BETWEEN 801 AND 899")
    need([(r[0], r[1]) for r in got] == [(801, "paid"), (802, "new")], "orders %r" % [(r[0], r[1]) for r in got])
    return "savepoints: an IntegrityError and a bad enum rolled back, the rest committed"


def bulk():
    with Session(engine) as s, s.begin():
        s.bulk_insert_mappings(Item, [dict(tag=T, sku="SQB-%d" % i, name="bulk", price=Decimal(i), qty=1,
                                           tags=["b"], attrs={"b": i}) for i in range(1, 101)])
    with Session(engine) as s, s.begin():
        rows = s.execute(select(Item.id, Item.sku).where(Item.tag == T, Item.sku.like("SQB-%"))).all()
        s.bulk_update_mappings(Item, [dict(id=i, qty=3, weight=Decimal("1.5")) for i, sku in rows
                                      if int(sku[4:]) % 2 == 0])
        r = s.execute(update(Item).where(Item.tag == T, Item.sku.like("SQB-%"), Item.qty == 1)
                      .values(status="shipped", attrs=Item.attrs.op("||")({"shipped": True}))
                      .execution_options(synchronize_session="fetch"))
        n_updated = r.rowcount
        s.query(Item).filter(Item.tag == T, Item.sku.in_(["SQB-99", "SQB-100"])).delete(synchronize_session=False)
    got = items_same("SQB-", 98)
    need(n_updated == 50, "query UPDATE rowcount %r" % n_updated)
    need(sum(r[4] for r in got) == sum(Decimal(i) * (3 if i % 2 == 0 else 1) for i in range(1, 99)),
         "sum(total) %s" % sum(r[4] for r in got))
    return "100 bulk inserts, 50 bulk updates, a query UPDATE of 50, 2 deletes"


def bulk_orders():
    with Session(engine) as s, s.begin():
        s.bulk_insert_mappings(Order, [dict(tag=T, item_id=850 + i, amount="(%d.00,EUR)" % i, lines={"b": i},
                                            placed_at=dt.datetime(2024, 10, 27, 2, i, tzinfo=BERLIN))
                                       for i in range(40)])
    with Session(engine) as s, s.begin():
        rows = s.execute(select(Order.id, Order.item_id).where(Order.tag == T, Order.item_id.between(850, 889))).all()
        s.bulk_update_mappings(Order, [dict(id=i, status="shipped") for i, item in rows if item % 2 == 0])
        r = s.execute(update(Order).where(Order.tag == T, Order.item_id.between(850, 889), Order.status == "new")
                      .values(lines=Order.lines.op("||")({"odd": True})).execution_options(synchronize_session="fetch"))
        n = r.rowcount
    got = orders_same("item_id BETWEEN 850 AND 889", 40)
    need(n == 20 and sum(x[1] == "shipped" for x in got) == 20, "rowcount %r, statuses %r" % (n, [x[1] for x in got]))
    return "40 bulk-inserted orders, 20 bulk updates, a query UPDATE of 20 (no generated column)"


def orm_update_stamps():
    with Session(engine) as s, s.begin():
        for o in s.scalars(select(Order).where(Order.tag == T, Order.item_id.in_([801, 802]))):
            o.lines = {"touched": o.item_id}
    orders_same("item_id IN (801, 802)", 2)
    return "ORM updates through the stamping trigger"


run_checks([
    ("orm_add_all_flush", orm_add_all, 30),
    ("begin_nested", begin_nested, 30),
    ("bulk_insert_update_delete", bulk, 40),
    ("bulk_orders", bulk_orders, 40),
    ("orm_update_stamps", orm_update_stamps, 30),
], args)
