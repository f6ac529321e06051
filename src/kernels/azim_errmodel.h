/* pyFAI's "azimuthal" error model for the CSR integrator: the variance of a bin is the
 * spread of its pixels' normalised values around the bin's mean, weighted by their share of
 * the normalisation, V_k = sum_i w_ki n_i (s_i / n_i - I_k)^2 with I_k = S_k / N_k (measured
 * against pyFAI 0.21.3's ("bbox"|"full"|"no", "csr", "cython") engine). Pure, local. */
#ifndef SF_AZIM_ERRMODEL_H
#define SF_AZIM_ERRMODEL_H

#include "kernels/azim.h"

/* Replaces s->variance by the azimuthal variance of one frame, from s->signal and s->norm as
 * sf_azim_integrate left them; the same pixels are skipped (non-finite, dummy). */
void sf_azim_variance_azimuthal(const sf_azim *a, const float *raw, const float *dark,
                                double dummy, double delta_dummy, sf_azim_sums *s);

/* The same for a frame stored as type t (npix elements at raw), read in place as
 * sf_azim_integrate_typed reads it: byte for byte the variance of the frame converted to float
 * first. */
void sf_azim_variance_azimuthal_typed(const sf_azim *a, const void *raw, sf_dtype t,
                                      const float *dark, double dummy, double delta_dummy,
                                      sf_azim_sums *s);

#endif
