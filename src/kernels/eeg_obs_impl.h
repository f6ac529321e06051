/* Module-private: the symmetric eigen-solver behind OBS (src/kernels/eeg_obs.c), exposed to its
 * unit test. */
#ifndef SF_EEG_OBS_IMPL_H
#define SF_EEG_OBS_IMPL_H

#include <stddef.h>

/* Eigen-decomposition of the symmetric s x s row-major a (destroyed): Householder reduction to
 * tridiagonal form, every eigenvalue by Sturm-sequence bisection (to a few ulps), descending,
 * into lam[0..s); the eigenvectors of the k largest by inverse iteration on the tridiagonal
 * matrix (partial pivoting, a fixed start vector, four steps, orthogonalised against the ones
 * before) and the reflectors, unit length, into the rows of vec (k x s). work: 9 s doubles.
 * O(4/3 s^3 + 60 s^2 + k s^2); deterministic. Local. */
void sf_obs_sym_eig(double *a, size_t s, size_t k, double *lam, double *vec, double *work);

#endif
