#include "cli/cli_args.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_error.h"

int sf_cli_usage_error(int verbose, const char *fmt, ...) {
  if (verbose) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sf_error_report(SF_ERR_USAGE, NULL, 0, NULL, "%s (see --help)", msg);
  }
  return SF_ERR_USAGE;
}

int sf_cli_size(int verbose, const char *opt, const char *s, size_t min, size_t max, size_t *out) {
  char *end = NULL;
  errno = 0;
  /* strtoull alone would take " 7", "+7" and "-7" (wrapped); an integer is digits only. */
  unsigned long long v = s && isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
  if (!s || !isdigit((unsigned char)*s) || errno || *end || v < min || v > max)
    return sf_cli_usage_error(verbose, "%s: expected an integer from %zu to %zu, got '%s'", opt,
                              min, max, s ? s : "");
  *out = (size_t)v;
  return 0;
}

int sf_cli_u64(int verbose, const char *opt, const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  /* Base 10, never 0: "010" is ten, as everywhere else in the command line (base 0 read it
   * as octal eight, and "0x10" as sixteen). */
  unsigned long long v = s && isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
  if (!s || !isdigit((unsigned char)*s) || errno || *end)
    return sf_cli_usage_error(verbose, "%s: expected a non-negative integer, got '%s'", opt,
                              s ? s : "");
  *out = v;
  return 0;
}

int sf_cli_double(int verbose, const char *opt, const char *s, double min, double max, double *out) {
  char *end = NULL;
  errno = 0;
  double v = s && !strpbrk(s, "xX") ? strtod(s, &end) : NAN; /* decimal only: no hex floats */
  if (!s || !*s || !end || errno || *end || !isfinite(v) || v < min || v > max)
    return sf_cli_usage_error(verbose, "%s: expected a number from %g to %g, got '%s'", opt, min,
                              max, s ? s : "");
  *out = v;
  return 0;
}

int sf_cli_choice(int verbose, const char *opt, const char *s, const char *const *choices, int *out) {
  char list[256] = "";
  size_t used = 0;
  for (int i = 0; choices[i]; i++) {
    if (s && strcmp(s, choices[i]) == 0) {
      *out = i;
      return 0;
    }
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? "|" : "", choices[i]);
  }
  return sf_cli_usage_error(verbose, "%s: expected one of %s, got '%s'", opt, list, s ? s : "");
}

int sf_cli_double_list(int verbose, const char *opt, const char *s, double *out, size_t max,
                       size_t *n) {
  size_t k = 0;
  const char *p = s;
  while (p && *p) {
    char *end = NULL;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || !isfinite(v) || v < 0 || k >= max || (*end && *end != ',') ||
        memchr(p, 'x', (size_t)(end - p)) || memchr(p, 'X', (size_t)(end - p)))
      return sf_cli_usage_error(verbose,
                                "%s: expected up to %zu comma-separated non-negative numbers, "
                                "got '%s'",
                                opt, max, s);
    out[k++] = v;
    p = *end ? end + 1 : end;
  }
  if (k == 0) return sf_cli_usage_error(verbose, "%s: expected a list of numbers, got '%s'", opt, s ? s : "");
  *n = k;
  return 0;
}

int sf_cli_range(int verbose, const char *opt, const char *s, size_t *a, size_t *b) {
  unsigned long long x = 0, y = 0;
  char *end = NULL, *end2 = NULL;
  errno = 0;
  /* digits:digits only: sscanf's %llu took "1:-2" (LAST wrapped to 2^64 - 2), " 1:2", "1:+2" */
  if (s && isdigit((unsigned char)*s)) x = strtoull(s, &end, 10);
  if (end && *end == ':' && isdigit((unsigned char)end[1])) y = strtoull(end + 1, &end2, 10);
  if (!end2 || *end2 || errno || x > y)
    return sf_cli_usage_error(verbose, "%s: expected FIRST:LAST frame indices with FIRST <= LAST, got '%s'",
                              opt, s ? s : "");
  *a = (size_t)x;
  *b = (size_t)y;
  return 0;
}

/* The name of an option as the user gave it, canonical where getopt knows it: "--name" for
 * a long option (abbreviations resolved through its value), "-c" for a short one. */
static void option_name(int argc, char **argv, const struct option *lo, char *buf, size_t n) {
  const char *arg = optind >= 1 && optind <= argc ? argv[optind - 1] : NULL;
  if (arg && !strncmp(arg, "--", 2)) {
    int len = (int)strcspn(arg + 2, "=");
    for (int i = 0; optopt && lo && lo[i].name; i++)
      if (lo[i].val == optopt && !strncmp(lo[i].name, arg + 2, (size_t)len)) {
        snprintf(buf, n, "--%s", lo[i].name);
        return;
      }
    /* optopt 0: an unknown or ambiguous long option, which getopt has stepped past */
    if (!optopt) {
      snprintf(buf, n, "--%.*s", len, arg + 2);
      return;
    }
  }
  /* A short option; inside a bundle ("-xq") optind may not have moved past it yet. */
  if (optopt > 0 && optopt < 128 && isgraph(optopt))
    snprintf(buf, n, "-%c", optopt);
  else
    snprintf(buf, n, "%s", arg ? arg : "?");
}

int sf_cli_bad_option(int verbose, const char *cmd, int c, int argc, char **argv,
                      const struct option *lo) {
  char name[128];
  option_name(argc, argv, lo, name, sizeof name);
  if (c == ':') return sf_cli_usage_error(verbose, "%s: option '%s' needs a value", cmd, name);
  const char *arg = optind >= 1 && optind <= argc ? argv[optind - 1] : "";
  if (optopt && !strncmp(arg, "--", 2) && strchr(arg, '='))
    return sf_cli_usage_error(verbose, "%s: option '%s' takes no value, got '%s'", cmd, name, arg);
  return sf_cli_usage_error(verbose, "%s: unknown or incomplete option '%s'", cmd, name);
}

void sf_cli_join(int argc, char **argv, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < argc && used < n; i++)
    used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? " " : "", argv[i]);
}
