/* SF_H5: checks an HDF5 call that returns a negative value on failure (STYLE.md "Errors"). */
#ifndef SF_H5_CHECK_H
#define SF_H5_CHECK_H

#include "sf_error.h"

/* Reports "<caller's message>: <innermost HDF5 message>" (sf_h5_error_text; clears the HDF5
 * error stack) like sf_error_report. Returns code. Local. */
int sf_h5_report(int code, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Calls an HDF5 function; if it returns a negative value (herr_t or hid_t), reports the
 * caller's context (printf format and arguments) with HDF5's own message and jumps to cleanup
 * with SF_ERR_IO. Requires `int status` and `cleanup:`. Local: a rank that fails alone must
 * still reach the agreement the others wait in. */
#define SF_H5(call, ...) SF_H5_AS(SF_ERR_IO, call, __VA_ARGS__)

/* SF_H5 with another code, e.g. SF_ERR_INPUT for an input file HDF5 cannot open. */
#define SF_H5_AS(code, call, ...)                                                                  \
  do {                                                                                             \
    if ((call) < 0) {                                                                              \
      status = sf_h5_report((code), __FILE__, __LINE__, __func__, __VA_ARGS__);                    \
      goto cleanup;                                                                                \
    }                                                                                              \
  } while (0)

#endif
