/* Counter-based randomness of the synthetic-data generators: a stream depends only on
 * (seed, stream, a, b), so the bytes do not depend on which rank or thread draws them.
 * Module-private to src/io/synth_*.c. */
#ifndef SF_SYNTH_RNG_H
#define SF_SYNTH_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct {
  uint64_t s;
} syn_rng;

/* splitmix64 finaliser. */
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Counter-based key: a stream of randomness that depends only on (seed, stream, a, b). */
static inline uint64_t rng_key(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b) {
  const uint64_t g = 0x9E3779B97F4A7C15ULL;
  return mix64((mix64((mix64((mix64(seed + g) ^ stream) + g) ^ a) + g) ^ b) + g);
}

/* Uniform on (0, 1]. */
static inline double rng_unif(syn_rng *r) {
  r->s += 0x9E3779B97F4A7C15ULL;
  return (double)((mix64(r->s) >> 11) + 1) * 0x1.0p-53;
}

/* Uniform on (lo, hi]. */
static inline double rng_range(syn_rng *r, double lo, double hi) {
  return lo + (hi - lo) * rng_unif(r);
}

/* Two independent standard normals (Marsaglia polar method: no trigonometry). */
static inline void rng_normal2(syn_rng *r, double *z0, double *z1) {
  double a, b, q;
  do {
    a = 2.0 * rng_unif(r) - 1.0;
    b = 2.0 * rng_unif(r) - 1.0;
    q = a * a + b * b;
  } while (q >= 1.0 || q == 0.0);
  q = sqrt(-2.0 * log(q) / q);
  *z0 = a * q;
  *z1 = b * q;
}

/* One standard normal (the pair's second value is dropped). */
static inline double rng_normal(syn_rng *r) {
  double z0, z1;
  rng_normal2(r, &z0, &z1);
  return z0;
}

#endif
