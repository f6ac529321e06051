/* libFuzzer harness: the reader of the journal of run-once results (src/mpi/once_journal.c),
 * on the input as a journal image for the identity "fuzz identity". Every record it accepts
 * must lie inside the input. */
#include <stdint.h>
#include <stdlib.h>

#include "mpi/once_journal.h"

typedef struct span {
  const uint8_t *lo, *hi;
  size_t records;
} span;

static int check_record(void *arg, const char *name, size_t len, const void *data, size_t n) {
  span *s = arg;
  const uint8_t *a = (const uint8_t *)name, *d = data;
  if (a < s->lo || a + len > s->hi || d < s->lo || d + n > s->hi || len >= 256) abort();
  s->records++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  span s = {data, data + size, 0};
  size_t bad_at = 0;
  int rc = sf_journal_parse(data, size, "fuzz identity", check_record, &s, &bad_at);
  if (rc < 0 || rc > 2 || bad_at > size) abort();
  return 0;
}
