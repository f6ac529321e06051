/* Dumps a recording as the project's reader (sf_eeg_open, sf_eeg_read_channel) sees it, for
 * comparison with other readers (tests/tools/eeg_vhdr_mne.py): sf_eeg_dump REC [SAMPLES.bin].
 * Prints one JSON object to stdout: filetype, record_duration and samples_per_record (100 ns
 * time base), duration, per signal label, dimension, rate, samples, phys/dig ranges, and per
 * annotation onset, duration (100 ns), the nearest sample of its onset and its text. With
 * SAMPLES.bin, writes every signal's physical samples there as float64 in native byte order,
 * signal after signal. Exit 0, or 1 when the reader fails (its message on stderr). */
#include <stdio.h>
#include <stdlib.h>

#include "io/eeg_edf.h"

/* s as a JSON string. */
static void json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: sf_eeg_dump REC [SAMPLES.bin]\n");
    return 2;
  }
  sf_eeg_rec *r = NULL;
  if (sf_eeg_open(argv[1], &r) != 0) return 1;
  int rc = 0;
  printf("{\"filetype\": %d, \"record_duration\": %lld, \"records\": %lld, \"duration\": %lld, "
         "\"signals\": [",
         r->filetype, r->record_duration, r->records, r->duration);
  for (int i = 0; i < r->nsignals; i++) {
    const sf_eeg_signal *s = &r->signals[i];
    printf("%s\n {\"label\": ", i ? "," : "");
    json_string(s->label);
    printf(", \"dimension\": ");
    json_string(s->dimension);
    printf(", \"rate\": %.17g, \"samples_per_record\": %d, \"samples\": %zu, \"phys_min\": %.17g, "
           "\"phys_max\": %.17g, \"dig_min\": %d, \"dig_max\": %d}",
           s->rate, s->samples_per_record, s->samples, s->phys_min, s->phys_max, s->dig_min,
           s->dig_max);
  }
  printf("],\n \"annotations\": [");
  for (size_t k = 0; k < r->nannotations; k++) {
    const sf_eeg_annotation *a = &r->annotations[k];
    printf("%s\n {\"onset\": %lld, \"duration\": %lld, \"sample\": %lld, \"text\": ", k ? "," : "",
           a->onset, a->duration, r->nsignals ? sf_eeg_time_to_sample(r, 0, a->onset) : -1LL);
    json_string(a->text);
    printf("}");
  }
  printf("]}\n");
  if (argc == 3) {
    FILE *f = fopen(argv[2], "wb");
    if (!f) {
      perror(argv[2]);
      rc = 1;
    }
    for (int i = 0; f && !rc && i < r->nsignals; i++) {
      size_t n = r->signals[i].samples;
      double *x = malloc((n ? n : 1) * sizeof *x);
      if (!x || sf_eeg_read_channel(r, i, 0, n, x) != 0 || fwrite(x, sizeof *x, n, f) != n) rc = 1;
      free(x);
    }
    if (f && fclose(f) != 0) rc = 1;
  }
  sf_eeg_close(&r);
  return rc;
}
