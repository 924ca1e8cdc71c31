// pgJDBC (Debian's libpostgresql-jdbc-java) through the proxy: batched INSERTs rewritten by
// reWriteBatchedInserts with generated keys, batched UPDATEs, a single INSERT returning
// every generated column, a savepoint rolled back after an error, and server-side prepared
// statements (past prepareThreshold). The JVM runs with -Duser.timezone=Pacific/Auckland,
// which pgJDBC sends as the TimeZone startup parameter. Each check compares its rows
// straight on legacy and the service database. Prints PASS/FAIL lines; every check has a
// time limit (and the connections a socketTimeout), so nothing hangs.
import java.math.BigDecimal;
import java.sql.*;
import java.time.*;
import java.util.*;
import java.util.concurrent.*;
import java.util.regex.Pattern;

public class DrvJdbc {
    static final Map<String, String> opt = new HashMap<>();
    static String T;

    static Connection proxy() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "poc_user");
        p.setProperty("password", "admin123");
        p.setProperty("reWriteBatchedInserts", "true");
        p.setProperty("connectTimeout", "10");
        p.setProperty("socketTimeout", "25");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + opt.get("proxy-port") + "/poc", p);
    }

    static Connection direct(String side) throws SQLException {
        String port = opt.get(side + "-port");
        String db = side.equals("legacy") ? "poc" : side + "_db";
        String user = side.equals("legacy") ? "poc_user" : side + "_user";
        String pw = side.equals("legacy") ? "admin123" : side + "_pass123";
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", pw);
        p.setProperty("connectTimeout", "10");
        p.setProperty("socketTimeout", "20");
        p.setProperty("options", "-c TimeZone=UTC");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + db, p);
    }

    static void need(boolean cond, String msg) {
        if (!cond) throw new AssertionError(msg);
    }

    static List<String> rows(String side, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = direct(side); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, T);
            try (ResultSet rs = ps.executeQuery()) {
                int n = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    StringBuilder b = new StringBuilder();
                    for (int i = 1; i <= n; i++) b.append(i > 1 ? "|" : "").append(rs.getString(i));
                    out.add(b.toString());
                }
            }
        }
        return out;
    }

    /** The query (its one parameter is the tag) on legacy and the service: same rows. */
    static List<String> sameOnBoth(String service, String sql) throws SQLException {
        List<String> l = rows("legacy", sql), s = rows(service, sql);
        need(l.equals(s), "rows differ: legacy " + head(l) + " / " + service + " " + head(s));
        return l;
    }

    static String head(List<String> l) {
        return l.subList(0, Math.min(3, l.size())).toString() + (l.size() > 3 ? " (" + l.size() + " rows)" : "");
    }

    static final String ITEMS = "SELECT sku, status, price, qty, total, tags, list_price::text, attrs, available_at"
        + " FROM drv_items WHERE tag = ? AND sku LIKE 'JDB-%' ORDER BY sku";
    static final String ORDERS = "SELECT item_id, status, amount::text, placed_at, placed_day, lines"
        + " FROM drv_orders WHERE tag = ? AND item_id BETWEEN 1000 AND 1999 ORDER BY item_id";

    static String batchGeneratedKeys() throws Exception {
        try (Connection c = proxy()) {
            c.setAutoCommit(false);
            Set<Long> ids = new HashSet<>();
            List<BigDecimal> totals = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO drv_items (tag, sku, name, status, price, qty, tags, list_price, attrs, available_at)"
                    + " VALUES (?, ?, ?, ?::drv_status, ?, ?, ?, ?::drv_money, ?::jsonb, ?)", new String[] {"id", "total"})) {
                for (int i = 1; i <= 50; i++) {
                    ps.setString(1, T);
                    ps.setString(2, "JDB-" + i);
                    ps.setString(3, "jdbc " + i);
                    ps.setString(4, i % 3 == 0 ? "paid" : "new");
                    ps.setBigDecimal(5, new BigDecimal("4.40"));
                    ps.setInt(6, i);
                    ps.setArray(7, c.createArrayOf("text", new String[] {"j", "k" + i}));
                    ps.setString(8, "(" + i + ".25,NZD)");
                    ps.setString(9, "{\"jdbc\": " + i + "}");
                    ps.setObject(10, OffsetDateTime.of(2024, 4, 7, 2, 30, 0, 0, ZoneOffset.ofHours(13)));
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                int sum = 0;
                for (int n : counts) sum += n == Statement.SUCCESS_NO_INFO ? 1 : n;
                try (ResultSet k = ps.getGeneratedKeys()) {
                    while (k.next()) {
                        ids.add(k.getLong(1));
                        totals.add(k.getBigDecimal(2));
                    }
                }
                need(sum == 50, "batch counts add up to " + sum + ": " + Arrays.toString(counts));
            }
            c.commit();
            need(ids.size() == 50, ids.size() + " generated keys, expected 50");
            need(totals.contains(new BigDecimal("220.00")), "totals " + totals);
        }
        List<String> r = sameOnBoth("product", ITEMS);
        need(r.size() == 50, r.size() + " rows on both sides");
        return "50 rows in a rewritten batch, 50 generated keys and totals";
    }

    /** A rewritten batch into drv_orders (no generated stored column), then batched UPDATEs of it. */
    static String batchOrdersAndUpdates() throws Exception {
        List<Integer> ids = new ArrayList<>();
        try (Connection c = proxy()) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO drv_orders (tag, item_id, amount, placed_at, lines)"
                    + " VALUES (?, ?, ?::drv_money, ?, ?::jsonb)", Statement.RETURN_GENERATED_KEYS)) {
                for (int i = 1; i <= 40; i++) {
                    ps.setString(1, T);
                    ps.setLong(2, 1100 + i);
                    ps.setString(3, "(" + i + ".00,NZD)");
                    ps.setObject(4, OffsetDateTime.of(2024, 9, 29, 1, 59, 0, 0, ZoneOffset.ofHours(12)));
                    ps.setString(5, "[" + i + "]");
                    ps.addBatch();
                }
                ps.executeBatch();
                try (ResultSet k = ps.getGeneratedKeys()) {
                    while (k.next()) ids.add(k.getInt("id"));
                }
            }
            need(new HashSet<>(ids).size() == 40, ids.size() + " distinct generated ids, expected 40: " + ids);
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE drv_orders SET status = ?::drv_status, lines = lines || ?::jsonb WHERE tag = ? AND id = ?")) {
                for (int i = 0; i < 40; i += 2) {
                    ps.setString(1, "shipped");
                    ps.setString(2, "{\"batch\": true}");
                    ps.setString(3, T);
                    ps.setInt(4, ids.get(i));
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                for (int n : counts) need(n == 1, "update counts " + Arrays.toString(counts));
            }
        }
        List<String> r = sameOnBoth("cart", ORDERS.replace("BETWEEN 1000 AND 1999", "BETWEEN 1101 AND 1140"));
        need(r.size() == 40 && r.stream().filter(x -> x.contains("|shipped|")).count() == 20, "orders " + head(r));
        return "40 orders in a rewritten batch with 40 generated keys, 20 batched UPDATEs";
    }

    static String batchUpdates() throws Exception {
        try (Connection c = proxy(); PreparedStatement ps = c.prepareStatement(
                "UPDATE drv_items SET qty = ?, attrs = attrs || ?::jsonb WHERE tag = ? AND sku = ?")) {
            for (int i = 1; i <= 50; i += 2) {
                ps.setInt(1, 100 + i);
                ps.setString(2, "{\"batch\": true}");
                ps.setString(3, T);
                ps.setString(4, "JDB-" + i);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            for (int n : counts) need(n == 1, "update counts (the items come from batch_rewrite_generated_keys) "
                + Arrays.toString(counts));
        }
        sameOnBoth("product", ITEMS);
        return "25 batched UPDATEs in autocommit, each 1 row";
    }

    static String generatedKeysAllColumns() throws Exception {
        LocalDate before = LocalDate.now(ZoneId.of("Pacific/Auckland"));
        String day;
        try (Connection c = proxy(); Statement st = c.createStatement()) {
            st.executeUpdate("INSERT INTO drv_orders (tag, item_id, amount, placed_at, lines) VALUES ('" + T
                + "', 1001, '(12.00,NZD)', '2024-09-29 02:30:00', '{\"j\": 1}')", Statement.RETURN_GENERATED_KEYS);
            try (ResultSet k = st.getGeneratedKeys()) {
                need(k.next(), "no generated keys row");
                need(k.getMetaData().getColumnCount() == 9, "RETURNING * gave " + k.getMetaData().getColumnCount()
                    + " columns, the table has 9");
                need(k.getInt("id") > 0 && k.getString("status").equals("new"), "keys " + k.getString("id"));
                day = k.getString("placed_day");
            }
            try (ResultSet tz = st.executeQuery("SHOW TimeZone")) {
                tz.next();
                need(tz.getString(1).equals("Pacific/Auckland"), "TimeZone " + tz.getString(1));
            }
        }
        LocalDate after = LocalDate.now(ZoneId.of("Pacific/Auckland"));
        need(day.equals(before.toString()) || day.equals(after.toString()), "placed_day " + day + ", Auckland's " + before);
        sameOnBoth("cart", ORDERS);
        return "RETURN_GENERATED_KEYS gave all 9 columns; placed_day in Auckland's date";
    }

    static String savepoint() throws Exception {
        try (Connection c = proxy()) {
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.executeUpdate("INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ('" + T + "', 1002, now())");
                Savepoint sp = c.setSavepoint();
                try {
                    st.executeUpdate("UPDATE drv_orders SET status = 'bogus' WHERE tag = '" + T + "'");
                    throw new AssertionError("the bad enum value was not refused");
                } catch (SQLException e) {
                    need("22P02".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
                }
                c.rollback(sp);
                st.executeUpdate("UPDATE drv_orders SET status = 'paid' WHERE tag = '" + T + "' AND item_id = 1002");
            }
            c.commit();
        }
        List<String> r = sameOnBoth("cart", ORDERS);
        need(r.stream().anyMatch(s -> s.startsWith("1002|paid|")), "orders " + r);
        return "setSavepoint, an error, rollback(savepoint), commit";
    }

    static String serverPrepared() throws Exception {
        try (Connection c = proxy(); Statement st = c.createStatement()) {
            st.executeUpdate("INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ('" + T + "', 1003, now())");
        }
        try (Connection c = proxy(); PreparedStatement up = c.prepareStatement(
                "UPDATE drv_orders SET lines = coalesce(lines, '[]') || to_jsonb(?::int) WHERE tag = ? AND item_id = ?");
             PreparedStatement sel = c.prepareStatement("SELECT count(*) FROM drv_orders WHERE tag = ? AND item_id > ?")) {
            for (int i = 0; i < 10; i++) {
                up.setInt(1, i);
                up.setString(2, T);
                up.setInt(3, 1003);
                need(up.executeUpdate() == 1, "update " + i);
                sel.setString(1, T);
                sel.setInt(2, 999);
                try (ResultSet rs = sel.executeQuery()) {
                    rs.next();
                    need(rs.getInt(1) >= 1, "count " + rs.getInt(1));
                }
            }
        }
        sameOnBoth("cart", ORDERS);
        return "10 executions each of an UPDATE and a SELECT past prepareThreshold";
    }

    interface Check { String run() throws Exception; }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i + 1 < args.length; i += 2) opt.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        T = opt.get("tag");
        Pattern only = opt.containsKey("only") ? Pattern.compile(opt.get("only")) : null;
        Object[][] checks = {
            {"batch_rewrite_generated_keys", (Check) DrvJdbc::batchGeneratedKeys},
            {"batch_updates", (Check) DrvJdbc::batchUpdates},
            {"batch_orders_keys_and_updates", (Check) DrvJdbc::batchOrdersAndUpdates},
            {"generated_keys_all_columns", (Check) DrvJdbc::generatedKeysAllColumns},
            {"savepoint_after_error", (Check) DrvJdbc::savepoint},
            {"server_prepared_statements", (Check) DrvJdbc::serverPrepared},
        };
        ExecutorService ex = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        int failed = 0;
        for (Object[] ch : checks) {
            String name = (String) ch[0];
            if (only != null && !only.matcher(name).find()) continue;
            long t0 = System.nanoTime();
            Future<String> f = ex.submit(((Check) ch[1])::run);
            try {
                String detail = f.get(30, TimeUnit.SECONDS);
                System.out.printf("PASS %s: %s (%.1f s)%n", name, detail, (System.nanoTime() - t0) / 1e9);
            } catch (TimeoutException e) {
                failed++;
                f.cancel(true);
                System.out.println("FAIL " + name + ": no answer within 30 s (hung)");
            } catch (ExecutionException e) {
                failed++;
                Throwable c = e.getCause();
                String m = c.getClass().getSimpleName() + ": " + c.getMessage();
                if (c instanceof SQLException && ((SQLException) c).getNextException() != null)
                    m = c.getClass().getSimpleName() + ": " + ((SQLException) c).getNextException().getMessage()
                        + " [" + c.getMessage().substring(0, Math.min(120, c.getMessage().length())) + "...]";
                m = m.replace("\n", " | ");
                System.out.println("FAIL " + name + ": " + m.substring(0, Math.min(600, m.length())));
            }
            System.out.flush();
        }
        System.exit(failed == 0 ? 0 : 1);
    }
}
