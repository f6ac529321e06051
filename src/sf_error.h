/* Error codes, reporting at the origin, and propagation macros (STYLE.md "Errors"). */
#ifndef SF_ERROR_H
#define SF_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Every fallible function returns 0 or one of these (negative). main() maps them to exit codes. */
enum {
  SF_OK = 0,
  SF_ERR_USAGE = -1,       /* bad command line or option value            -> exit 2 */
  SF_ERR_INPUT = -2,       /* bad input data (shape, dtype, NaN, corrupt) -> exit 2 */
  SF_ERR_IO = -3,          /* read/write/rename failure                   -> exit 3 */
  SF_ERR_NOMEM = -4,       /* out of memory or other resource             -> exit 4 */
  SF_ERR_INTERRUPTED = -5, /* SIGINT/SIGTERM received                     -> exit 5 */
  SF_ERR_INTERNAL = -6,    /* a bug: inconsistent state                   -> exit 1 */
  SF_ERR_SILENT = -100     /* offset: an error already reported on another rank */
};

/* Exit code for a status (0, 2, 3, 4, 5, or 1 for internal errors). Local. */
int sf_exit_code(int status);

/* Sets the MPI rank printed in messages (-1: print no rank). Local. */
void sf_error_set_rank(int rank);

/* Prints "slabflow: error: rank R: <message>" once to stderr; adds file:line when SLABFLOW_DEBUG
 * is set. Returns code. Local. */
int sf_error_report(int code, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Holds error messages of the calling thread instead of printing them: the first goes to
 * buf (n bytes, emptied now), later ones are dropped; buf NULL prints again. For work whose
 * errors are reported once by whichever rank met the first of them. Local. */
void sf_error_defer(char *buf, size_t n);

/* Prints a message held by sf_error_defer in the error format. Local. */
void sf_error_print(const char *msg);

/* Prints a warning in the same format. Local. */
void sf_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report at the origin and jump to cleanup with status set. Requires `int status` and `cleanup:`. */
#define SF_CHECK(cond, code, ...)                                                     \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      status = sf_error_report((code), __FILE__, __LINE__, __func__, __VA_ARGS__);    \
      goto cleanup;                                                                   \
    }                                                                                 \
  } while (0)

/* Fail without printing (kernels: the caller reports). */
#define SF_FAIL_QUIET(code)                                                           \
  do {                                                                                \
    status = (code);                                                                  \
    goto cleanup;                                                                     \
  } while (0)

/* Propagate a status returned by a slabflow call. */
#define SF_CALL(expr)                                                                 \
  do {                                                                                \
    int sf_call_rc_ = (expr);                                                         \
    if (sf_call_rc_ < 0) {                                                            \
      status = sf_call_rc_;                                                           \
      goto cleanup;                                                                   \
    }                                                                                 \
  } while (0)

/* Allocation that reports and jumps on failure. */
#define SF_ALLOC(ptr, count)                                                          \
  do {                                                                                \
    size_t sf_n_ = (size_t)(count);                                                   \
    (ptr) = sf_n_ ? calloc(sf_n_, sizeof(*(ptr))) : NULL;                             \
    if (sf_n_ && !(ptr)) {                                                            \
      status = sf_error_report(SF_ERR_NOMEM, __FILE__, __LINE__, __func__,            \
                               "out of memory allocating %zu bytes",                 \
                               sf_n_ * sizeof(*(ptr)));                               \
      goto cleanup;                                                                   \
    }                                                                                 \
  } while (0)

#endif
