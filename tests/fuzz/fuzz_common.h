/* Shared by the libFuzzer harnesses: a private scratch folder, writing the input to a file
 * there, and holding the readers' error messages instead of printing them. */
#ifndef SF_FUZZ_COMMON_H
#define SF_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sf_error.h"

static char fz_dir[512];
static char fz_msg[2048]; /* the first error message of the current input */

static inline void fz_cleanup(void) {
  if (!fz_dir[0]) return;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
  if (system(cmd) != 0) fprintf(stderr, "fuzz: cannot remove %s\n", fz_dir);
}

/* Makes the scratch folder (once per process) and returns it. */
static inline const char *fz_scratch(void) {
  if (fz_dir[0]) return fz_dir;
  const char *tmp = getenv("TMPDIR");
  snprintf(fz_dir, sizeof fz_dir, "%.480s/sf_fuzz_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fz_dir)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(fz_cleanup);
  return fz_dir;
}

/* The path of name in the scratch folder, in buf. */
static inline const char *fz_path(const char *name, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s", fz_scratch(), name);
  return buf;
}

/* Writes n bytes to the scratch file name; its path goes to buf. */
static inline const char *fz_write(const char *name, const void *data, size_t n, char *buf, size_t bn) {
  fz_path(name, buf, bn);
  FILE *f = fopen(buf, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(buf);
    abort();
  }
  return buf;
}

/* Holds this input's error messages (the readers must not print many). */
static inline void fz_begin(void) { sf_error_defer(fz_msg, sizeof fz_msg); }

/* A failed call must have reported a message naming the file (anything that contains
 * `name`); a crash here shows a reader that failed silently or without saying which file. */
static inline void fz_end(int status, const char *name) {
  sf_error_defer(NULL, 0);
  if (status >= 0) return;
  if (!fz_msg[0] || (name && !strstr(fz_msg, name))) {
    fprintf(stderr, "fuzz: status %d with message '%s' (expected one naming %s)\n", status,
            fz_msg, name ? name : "anything");
    abort();
  }
}

#endif
