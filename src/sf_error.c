#include "sf_error.h"

#include <stdio.h>
#include <stdlib.h>

static int g_rank = -1;
/* Deferred errors (sf_error_defer): the first message held instead of printed, per thread. */
static _Thread_local char *t_defer;
static _Thread_local size_t t_defer_n;

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

void sf_error_defer(char *buf, size_t n) {
  t_defer = buf && n ? buf : NULL;
  t_defer_n = t_defer ? n : 0;
  if (t_defer) t_defer[0] = 0;
}

void sf_error_print(const char *msg) {
  if (g_rank >= 0)
    fprintf(stderr, "slabflow: error: rank %d: %s\n", g_rank, msg);
  else
    fprintf(stderr, "slabflow: error: %s\n", msg);
  fflush(stderr);
}

static void vreport(const char *kind, const char *file, int line, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (t_defer && kind[0] == 'e') {
    if (!t_defer[0]) snprintf(t_defer, t_defer_n, "%s", msg);
    return;
  }
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
