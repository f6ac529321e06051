#include "kernels/azim_errmodel.h"

#include <math.h>

#include "kernels/dtype_convert.h"

#if defined(__GNUC__)
#define EM_INLINE static inline __attribute__((always_inline))
#else
#define EM_INLINE static inline
#endif

EM_INLINE void variance_t(const sf_azim *a, const void *raw, sf_dtype t, const float *dark,
                          double dummy, double delta_dummy, sf_azim_sums *s) {
  int dodummy = !isnan(dummy);
  float fd = (float)dummy, fdd = isnan(delta_dummy) ? 0.0f : (float)delta_dummy;
  for (size_t r = 0; r < a->nrows; r++) {
    double v = 0.0;
    if (s->norm[r] != 0.0) {
      double mean = s->signal[r] / s->norm[r];
      for (int32_t e = a->indptr[r]; e < a->indptr[r + 1]; e++) {
        int32_t i = a->indices[e];
        float x = sf_dtype_load_float(raw, (size_t)i, t), n = a->norm[i];
        if (!isfinite(x) || n == 0.0f) continue;
        if (dodummy && (fdd != 0.0f ? fabsf(x - fd) <= fdd : x == fd)) continue;
        float sig = dark ? x - dark[i] : x;
        double d = (double)sig / (double)n - mean;
        v += (double)a->data[e] * (double)n * d * d;
      }
    }
    s->variance[r] = v;
  }
}

void sf_azim_variance_azimuthal_typed(const sf_azim *a, const void *raw, sf_dtype t,
                                      const float *dark, double dummy, double delta_dummy,
                                      sf_azim_sums *s) {
#define EM_CASE(T)                                                                                 \
  case T: variance_t(a, raw, T, dark, dummy, delta_dummy, s); break
  switch (t) {
    EM_CASE(SF_DTYPE_U8);
    EM_CASE(SF_DTYPE_I8);
    EM_CASE(SF_DTYPE_U16);
    EM_CASE(SF_DTYPE_I16);
    EM_CASE(SF_DTYPE_U32);
    EM_CASE(SF_DTYPE_I32);
    EM_CASE(SF_DTYPE_U64);
    EM_CASE(SF_DTYPE_I64);
    EM_CASE(SF_DTYPE_F32);
    EM_CASE(SF_DTYPE_F64);
  default: variance_t(a, raw, SF_DTYPE_NONE, dark, dummy, delta_dummy, s); break;
  }
#undef EM_CASE
}

void sf_azim_variance_azimuthal(const sf_azim *a, const float *raw, const float *dark,
                                double dummy, double delta_dummy, sf_azim_sums *s) {
  sf_azim_variance_azimuthal_typed(a, raw, SF_DTYPE_F32, dark, dummy, delta_dummy, s);
}
