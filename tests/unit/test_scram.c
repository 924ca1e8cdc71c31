/* Unit tests for protocol/scram: the RFC 7677 example on both sides, a real
 * PostgreSQL 15 verifier, end-to-end exchanges, and every rejection rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "protocol/scram.h"

/* ---- RFC 7677 section 3 example */
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE_SUFFIX "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_NONCE RFC_CNONCE RFC_SNONCE_SUFFIX
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL \
    "c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const uint8_t rfc_salt[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
                                     0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};

/* Made by PostgreSQL 15.x: SET password_encryption='scram-sha-256';
 * CREATE ROLE x PASSWORD 'pencil'; CREATE ROLE y PASSWORD 'pass,w=rd'; */
static const char pg15_verifier_pencil[] =
    "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$Z9PZ8mWvOk5ZttnuMfcCTdhmSZv894e52KpUDydCzes=:"
    "Q6KdcsNerDXYaMrsCmxdeZpf52TSLzXW4Lj7dt6Zywk=";
static const char pg15_verifier_comma[] =
    "SCRAM-SHA-256$4096:hD/oz/X/jmddL7gq4SUHOg==$vgP3R6zUQJzNPrP8VpbZhLuqbx/6ZHXJWXQEHXgRc8s=:"
    "Z46QawgnJNdAdD4kQnaVOqYqzSs24xzaNt6Y0VdNCvI=";

static const uint8_t *u8(const char *s)
{
    return (const uint8_t *)s;
}

/* Run a full exchange between our client and our server. Returns true when both
 * sides accept; *stage tells where it stopped. */
static bool exchange(const scram_secret *secret, const char *password, const char **err,
                     int *stage)
{
    bool ok = false;
    char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
    size_t l1, l2, l3, l4;
    scram_client *c = scram_client_new(password, NULL);
    scram_server *s = scram_server_new(secret, NULL);
    cr_assert(c && s);
    *stage = 0;
    *err = NULL;
    if (!scram_client_first(c, &m1, &l1))
        goto out;
    *stage = 1;
    if (!scram_server_first(s, u8(m1), l1, &m2, &l2, err))
        goto out;
    *stage = 2;
    if (!scram_client_continue(c, u8(m2), l2, &m3, &l3, err))
        goto out;
    *stage = 3;
    if (!scram_server_final(s, u8(m3), l3, &m4, &l4, err))
        goto out;
    *stage = 4;
    if (!scram_client_final(c, u8(m4), l4, err))
        goto out;
    *stage = 5;
    ok = true;
out:
    free(m1);
    free(m2);
    free(m3);
    free(m4);
    scram_client_free(c);
    scram_server_free(s);
    return ok;
}

/* Independent proof computation (straight from RFC 5802 section 3), to build
 * client-final messages our own client never sends, e.g. after "y,,". */
static void reference_proof(const char *password, const uint8_t *salt, size_t salt_len, int iter,
                            const char *auth_message, char out_b64[45])
{
    uint8_t salted[32], ck[32], sk[32], sig[32], proof[32];
    unsigned int n = 0;
    cr_assert(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iter,
                                EVP_sha256(), 32, salted) == 1);
    cr_assert(HMAC(EVP_sha256(), salted, 32, u8("Client Key"), 10, ck, &n));
    cr_assert(EVP_Digest(ck, 32, sk, &n, EVP_sha256(), NULL) == 1);
    cr_assert(HMAC(EVP_sha256(), sk, 32, u8(auth_message), strlen(auth_message), sig, &n));
    for (int i = 0; i < 32; i++)
        proof[i] = ck[i] ^ sig[i];
    cr_assert(EVP_EncodeBlock((unsigned char *)out_b64, proof, 32) == 44);
}

/* ------------------------------------------------------------ RFC 7677 */

Test(scram_rfc7677, client_side)
{
    scram_client *c = scram_client_new_user("user", "pencil", RFC_CNONCE);
    cr_assert_not_null(c);
    char *out = NULL;
    size_t len = 0;
    const char *err = NULL;

    cr_assert(scram_client_first(c, &out, &len));
    cr_assert_str_eq(out, RFC_CLIENT_FIRST);
    cr_assert_eq(len, strlen(RFC_CLIENT_FIRST));
    free(out);

    cr_assert(scram_client_continue(c, u8(RFC_SERVER_FIRST), strlen(RFC_SERVER_FIRST), &out, &len,
                                    &err),
              "continue failed: %s", err);
    cr_assert_str_eq(out, RFC_CLIENT_FINAL);
    cr_assert_eq(len, strlen(RFC_CLIENT_FINAL));
    free(out);

    cr_assert(scram_client_final(c, u8(RFC_SERVER_FINAL), strlen(RFC_SERVER_FINAL), &err),
              "final failed: %s", err);
    scram_client_free(c);
}

Test(scram_rfc7677, server_side)
{
    scram_secret sec;
    cr_assert(scram_secret_from_password("pencil", rfc_salt, sizeof rfc_salt, 4096, &sec));
    scram_server *s = scram_server_new(&sec, RFC_SNONCE_SUFFIX);
    cr_assert_not_null(s);
    char *out = NULL;
    size_t len = 0;
    const char *err = NULL;

    cr_assert(scram_server_first(s, u8(RFC_CLIENT_FIRST), strlen(RFC_CLIENT_FIRST), &out, &len,
                                 &err),
              "first failed: %s", err);
    cr_assert_str_eq(out, RFC_SERVER_FIRST);
    cr_assert_eq(len, strlen(RFC_SERVER_FIRST));
    free(out);

    cr_assert(scram_server_final(s, u8(RFC_CLIENT_FINAL), strlen(RFC_CLIENT_FINAL), &out, &len,
                                 &err),
              "final failed: %s", err);
    cr_assert_str_eq(out, RFC_SERVER_FINAL);
    cr_assert_eq(len, strlen(RFC_SERVER_FINAL));
    free(out);

    /* the exchange is over: a replayed final is refused */
    cr_assert_not(scram_server_final(s, u8(RFC_CLIENT_FINAL), strlen(RFC_CLIENT_FINAL), &out,
                                     &len, &err));
    cr_assert_null(out);
    scram_server_free(s);
}

Test(scram_rfc7677, client_default_sends_empty_username)
{
    scram_client *c = scram_client_new("pencil", "abc");
    cr_assert_not_null(c);
    char *out = NULL;
    size_t len = 0;
    cr_assert(scram_client_first(c, &out, &len));
    cr_assert_str_eq(out, "n,,n=,r=abc");
    free(out);
    /* a second first-message is out of sequence */
    cr_assert_not(scram_client_first(c, &out, &len));
    scram_client_free(c);
}

Test(scram_rfc7677, client_escapes_username)
{
    scram_client *c = scram_client_new_user("a,b=c", "pencil", "abc");
    cr_assert_not_null(c);
    char *out = NULL;
    size_t len = 0;
    cr_assert(scram_client_first(c, &out, &len));
    cr_assert_str_eq(out, "n,,n=a=2Cb=3Dc,r=abc");
    free(out);
    scram_client_free(c);
}

/* ------------------------------------------------------------ end to end */

Test(scram_e2e, random_nonces_succeed)
{
    scram_secret sec;
    cr_assert(scram_secret_from_password("correct horse", NULL, 0, 4096, &sec));
    cr_assert_eq(sec.salt_len, 16);
    for (int i = 0; i < 3; i++) {
        const char *err = NULL;
        int stage = 0;
        cr_assert(exchange(&sec, "correct horse", &err, &stage), "stage %d: %s", stage,
                  err ? err : "(none)");
    }
}

Test(scram_e2e, random_nonces_differ)
{
    char *a = NULL, *b = NULL;
    size_t la, lb;
    scram_client *c1 = scram_client_new("x", NULL);
    scram_client *c2 = scram_client_new("x", NULL);
    cr_assert(c1 && c2);
    cr_assert(scram_client_first(c1, &a, &la));
    cr_assert(scram_client_first(c2, &b, &lb));
    cr_assert_eq(la, strlen("n,,n=,r=") + 24);
    cr_assert_str_neq(a, b);
    free(a);
    free(b);
    scram_client_free(c1);
    scram_client_free(c2);
}

Test(scram_e2e, wrong_password_refused)
{
    scram_secret sec;
    cr_assert(scram_secret_from_password("pencil", NULL, 0, 4096, &sec));
    const char *err = NULL;
    int stage = 0;
    cr_assert_not(exchange(&sec, "pencil2", &err, &stage));
    cr_assert_eq(stage, 3, "refused at stage %d", stage);
    cr_assert_not_null(err);
    cr_assert(strstr(err, "invalid"), "err: %s", err);
}

Test(scram_e2e, client_refuses_impostor_server)
{
    /* a server with a different password's keys cannot produce the right v= */
    scram_client *c = scram_client_new_user("user", "pencil", RFC_CNONCE);
    cr_assert_not_null(c);
    char *out = NULL;
    size_t len = 0;
    const char *err = NULL;
    cr_assert(scram_client_first(c, &out, &len));
    free(out);
    cr_assert(scram_client_continue(c, u8(RFC_SERVER_FIRST), strlen(RFC_SERVER_FIRST), &out, &len,
                                    &err));
    free(out);
    const char *bad = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    cr_assert_not(scram_client_final(c, u8(bad), strlen(bad), &err));
    cr_assert(strstr(err, "signature"), "err: %s", err);
    /* and the real one is no longer accepted after a failure */
    cr_assert_not(scram_client_final(c, u8(RFC_SERVER_FINAL), strlen(RFC_SERVER_FINAL), &err));
    scram_client_free(c);
}

Test(scram_e2e, server_accepts_y_flag_with_matching_binding)
{
    scram_secret sec;
    cr_assert(scram_secret_from_password("pencil", rfc_salt, sizeof rfc_salt, 4096, &sec));
    scram_server *s = scram_server_new(&sec, "XYZ");
    cr_assert_not_null(s);
    char *out = NULL;
    size_t len = 0;
    const char *err = NULL;
    const char *cf = "y,,n=,r=abc";
    cr_assert(scram_server_first(s, u8(cf), strlen(cf), &out, &len, &err), "%s", err);
    char am[512];
    snprintf(am, sizeof am, "n=,r=abc,%s,c=eSws,r=abcXYZ", out);
    free(out);
    char proof[45];
    reference_proof("pencil", rfc_salt, sizeof rfc_salt, 4096, am, proof);
    char fin[256];
    snprintf(fin, sizeof fin, "c=eSws,r=abcXYZ,p=%s", proof);
    cr_assert(scram_server_final(s, u8(fin), strlen(fin), &out, &len, &err), "%s", err);
    cr_assert_eq(strncmp(out, "v=", 2), 0);
    cr_assert_eq(len, 46);
    free(out);
    scram_server_free(s);
}

Test(scram_e2e, server_accepts_extension_before_proof)
{
    scram_secret sec;
    cr_assert(scram_secret_from_password("pencil", rfc_salt, sizeof rfc_salt, 4096, &sec));
    scram_server *s = scram_server_new(&sec, "XYZ");
    cr_assert_not_null(s);
    char *out = NULL;
    size_t len = 0;
    const char *err = NULL;
    const char *cf = "n,,n=*,r=abc,x=ignored";
    cr_assert(scram_server_first(s, u8(cf), strlen(cf), &out, &len, &err), "%s", err);
    char am[512];
    snprintf(am, sizeof am, "n=*,r=abc,x=ignored,%s,c=biws,r=abcXYZ,z=1", out);
    free(out);
    char proof[45];
    reference_proof("pencil", rfc_salt, sizeof rfc_salt, 4096, am, proof);
    char fin[256];
    snprintf(fin, sizeof fin, "c=biws,r=abcXYZ,z=1,p=%s", proof);
    cr_assert(scram_server_final(s, u8(fin), strlen(fin), &out, &len, &err), "%s", err);
    free(out);
    scram_server_free(s);
}

/* ------------------------------------------------------------ verifiers */

Test(scram_secret, pg15_verifier_round_trip)
{
    const char *vs[] = {pg15_verifier_pencil, pg15_verifier_comma};
    for (size_t i = 0; i < 2; i++) {
        scram_secret sec;
        cr_assert(scram_secret_parse(vs[i], &sec));
        cr_assert_eq(sec.iterations, 4096);
        cr_assert_eq(sec.salt_len, 16);
        char *text = scram_secret_format(&sec);
        cr_assert_not_null(text);
        cr_assert_str_eq(text, vs[i]);
        free(text);
    }
}

Test(scram_secret, pg15_verifier_accepts_pencil_only)
{
    scram_secret sec;
    cr_assert(scram_secret_parse(pg15_verifier_pencil, &sec));
    const char *err = NULL;
    int stage = 0;
    cr_assert(exchange(&sec, "pencil", &err, &stage), "stage %d: %s", stage, err ? err : "");
    cr_assert_not(exchange(&sec, "Pencil", &err, &stage));
    cr_assert_eq(stage, 3);

    cr_assert(scram_secret_parse(pg15_verifier_comma, &sec));
    cr_assert(exchange(&sec, "pass,w=rd", &err, &stage), "stage %d: %s", stage, err ? err : "");
}

Test(scram_secret, derived_equals_postgres)
{
    /* deriving with PostgreSQL's salt and count must give PostgreSQL's keys */
    scram_secret pg, ours;
    cr_assert(scram_secret_parse(pg15_verifier_pencil, &pg));
    cr_assert(scram_secret_from_password("pencil", pg.salt, pg.salt_len, pg.iterations, &ours));
    char *text = scram_secret_format(&ours);
    cr_assert_str_eq(text, pg15_verifier_pencil);
    free(text);
}

Test(scram_secret, from_password_round_trip)
{
    scram_secret a, b;
    cr_assert(scram_secret_from_password("s3cret", NULL, 0, 10, &a));
    char *text = scram_secret_format(&a);
    cr_assert_not_null(text);
    cr_assert(scram_secret_parse(text, &b));
    cr_assert_eq(a.iterations, b.iterations);
    cr_assert_eq(a.salt_len, b.salt_len);
    cr_assert_eq(memcmp(a.salt, b.salt, a.salt_len), 0);
    cr_assert_eq(memcmp(a.stored_key, b.stored_key, SCRAM_KEY_LEN), 0);
    cr_assert_eq(memcmp(a.server_key, b.server_key, SCRAM_KEY_LEN), 0);
    free(text);

    /* 64-byte salt, the maximum, survives too */
    uint8_t salt[SCRAM_MAX_SALT_LEN];
    memset(salt, 0xa5, sizeof salt);
    cr_assert(scram_secret_from_password("s3cret", salt, sizeof salt, 1, &a));
    text = scram_secret_format(&a);
    cr_assert(scram_secret_parse(text, &b));
    cr_assert_eq(b.salt_len, SCRAM_MAX_SALT_LEN);
    free(text);
}

Test(scram_secret, from_password_rejects)
{
    scram_secret s;
    uint8_t salt[65] = {0};
    cr_assert_not(scram_secret_from_password("p", NULL, 0, 0, &s));
    cr_assert_not(scram_secret_from_password("p", NULL, 0, -5, &s));
    cr_assert_not(scram_secret_from_password("p", NULL, 0, SCRAM_MAX_ITERATIONS + 1, &s));
    cr_assert_not(scram_secret_from_password("p", salt, 0, 10, &s));
    cr_assert_not(scram_secret_from_password("p", salt, 65, 10, &s));
    cr_assert_not(scram_secret_from_password(NULL, NULL, 0, 10, &s));
    char *huge = malloc(SCRAM_MAX_PASSWORD_LEN + 2);
    memset(huge, 'a', SCRAM_MAX_PASSWORD_LEN + 1);
    huge[SCRAM_MAX_PASSWORD_LEN + 1] = '\0';
    cr_assert_not(scram_secret_from_password(huge, NULL, 0, 10, &s));
    free(huge);
}

#define KEY_A "Z9PZ8mWvOk5ZttnuMfcCTdhmSZv894e52KpUDydCzes="
#define KEY_B "Q6KdcsNerDXYaMrsCmxdeZpf52TSLzXW4Lj7dt6Zywk="

Test(scram_secret, parse_rejects)
{
    static const char *bad[] = {
        "",
        "SCRAM-SHA-256$",
        "SCRAM-SHA-1$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "scram-sha-256$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "md520c46e3762c864548e296b33c3406aa9",
        "SCRAM-SHA-256$0:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$-1:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$04096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$99999999999:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$2147483648:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$4096:$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q=$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$4096:syyu31l!s0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268R==$" KEY_A ":" KEY_B, /* non-canonical */
        "SCRAM-SHA-256$4096:"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        "$" KEY_A ":" KEY_B, /* 65-byte salt */
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A,
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":",
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$AAAA:" KEY_B,
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B "x",
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B ":" KEY_B,
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B " ",
        " SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        scram_secret s;
        cr_expect_not(scram_secret_parse(bad[i], &s), "accepted bad verifier #%zu: %s", i, bad[i]);
    }
    scram_secret s;
    cr_expect_not(scram_secret_parse(NULL, &s));

    /* a huge but valid count parses: only the connecting client pays for it */
    cr_expect(scram_secret_parse(
        "SCRAM-SHA-256$1000000000:syyu31lTs0tjXF9V0M268Q==$" KEY_A ":" KEY_B, &s));
    cr_expect_eq(s.iterations, 1000000000);
}

/* --------------------------------------------------- server-side rejects */

struct msg_case {
    const char *name;
    const char *msg;
    size_t len;          /* 0: strlen(msg) */
    const char *err_has; /* substring expected in *err, or NULL */
};

static size_t case_len(const struct msg_case *t)
{
    return t->len ? t->len : strlen(t->msg);
}

static char *repeat(char ch, size_t n, const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *buf = malloc(pl + n + sl + 1);
    cr_assert_not_null(buf);
    memcpy(buf, prefix, pl);
    memset(buf + pl, ch, n);
    memcpy(buf + pl + n, suffix, sl + 1);
    return buf;
}

static scram_server *rfc_server(void)
{
    scram_secret sec;
    cr_assert(scram_secret_from_password("pencil", rfc_salt, sizeof rfc_salt, 4096, &sec));
    scram_server *s = scram_server_new(&sec, "XYZ");
    cr_assert_not_null(s);
    return s;
}

static void expect_case(bool ok, const struct msg_case *t, const char *err, char *out)
{
    cr_expect_not(ok, "case '%s' was accepted", t->name);
    cr_expect_null(out, "case '%s' produced output", t->name);
    cr_expect_not_null(err, "case '%s' gave no error", t->name);
    if (err && t->err_has)
        cr_expect(strstr(err, t->err_has), "case '%s': error '%s' lacks '%s'", t->name, err,
                  t->err_has);
}

Test(scram_server_reject, client_first)
{
    char *long_nonce = repeat('a', SCRAM_MAX_NONCE_LEN + 1, "n,,n=,r=", "");
    char *huge = repeat('a', SCRAM_MAX_MESSAGE_LEN, "n,,n=,r=abc,x=", "");
    const struct msg_case cases[] = {
        {"empty", "", 0, "empty"},
        {"truncated gs2", "n,", 0, NULL},
        {"truncated gs2 2", "n", 0, NULL},
        {"gs2 only", "n,,", 0, "n="},
        {"truncated username", "n,,n=", 0, "r="},
        {"truncated nonce attr", "n,,n=,r", 0, "r="},
        {"empty nonce", "n,,n=,r=", 0, "nonce"},
        {"overlong nonce", long_nonce, 0, "nonce"},
        {"non-printable nonce", "n,,n=,r=ab c", 0, "nonce"},
        {"nonce with DEL", "n,,n=,r=ab\x7f", 0, "nonce"},
        {"missing username", "n,,r=abc", 0, "n="},
        {"wrong order", "n,,r=abc,n=", 0, "n="},
        {"missing nonce", "n,,n=user", 0, "r="},
        {"channel binding required", "p=tls-server-end-point,,n=,r=abc", 0, "channel binding"},
        {"channel binding unique", "p=tls-unique,,n=,r=abc", 0, "channel binding"},
        {"authzid", "n,a=bob,n=,r=abc", 0, "a="},
        {"bad flag", "x,,n=,r=abc", 0, "gs2"},
        {"bad flag 2", "nn,,n=,r=abc", 0, "gs2"},
        {"mandatory extension", "n,,m=ext,n=,r=abc", 0, "m="},
        {"mandatory extension late", "n,,n=,r=abc,m=ext", 0, "attribute"},
        {"repeated nonce", "n,,n=,r=abc,r=def", 0, "attribute"},
        {"trailing comma", "n,,n=,r=abc,", 0, NULL},
        {"empty extension", "n,,n=,r=abc,x=", 0, NULL},
        {"bad extension", "n,,n=,r=abc,xyz", 0, NULL},
        {"digit attribute", "n,,n=,r=abc,1=a", 0, NULL},
        {"embedded NUL", "n,,n=,r=a\0bc", sizeof("n,,n=,r=a\0bc") - 1, "NUL"},
        {"NUL at end", "n,,n=,r=abc\0", 12, "NUL"},
        {"oversized", huge, 0, "too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scram_server *s = rfc_server();
        char *out = NULL;
        size_t len = 99;
        const char *err = NULL;
        bool ok = scram_server_first(s, u8(cases[i].msg), case_len(&cases[i]), &out, &len, &err);
        expect_case(ok, &cases[i], err, out);
        cr_expect_eq(len, 0);
        free(out);
        /* a failed exchange stays failed */
        ok = scram_server_first(s, u8("n,,n=,r=abc"), 11, &out, &len, &err);
        cr_expect_not(ok, "case '%s': retry accepted", cases[i].name);
        scram_server_free(s);
    }
    free(long_nonce);
    free(huge);
}

Test(scram_server_reject, client_first_accepts)
{
    char *max_nonce = repeat('a', SCRAM_MAX_NONCE_LEN, "n,,n=,r=", "");
    const char *good[] = {"n,,n=,r=abc",  "y,,n=,r=abc",       "n,,n=user,r=abc",
                          "n,,n=*,r=abc", "n,,n=,r=abc,x=ext", "n,,n=a=2Cb,r=!\"#$%&'()*+-./~",
                          max_nonce};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        scram_server *s = rfc_server();
        char *out = NULL;
        size_t len = 0;
        const char *err = NULL;
        cr_expect(scram_server_first(s, u8(good[i]), strlen(good[i]), &out, &len, &err),
                  "refused '%s': %s", good[i], err);
        free(out);
        scram_server_free(s);
    }
    free(max_nonce);
}

#define GOOD_PROOF_SHAPE "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

Test(scram_server_reject, client_final)
{
    char *huge = repeat('a', SCRAM_MAX_MESSAGE_LEN, "c=biws,r=abcXYZ,x=", "," GOOD_PROOF_SHAPE);
    const struct msg_case cases[] = {
        {"empty", "", 0, "empty"},
        {"truncated", "c=bi", 0, "channel binding"},
        {"missing nonce", "c=biws", 0, "r="},
        {"missing proof", "c=biws,r=abcXYZ", 0, "p="},
        {"empty proof", "c=biws,r=abcXYZ,p=", 0, NULL},
        {"truncated proof", "c=biws,r=abcXYZ,p=dHzbZapWIk4jUhN+Ute9", 0, "proof"},
        {"short proof", "c=biws,r=abcXYZ,p=AAAA", 0, "proof"},
        {"long proof", "c=biws,r=abcXYZ,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQAAAA=", 0,
         "proof"},
        {"proof bad base64", "c=biws,r=abcXYZ,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And!Q=", 0,
         "base64"},
        {"proof not last", "c=biws,r=abcXYZ," GOOD_PROOF_SHAPE ",x=1", 0, "last"},
        {"wrong order", "r=abcXYZ,c=biws," GOOD_PROOF_SHAPE, 0, "c="},
        {"binding y vs n", "c=eSws,r=abcXYZ," GOOD_PROOF_SHAPE, 0, "channel binding"},
        {"binding with data", "c=cD10bHMtdW5pcXVlLCxBQUFB,r=abcXYZ," GOOD_PROOF_SHAPE, 0,
         "channel binding"},
        {"binding bad base64", "c=bi?s,r=abcXYZ," GOOD_PROOF_SHAPE, 0, "base64"},
        {"binding empty", "c=,r=abcXYZ," GOOD_PROOF_SHAPE, 0, "channel binding"},
        {"nonce without server part", "c=biws,r=abc," GOOD_PROOF_SHAPE, 0, "nonce"},
        {"nonce longer", "c=biws,r=abcXYZQ," GOOD_PROOF_SHAPE, 0, "nonce"},
        {"nonce different", "c=biws,r=abdXYZ," GOOD_PROOF_SHAPE, 0, "nonce"},
        {"repeated nonce", "c=biws,r=abcXYZ,r=abcXYZ," GOOD_PROOF_SHAPE, 0, "attribute"},
        {"mandatory ext", "c=biws,r=abcXYZ,m=x," GOOD_PROOF_SHAPE, 0, "attribute"},
        {"wrong proof", "c=biws,r=abcXYZ," GOOD_PROOF_SHAPE, 0, "invalid"},
        {"trailing comma", "c=biws,r=abcXYZ," GOOD_PROOF_SHAPE ",", 0, NULL},
        {"embedded NUL", "c=biws,r=abc\0XYZ," GOOD_PROOF_SHAPE,
         sizeof("c=biws,r=abc\0XYZ," GOOD_PROOF_SHAPE) - 1, "NUL"},
        {"oversized", huge, 0, "too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scram_server *s = rfc_server();
        char *out = NULL;
        size_t len = 0;
        const char *err = NULL;
        cr_assert(scram_server_first(s, u8("n,,n=,r=abc"), 11, &out, &len, &err));
        cr_assert_str_eq(out, "r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        free(out);
        out = NULL;
        bool ok = scram_server_final(s, u8(cases[i].msg), case_len(&cases[i]), &out, &len, &err);
        expect_case(ok, &cases[i], err, out);
        free(out);
        scram_server_free(s);
    }
    free(huge);
}

Test(scram_server_reject, out_of_sequence_and_bad_args)
{
    scram_server *s = rfc_server();
    char *out = NULL;
    size_t len = 0;
    const char *err = NULL;
    cr_assert_not(scram_server_final(s, u8(RFC_CLIENT_FINAL), strlen(RFC_CLIENT_FINAL), &out,
                                     &len, &err));
    cr_assert(strstr(err, "sequence"));
    scram_server_free(s);

    scram_secret sec;
    cr_assert(scram_secret_from_password("pencil", rfc_salt, sizeof rfc_salt, 4096, &sec));
    cr_assert_null(scram_server_new(NULL, NULL));
    cr_assert_null(scram_server_new(&sec, ""));
    cr_assert_null(scram_server_new(&sec, "a,b"));
    cr_assert_null(scram_server_new(&sec, "a b"));
    char *long_nonce = repeat('z', SCRAM_MAX_NONCE_LEN + 1, "", "");
    cr_assert_null(scram_server_new(&sec, long_nonce));
    free(long_nonce);
    scram_secret broken = sec;
    broken.salt_len = 0;
    cr_assert_null(scram_server_new(&broken, NULL));
    broken = sec;
    broken.iterations = 0;
    cr_assert_null(scram_server_new(&broken, NULL));
    scram_server_free(NULL);
}

/* --------------------------------------------------- client-side rejects */

static scram_client *client_after_first(const char *nonce)
{
    scram_client *c = scram_client_new("pencil", nonce);
    cr_assert_not_null(c);
    char *out = NULL;
    size_t len = 0;
    cr_assert(scram_client_first(c, &out, &len));
    free(out);
    return c;
}

#define SALT "QSXCR+Q6sek8bf92"

Test(scram_client_reject, server_first)
{
    char *long_nonce = repeat('a', 2 * SCRAM_MAX_NONCE_LEN, "r=abc", "," "s=" SALT ",i=4096");
    char *huge = repeat('a', SCRAM_MAX_MESSAGE_LEN, "r=abcXYZ,s=" SALT ",i=4096,x=", "");
    char *long_salt = repeat('A', 88, "r=abcXYZ,s=", ",i=4096"); /* 66 bytes */
    const struct msg_case cases[] = {
        {"empty", "", 0, "empty"},
        {"truncated", "r=abcX", 0, "s="},
        {"truncated salt", "r=abcXYZ,s=QSXC", 0, NULL},
        {"truncated iterations", "r=abcXYZ,s=" SALT ",i=", 0, "iteration"},
        {"missing iterations", "r=abcXYZ,s=" SALT, 0, "i="},
        {"missing salt", "r=abcXYZ,i=4096", 0, "s="},
        {"missing nonce", "s=" SALT ",i=4096", 0, "r="},
        {"wrong order", "r=abcXYZ,i=4096,s=" SALT, 0, "s="},
        {"iterations 10^9", "r=abcXYZ,s=" SALT ",i=1000000000", 0, "iteration"},
        {"iterations max+1", "r=abcXYZ,s=" SALT ",i=100001", 0, "iteration"},
        {"iterations overflow", "r=abcXYZ,s=" SALT ",i=99999999999", 0, "iteration"},
        {"iterations 0", "r=abcXYZ,s=" SALT ",i=0", 0, "iteration"},
        {"iterations negative", "r=abcXYZ,s=" SALT ",i=-1", 0, "iteration"},
        {"iterations leading zero", "r=abcXYZ,s=" SALT ",i=04096", 0, "iteration"},
        {"iterations plus", "r=abcXYZ,s=" SALT ",i=+4096", 0, "iteration"},
        {"iterations junk", "r=abcXYZ,s=" SALT ",i=4096x", 0, "iteration"},
        {"nonce not ours", "r=abdXYZ,s=" SALT ",i=4096", 0, "nonce"},
        {"nonce prefix only", "r=ab,s=" SALT ",i=4096", 0, "nonce"},
        {"nonce no server part", "r=abc,s=" SALT ",i=4096", 0, "nonce"},
        {"nonce empty", "r=,s=" SALT ",i=4096", 0, "nonce"},
        {"nonce overlong", long_nonce, 0, "nonce"},
        {"nonce not printable", "r=abc X,s=" SALT ",i=4096", 0, "nonce"},
        {"salt bad base64", "r=abcXYZ,s=QSXCR+Q6sek8bf9!,i=4096", 0, "salt"},
        {"salt bad length", "r=abcXYZ,s=QSXCR+Q6sek8bf9,i=4096", 0, "salt"},
        {"salt empty", "r=abcXYZ,s=,i=4096", 0, "salt"},
        {"salt too long", long_salt, 0, "salt"},
        {"mandatory ext", "m=x,r=abcXYZ,s=" SALT ",i=4096", 0, "m="},
        {"repeated attr", "r=abcXYZ,s=" SALT ",i=4096,s=" SALT, 0, "attribute"},
        {"trailing comma", "r=abcXYZ,s=" SALT ",i=4096,", 0, NULL},
        {"server error", "e=other-error", 0, "other-error"},
        {"embedded NUL", "r=abcXYZ,s=" SALT ",i=40\00096",
         sizeof("r=abcXYZ,s=" SALT ",i=40\00096") - 1, "NUL"},
        {"oversized", huge, 0, "too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scram_client *c = client_after_first("abc");
        scram_client_set_max_iterations(c, SCRAM_MAX_ITERATIONS);
        char *out = NULL;
        size_t len = 0;
        const char *err = NULL;
        bool ok = scram_client_continue(c, u8(cases[i].msg), case_len(&cases[i]), &out, &len, &err);
        expect_case(ok, &cases[i], err, out);
        free(out);
        scram_client_free(c);
    }
    free(long_nonce);
    free(huge);
    free(long_salt);
}

Test(scram_client_reject, lowered_iteration_cap)
{
    scram_client *c = client_after_first("abc");
    scram_client_set_max_iterations(c, 100);
    char *out = NULL;
    size_t len = 0;
    const char *err = NULL;
    const char *m = "r=abcXYZ,s=" SALT ",i=101";
    cr_assert_not(scram_client_continue(c, u8(m), strlen(m), &out, &len, &err));
    scram_client_free(c);

    c = client_after_first("abc");
    scram_client_set_max_iterations(c, 100);
    m = "r=abcXYZ,s=" SALT ",i=100,x=ext";
    cr_assert(scram_client_continue(c, u8(m), strlen(m), &out, &len, &err), "%s", err);
    free(out);
    scram_client_free(c);
}

Test(scram_client_reject, server_final)
{
    const struct msg_case cases[] = {
        {"empty", "", 0, "empty"},
        {"server error invalid-proof", "e=invalid-proof", 0, "invalid-proof"},
        {"server error with extension", "e=other-error,x=1", 0, "other-error"},
        {"server error empty", "e=", 0, "server error"},
        {"truncated", "v=6rriTRBi23WpRR", 0, "signature"},
        {"missing verifier", "x=1", 0, "v="},
        {"bad base64", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9!G4=", 0, "base64"},
        {"wrong signature", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=", 0, "signature"},
        {"repeated verifier", RFC_SERVER_FINAL "," RFC_SERVER_FINAL, 0, "attribute"},
        {"trailing comma", RFC_SERVER_FINAL ",", 0, NULL},
        {"embedded NUL", RFC_SERVER_FINAL "\0", sizeof RFC_SERVER_FINAL, "NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scram_client *c = scram_client_new_user("user", "pencil", RFC_CNONCE);
        cr_assert_not_null(c);
        char *out = NULL;
        size_t len = 0;
        const char *err = NULL;
        cr_assert(scram_client_first(c, &out, &len));
        free(out);
        cr_assert(scram_client_continue(c, u8(RFC_SERVER_FIRST), strlen(RFC_SERVER_FIRST), &out,
                                        &len, &err));
        free(out);
        bool ok = scram_client_final(c, u8(cases[i].msg), case_len(&cases[i]), &err);
        expect_case(ok, &cases[i], err, NULL);
        scram_client_free(c);
    }
}

Test(scram_client_reject, server_error_text_is_sanitised)
{
    scram_client *c = client_after_first("abc");
    const char *err = NULL;
    char *out = NULL;
    size_t len = 0;
    char *longerr = repeat('q', 1000, "e=\x01\x1b[31m", "");
    cr_assert_not(scram_client_continue(c, u8(longerr), strlen(longerr), &out, &len, &err));
    cr_assert_not_null(err);
    cr_assert_lt(strlen(err), 200);
    for (const char *p = err; *p; p++)
        cr_assert(*p >= 0x20 && *p < 0x7f);
    free(longerr);
    scram_client_free(c);
}

Test(scram_client_reject, bad_construction_and_sequence)
{
    cr_assert_null(scram_client_new(NULL, NULL));
    cr_assert_null(scram_client_new("p", ""));
    cr_assert_null(scram_client_new("p", "a,b"));
    char *long_user = repeat('u', 300, "", "");
    cr_assert_null(scram_client_new_user(long_user, "p", NULL));
    free(long_user);

    scram_client *c = scram_client_new("p", "abc");
    const char *err = NULL;
    char *out = NULL;
    size_t len = 0;
    const char *m = "r=abcXYZ,s=" SALT ",i=1";
    cr_assert_not(scram_client_continue(c, u8(m), strlen(m), &out, &len, &err));
    cr_assert(strstr(err, "sequence"));
    cr_assert_not(scram_client_final(c, u8(RFC_SERVER_FINAL), strlen(RFC_SERVER_FINAL), &err));
    scram_client_free(c);
    scram_client_free(NULL);
}
