/* libFuzzer harness: the EDF/EDF+/BDF/BDF+ reader (src/io/eeg_edf.c through EDFlib) on the
 * input as a file: open (header and annotations), then the first and last samples of every
 * signal. */
#include "fuzz_common.h"
#include "io/eeg_edf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024];
  /* EDFlib tells EDF from BDF by the content; the extension only has to be neither .vhdr */
  fz_write(size && data[0] == 0xff ? "in.bdf" : "in.edf", data, size, path, sizeof path);
  fz_begin();
  sf_eeg_rec *r = NULL;
  double buf[64];
  int status = sf_eeg_open(path, &r);
  for (int s = 0; status == 0 && s < r->nsignals; s++) {
    size_t total = r->signals[s].samples, n = total < 64 ? total : 64;
    if (n == 0) continue;
    status = sf_eeg_read_channel(r, s, 0, n, buf);
    if (status == 0) status = sf_eeg_read_channel(r, s, total - n, n, buf);
  }
  fz_end(status, "in.");
  sf_eeg_close(&r);
  return 0;
}
