/* libFuzzer harness: the pyFAI PONI reader (src/io/poni.c) on the input as a file. */
#include "fuzz_common.h"
#include "io/poni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024];
  fz_write("in.poni", data, size, path, sizeof path);
  fz_begin();
  sf_poni p;
  int status = sf_poni_read(path, &p);
  fz_end(status, "in.poni");
  return 0;
}
