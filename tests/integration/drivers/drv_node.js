// node-postgres (npm pg) through the proxy: parameterised queries (unnamed statements) with
// jsonb, bytea, arrays, a composite and timestamps; named prepared statements reused; a
// transaction with a savepoint rolled back after an error; a Pool of concurrent updates; and
// a SET TimeZone. Each check verifies its rows straight on legacy and the service database.
// Prints PASS/FAIL lines like the Python clients; every check is bounded by a timeout.
'use strict';
const { Client, Pool } = require('pg');

const argv = process.argv.slice(2);
const opt = {};
for (let i = 0; i < argv.length; i += 2) opt[argv[i].replace(/^--/, '')] = argv[i + 1];
const T = opt.tag;
const only = opt.only ? new RegExp(opt.only) : null;

const proxyCfg = {
  host: '127.0.0.1', port: +opt['proxy-port'], database: 'poc', user: 'poc_user',
  password: 'admin123', connectionTimeoutMillis: 10000,
};
const direct = {
  legacy: { host: '127.0.0.1', port: +opt['legacy-port'], database: 'poc', user: 'poc_user', password: 'admin123' },
  product: { host: '127.0.0.1', port: +opt['product-port'], database: 'product_db', user: 'product_user', password: 'product_pass123' },
  cart: { host: '127.0.0.1', port: +opt['cart-port'], database: 'cart_db', user: 'cart_user', password: 'cart_pass123' },
};

function need(cond, msg) { if (!cond) throw new Error(msg); }

async function withClient(cfg, fn) {
  const c = new Client(cfg);
  await c.connect();
  try { return await fn(c); } finally { await c.end().catch(() => {}); }
}

// The same query straight on legacy and on the service database; rows as JSON must match.
async function sameOnBoth(service, text, values) {
  const q = async (side) => withClient({ ...direct[side], options: '-c TimeZone=UTC' },
    async (c) => (await c.query({ text, values, rowMode: 'array' })).rows);
  const [l, s] = [await q('legacy'), await q(service)];
  const lj = JSON.stringify(l), sj = JSON.stringify(s);
  need(lj === sj, `rows differ: legacy ${lj.slice(0, 300)} / ${service} ${sj.slice(0, 300)}`);
  return l;
}
const itemsSame = (prefix) => sameOnBoth('product',
  'SELECT sku, status, price, qty, total, tags, dims, list_price::text, attrs, blob, available_at' +
  ' FROM drv_items WHERE tag = $1 AND sku LIKE $2 ORDER BY sku', [T, prefix + '%']);
const ordersSame = (where) => sameOnBoth('cart',
  `SELECT item_id, status, amount::text, placed_at, placed_day, lines FROM drv_orders WHERE tag = $1 AND ${where}` +
  ' ORDER BY item_id', [T]);

const checks = [];
const check = (name, ms, fn) => checks.push({ name, ms, fn });

check('param_queries', 30000, async () => withClient({ ...proxyCfg, options: '-c TimeZone=America/Sao_Paulo' }, async (c) => {
  const ids = [];
  for (let i = 1; i <= 10; i++) {
    const r = await c.query(
      'INSERT INTO drv_items (tag, sku, name, title, price, qty, tags, dims, list_price, attrs, blob, available_at)' +
      ' VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id, total',
      [T, `NOD-${i}`, `node ${i}`, `Ärger ${i}`, '3.30', i, ['n', `x${i}`], [i, -i], `(${i}.00,BRL)`,
        { node: i, nested: { a: [1, 2] } }, Buffer.from([i, 254]), new Date(Date.UTC(2024, 0, i, 12))]);
    ids.push(r.rows[0].id);
    need(r.rows[0].total === (3.3 * i).toFixed(2), `total ${r.rows[0].total} for ${i}`);
  }
  await c.query("UPDATE drv_items SET available_at = '2024-02-10 23:00' WHERE tag = $1 AND sku = 'NOD-1'", [T]);
  need(new Set(ids).size === 10, `ids ${ids}`);
  const rows = await itemsSame('NOD-');
  need(rows.length === 10 && rows[0][10] instanceof Date &&
       rows[0][10].toISOString() === '2024-02-11T02:00:00.000Z', `NOD-1 ${JSON.stringify(rows[0])}`);
  return '10 parameterised INSERT RETURNING, an UPDATE under America/Sao_Paulo';
}));

check('named_prepared', 30000, async () => withClient(proxyCfg, async (c) => {
  for (let i = 1; i <= 10; i++) {
    await c.query({ name: 'drv_ins', text: 'INSERT INTO drv_orders (tag, item_id, amount, placed_at, lines)' +
      ' VALUES ($1, $2, $3, $4, $5)', values: [T, 900 + i, `(${i}.50,EUR)`, new Date(Date.UTC(2024, 5, i)), JSON.stringify([i])] });
  }
  for (let i = 1; i <= 10; i += 2) {
    await c.query({ name: 'drv_upd', text: "UPDATE drv_orders SET status = 'paid' WHERE tag = $1 AND item_id = $2", values: [T, 900 + i] });
  }
  const r = await c.query({ name: 'drv_sel', text: 'SELECT count(*)::int AS n FROM drv_orders WHERE tag = $1 AND status = $2', values: [T, 'paid'] });
  need(r.rows[0].n === 5, `paid ${r.rows[0].n}`);
  const rows = await ordersSame('item_id BETWEEN 901 AND 910');
  need(rows.length === 10, `${rows.length} orders`);
  return 'named statements drv_ins x10, drv_upd x5, drv_sel';
}));

check('transaction_savepoint', 30000, async () => withClient(proxyCfg, async (c) => {
  await c.query('BEGIN');
  await c.query('INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ($1, 951, now())', [T]);
  await c.query('SAVEPOINT s1');
  let failed = false;
  try { await c.query("UPDATE drv_orders SET status = 'bogus' WHERE tag = $1", [T]); } catch (e) { failed = e.code === '22P02'; }
  need(failed, 'the bad enum value was not refused with 22P02');
  await c.query('ROLLBACK TO SAVEPOINT s1');
  await c.query("UPDATE drv_orders SET status = 'shipped' WHERE tag = $1 AND item_id = 951", [T]);
  await c.query('INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ($1, 952, now())', [T]);
  await c.query('COMMIT');
  const rows = await ordersSame('item_id BETWEEN 951 AND 952');
  need(rows.length === 2 && rows[0][1] === 'shipped', `orders ${JSON.stringify(rows)}`);
  return 'BEGIN, an error, ROLLBACK TO SAVEPOINT, COMMIT';
}));

check('pool_concurrent_updates', 40000, async () => {
  const pool = new Pool({ ...proxyCfg, max: 4 });
  try {
    await pool.query("INSERT INTO drv_orders (tag, item_id, placed_at, lines) VALUES ($1, 961, now(), '[]')", [T]);
    await Promise.all(Array.from({ length: 40 }, (_, n) => pool.query(
      'UPDATE drv_orders SET lines = lines || to_jsonb($2::int) WHERE tag = $1 AND item_id = 961', [T, n])));
  } finally { await pool.end(); }
  const rows = await ordersSame('item_id = 961');
  need(rows.length === 1 && rows[0][5].length === 40, `lines ${JSON.stringify(rows)}`);
  return '40 concurrent appends through a Pool of 4, same order on both sides';
});

check('types_read_back', 30000, async () => withClient(proxyCfg, async (c) => {
  await c.query("INSERT INTO drv_items (tag, sku, name, price, qty, tags, attrs, blob, available_at) VALUES" +
    " ($1, 'NOR-2', 'read back', 3.30, 2, $2, $3, $4, now())", [T, ['n', 'x2'], { node: 2 }, Buffer.from([2, 254])]);
  const r = await c.query({ text: 'SELECT sku, total, attrs, blob, tags, available_at FROM drv_items WHERE tag = $1' +
    " AND sku = 'NOR-2'", values: [T] });
  need(r.rows.length === 1, `${r.rows.length} rows`);
  const row = r.rows[0];
  need(row.total === '6.60' && row.attrs.node === 2 && Buffer.isBuffer(row.blob) && row.blob[1] === 254 &&
    row.tags[1] === 'x2' && row.available_at instanceof Date, `row ${JSON.stringify(row)}`);
  return 'numeric, jsonb, bytea, text[], timestamptz parsed';
}));

function withTimeout(p, ms) {
  let timer;
  return Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`no answer within ${ms / 1000} s (hung)`)), ms); })])
    .finally(() => clearTimeout(timer));
}

(async () => {
  let failed = 0;
  for (const { name, ms, fn } of checks) {
    if (only && !only.test(name)) continue;
    const t0 = Date.now();
    try {
      const detail = await withTimeout(fn(), ms);
      console.log(`PASS ${name}: ${detail} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${String(e.message || e).replace(/\n/g, ' | ').slice(0, 600)}`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
