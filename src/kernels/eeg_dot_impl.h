/* Module-private: the dot product the EEG kernels (eeg_firls.c, eeg_obs.c, eeg_anc.c) share. */
#ifndef SF_EEG_DOT_IMPL_H
#define SF_EEG_DOT_IMPL_H

#include <stddef.h>

/* <x, y> with eight partial sums in a fixed order: independent chains the compiler can keep in
 * vector registers (a single running sum is bound by the add latency); deterministic. */
static inline double sf_eeg_dot8(const double *x, const double *y, size_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int u = 0; u < 8; u++)
      s[u] += x[k + (size_t)u] * y[k + (size_t)u];
  double t = 0.0;
  for (; k < n; k++)
    t += x[k] * y[k];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

#endif
