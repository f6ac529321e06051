/* libFuzzer harness: the BrainVision reader (src/io/eeg_vhdr.c) behind sf_eeg_open. The
 * input is split at the first two lines "@@" into in.vhdr, in.vmrk and in.eeg (a part
 * missing: that file is absent); then the first and last samples of every channel. */
#include "fuzz_common.h"
#include "io/eeg_edf.h"

static const uint8_t *split(const uint8_t *p, const uint8_t *end, const uint8_t **next) {
  static const char sep[] = "\n@@\n";
  for (const uint8_t *q = p; q + 4 <= end; q++)
    if (memcmp(q, sep, 4) == 0) {
      *next = q + 4;
      return q + 1; /* the header keeps its last newline */
    }
  *next = NULL;
  return end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024], mrk[1024], eeg[1024];
  const uint8_t *end = data + size, *p1 = NULL, *p2 = NULL;
  const uint8_t *e0 = split(data, end, &p1);
  const uint8_t *e1 = p1 ? split(p1, end, &p2) : NULL;
  fz_path("in.vmrk", mrk, sizeof mrk);
  fz_path("in.eeg", eeg, sizeof eeg);
  unlink(mrk);
  unlink(eeg);
  fz_write("in.vhdr", data, (size_t)(e0 - data), path, sizeof path);
  if (p1) fz_write("in.vmrk", p1, (size_t)(e1 - p1), mrk, sizeof mrk);
  if (p2) fz_write("in.eeg", p2, (size_t)(end - p2), eeg, sizeof eeg);
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
  fz_end(status, "/"); /* a path: the header, or the marker or data file it names */
  sf_eeg_close(&r);
  return 0;
}
