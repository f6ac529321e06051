/* Numerics of `slices`: context-window index maps, foreground moments that combine in a
 * fixed order, order-preserving float keys for exact percentiles, the numpy-legacy case
 * permutation, and the normalised context stack. Pure, local, thread-safe. */
#ifndef SF_SLICE_OPS_H
#define SF_SLICE_OPS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SF_PAD_ZERO = 0, SF_PAD_REPLICATE, SF_PAD_REFLECT, SF_PAD_SYMMETRIC } sf_pad_mode;

/* Source slice of target u = t + offset in a volume of depth d (spec B5.30): in range, u
 * itself; outside, zero -> -1 (an all-zero channel), replicate -> the nearest edge,
 * reflect -> mirrored without repeating the edge (-1 -> 1), symmetric -> mirrored with the
 * edge repeated (-1 -> 0); a mirrored index still outside [0, d) (volumes thinner than the
 * window) is clamped into it. */
long sf_pad_index(sf_pad_mode mode, long u, long d);

/* Count, mean and sum of squared deviations of a set of values; two sets combine exactly
 * as if pooled (Chan et al.), and combining a fixed sequence in a fixed order gives the
 * same bits whoever computes the parts. */
typedef struct sf_moments {
  double n, mean, m2;
} sf_moments;

/* Appends b to a (a := a pooled with b). */
void sf_moments_merge(sf_moments *a, const sf_moments *b);

/* Moments of clamp(x, lo, hi) over the n values of x, in two passes in index order: over
 * every value (all) and over the values whose clamped value exceeds above_of (above). */
void sf_moments_clamped(const float *x, size_t n, double lo, double hi, double above_of,
                        sf_moments *all, sf_moments *above);

/* Order-preserving key of a float (a < b <=> key(a) < key(b) for non-NaN; -0 < +0), and its
 * inverse. */
uint32_t sf_float_key(float v);
float sf_float_from_key(uint32_t k);

/* numpy's legacy np.random.seed(seed); np.random.permutation(n) (MT19937, init_genrand,
 * Fisher-Yates with masked rejection sampling; spec B1.10), for seed < 2^32. */
void sf_numpy_permutation(uint32_t seed, size_t n, size_t *perm);

/* One output slice: for each of nch channels, dst[c] = (clamp(src[c], lo, hi) - mean) /
 * std computed in double and rounded to float32 (normalize = 0: clamp only), or zeros where
 * src[c] is NULL. Each plane has n values; dst is nch * n. */
void sf_slice_stack(const float *const *src, size_t nch, size_t n, double lo, double hi,
                    int normalize, double mean, double std, float *restrict dst);

#endif
