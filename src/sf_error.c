#include "sf_error.h"

#include <stdio.h>
#include <stdlib.h>

static int g_rank = -1;

void sf_error_set_rank(int rank) { g_rank = rank; }

int sf_exit_code(int status) {
  if (status <= SF_ERR_SILENT) status -= SF_ERR_SILENT;
  switch (status) {
  case SF_OK: return 0;
  case SF_ERR_USAGE:
  case SF_ERR_INPUT: return 2;
  case SF_ERR_IO: return 3;
  case SF_ERR_NOMEM: return 4;
  case SF_ERR_INTERRUPTED: return 5;
  default: return 1;
  }
}

static void vreport(const char *kind, const char *file, int line, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  const char *dbg = getenv("SLABFLOW_DEBUG");
  if (g_rank >= 0) {
    if (dbg && *dbg && file)
      fprintf(stderr, "slabflow: %s: rank %d: %s [%s:%d]\n", kind, g_rank, msg, file, line);
    else
      fprintf(stderr, "slabflow: %s: rank %d: %s\n", kind, g_rank, msg);
  } else {
    fprintf(stderr, "slabflow: %s: %s\n", kind, msg);
  }
  fflush(stderr);
}

int sf_error_report(int code, const char *file, int line, const char *func, const char *fmt, ...) {
  (void)func;
  va_list ap;
  va_start(ap, fmt);
  vreport("error", file, line, fmt, ap);
  va_end(ap);
  return code;
}

void sf_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport("warning", NULL, 0, fmt, ap);
  va_end(ap);
}
