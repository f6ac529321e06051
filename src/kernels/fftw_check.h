/* SF_FFTW: checks an FFTW plan (STYLE.md "Errors"). Kernels print nothing: the caller
 * reports, and FFTW has no message of its own (a plan comes back NULL). */
#ifndef SF_FFTW_CHECK_H
#define SF_FFTW_CHECK_H

#include "sf_error.h"

/* Jumps to cleanup with SF_ERR_NOMEM if plan is NULL (FFTW_ESTIMATE plans of valid sizes fail
 * only when FFTW runs out of memory). Requires `int status` and `cleanup:`. */
#define SF_FFTW(plan)                                                                              \
  do {                                                                                             \
    if (!(plan)) SF_FAIL_QUIET(SF_ERR_NOMEM);                                                      \
  } while (0)

#endif
