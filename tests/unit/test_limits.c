/* CUnit tests of the limits a run checks before it allocates: decimal option numbers, the
 * names of options given without a value, overflow-safe sizes, the memory budget, the node's
 * memory and the collective memory check on one rank. */
#include <CUnit/Basic.h>
#include <getopt.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli_args.h"
#include "mpi/mem_check.h"
#include "node/node_memory.h"
#include "sf_error.h"
#include "sf_cunit.h"

static void test_u64_decimal(void) {
  uint64_t v = 0;
  CU_ASSERT_EQUAL(sf_cli_u64(0, "--seed", "010", &v), 0);
  CU_ASSERT_EQUAL(v, 10); /* not octal 8 */
  CU_ASSERT_EQUAL(sf_cli_u64(0, "--seed", "0", &v), 0);
  CU_ASSERT_EQUAL(v, 0);
  CU_ASSERT_EQUAL(sf_cli_u64(0, "--seed", "18446744073709551615", &v), 0);
  CU_ASSERT_EQUAL(v, UINT64_MAX);
  static const char *bad[] = {
      "0x10", "0X10", "08x", "-1", "+7", " 7", "", "7 ", "1e3", "18446744073709551616", NULL};
  for (int i = 0; bad[i]; i++) {
    v = 99;
    CU_ASSERT_EQUAL(sf_cli_u64(0, "--seed", bad[i], &v), SF_ERR_USAGE);
    CU_ASSERT_EQUAL(v, 99);
  }
  CU_ASSERT_EQUAL(sf_cli_u64(0, "--seed", NULL, &v), SF_ERR_USAGE);
}

static void test_size_and_double_decimal(void) {
  size_t z = 0;
  double d = 0;
  CU_ASSERT_EQUAL(sf_cli_size(0, "--buffer-size", "010", 1, 100, &z), 0);
  CU_ASSERT_EQUAL(z, 10);
  CU_ASSERT_EQUAL(sf_cli_size(0, "--buffer-size", "+5", 1, 100, &z), SF_ERR_USAGE);
  CU_ASSERT_EQUAL(sf_cli_size(0, "--buffer-size", " 5", 1, 100, &z), SF_ERR_USAGE);
  CU_ASSERT_EQUAL(sf_cli_size(0, "--buffer-size", "0x5", 1, 100, &z), SF_ERR_USAGE);
  CU_ASSERT_EQUAL(sf_cli_double(0, "--alpha", "1.5e1", 0, 100, &d), 0);
  CU_ASSERT_DOUBLE_EQUAL(d, 15.0, 0);
  CU_ASSERT_EQUAL(sf_cli_double(0, "--alpha", "0x1p3", 0, 100, &d), SF_ERR_USAGE);
  double l[3];
  size_t n = 0;
  CU_ASSERT_EQUAL(sf_cli_double_list(0, "--sigma", "1,0x2,3", l, 3, &n), SF_ERR_USAGE);
  CU_ASSERT_EQUAL(sf_cli_double_list(0, "--sigma", "1,2.5,3", l, 3, &n), 0);
  CU_ASSERT_EQUAL(n, 3);
}

/* The message sf_cli_bad_option gives for argv under getopt_long with optstring. */
static const char *bad_option_message(int argc, char **argv, const char *optstring) {
  static const struct option lo[] = {{"output", required_argument, 0, 'o'},
                                     {"buffer-size", required_argument, 0, 300},
                                     {"save-flow", no_argument, 0, 301},
                                     {"seed", required_argument, 0, 302},
                                     {0, 0, 0, 0}};
  static char msg[1024];
  int c;
  msg[0] = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, optstring, lo, NULL)) != -1) {
    if (c == 'o' || c >= 300) continue;
    sf_error_defer(msg, sizeof msg);
    sf_cli_bad_option(1, "cmd", c, argc, argv, lo);
    sf_error_defer(NULL, 0);
    break;
  }
  return msg;
}

static void test_bad_option_names(void) {
  char *a1[] = {"cmd", "in.h5", "-o", "out.h5", "--buffer-size", NULL};
  CU_ASSERT_STRING_EQUAL(bad_option_message(5, a1, ":o:h"),
                         "cmd: option '--buffer-size' needs a value (see --help)");
  char *a2[] = {"cmd", "in.h5", "--buf", NULL}; /* an abbreviation: the full name */
  CU_ASSERT_STRING_EQUAL(bad_option_message(3, a2, ":o:h"),
                         "cmd: option '--buffer-size' needs a value (see --help)");
  char *a3[] = {"cmd", "in.h5", "-o", NULL};
  CU_ASSERT_STRING_EQUAL(bad_option_message(3, a3, ":o:h"),
                         "cmd: option '-o' needs a value (see --help)");
  char *a4[] = {"cmd", "--frobnicate", "3", NULL};
  CU_ASSERT_STRING_EQUAL(bad_option_message(3, a4, ":o:h"),
                         "cmd: unknown or incomplete option '--frobnicate' (see --help)");
  char *a5[] = {"cmd", "--seed", "1", "-x", NULL};
  CU_ASSERT_STRING_EQUAL(bad_option_message(4, a5, ":o:h"),
                         "cmd: unknown or incomplete option '-x' (see --help)");
  char *a6[] = {"cmd", "--save-flow=1", NULL};
  CU_ASSERT_STRING_EQUAL(
      bad_option_message(2, a6, ":o:h"),
      "cmd: option '--save-flow' takes no value, got '--save-flow=1' (see --help)");
  char *a7[] = {"cmd", "--seed", "1", "-qo", "x", NULL}; /* unknown inside a bundle */
  CU_ASSERT_STRING_EQUAL(bad_option_message(5, a7, ":o:h"),
                         "cmd: unknown or incomplete option '-q' (see --help)");
  char *a8[] = {"cmd", "-o", "x", "--seed", NULL}; /* '+' first, as synth volumes */
  CU_ASSERT_STRING_EQUAL(bad_option_message(4, a8, "+:o:h"),
                         "cmd: option '--seed' needs a value (see --help)");
}

static void test_saturating_sizes(void) {
  size_t z = 0;
  CU_ASSERT_EQUAL(sf_mul_sat(1ull << 32, 1ull << 31), 1ull << 63);
  CU_ASSERT_EQUAL(sf_mul_sat(1ull << 32, 1ull << 32), UINT64_MAX);
  CU_ASSERT_EQUAL(sf_mul_sat(0, UINT64_MAX), 0);
  CU_ASSERT_EQUAL(sf_add_sat(UINT64_MAX - 1, 1), UINT64_MAX);
  CU_ASSERT_EQUAL(sf_add_sat(UINT64_MAX, 5), UINT64_MAX);
  CU_ASSERT_EQUAL(sf_size_mul(1000, 1000, &z), 0);
  CU_ASSERT_EQUAL(z, 1000000);
  CU_ASSERT_EQUAL(sf_size_mul(SIZE_MAX / 2 + 1, 2, &z), -1);
  CU_ASSERT_EQUAL(z, SIZE_MAX);
}

static void test_budget(void) {
  sf_mem_budget b;
  sf_mem_budget_init(&b);
  sf_mem_budget_add(&b, 2, 64, 512 * 512, 2, "slots");
  sf_mem_budget_add(&b, 1, 1, 1, 10, "small");
  CU_ASSERT_EQUAL(b.total, 2ull * 64 * 512 * 512 * 2 + 10);
  CU_ASSERT_EQUAL(b.largest, 2ull * 64 * 512 * 512 * 2);
  CU_ASSERT_STRING_EQUAL(b.largest_what, "slots");
  /* a frame of 2^40 x 2^40 pixels: the product overflows, the budget says so */
  sf_mem_budget_add(&b, 64, 1ull << 40, 1ull << 40, 4, "frames of %dx%d", 1, 2);
  CU_ASSERT_EQUAL(b.total, UINT64_MAX);
  CU_ASSERT_EQUAL(b.largest, UINT64_MAX);
  CU_ASSERT_STRING_EQUAL(b.largest_what, "frames of 1x2");
  sf_mem_budget_add(&b, 1, 1, 1, 1, "after");
  CU_ASSERT_EQUAL(b.total, UINT64_MAX);
}

static void test_mem_text(void) {
  char t[32];
  CU_ASSERT_STRING_EQUAL(sf_mem_text(512, t, sizeof t), "512 B");
  CU_ASSERT_STRING_EQUAL(sf_mem_text(3ull << 20, t, sizeof t), "3.0 MiB");
  CU_ASSERT_STRING_EQUAL(sf_mem_text(1536ull << 30, t, sizeof t), "1.5 TiB");
  CU_ASSERT_STRING_EQUAL(sf_mem_text(UINT64_MAX, t, sizeof t), "more than 16 EiB");
}

static void test_node_memory_rlimit(void) {
  sf_node_mem m;
  sf_node_memory(&m);
  CU_ASSERT(m.node > 0);
  CU_ASSERT(m.node_from[0] != 0);
  /* RLIMIT_DATA at what is in use plus 64 MiB: at most 64 MiB more for this process */
  struct rlimit old, rl;
  CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_DATA, &old), 0);
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmData:", 7)) sscanf(line + 7, "%llu", &kb);
  if (f) fclose(f);
  CU_ASSERT_FATAL(kb > 0);
  rl = old;
  rl.rlim_cur = (rlim_t)(kb * 1024 + (64ull << 20));
  if (old.rlim_max != RLIM_INFINITY && rl.rlim_cur > old.rlim_max) rl.rlim_cur = old.rlim_max;
  CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_DATA, &rl), 0);
  sf_node_memory(&m);
  setrlimit(RLIMIT_DATA, &old);
  CU_ASSERT(m.process <= (64ull << 20));
  CU_ASSERT(m.process > (32ull << 20));
  CU_ASSERT_PTR_NOT_NULL(strstr(m.process_from, "RLIMIT_DATA"));
}

static void test_check_memory_one_rank(void) {
  char msg[2048];
  sf_mem_budget b;
  sf_mem_budget_init(&b);
  sf_mem_budget_add(&b, 1, 1, 1, 4096, "a page");
  CU_ASSERT_EQUAL(sf_mpi_check_memory(MPI_COMM_WORLD, &b, "in.h5", NULL), 0);
  sf_mem_budget_add(&b, 1ull << 30, 1ull << 30, 1, 1, "an absurd frame");
  sf_error_defer(msg, sizeof msg);
  int rc = sf_mpi_check_memory(MPI_COMM_WORLD, &b, "in.h5:/data", "try less");
  sf_error_defer(NULL, 0);
  CU_ASSERT_EQUAL(rc, SF_ERR_NOMEM);
  CU_ASSERT_EQUAL(sf_exit_code(rc), 4);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(msg, "in.h5:/data: not enough memory: the run needs about 1.0 EiB per rank"));
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "the largest part is an absurd frame: 1.0 EiB; try less"));
  setenv("SLABFLOW_MEMORY_CHECK", "0", 1);
  CU_ASSERT_EQUAL(sf_mpi_check_memory(MPI_COMM_WORLD, &b, "in.h5", NULL), 0);
  unsetenv("SLABFLOW_MEMORY_CHECK");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  static const sf_test tests[] = {
      {"--seed and other integers are decimal", test_u64_decimal},
      {"sizes and doubles are decimal", test_size_and_double_decimal},
      {"an option without its value is named", test_bad_option_names},
      {"saturating size arithmetic", test_saturating_sizes},
      {"memory budget adds up and saturates", test_budget},
      {"memory amounts as text", test_mem_text},
      {"node memory and RLIMIT_DATA", test_node_memory_rlimit},
      {"memory check on one rank", test_check_memory_one_rank},
      {NULL, NULL}};
  int rc = sf_cunit_run("limits", tests);
  MPI_Finalize();
  return rc;
}
