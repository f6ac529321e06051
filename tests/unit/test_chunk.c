/* CUnit tests of the raw-chunk decoders (spec integrate.md A4): the bit-(un)shuffle against its
 * bit-by-bit definition, bitshuffle-LZ4 / LZ4 / deflate round trips, and every truncation
 * and corrupted length of small chunks giving -1 without touching memory it does not own
 * (run under ASan in CI). */
#include <CUnit/Basic.h>
#include <lz4.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kernels/chunk_decode.h"
#include "sf_cunit.h"

static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void fill_random(unsigned char *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(next(&seed) >> 56);
}

/* Detector-like counts: small values (mostly 0..15) in elements of s bytes, little-endian. */
static void fill_counts(unsigned char *p, size_t n, size_t s, uint64_t seed) {
  memset(p, 0, n * s);
  for (size_t i = 0; i < n; i++) {
    uint64_t r = next(&seed);
    unsigned v = (unsigned)(r & 7) + (unsigned)((r >> 3) & 7) + ((r >> 6) % 97 == 0 ? 300u : 0u);
    for (size_t j = 0; j < s && j < 4; j++) p[i * s + j] = (unsigned char)(v >> (8 * j));
  }
}

/* A copy in a buffer of exactly n bytes, so that ASan sees any read past its end. */
static unsigned char *exact(const unsigned char *p, size_t n) {
  if (n > (size_t)1 << 40) abort();
  unsigned char *q = malloc(n ? n : 1);
  if (!q) abort();
  if (n) memcpy(q, p, n);
  return q;
}

static const size_t sizes[] = {1, 2, 3, 4, 5, 8, 12, 16, 33};
static const size_t counts[] = {8, 16, 24, 56, 64, 128, 248, 256, 264, 512, 520, 1000, 2048, 4152};

static void test_definition(void) {
  /* s = 1, n = 8: bit b of element k is bit k of plane b */
  unsigned char e[8] = {1, 0, 0, 0, 0, 0, 0, 0x80}, p[8], back[8];
  sf_bitshuffle(e, p, 8, 1);
  CU_ASSERT_EQUAL(p[0], 0x01);
  CU_ASSERT_EQUAL(p[7], 0x80);
  for (int b = 1; b < 7; b++) CU_ASSERT_EQUAL(p[b], 0);
  sf_bitunshuffle(p, back, 8, 1);
  CU_ASSERT_EQUAL(memcmp(back, e, 8), 0);
  /* s = 2, n = 16: element 9 = 0x0100 sets plane r = 8 (byte 1, bit 0), byte 1, bit 1 */
  unsigned char e2[32] = {0}, p2[32];
  e2[9 * 2 + 1] = 1;
  sf_bitshuffle(e2, p2, 16, 2);
  for (int i = 0; i < 32; i++) CU_ASSERT_EQUAL(p2[i], i == 8 * 2 + 1 ? 0x02 : 0);
}

static void test_fast_equals_definition(void) {
  for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
      size_t s = sizes[a], n = counts[c], len = n * s;
      unsigned char *x = malloc(len), *p = malloc(len), *q = malloc(len), *y = malloc(len),
                    *z = malloc(len);
      fill_random(x, len, 7 * s + n);
      sf_bitshuffle(x, p, n, s);
      sf_bitshuffle_ref(x, q, n, s);
      CU_ASSERT_EQUAL(memcmp(p, q, len), 0);
      sf_bitunshuffle(p, y, n, s);
      CU_ASSERT_EQUAL(memcmp(x, y, len), 0);
      /* arbitrary planes, not only those of shuffle's output */
      fill_random(p, len, 11 * s + n);
      sf_bitunshuffle(p, y, n, s);
      sf_bitunshuffle_ref(p, z, n, s);
      CU_ASSERT_EQUAL(memcmp(y, z, len), 0);
      free(x), free(p), free(q), free(y), free(z);
    }
}

static void test_default_blocks(void) {
  CU_ASSERT_EQUAL(sf_bslz4_block_elems(1), 8192);
  CU_ASSERT_EQUAL(sf_bslz4_block_elems(2), 4096);
  CU_ASSERT_EQUAL(sf_bslz4_block_elems(4), 2048);
  CU_ASSERT_EQUAL(sf_bslz4_block_elems(8), 1024);
  CU_ASSERT_EQUAL(sf_bslz4_block_elems(12), 680);
  CU_ASSERT_EQUAL(sf_bslz4_block_elems(100), 128);
}

/* Encodes n elements of s bytes (block B, 0 = default), decodes, compares; returns the size. */
static size_t round_trip(size_t n, size_t s, size_t B, uint64_t seed) {
  size_t len = n * s, cap = sf_bslz4_bound(n, s, B);
  CU_ASSERT_FATAL(cap > 0);
  unsigned char *x = malloc(len ? len : 1), *c = malloc(cap), *y = malloc(len ? len : 1);
  fill_counts(x, n, s, seed);
  size_t clen = sf_bslz4_encode(x, n, s, B, c, cap);
  CU_ASSERT(clen >= 12);
  CU_ASSERT(clen <= cap);
  sf_chunk_codec codec = {SF_FILTER_BITSHUFFLE, s};
  const char *why = NULL;
  unsigned char *cx = exact(c, clen);
  int rc = sf_chunk_decode(&codec, 0, cx, clen, y, len, &why);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) fprintf(stderr, "n=%zu s=%zu: %s\n", n, s, why);
  CU_ASSERT_EQUAL(memcmp(x, y, len), 0);
  /* the header: big-endian total bytes and block bytes */
  uint64_t tot = 0;
  for (int i = 0; i < 8; i++) tot = tot << 8 | c[i];
  uint32_t bb = (uint32_t)c[8] << 24 | (uint32_t)c[9] << 16 | (uint32_t)c[10] << 8 | c[11];
  CU_ASSERT_EQUAL(tot, len);
  CU_ASSERT_EQUAL(bb, (B ? B : sf_bslz4_block_elems(s)) * s);
  /* the raw tail is the last n mod 8 elements as they are */
  CU_ASSERT_EQUAL(memcmp(c + clen - n % 8 * s, x + len - n % 8 * s, n % 8 * s), 0);
  free(x), free(c), free(y), free(cx);
  return clen;
}

static void test_round_trip(void) {
  static const size_t ns[] = {0, 1, 7, 8, 9, 15, 2047, 2048, 2049, 4095, 4096, 4097, 8200, 20000};
  static const size_t ss[] = {1, 2, 4, 8, 3};
  for (size_t a = 0; a < sizeof ss / sizeof *ss; a++)
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
      round_trip(ns[i], ss[a], 0, 100 + i);
      round_trip(ns[i], ss[a], 64, 200 + i);
      round_trip(ns[i], ss[a], 1000, 300 + i);
    }
}

/* One Eiger-4M frame: 2190 full blocks, a partial one of 568 elements, 2 raw elements. */
static void test_eiger_frame(void) {
  size_t clen = round_trip(4485690, 4, 0, 42);
  CU_ASSERT(clen < 4485690 * 4 / 3);
}

/* The small chunk every corruption test starts from: s = 4, 300 elements, blocks of 64 =>
 * 4 full blocks, one of 40, 4 raw elements. */
static unsigned char *small_chunk(size_t *clen, unsigned char **x) {
  size_t n = 300, s = 4, cap = sf_bslz4_bound(n, s, 64);
  *x = malloc(n * s);
  fill_counts(*x, n, s, 5);
  unsigned char *c = malloc(cap);
  *clen = sf_bslz4_encode(*x, n, s, 64, c, cap);
  if (*clen < 12 || *clen > cap) abort(); /* (and tells the compiler the size is sane) */
  return c;
}

/* Decodes a copy of c[0, len) (an exact buffer) into an exact buffer of dst_len bytes. */
static int try_decode(const sf_chunk_codec *codec, const unsigned char *c, size_t len,
                      size_t dst_len, const char **why) {
  unsigned char *cx = exact(c, len), *y = malloc(dst_len ? dst_len : 1);
  int rc = sf_chunk_decode(codec, 0, cx, len, y, dst_len, why);
  free(cx), free(y);
  return rc;
}

static void test_bslz4_truncated(void) {
  size_t clen;
  unsigned char *x, *c = small_chunk(&clen, &x);
  sf_chunk_codec codec = {SF_FILTER_BITSHUFFLE, 4};
  const char *why = NULL;
  CU_ASSERT_EQUAL(try_decode(&codec, c, clen, 1200, &why), 0);
  for (size_t cut = 0; cut < clen; cut++) {
    why = NULL;
    CU_ASSERT_EQUAL(try_decode(&codec, c, cut, 1200, &why), -1);
    CU_ASSERT_PTR_NOT_NULL(why);
  }
  /* trailing garbage */
  unsigned char *longer = malloc(clen + 3);
  memcpy(longer, c, clen);
  memset(longer + clen, 0, 3);
  for (size_t extra = 1; extra <= 3; extra++)
    CU_ASSERT_EQUAL(try_decode(&codec, longer, clen + extra, 1200, &why), -1);
  /* a dst of another size */
  CU_ASSERT_EQUAL(try_decode(&codec, c, clen, 1196, &why), -1);
  CU_ASSERT_EQUAL(try_decode(&codec, c, clen, 1204, &why), -1);
  CU_ASSERT_EQUAL(try_decode(&codec, c, clen, 0, &why), -1);
  free(longer), free(c), free(x);
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
  p[3] = (unsigned char)v;
}

static void test_bslz4_bad_fields(void) {
  size_t clen;
  unsigned char *x, *c = small_chunk(&clen, &x);
  unsigned char *m = malloc(clen);
  sf_chunk_codec codec = {SF_FILTER_BITSHUFFLE, 4};
  const char *why = NULL;
  /* the header's total size */
  static const int64_t dtot[] = {-1200, -8, -4, -1, 1, 4, 8, 1 << 20};
  for (size_t i = 0; i < sizeof dtot / sizeof *dtot; i++) {
    memcpy(m, c, clen);
    uint64_t t = (uint64_t)(1200 + dtot[i]);
    for (int k = 7; k >= 0; k--, t >>= 8) m[k] = (unsigned char)t;
    CU_ASSERT_EQUAL(try_decode(&codec, m, clen, 1200, &why), -1);
    memset(m, 0xFF, 8);
    CU_ASSERT_EQUAL(try_decode(&codec, m, clen, 1200, &why), -1);
  }
  /* the block size: 0, not whole elements, not 8 elements, another block size, huge */
  static const uint32_t bbs[] = {0, 1, 2, 3, 4, 28, 32, 128, 255, 512, 1020, 1024, 4096,
                                 0x80000000u, 0xFFFFFFF8u, 0xFFFFFFFFu};
  for (size_t i = 0; i < sizeof bbs / sizeof *bbs; i++) {
    memcpy(m, c, clen);
    put32(m + 8, bbs[i]);
    CU_ASSERT_EQUAL(try_decode(&codec, m, clen, 1200, &why), -1);
  }
  /* every block length field: +-1, 0, past the end, huge */
  size_t pos = 12;
  for (int blk = 0; blk < 5; blk++) {
    CU_ASSERT_FATAL(pos + 4 <= clen);
    uint32_t L = (uint32_t)c[pos] << 24 | (uint32_t)c[pos + 1] << 16 | (uint32_t)c[pos + 2] << 8 |
                 c[pos + 3];
    const uint32_t bad[] = {L - 1, L + 1, 0, (uint32_t)(clen - pos - 4 + 1), 0x7FFFFFFFu,
                            0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      memcpy(m, c, clen);
      put32(m + pos, bad[i]);
      why = NULL;
      CU_ASSERT_EQUAL(try_decode(&codec, m, clen, 1200, &why), -1);
      CU_ASSERT_PTR_NOT_NULL(why);
    }
    pos += 4 + L;
  }
  CU_ASSERT_EQUAL(pos + 16, clen); /* the 4 raw elements */
  /* the element size: 0, or one that does not divide the size or the block */
  sf_chunk_codec bad_s[] = {{SF_FILTER_BITSHUFFLE, 0}, {SF_FILTER_BITSHUFFLE, 7},
                            {SF_FILTER_BITSHUFFLE, 8}, {SF_FILTER_BITSHUFFLE, 3}};
  for (size_t i = 0; i < sizeof bad_s / sizeof *bad_s; i++)
    CU_ASSERT_EQUAL(try_decode(&bad_s[i], c, clen, 1200, &why), -1);
  /* flipped payload bytes: a clean -1 or some bytes, never a crash (ASan watches) */
  uint64_t seed = 9;
  for (int trial = 0; trial < 2000; trial++) {
    memcpy(m, c, clen);
    int nflip = 1 + (int)(next(&seed) % 4);
    for (int f = 0; f < nflip; f++) {
      size_t at = 12 + next(&seed) % (clen - 12);
      m[at] ^= (unsigned char)(1u << (next(&seed) % 8));
    }
    int rc = try_decode(&codec, m, clen, 1200, &why);
    CU_ASSERT(rc == 0 || rc == -1);
  }
  free(m), free(c), free(x);
}

/* A filter-32004 chunk of `len` bytes in blocks of bs, each compressed or (when LZ4 does not
 * make it smaller) stored, as the HDF Group plugin writes it. */
static size_t lz4_chunk(const unsigned char *x, size_t len, size_t bs, unsigned char *c) {
  for (int k = 7; k >= 0; k--) c[7 - k] = (unsigned char)((uint64_t)len >> (8 * k));
  put32(c + 8, (uint32_t)bs);
  size_t pos = 12;
  for (size_t off = 0; off < len; off += bs) {
    size_t raw = len - off < bs ? len - off : bs;
    int l = LZ4_compress_default((const char *)x + off, (char *)c + pos + 4, (int)raw,
                                 LZ4_compressBound((int)raw));
    if (l <= 0 || (size_t)l >= raw) {
      memcpy(c + pos + 4, x + off, raw);
      l = (int)raw;
    }
    put32(c + pos, (uint32_t)l);
    pos += 4 + (size_t)l;
  }
  return pos;
}

static void test_lz4(void) {
  size_t len = 2500;
  unsigned char *x = malloc(len), *y = malloc(len);
  unsigned char *c = malloc(12 + 3 * (4 + (size_t)LZ4_compressBound(1000)));
  sf_chunk_codec codec = {SF_FILTER_LZ4, 0};
  const char *why = NULL;
  for (int kind = 0; kind < 2; kind++) {
    if (kind == 0)
      fill_counts(x, len, 1, 3); /* compressible */
    else
      fill_random(x, len, 4); /* incompressible: stored blocks */
    fill_random(x, 1000, 8);   /* the first block stored either way */
    static const size_t bss[] = {1000, 2500, 1u << 30};
    for (size_t b = 0; b < 3; b++) {
      size_t clen = lz4_chunk(x, len, bss[b] < len ? bss[b] : len, c);
      if (clen < 12 || clen > 12 + 3 * (4 + (size_t)LZ4_compressBound(1000))) abort();
      if (bss[b] > len) put32(c + 8, (uint32_t)bss[b]); /* the plugin clamps it on decode */
      unsigned char *cx = exact(c, clen);
      CU_ASSERT_EQUAL(sf_chunk_decode(&codec, 0, cx, clen, y, len, &why), 0);
      CU_ASSERT_EQUAL(memcmp(x, y, len), 0);
      free(cx);
      for (size_t cut = 0; cut < clen; cut++)
        CU_ASSERT_EQUAL(try_decode(&codec, c, cut, len, &why), -1);
      CU_ASSERT_EQUAL(try_decode(&codec, c, clen, len - 1, &why), -1);
      CU_ASSERT_EQUAL(try_decode(&codec, c, clen, len + 1, &why), -1);
      unsigned char *m = malloc(clen + 1);
      memcpy(m, c, clen);
      m[clen] = 0;
      CU_ASSERT_EQUAL(try_decode(&codec, m, clen + 1, len, &why), -1);
      put32(m + 8, 0);
      CU_ASSERT_EQUAL(try_decode(&codec, m, clen, len, &why), -1);
      memcpy(m, c, clen);
      for (size_t pos = 12, i = 0; pos + 4 <= clen; i++) {
        uint32_t L = (uint32_t)c[pos] << 24 | (uint32_t)c[pos + 1] << 16 |
                     (uint32_t)c[pos + 2] << 8 | c[pos + 3];
        const uint32_t bad[] = {L - 1, L + 1, 0, 0xFFFFFFFFu};
        for (size_t k = 0; k < 4; k++) {
          memcpy(m, c, clen);
          put32(m + pos, bad[k]);
          CU_ASSERT_EQUAL(try_decode(&codec, m, clen, len, &why), -1);
        }
        pos += 4 + L;
      }
      free(m);
    }
  }
  /* an empty chunk: the header alone */
  unsigned char h[12] = {0};
  CU_ASSERT_EQUAL(try_decode(&codec, h, 12, 0, &why), 0);
  free(x), free(y), free(c);
}

static void test_deflate(void) {
  size_t len = 5000;
  unsigned char *x = malloc(len), *y = malloc(len);
  fill_counts(x, len / 2, 2, 6);
  uLongf clen = compressBound(len);
  unsigned char *c = malloc(clen + 4);
  CU_ASSERT_FATAL(compress2(c, &clen, x, len, 6) == Z_OK);
  sf_chunk_codec codec = {SF_FILTER_DEFLATE, 0};
  const char *why = NULL;
  unsigned char *cx = exact(c, clen);
  CU_ASSERT_EQUAL(sf_chunk_decode(&codec, 0, cx, clen, y, len, &why), 0);
  CU_ASSERT_EQUAL(memcmp(x, y, len), 0);
  free(cx);
  for (size_t cut = 0; cut < clen; cut++) CU_ASSERT_EQUAL(try_decode(&codec, c, cut, len, &why), -1);
  CU_ASSERT_EQUAL(try_decode(&codec, c, clen, len - 1, &why), -1);
  CU_ASSERT_EQUAL(try_decode(&codec, c, clen, len + 1, &why), -1);
  memset(c + clen, 0, 4);
  CU_ASSERT_EQUAL(try_decode(&codec, c, clen + 4, len, &why), -1);
  c[clen / 2] ^= 0x10;
  int rc = try_decode(&codec, c, clen, len, &why);
  CU_ASSERT(rc == -1); /* the adler32 check catches it */
  free(x), free(y), free(c);
}

static void test_stored_and_mask(void) {
  unsigned char x[64], y[64];
  fill_random(x, 64, 1);
  const char *why = NULL;
  sf_chunk_codec none = {0, 0}, bs = {SF_FILTER_BITSHUFFLE, 4}, odd = {12345, 0};
  CU_ASSERT_EQUAL(sf_chunk_decode(&none, 0, x, 64, y, 64, &why), 0);
  CU_ASSERT_EQUAL(memcmp(x, y, 64), 0);
  CU_ASSERT_EQUAL(sf_chunk_decode(&none, 0, x, 63, y, 64, &why), -1);
  CU_ASSERT_EQUAL(sf_chunk_decode(&none, 0, x, 64, y, 63, &why), -1);
  memset(y, 0, 64);
  CU_ASSERT_EQUAL(sf_chunk_decode(&bs, 1u, x, 64, y, 64, &why), 0); /* filter skipped */
  CU_ASSERT_EQUAL(memcmp(x, y, 64), 0);
  CU_ASSERT_EQUAL(sf_chunk_decode(&bs, 1u, x, 60, y, 64, &why), -1);
  why = NULL;
  CU_ASSERT_EQUAL(sf_chunk_decode(&bs, 0, x, 64, y, 64, &why), -1); /* random bytes */
  CU_ASSERT_PTR_NOT_NULL(why);
  CU_ASSERT_EQUAL(sf_chunk_decode(&odd, 0, x, 64, y, 64, &why), -1);
  CU_ASSERT_EQUAL(sf_chunk_decode(&bs, 0, x, 64, y, 64, NULL), -1); /* why may be NULL */
}

static void test_encode_limits(void) {
  unsigned char x[64] = {0}, c[256];
  CU_ASSERT_EQUAL(sf_bslz4_bound(16, 4, 12), 0); /* not a multiple of 8 */
  CU_ASSERT_EQUAL(sf_bslz4_encode(x, 16, 4, 12, c, sizeof c), 0);
  CU_ASSERT_EQUAL(sf_bslz4_encode(x, 16, 0, 0, c, sizeof c), 0);
  size_t need = sf_bslz4_encode(x, 16, 4, 8, c, sizeof c);
  CU_ASSERT(need > 12);
  for (size_t cap = 0; cap < need; cap++) CU_ASSERT_EQUAL(sf_bslz4_encode(x, 16, 4, 8, c, cap), 0);
}

int main(void) {
  static const sf_test tests[] = {{"bitshuffle definition", test_definition},
                                  {"fast (un)shuffle equals the definition",
                                   test_fast_equals_definition},
                                  {"default block sizes", test_default_blocks},
                                  {"bitshuffle-LZ4 round trips", test_round_trip},
                                  {"an Eiger-4M uint32 frame", test_eiger_frame},
                                  {"bitshuffle-LZ4 truncated", test_bslz4_truncated},
                                  {"bitshuffle-LZ4 bad fields", test_bslz4_bad_fields},
                                  {"LZ4 32004", test_lz4},
                                  {"deflate", test_deflate},
                                  {"stored chunks and filter_mask", test_stored_and_mask},
                                  {"encoder limits", test_encode_limits},
                                  {NULL, NULL}};
  return sf_cunit_run("chunk", tests);
}
