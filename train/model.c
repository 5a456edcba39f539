/* model.c - the model file (docs/train.md, "The model file"):
 *
 *   offset  bytes  field
 *   0       8      magic "SLNET" 0x0D 0x0A 0x1A
 *   8       4      format version, 1
 *   12      4      in_channels
 *   16      4      classes (K, background included)
 *   20      4      width
 *   24      4      meta length M in bytes (at most SL_NET_META_MAX)
 *   28      8      parameter count P (must match the configuration)
 *   36      8      AdamW steps the weights were trained for
 *   44      M      meta text (no terminating NUL)
 *   44 + M  4 P    the parameters, float32, in sl_net_params order
 *   ...     4      CRC-32 (zlib's) of every byte before it
 *
 * Every integer is unsigned little-endian, every float IEEE-754 binary32 little-endian. */
#include "net_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MODEL_VERSION 1u
#define HEADER_BYTES 44
static const unsigned char magic[8] = {'S', 'L', 'N', 'E', 'T', 0x0D, 0x0A, 0x1A};

static void put32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *b)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static uint64_t get64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* Writes n bytes and folds them into the running CRC. */
static int put(FILE *f, const void *b, size_t n, uLong *crc)
{
    if (n == 0) return 1;
    *crc = crc32(*crc, b, (uInt)n);
    return fwrite(b, 1, n, f) == n;
}

sl_status sl_net_write(const sl_net *net, FILE *f, sl_error *err)
{
    if (!net || !f) return sl__fail(err, SL_E_ARG, "model file: no network or stream");
    size_t mlen = net->meta ? strlen(net->meta) : 0;
    unsigned char h[HEADER_BYTES];
    memcpy(h, magic, 8);
    put32(h + 8, MODEL_VERSION);
    put32(h + 12, (uint32_t)net->cfg.in_channels);
    put32(h + 16, (uint32_t)net->cfg.classes);
    put32(h + 20, (uint32_t)net->cfg.width);
    put32(h + 24, (uint32_t)mlen);
    put64(h + 28, (uint64_t)net->nparam);
    put64(h + 36, (uint64_t)net->t);
    uLong crc = crc32(0L, Z_NULL, 0);
    int ok = put(f, h, sizeof h, &crc) && put(f, net->meta, mlen, &crc);
    unsigned char buf[4096];
    for (size_t i = 0; ok && i < net->nparam;) {
        size_t n = 0;
        for (; n < sizeof buf / 4 && i < net->nparam; n++, i++) {
            uint32_t u;
            memcpy(&u, &net->param[i], 4);
            put32(buf + 4 * n, u);
        }
        ok = put(f, buf, 4 * n, &crc);
    }
    unsigned char tail[4];
    put32(tail, (uint32_t)crc);
    if (!ok || fwrite(tail, 1, 4, f) != 4 || fflush(f) != 0)
        return sl__fail(err, SL_E_IO, "model file: write failed: %s", strerror(errno));
    return SL_OK;
}

/* Reads exactly n bytes; 0 when the stream ends first. */
static int get(FILE *f, void *b, size_t n, uLong *crc)
{
    if (n == 0) return 1;
    if (fread(b, 1, n, f) != n) return 0;
    if (crc) *crc = crc32(*crc, b, (uInt)n);
    return 1;
}

/* The header: magic, version, configuration, parameter count, meta length, steps. */
static sl_status read_header(FILE *f, uLong *crc, sl_net_config *cfg, uint32_t *mlen,
                             uint64_t *steps, sl_error *err)
{
    unsigned char h[HEADER_BYTES];
    size_t got = fread(h, 1, sizeof h, f);
    if (got >= 8 && memcmp(h, magic, 8) != 0)
        return sl__fail(err, SL_E_FORMAT, "not a segloss model file (bad magic)");
    if (got < sizeof h)
        return sl__fail(err, SL_E_FORMAT, "model file truncated: %zu of %d header bytes", got,
                        HEADER_BYTES);
    *crc = crc32(*crc, h, sizeof h);
    uint32_t version = get32(h + 8);
    if (version != MODEL_VERSION)
        return sl__fail(err, SL_E_FORMAT,
                        "model file version %u is not supported (this build reads %u)", version,
                        MODEL_VERSION);
    uint32_t in = get32(h + 12), K = get32(h + 16), width = get32(h + 20);
    uint64_t P = get64(h + 28);
    *mlen = get32(h + 24);
    *steps = get64(h + 36);
    sl_net_config c = {(int)(in > 64 ? 0 : in), (int)(K > 256 ? 0 : K),
                       (int)(width > 256 ? 0 : width)};
    *cfg = c;
    sl_error sub;
    if (sl__net_config_check(cfg, &sub))
        return sl__fail(err, SL_E_FORMAT,
                        "model file: bad configuration (in_channels %u, classes %u, width %u)", in,
                        K, width);
    sl__net_layer L[SL__NLAYER];
    size_t want = sl__net_layout(cfg, L);
    if (P != want)
        return sl__fail(err, SL_E_FORMAT, "model file: %llu parameters, the configuration has %zu",
                        (unsigned long long)P, want);
    if (*mlen > SL_NET_META_MAX)
        return sl__fail(err, SL_E_FORMAT, "model file: meta text of %u bytes exceeds %d", *mlen,
                        SL_NET_META_MAX);
    return SL_OK;
}

/* The meta text of mlen bytes, NUL-terminated, into *meta (malloc'd). */
static sl_status read_meta(FILE *f, uint32_t mlen, uLong *crc, char **meta, sl_error *err)
{
    char *m = malloc((size_t)mlen + 1);
    if (!m) return sl__fail(err, SL_E_NOMEM, "model file: out of memory");
    sl_status s = SL_OK;
    m[mlen] = 0;
    if (!get(f, m, mlen, crc))
        s = sl__fail(err, SL_E_FORMAT, "model file truncated in its meta text");
    else if (memchr(m, 0, mlen))
        s = sl__fail(err, SL_E_FORMAT, "model file: NUL byte inside the meta text");
    if (s) {
        free(m);
        return s;
    }
    *meta = m;
    return SL_OK;
}

/* The parameters' nbytes bytes into *raw (malloc'd), then the checksum and the end of the file.
 * The bytes arrive in chunks into a buffer that grows only as bytes really arrive, so a lying
 * header cannot make us allocate more than the file holds (times two). */
static sl_status read_params(FILE *f, size_t nbytes, uLong crc, unsigned char **raw, sl_error *err)
{
    size_t cap = 0, have = 0;
    unsigned char *buf = NULL, tail[4];
    sl_status s = SL_OK;
    while (!s && have < nbytes) {
        if (have == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            if (ncap > nbytes) ncap = nbytes;
            unsigned char *nr = realloc(buf, ncap);
            if (!nr) {
                s = sl__fail(err, SL_E_NOMEM, "model file: out of memory");
                break;
            }
            buf = nr;
            cap = ncap;
        }
        size_t r = fread(buf + have, 1, cap - have, f);
        if (r == 0)
            s = sl__fail(err, SL_E_FORMAT, "model file truncated: %zu of %zu parameter bytes", have,
                         nbytes);
        have += r;
    }
    if (!s && !get(f, tail, 4, NULL))
        s = sl__fail(err, SL_E_FORMAT, "model file truncated: no checksum");
    if (!s) {
        for (size_t i = 0; i < nbytes; i += 1u << 30) {
            size_t n = nbytes - i < (1u << 30) ? nbytes - i : (1u << 30);
            crc = crc32(crc, buf + i, (uInt)n);
        }
        if ((uint32_t)crc != get32(tail))
            s = sl__fail(err, SL_E_FORMAT, "model file corrupt: checksum mismatch");
    }
    if (!s && fgetc(f) != EOF)
        s = sl__fail(err, SL_E_FORMAT, "model file: unexpected bytes after the checksum");
    if (s) {
        free(buf);
        return s;
    }
    *raw = buf;
    return SL_OK;
}

/* A network of cfg holding the little-endian parameters in raw, each finite. */
static sl_status net_from_raw(const sl_net_config *cfg, const unsigned char *raw, sl_net **out,
                              sl_error *err)
{
    sl_net *net = NULL;
    sl_status s = sl__net_alloc(cfg, &net, err);
    for (size_t i = 0; !s && i < net->nparam; i++) {
        uint32_t u = get32(raw + 4 * i);
        memcpy(&net->param[i], &u, 4);
        if (!isfinite(net->param[i]))
            s = sl__fail(err, SL_E_FORMAT, "model file: parameter %zu is not finite", i);
    }
    if (s) {
        sl_net_free(net);
        return s;
    }
    *out = net;
    return SL_OK;
}

sl_status sl_net_read(FILE *f, sl_net **out, sl_error *err)
{
    if (!out) return sl__fail(err, SL_E_ARG, "model file: no output pointer");
    *out = NULL;
    if (!f) return sl__fail(err, SL_E_ARG, "model file: no stream");
    uLong crc = crc32(0L, Z_NULL, 0);
    sl_net_config cfg;
    uint32_t mlen = 0;
    uint64_t steps = 0;
    char *meta = NULL;
    unsigned char *raw = NULL;
    sl_net *net = NULL;
    sl_status s = read_header(f, &crc, &cfg, &mlen, &steps, err);
    if (!s) s = read_meta(f, mlen, &crc, &meta, err);
    if (!s) {
        sl__net_layer L[SL__NLAYER];
        s = read_params(f, sl__net_layout(&cfg, L) * 4, crc, &raw, err);
    }
    if (!s) s = net_from_raw(&cfg, raw, &net, err);
    free(raw);
    if (s || !mlen) free(meta);
    if (s) return s;
    if (mlen) net->meta = meta;
    net->t = (int64_t)(steps > INT64_MAX ? INT64_MAX : steps);
    *out = net;
    return SL_OK;
}

sl_status sl_net_load(const char *path, sl_net **out, sl_error *err)
{
    if (!out) return sl__fail(err, SL_E_ARG, "model file: no output pointer");
    *out = NULL;
    if (!path) return sl__fail(err, SL_E_ARG, "model file: no path");
    FILE *f = fopen(path, "rb");
    if (!f) return sl__fail(err, SL_E_IO, "%s: cannot open: %s", path, strerror(errno));
    sl_error e;
    sl_status s = sl_net_read(f, out, &e);
    fclose(f);
    if (s) return sl__fail(err, s, "%s: %s", path, e.msg);
    return SL_OK;
}
