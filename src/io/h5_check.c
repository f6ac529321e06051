#include "io/h5_check.h"

#include <stdarg.h>
#include <stdio.h>

#include "io/h5_util.h"

int sf_h5_report(int code, const char *file, int line, const char *func, const char *fmt, ...) {
  char msg[2048], why[512]; /* the sizes of sf_error_report and the callers' buffers */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sf_h5_error_text(why, sizeof why);
  return sf_error_report(code, file, line, func, "%s: %s", msg, why);
}
