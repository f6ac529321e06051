/* Option-value parsing with one clear message per bad value (printed where verbose). */
#ifndef SF_CLI_ARGS_H
#define SF_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0 or SF_ERR_USAGE after printing "<opt>: expected ..., got '<s>'" when verbose.
 * Numbers are decimal: integers are digits only (no sign, no 0x or octal), doubles refuse
 * hexadecimal notation. */
int sf_cli_size(int verbose, const char *opt, const char *s, size_t min, size_t max, size_t *out);
int sf_cli_u64(int verbose, const char *opt, const char *s, uint64_t *out);
int sf_cli_double(int verbose, const char *opt, const char *s, double min, double max, double *out);
/* Index of s in the NULL-terminated list choices. */
int sf_cli_choice(int verbose, const char *opt, const char *s, const char *const *choices, int *out);
/* Comma-separated list of up to max doubles, each >= 0. */
int sf_cli_double_list(int verbose, const char *opt, const char *s, double *out, size_t max,
                       size_t *n);
/* "A:B" with A <= B (both inclusive, decimal digits only). */
int sf_cli_range(int verbose, const char *opt, const char *s, size_t *a, size_t *b);

struct option;
/* The message for what getopt_long returned as c when it is not an option of the command:
 * ':' (an option's value is missing; the parser's optstring must start with ':', after any
 * '+'), or '?' (unknown, ambiguous, or a value given to an option that takes none). Names
 * the option as "--name" or "-c", prefixed by cmd. Call it before getopt_long runs again.
 * Returns SF_ERR_USAGE. Local. */
int sf_cli_bad_option(int verbose, const char *cmd, int c, int argc, char **argv,
                      const struct option *lo);

/* Reports a usage error (when verbose) and returns SF_ERR_USAGE. */
int sf_cli_usage_error(int verbose, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The command line joined with spaces (for provenance), in buf. */
void sf_cli_join(int argc, char **argv, char *buf, size_t n);

#endif
