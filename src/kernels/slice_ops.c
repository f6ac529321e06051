#include "kernels/slice_ops.h"

#include <math.h>
#include <string.h>

long sf_pad_index(sf_pad_mode mode, long u, long d) {
  if (u >= 0 && u < d) return u;
  switch (mode) {
  case SF_PAD_ZERO: return -1;
  case SF_PAD_REPLICATE: return u < 0 ? 0 : d - 1;
  case SF_PAD_REFLECT: u = u < 0 ? -u : 2 * (d - 1) - u; break;
  case SF_PAD_SYMMETRIC: u = u < 0 ? -u - 1 : 2 * d - 1 - u; break;
  }
  return u < 0 ? 0 : u >= d ? d - 1 : u;
}

void sf_moments_merge(sf_moments *a, const sf_moments *b) {
  if (b->n == 0) return;
  if (a->n == 0) {
    *a = *b;
    return;
  }
  double n = a->n + b->n, delta = b->mean - a->mean;
  a->mean += delta * (b->n / n);
  a->m2 += b->m2 + delta * delta * (a->n * b->n / n);
  a->n = n;
}

static inline double clampd(double v, double lo, double hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

void sf_moments_clamped(const float *x, size_t n, double lo, double hi, double above_of,
                        sf_moments *all, sf_moments *above) {
  double s_all = 0, s_ab = 0;
  size_t n_ab = 0;
  for (size_t i = 0; i < n; i++) {
    double v = clampd(x[i], lo, hi);
    s_all += v;
    if (v > above_of) {
      s_ab += v;
      n_ab++;
    }
  }
  double m_all = n ? s_all / (double)n : 0, m_ab = n_ab ? s_ab / (double)n_ab : 0;
  double q_all = 0, q_ab = 0;
  for (size_t i = 0; i < n; i++) {
    double v = clampd(x[i], lo, hi);
    q_all += (v - m_all) * (v - m_all);
    if (v > above_of) q_ab += (v - m_ab) * (v - m_ab);
  }
  *all = (sf_moments){(double)n, m_all, q_all};
  *above = (sf_moments){(double)n_ab, m_ab, q_ab};
}

uint32_t sf_float_key(float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

float sf_float_from_key(uint32_t k) {
  uint32_t b = (k & 0x80000000u) ? k & 0x7fffffffu : ~k;
  float v;
  memcpy(&v, &b, 4);
  return v;
}

/* MT19937 as numpy's legacy RandomState seeds it from a scalar (init_genrand). */
typedef struct mt_state {
  uint32_t s[624];
  int i;
} mt_state;

static void mt_seed(mt_state *m, uint32_t seed) {
  m->s[0] = seed;
  for (int i = 1; i < 624; i++)
    m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
  m->i = 624;
}

static uint32_t mt_next(mt_state *m) {
  if (m->i >= 624) {
    for (int k = 0; k < 624; k++) {
      uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
      m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    m->i = 0;
  }
  uint32_t y = m->s[m->i++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

void sf_numpy_permutation(uint32_t seed, size_t n, size_t *perm) {
  mt_state m;
  mt_seed(&m, seed);
  for (size_t i = 0; i < n; i++) perm[i] = i;
  for (size_t i = n; i-- > 1;) {
    uint32_t mask = (uint32_t)i; /* smallest 2^b - 1 >= i (n < 2^32 cases) */
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    size_t j;
    do j = mt_next(&m) & mask;
    while (j > i);
    size_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

void sf_slice_stack(const float *const *src, size_t nch, size_t n, double lo, double hi,
                    int normalize, double mean, double std, float *restrict dst) {
  for (size_t c = 0; c < nch; c++) {
    float *restrict o = dst + c * n;
    const float *restrict s = src[c];
    if (!s) {
      memset(o, 0, n * sizeof *o);
    } else if (normalize) {
      double inv = 1.0 / std;
      for (size_t i = 0; i < n; i++) o[i] = (float)((clampd(s[i], lo, hi) - mean) * inv);
    } else {
      for (size_t i = 0; i < n; i++) o[i] = (float)clampd(s[i], lo, hi);
    }
  }
}
