/* The CUnit scaffolding every unit-test program shares: one suite of named tests, run
 * verbosely, the exit status from the number of failures. */
#ifndef SF_CUNIT_H
#define SF_CUNIT_H

#include <CUnit/Basic.h>

typedef struct sf_test {
  const char *name;
  CU_TestFunc fn;
} sf_test;

/* Runs the tests (an array ended by {NULL, NULL}) as suite `suite`; 0 when every assertion
 * passed, 1 otherwise (a registry that cannot be set up counts as a failure). */
static inline int sf_cunit_run(const char *suite, const sf_test *tests) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  int ok = s != NULL;
  for (const sf_test *t = tests; ok && t->name; t++) ok = CU_add_test(s, t->name, t->fn) != NULL;
  if (ok) {
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
  }
  unsigned fails = CU_get_number_of_failures();
  CU_cleanup_registry();
  return ok && fails == 0 ? 0 : 1;
}

#endif
