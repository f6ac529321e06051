/* Raw HDF5 chunk decoders (spec integrate.md A4, items 31-36) and the bit-(un)shuffle of
 * filter 32008. The unshuffle runs on chunks of 32 (then 8) element groups: an 8x8 bit
 * transpose across eight bit-planes (uint64 lanes, or 4x64-bit vectors), then an 8x8 byte
 * transpose into element order; whatever is left (< 8 groups) takes the definition. */
#include "kernels/chunk_decode.h"

#include <limits.h>
#include <lz4.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kernels/simd_level.h"

/* ---- the definition (spec A4.34) ------------------------------------------------------ */

/* Elements [e0, e1) of a block whose planes are nb bytes long. */
static void unshuffle_ref_range(const unsigned char *src, unsigned char *dst, size_t nb, size_t s,
                                size_t e0, size_t e1) {
  for (size_t e = e0; e < e1; e++)
    for (size_t j = 0; j < s; j++) {
      unsigned v = 0;
      for (unsigned b = 0; b < 8; b++)
        v |= (unsigned)((src[(8 * j + b) * nb + (e >> 3)] >> (e & 7)) & 1u) << b;
      dst[e * s + j] = (unsigned char)v;
    }
}

/* Plane bytes [g0, g1) of every plane of a block of nb-byte planes. */
static void shuffle_ref_range(const unsigned char *src, unsigned char *dst, size_t nb, size_t s,
                              size_t g0, size_t g1) {
  for (size_t j = 0; j < s; j++)
    for (unsigned b = 0; b < 8; b++)
      for (size_t g = g0; g < g1; g++) {
        unsigned v = 0;
        for (unsigned k = 0; k < 8; k++) v |= (unsigned)((src[(8 * g + k) * s + j] >> b) & 1u) << k;
        dst[(8 * j + b) * nb + g] = (unsigned char)v;
      }
}

void sf_bitunshuffle_ref(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size) {
  unshuffle_ref_range(src, dst, n / 8, elem_size, 0, n / 8 * 8);
}

void sf_bitshuffle_ref(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size) {
  shuffle_ref_range(src, dst, n / 8, elem_size, 0, n / 8);
}

/* ---- the fast path -------------------------------------------------------------------- */

/* Eight words w[0..7] (uint64 or 4x uint64 vectors) as an 8x8 matrix per 64-bit lane, swapped
 * in three rounds of 2x2, 4x4, 8x8 blocks: with shifts 1,2,4 the matrix is bit b of byte
 * position p of w[i] (transposes i <-> b in every byte); with shifts 8,16,32 it is byte c of
 * w[i] (transposes i <-> c). */
#define SF_SWAP(T, x, y, sh, m)                                                                    \
  do {                                                                                             \
    T t_ = (((x) >> (sh)) ^ (y)) & (m);                                                            \
    (y) ^= t_;                                                                                     \
    (x) ^= t_ << (sh);                                                                             \
  } while (0)
#define SF_TR8(T, w, s1, m1, s2, m2, s3, m3)                                                       \
  do {                                                                                             \
    SF_SWAP(T, w[0], w[1], s1, m1);                                                                \
    SF_SWAP(T, w[2], w[3], s1, m1);                                                                \
    SF_SWAP(T, w[4], w[5], s1, m1);                                                                \
    SF_SWAP(T, w[6], w[7], s1, m1);                                                                \
    SF_SWAP(T, w[0], w[2], s2, m2);                                                                \
    SF_SWAP(T, w[1], w[3], s2, m2);                                                                \
    SF_SWAP(T, w[4], w[6], s2, m2);                                                                \
    SF_SWAP(T, w[5], w[7], s2, m2);                                                                \
    SF_SWAP(T, w[0], w[4], s3, m3);                                                                \
    SF_SWAP(T, w[1], w[5], s3, m3);                                                                \
    SF_SWAP(T, w[2], w[6], s3, m3);                                                                \
    SF_SWAP(T, w[3], w[7], s3, m3);                                                                \
  } while (0)
#define SF_BIT_TR8(T, w)                                                                           \
  SF_TR8(T, w, 1, 0x5555555555555555ull, 2, 0x3333333333333333ull, 4, 0x0F0F0F0F0F0F0F0Full)
#define SF_BYTE_TR8(T, w)                                                                          \
  SF_TR8(T, w, 8, 0x00FF00FF00FF00FFull, 16, 0x0000FFFF0000FFFFull, 32, 0x00000000FFFFFFFFull)

typedef uint64_t sf_bs_v4 __attribute__((vector_size(32)));
/* Unaligned, aliasing views for loads and stores straight from and to byte buffers (a memcpy
 * into an array of vectors made GCC bounce them through the stack). */
typedef uint64_t sf_bs_v4u __attribute__((vector_size(32), aligned(1), may_alias));
typedef uint64_t sf_bs_u64u __attribute__((aligned(1), may_alias));
#define SF_LD4(p) (*(const sf_bs_v4u *)(const void *)(p))
#define SF_ST4(p, v) (*(sf_bs_v4u *)(void *)(p) = (v))
#define SF_LD1(p) (*(const sf_bs_u64u *)(const void *)(p))
#define SF_ST1(p, v) (*(sf_bs_u64u *)(void *)(p) = (v))

/* Elements of size up to this take the fast path (its scratch is 8*s rows of 32 bytes). */
#define SF_BS_FAST_MAX 32

/* Groups [g0, g0+32) of a block (32*8 elements): planes -> t (row k*s+j = byte j of elements
 * 8g+k, 32 bytes) -> elements. */
static inline __attribute__((always_inline)) void unshuffle_chunk32(const unsigned char *src,
                                                                    unsigned char *dst, size_t nb,
                                                                    size_t s, size_t g0,
                                                                    unsigned char *t) {
  size_t R = 8 * s;
  for (size_t j = 0; j < s; j++) {
    const unsigned char *p = src + 8 * j * nb + g0;
    sf_bs_v4 w[8];
#pragma GCC unroll 8
    for (int b = 0; b < 8; b++) w[b] = SF_LD4(p + (size_t)b * nb);
    SF_BIT_TR8(sf_bs_v4, w);
#pragma GCC unroll 8
    for (size_t k = 0; k < 8; k++) SF_ST4(t + (k * s + j) * 32, w[k]);
  }
  unsigned char *e = dst + g0 * R;
  for (size_t r0 = 0; r0 < R; r0 += 8) {
    sf_bs_v4 w[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) w[i] = SF_LD4(t + (r0 + (size_t)i) * 32);
    SF_BYTE_TR8(sf_bs_v4, w);
#pragma GCC unroll 4
    for (size_t l = 0; l < 4; l++)
#pragma GCC unroll 8
      for (size_t k = 0; k < 8; k++) SF_ST1(e + (8 * l + k) * R + r0, w[k][l]);
  }
}

/* The same for groups [g0, g0+8) in uint64 words. */
static inline __attribute__((always_inline)) void unshuffle_chunk8(const unsigned char *src,
                                                                   unsigned char *dst, size_t nb,
                                                                   size_t s, size_t g0,
                                                                   unsigned char *t) {
  size_t R = 8 * s;
  for (size_t j = 0; j < s; j++) {
    const unsigned char *p = src + 8 * j * nb + g0;
    uint64_t w[8];
#pragma GCC unroll 8
    for (int b = 0; b < 8; b++) w[b] = SF_LD1(p + (size_t)b * nb);
    SF_BIT_TR8(uint64_t, w);
#pragma GCC unroll 8
    for (size_t k = 0; k < 8; k++) SF_ST1(t + (k * s + j) * 8, w[k]);
  }
  unsigned char *e = dst + g0 * R;
  for (size_t r0 = 0; r0 < R; r0 += 8) {
    uint64_t w[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) w[i] = SF_LD1(t + (r0 + (size_t)i) * 8);
    SF_BYTE_TR8(uint64_t, w);
#pragma GCC unroll 8
    for (size_t k = 0; k < 8; k++) SF_ST1(e + k * R + r0, w[k]);
  }
}

static inline __attribute__((always_inline)) void unshuffle_body(const unsigned char *src,
                                                                 unsigned char *dst, size_t n,
                                                                 size_t s) {
  size_t nb = n / 8, g = 0;
  if (s <= SF_BS_FAST_MAX) {
    unsigned char t[8 * SF_BS_FAST_MAX * 32] __attribute__((aligned(32)));
    for (; g + 32 <= nb; g += 32) unshuffle_chunk32(src, dst, nb, s, g, t);
    for (; g + 8 <= nb; g += 8) unshuffle_chunk8(src, dst, nb, s, g, t);
  }
  unshuffle_ref_range(src, dst, nb, s, 8 * g, 8 * nb);
}

static void unshuffle_c(const unsigned char *src, unsigned char *dst, size_t n, size_t s) {
  unshuffle_body(src, dst, n, s);
}

#if SF_SIMD_X86
__attribute__((target("avx2"))) static void unshuffle_avx2(const unsigned char *src,
                                                            unsigned char *dst, size_t n,
                                                            size_t s) {
  unshuffle_body(src, dst, n, s);
}
#else
#define unshuffle_avx2 unshuffle_c
#endif

typedef void (*unshuffle_fn)(const unsigned char *, unsigned char *, size_t, size_t);
static unshuffle_fn const unshuffle_tab[SF_SIMD_COUNT] = {unshuffle_c, unshuffle_avx2,
                                                          unshuffle_avx2};

void sf_bitunshuffle(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size) {
  unshuffle_tab[sf_simd_best()](src, dst, n, elem_size);
}

/* Elements -> planes for groups [g0, g0+8): the steps of unshuffle_chunk8 backwards (both
 * transposes are their own inverses). Writing test data only, so uint64 words suffice. */
static void shuffle_chunk8(const unsigned char *src, unsigned char *dst, size_t nb, size_t s,
                           size_t g0, unsigned char *t) {
  size_t R = 8 * s;
  const unsigned char *e = src + g0 * R;
  for (size_t r0 = 0; r0 < R; r0 += 8) {
    uint64_t w[8];
    for (size_t k = 0; k < 8; k++) memcpy(&w[k], e + k * R + r0, 8);
    SF_BYTE_TR8(uint64_t, w);
    for (int i = 0; i < 8; i++) memcpy(t + (r0 + (size_t)i) * 8, &w[i], 8);
  }
  for (size_t j = 0; j < s; j++) {
    uint64_t w[8];
    for (size_t k = 0; k < 8; k++) memcpy(&w[k], t + (k * s + j) * 8, 8);
    SF_BIT_TR8(uint64_t, w);
    for (int b = 0; b < 8; b++) memcpy(dst + (8 * j + (size_t)b) * nb + g0, &w[b], 8);
  }
}

void sf_bitshuffle(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size) {
  size_t nb = n / 8, g = 0, s = elem_size;
  if (s <= SF_BS_FAST_MAX) {
    unsigned char t[8 * SF_BS_FAST_MAX * 8];
    for (; g + 8 <= nb; g += 8) shuffle_chunk8(src, dst, nb, s, g, t);
  }
  shuffle_ref_range(src, dst, nb, s, g, nb);
}

size_t sf_bslz4_block_elems(size_t elem_size) {
  size_t b = elem_size ? 8192 / elem_size / 8 * 8 : 0;
  return b > 128 ? b : 128;
}

/* ---- chunk decoding ------------------------------------------------------------------- */

/* The reason of the last failure on this thread (the caller copies it before its next call). */
static _Thread_local char why_buf[160];

static int fail(const char **why, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why_buf, sizeof why_buf, fmt, ap);
  va_end(ap);
  if (why) *why = why_buf;
  return -1;
}

static uint64_t be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Filter 1: one zlib stream, exactly dst_len bytes, nothing after it. */
static int decode_deflate(const unsigned char *src, size_t src_len, unsigned char *dst,
                          size_t dst_len, const char **why) {
  if (src_len > ULONG_MAX || dst_len > ULONG_MAX) return fail(why, "deflate chunk too large");
  uLongf out = (uLongf)dst_len;
  uLong in = (uLong)src_len;
  /* zlib wants a non-NULL output even for zero bytes */
  unsigned char dummy;
  int rc = uncompress2(dst_len ? dst : &dummy, &out, src, &in);
  if (rc == Z_BUF_ERROR && out == dst_len)
    return fail(why, "deflate stream inflates to more than %zu bytes", dst_len);
  if (rc != Z_OK) return fail(why, "deflate stream is corrupt or truncated (zlib %d)", rc);
  if (out != dst_len) return fail(why, "deflate stream gives %lu bytes, not %zu", out, dst_len);
  if (in != src_len) return fail(why, "%zu bytes after the deflate stream", src_len - (size_t)in);
  return 0;
}

/* Filter 32004 (A4.36): uint64 BE size, uint32 BE block size, then per block a uint32 BE
 * length and the block, stored as is when that length equals the block's raw size. */
static int decode_lz4(const unsigned char *src, size_t src_len, unsigned char *dst, size_t dst_len,
                      const char **why) {
  if (src_len < 12) return fail(why, "LZ4 chunk of %zu bytes is shorter than its header", src_len);
  uint64_t total = be64(src);
  uint64_t bs = be32(src + 8);
  if (total != dst_len)
    return fail(why, "LZ4 size header says %llu bytes, not %zu", (unsigned long long)total,
                dst_len);
  if (bs == 0 && total) return fail(why, "LZ4 block size is 0");
  if (bs > total) bs = total;
  size_t pos = 12, off = 0;
  for (size_t i = 0; off < dst_len; i++) {
    size_t raw = dst_len - off < bs ? dst_len - off : (size_t)bs;
    if (src_len - pos < 4) return fail(why, "LZ4 block %zu: its length is past the end", i);
    size_t len = be32(src + pos);
    pos += 4;
    if (len > src_len - pos)
      return fail(why, "LZ4 block %zu: %zu bytes, past the end of the chunk", i, len);
    if (len == raw) {
      memcpy(dst + off, src + pos, raw);
    } else {
      if (raw > INT_MAX) return fail(why, "LZ4 block %zu is too large", i);
      int got = LZ4_decompress_safe((const char *)src + pos, (char *)dst + off, (int)len, (int)raw);
      if (got != (int)raw) return fail(why, "LZ4 block %zu is corrupt", i);
    }
    pos += len;
    off += raw;
  }
  if (pos != src_len) return fail(why, "%zu bytes after the last LZ4 block", src_len - pos);
  return 0;
}

/* Filter 32008 with LZ4 (A4.33): uint64 BE size, uint32 BE block size in bytes, full blocks of
 * B elements and one of (n mod B) rounded down to 8, each a uint32 BE length and a raw LZ4
 * block of bit planes; then the last (n mod 8) elements as they are. */
static int decode_bslz4(const unsigned char *src, size_t src_len, unsigned char *dst,
                        size_t dst_len, size_t s, const char **why) {
  if (s == 0) return fail(why, "bitshuffle element size is 0");
  if (src_len < 12)
    return fail(why, "bitshuffle chunk of %zu bytes is shorter than its header", src_len);
  uint64_t total = be64(src);
  size_t bb = be32(src + 8);
  if (total != dst_len)
    return fail(why, "size header says %llu bytes, not %zu", (unsigned long long)total, dst_len);
  if (dst_len % s) return fail(why, "%zu bytes are not whole %zu-byte elements", dst_len, s);
  if (bb == 0 || bb % s || bb / s % 8)
    return fail(why, "block size of %zu bytes is not a multiple of 8 elements of %zu bytes", bb,
                s);
  size_t n = dst_len / s, B = bb / s;
  size_t nfull = n / B, last = n % B / 8 * 8, nblocks = nfull + (last != 0);
  size_t most = (nfull ? B : last) * s; /* the largest block in bytes */
  if (most > INT_MAX) return fail(why, "bitshuffle block of %zu bytes is too large", most);

  unsigned char stack[16384] __attribute__((aligned(32)));
  unsigned char *planes = most <= sizeof stack ? stack : malloc(most);
  if (!planes) return fail(why, "out of memory for a bitshuffle block of %zu bytes", most);
  unshuffle_fn unshuffle = unshuffle_tab[sf_simd_best()];
  int rc = 0;
  size_t pos = 12, e = 0;
  for (size_t i = 0; i < nblocks; i++) {
    size_t m = i < nfull ? B : last, bytes = m * s;
    if (src_len - pos < 4) {
      rc = fail(why, "bitshuffle block %zu of %zu: its length is past the end", i, nblocks);
      goto cleanup;
    }
    size_t len = be32(src + pos);
    pos += 4;
    if (len > src_len - pos || len > INT_MAX) {
      rc = fail(why, "bitshuffle block %zu of %zu: %zu bytes, past the end of the chunk", i,
                nblocks, len);
      goto cleanup;
    }
    int got = LZ4_decompress_safe((const char *)src + pos, (char *)planes, (int)len, (int)bytes);
    if (got != (int)bytes) {
      rc = fail(why, "LZ4 block %zu of %zu is corrupt", i, nblocks);
      goto cleanup;
    }
    unshuffle(planes, dst + e * s, m, s);
    pos += len;
    e += m;
  }
  size_t tail = (n - e) * s;
  if (src_len - pos != tail) {
    rc = src_len - pos < tail
             ? fail(why, "the last %zu raw bytes are cut short", tail)
             : fail(why, "%zu bytes after the last bitshuffle block", src_len - pos - tail);
    goto cleanup;
  }
  memcpy(dst + e * s, src + pos, tail);
cleanup:
  if (planes != stack) free(planes);
  return rc;
}

int sf_chunk_decode(const sf_chunk_codec *c, unsigned filter_mask, const unsigned char *src,
                    size_t src_len, unsigned char *dst, size_t dst_len, const char **why) {
  if (!c || (!src && src_len) || (!dst && dst_len)) return fail(why, "no chunk");
  if (c->filter == 0 || (filter_mask & 1u)) {
    if (src_len != dst_len)
      return fail(why, "stored chunk has %zu bytes, not %zu", src_len, dst_len);
    if (dst_len) memcpy(dst, src, dst_len);
    return 0;
  }
  switch (c->filter) {
  case SF_FILTER_DEFLATE: return decode_deflate(src, src_len, dst, dst_len, why);
  case SF_FILTER_LZ4: return decode_lz4(src, src_len, dst, dst_len, why);
  case SF_FILTER_BITSHUFFLE: return decode_bslz4(src, src_len, dst, dst_len, c->elem_size, why);
  default: return fail(why, "filter %d is not one slabflow decodes", c->filter);
  }
}
