#include "kernels/azim_errmodel.h"

#include <math.h>

void sf_azim_variance_azimuthal(const sf_azim *a, const float *raw, const float *dark,
                                double dummy, double delta_dummy, sf_azim_sums *s) {
  int dodummy = !isnan(dummy);
  float fd = (float)dummy, fdd = isnan(delta_dummy) ? 0.0f : (float)delta_dummy;
  for (size_t r = 0; r < a->nrows; r++) {
    double v = 0.0;
    if (s->norm[r] != 0.0) {
      double mean = s->signal[r] / s->norm[r];
      for (int32_t e = a->indptr[r]; e < a->indptr[r + 1]; e++) {
        int32_t i = a->indices[e];
        float x = raw[i], n = a->norm[i];
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
