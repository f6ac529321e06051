/* Bitshuffle-LZ4 encoding (filter 32008's chunk format, spec integrate.md A4.33) for
 * synthetic data and the tests: the decoder's layout, written with liblz4. */
#include <lz4.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/chunk_decode.h"

static void put_be(unsigned char *p, uint64_t v, int nbytes) {
  for (int i = nbytes - 1; i >= 0; i--, v >>= 8) p[i] = (unsigned char)(v & 0xFF);
}

/* The block size in elements, or 0 when it cannot be written (not a multiple of 8, or a
 * block beyond LZ4's or the header's range). */
static size_t block_of(size_t elem_size, size_t block_elems) {
  size_t b = block_elems ? block_elems : sf_bslz4_block_elems(elem_size);
  if (elem_size == 0 || b % 8 || b > (size_t)LZ4_MAX_INPUT_SIZE / elem_size) return 0;
  return b;
}

size_t sf_bslz4_bound(size_t n_elems, size_t elem_size, size_t block_elems) {
  size_t B = block_of(elem_size, block_elems);
  if (!B) return 0;
  size_t nfull = n_elems / B, last = n_elems % B / 8 * 8;
  size_t total = 12 + nfull * (4 + (size_t)LZ4_compressBound((int)(B * elem_size)));
  if (last) total += 4 + (size_t)LZ4_compressBound((int)(last * elem_size));
  return total + n_elems % 8 * elem_size;
}

size_t sf_bslz4_encode(const unsigned char *src, size_t n_elems, size_t elem_size,
                       size_t block_elems, unsigned char *dst, size_t dst_cap) {
  size_t s = elem_size, B = block_of(elem_size, block_elems);
  if (!B || dst_cap < 12) return 0;
  size_t n = n_elems, nfull = n / B, last = n % B / 8 * 8, nblocks = nfull + (last != 0);
  put_be(dst, (uint64_t)n * s, 8);
  put_be(dst + 8, (uint64_t)(B * s), 4);
  size_t pos = 12, e = 0, most = (nfull ? B : last) * s;
  unsigned char *planes = most ? malloc(most) : NULL;
  if (most && !planes) return 0;
  for (size_t i = 0; i < nblocks; i++) {
    size_t m = i < nfull ? B : last, bytes = m * s;
    if (dst_cap - pos < 4) goto fail;
    sf_bitshuffle(src + e * s, planes, m, s);
    size_t room = dst_cap - pos - 4;
    int len = LZ4_compress_default((const char *)planes, (char *)dst + pos + 4, (int)bytes,
                                   room > (size_t)INT32_MAX ? INT32_MAX : (int)room);
    if (len <= 0) goto fail;
    put_be(dst + pos, (uint64_t)len, 4);
    pos += 4 + (size_t)len;
    e += m;
  }
  size_t tail = (n - e) * s;
  if (dst_cap - pos < tail) goto fail;
  memcpy(dst + pos, src + e * s, tail);
  free(planes);
  return pos + tail;
fail:
  free(planes);
  return 0;
}
