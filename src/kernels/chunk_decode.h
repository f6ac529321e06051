/* Decoding of raw HDF5 chunks as read by H5Dread_chunk: bitshuffle-LZ4 (filter 32008, our
 * bit-unshuffle and liblz4), LZ4 (32004) and deflate (1, zlib), or stored as is. Pure, local,
 * thread-safe: every call works on caller-owned buffers. */
#ifndef SF_CHUNK_DECODE_H
#define SF_CHUNK_DECODE_H

#include <stddef.h>

enum { SF_FILTER_DEFLATE = 1, SF_FILTER_LZ4 = 32004, SF_FILTER_BITSHUFFLE = 32008 };

/* The filter pipeline of a dataset as slabflow decodes it: at most one of the filters above
 * (0: none); elem_size for bitshuffle. */
typedef struct sf_chunk_codec {
  int filter;
  size_t elem_size;
} sf_chunk_codec;

/* Decodes one chunk of src_len bytes into exactly dst_len bytes at dst. filter_mask is
 * H5Dread_chunk's (bit set = that filter was not applied: the bytes are stored as they are).
 * Returns 0, or -1 with *why set ("LZ4 block 12 is corrupt", "size header says N bytes, not
 * M", ...) for a corrupt or truncated chunk; *why points to a per-thread buffer valid until
 * this thread's next call. Reads only src[0, src_len), writes only dst[0, dst_len). Local. */
int sf_chunk_decode(const sf_chunk_codec *c, unsigned filter_mask, const unsigned char *src,
                    size_t src_len, unsigned char *dst, size_t dst_len, const char **why);

/* Bit-unshuffle of one block of n elements (n a multiple of 8) of elem_size bytes: the
 * bitshuffle layout (8*elem_size bit planes of n/8 bytes) back to elements. */
void sf_bitunshuffle(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size);

/* The inverse (for writing test and synthetic data): elements to bit planes. */
void sf_bitshuffle(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size);

/* The same two, bit by bit as spec A4.34 defines them (slow; the tests' reference). */
void sf_bitunshuffle_ref(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size);
void sf_bitshuffle_ref(const unsigned char *src, unsigned char *dst, size_t n, size_t elem_size);

/* Filter 32008's default block size in elements (A4.33): max(128, 8*floor(8192/elem_size/8)),
 * 2048 for 4-byte elements. */
size_t sf_bslz4_block_elems(size_t elem_size);

/* Encodes a chunk as bitshuffle-LZ4 (filter 32008's format, block size 0 = its default) into
 * dst (capacity dst_cap); returns the bytes written, 0 if it does not fit. For synthetic data
 * and tests. */
size_t sf_bslz4_encode(const unsigned char *src, size_t n_elems, size_t elem_size,
                       size_t block_elems, unsigned char *dst, size_t dst_cap);

/* An upper bound of sf_bslz4_encode's output for n_elems of elem_size. */
size_t sf_bslz4_bound(size_t n_elems, size_t elem_size, size_t block_elems);

#endif
