/* libFuzzer harness: the option-value parsers (src/cli/cli_args.c). The first byte picks
 * the parser and its bounds, the rest is the value. Besides crashes it checks what each
 * parser promises: an accepted integer is decimal digits only and within its bounds, a
 * range is DIGITS:DIGITS with FIRST <= LAST, a number is finite, decimal and within its
 * bounds, a list holds up to max non-negative finite numbers; a refused value reports one
 * message naming the option. */
#include <ctype.h>
#include <math.h>

#include "cli/cli_args.h"
#include "fuzz_common.h"

#define FZ_CHECK(cond)                                                                       \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "fuzz: %s accepted '%s' but fails %s\n", what, s, #cond);             \
      abort();                                                                               \
    }                                                                                        \
  } while (0)

static int all_digits(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const size_t lim[4][2] = {{0, SIZE_MAX}, {1, 1000}, {0, 0}, {7, 7}};
  static const double dlim[4][2] = {{-1e300, 1e300}, {0, 1}, {1e-6, 1e6}, {-5, -5}};
  static const char *const choices[] = {"linear", "cubic", "", "nearest", NULL};
  char *s = malloc(size);
  if (!s) return 0;
  memcpy(s, data + 1, size - 1);
  s[size - 1] = 0;
  int pick = data[0] % 6, b = (data[0] / 6) % 4;
  const char *what = "--opt";
  int status = 0;
  fz_begin();
  switch (pick) {
  case 0: {
    size_t v = 0;
    what = "sf_cli_size";
    status = sf_cli_size(1, "--opt", s, lim[b][0], lim[b][1], &v);
    if (status == 0) FZ_CHECK(all_digits(s, strlen(s)) && v >= lim[b][0] && v <= lim[b][1]);
    break;
  }
  case 1: {
    uint64_t v = 0;
    what = "sf_cli_u64";
    status = sf_cli_u64(1, "--opt", s, &v);
    if (status == 0) FZ_CHECK(all_digits(s, strlen(s)) && v == strtoull(s, NULL, 10));
    break;
  }
  case 2: {
    double v = 0;
    what = "sf_cli_double";
    status = sf_cli_double(1, "--opt", s, dlim[b][0], dlim[b][1], &v);
    if (status == 0) FZ_CHECK(isfinite(v) && v >= dlim[b][0] && v <= dlim[b][1] && !strpbrk(s, "xX"));
    break;
  }
  case 3: {
    int v = -1;
    what = "sf_cli_choice";
    status = sf_cli_choice(1, "--opt", s, choices, &v);
    if (status == 0) FZ_CHECK(v >= 0 && v < 4 && strcmp(s, choices[v]) == 0);
    break;
  }
  case 4: {
    double v[4];
    size_t n = 0, max = 1 + (size_t)b;
    what = "sf_cli_double_list";
    status = sf_cli_double_list(1, "--opt", s, v, max, &n);
    if (status == 0) {
      FZ_CHECK(n >= 1 && n <= max);
      for (size_t i = 0; i < n; i++) FZ_CHECK(isfinite(v[i]) && v[i] >= 0);
    }
    break;
  }
  case 5: {
    size_t a = 0, z = 0;
    what = "sf_cli_range";
    status = sf_cli_range(1, "--opt", s, &a, &z);
    if (status == 0) {
      const char *colon = strchr(s, ':');
      FZ_CHECK(colon && all_digits(s, (size_t)(colon - s)) && all_digits(colon + 1, strlen(colon + 1)));
      FZ_CHECK(a <= z && a == strtoull(s, NULL, 10) && z == strtoull(colon + 1, NULL, 10));
    }
    break;
  }
  }
  fz_end(status, "--opt");
  free(s);
  return 0;
}
