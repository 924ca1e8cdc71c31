/* COPY through the connection: 100,000 text rows sent in odd CopyData sizes
 * (7, 1000 and 65,537 bytes) and read back byte for byte; the same table out
 * in binary format and fed back in; CopyFail; a bad row mid-stream. */
#include <stdint.h>

#include "itest.h"

#define ROWS 100000

static const int chunk_sizes[] = {7, 1000, 65537};

struct buf {
    char *data;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL)
            it_fail("out of memory");
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void exec_fmt(PGconn *c, const char *fmt, const char *table)
{
    char sql[256];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(sql, sizeof sql, fmt, table);
#pragma GCC diagnostic pop
    it_exec_clear(c, sql);
}

static long scalar_fmt(PGconn *c, const char *fmt, const char *a, const char *b)
{
    char sql[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(sql, sizeof sql, fmt, a, b);
#pragma GCC diagnostic pop
    return it_scalar(c, sql);
}

static void start_copy_in(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        it_fail("%s: %s %s", sql, PQresStatus(PQresultStatus(r)), it_msg(PQerrorMessage(c)));
    PQclear(r);
}

/* Sends `data` as CopyData messages cycling through chunk_sizes. */
static void put_chunks(PGconn *c, const char *data, size_t len)
{
    size_t off = 0;
    for (int i = 0; off < len; i++) {
        size_t n = (size_t)chunk_sizes[i % 3];
        if (n > len - off)
            n = len - off;
        if (PQputCopyData(c, data + off, (int)n) != 1)
            it_fail("PQputCopyData: %s", it_msg(PQerrorMessage(c)));
        off += n;
    }
}

/* Ends COPY IN; returns the final result (caller checks and clears). */
static PGresult *end_copy_in(PGconn *c, const char *errmsg)
{
    PGresult *r, *next;
    if (PQputCopyEnd(c, errmsg) != 1)
        it_fail("PQputCopyEnd: %s", it_msg(PQerrorMessage(c)));
    r = it_get_result(c, 60);
    if (r == NULL)
        it_fail("no result after COPY end");
    if ((next = it_get_result(c, 10)) != NULL)
        it_fail("extra result after COPY: %s", PQresStatus(PQresultStatus(next)));
    return r;
}

/* Runs a COPY ... TO STDOUT and returns everything it sent. */
static void copy_out(PGconn *c, const char *sql, struct buf *out, long *messages)
{
    PGresult *r = PQexec(c, sql);
    char *row;
    int n;
    if (PQresultStatus(r) != PGRES_COPY_OUT)
        it_fail("%s: %s %s", sql, PQresStatus(PQresultStatus(r)), it_msg(PQerrorMessage(c)));
    PQclear(r);
    *messages = 0;
    while ((n = PQgetCopyData(c, &row, 0)) > 0) {
        buf_add(out, row, (size_t)n);
        (*messages)++;
        PQfreemem(row);
    }
    if (n != -1)
        it_fail("PQgetCopyData: %s", it_msg(PQerrorMessage(c)));
    r = it_get_result(c, 30);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        it_fail("%s ended with %s %s", sql, PQresStatus(PQresultStatus(r)),
                it_msg(PQresultErrorMessage(r)));
    PQclear(r);
    if ((r = it_get_result(c, 10)) != NULL)
        it_fail("extra result after COPY OUT");
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Walks a binary COPY stream: row count and the sum of the first (int4) column. */
static void parse_binary(const struct buf *b, long *rows, long long *sum)
{
    static const char sig[11] = "PGCOPY\n\377\r\n";
    const unsigned char *p = (const unsigned char *)b->data, *end = p + b->len;
    *rows = 0;
    *sum = 0;
    if (b->len < 19 || memcmp(p, sig, 11) != 0)
        it_fail("binary COPY: bad header");
    p += 15;
    p += 4 + be32(p); /* header extension */
    for (;;) {
        int nfields;
        if (p + 2 > end)
            it_fail("binary COPY: truncated after %ld rows", *rows);
        nfields = (int16_t)(p[0] << 8 | p[1]);
        p += 2;
        if (nfields == -1)
            break;
        for (int f = 0; f < nfields; f++) {
            int32_t flen;
            if (p + 4 > end)
                it_fail("binary COPY: truncated field");
            flen = (int32_t)be32(p);
            p += 4;
            if (flen < 0)
                continue;
            if (p + flen > end)
                it_fail("binary COPY: field past the end");
            if (f == 0 && flen == 4)
                *sum += (int32_t)be32(p);
            p += flen;
        }
        (*rows)++;
    }
    if (p != end)
        it_fail("binary COPY: %ld bytes after the trailer", (long)(end - p));
}

int main(int argc, char **argv)
{
    struct buf sent = {0}, back = {0}, bin = {0};
    char t1[64], t2[64], t3[64], line[96], sql[256];
    long messages, rows;
    long long sum;
    uint64_t h_sent;
    size_t cut;
    PGconn *c;
    PGresult *r;
    double t0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    c = it_connect(argv[1]);
    snprintf(t1, sizeof t1, "itest_copy_%ld", (long)getpid());
    snprintf(t2, sizeof t2, "itest_copyb_%ld", (long)getpid());
    snprintf(t3, sizeof t3, "itest_copye_%ld", (long)getpid());
    for (int i = 0; i < 3; i++) {
        const char *t = i == 0 ? t1 : i == 1 ? t2 : t3;
        exec_fmt(c, "drop table if exists %s", t);
        exec_fmt(c, "create table %s (id int primary key, name text, val numeric(12,2))", t);
    }

    /* text in */
    for (int i = 1; i <= ROWS; i++) {
        int n = snprintf(line, sizeof line, "%d\titem-%d \\\\ tab\\there\t%d.%02d\n", i, i,
                         (i * 7) % 100000, i % 100);
        buf_add(&sent, line, (size_t)n);
    }
    h_sent = fnv1a(sent.data, sent.len);
    t0 = it_now();
    snprintf(sql, sizeof sql, "copy %s from stdin", t1);
    start_copy_in(c, sql);
    put_chunks(c, sent.data, sent.len);
    r = end_copy_in(c, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(r), "100000") != 0)
        it_fail("COPY FROM STDIN: %s '%s' %s", PQresStatus(PQresultStatus(r)), PQcmdTuples(r),
                it_msg(PQresultErrorMessage(r)));
    PQclear(r);
    it_ok("COPY FROM STDIN text: %d rows, %zu bytes in CopyData of 7/1000/65537 bytes (%.2f s)",
          ROWS, sent.len, it_now() - t0);

    /* text out, byte for byte */
    snprintf(sql, sizeof sql, "copy (select * from %s order by id) to stdout", t1);
    copy_out(c, sql, &back, &messages);
    rows = 0;
    for (size_t i = 0; i < back.len; i++)
        rows += back.data[i] == '\n';
    if (rows != ROWS || back.len != sent.len || fnv1a(back.data, back.len) != h_sent)
        it_fail("COPY TO STDOUT: %ld rows, %zu bytes, checksum %016llx; sent %d rows, %zu bytes, "
                "%016llx",
                rows, back.len, (unsigned long long)fnv1a(back.data, back.len), ROWS, sent.len,
                (unsigned long long)h_sent);
    it_ok("COPY TO STDOUT text: %ld rows in %ld CopyData, checksum %016llx = sent", rows, messages,
          (unsigned long long)h_sent);

    /* binary out, then the same bytes back in */
    snprintf(sql, sizeof sql, "copy %s to stdout (format binary)", t1);
    copy_out(c, sql, &bin, &messages);
    parse_binary(&bin, &rows, &sum);
    if (rows != ROWS || sum != (long long)ROWS * (ROWS + 1) / 2)
        it_fail("COPY binary out: %ld rows, id sum %lld", rows, sum);
    it_ok("COPY TO STDOUT binary: %ld rows, %zu bytes, id sum %lld", rows, bin.len, sum);
    snprintf(sql, sizeof sql, "copy %s from stdin (format binary)", t2);
    start_copy_in(c, sql);
    put_chunks(c, bin.data, bin.len);
    r = end_copy_in(c, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(r), "100000") != 0)
        it_fail("COPY FROM STDIN binary: %s %s", PQresStatus(PQresultStatus(r)),
                it_msg(PQresultErrorMessage(r)));
    PQclear(r);
    if (scalar_fmt(c,
                   "select count(*) from %s a full join %s b using (id) "
                   "where a.name is distinct from b.name or a.val is distinct from b.val",
                   t1, t2) != 0)
        it_fail("binary round trip: tables differ");
    it_ok("COPY FROM STDIN binary (odd chunks): 100000 rows identical to the text-loaded table");

    /* CopyFail: error, one result, nothing kept, session usable */
    snprintf(sql, sizeof sql, "copy %s from stdin", t3);
    start_copy_in(c, sql);
    put_chunks(c, sent.data, 5000);
    r = end_copy_in(c, "itest: client aborted the copy");
    if (PQresultStatus(r) != PGRES_FATAL_ERROR || strcmp(it_sqlstate(r), "57014") != 0)
        it_fail("CopyFail: %s %s, want error 57014", PQresStatus(PQresultStatus(r)),
                it_sqlstate(r));
    PQclear(r);
    if (scalar_fmt(c, "select count(*) from %s%s", t3, "") != 0)
        it_fail("CopyFail: rows were kept");
    it_ok("CopyFail: error 57014, no rows kept");

    /* a bad row mid-stream: the error arrives, later CopyData is dropped */
    snprintf(sql, sizeof sql, "copy %s from stdin", t3);
    start_copy_in(c, sql);
    cut = 20000;
    while (sent.data[cut - 1] != '\n') /* the bad row starts a line of its own */
        cut--;
    put_chunks(c, sent.data, cut);
    put_chunks(c, "not-a-number\tx\t1\n", 17);
    put_chunks(c, sent.data + cut, 200000);
    r = end_copy_in(c, NULL);
    if (PQresultStatus(r) != PGRES_FATAL_ERROR || strcmp(it_sqlstate(r), "22P02") != 0)
        it_fail("bad row: %s %s, want error 22P02", PQresStatus(PQresultStatus(r)),
                it_sqlstate(r));
    PQclear(r);
    if (scalar_fmt(c, "select count(*) from %s%s", t3, "") != 0)
        it_fail("bad row: rows were kept");
    it_ok("bad row mid-stream: error 22P02, no rows kept");

    if (it_scalar(c, "select 11") != 11)
        it_fail("session unusable after COPY errors");
    it_ok("session usable afterwards");
    for (int i = 0; i < 3; i++)
        exec_fmt(c, "drop table %s", i == 0 ? t1 : i == 1 ? t2 : t3);
    PQfinish(c);
    free(sent.data);
    free(back.data);
    free(bin.data);
    puts("COPY: all good");
    return 0;
}
