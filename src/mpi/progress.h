/* Progress on rank 0's stderr: a bar with units/s and ETA on a terminal, a plain line every
 * few seconds otherwise (SLABFLOW_PROGRESS_SECONDS, default 10; 0 turns progress off). */
#ifndef SF_PROGRESS_H
#define SF_PROGRESS_H

#include <stddef.h>

typedef struct sf_progress {
  int active;          /* only rank 0 prints */
  int tty;
  const char *label;   /* "frames", ... */
  const char *phase;   /* "reference", "register", ... */
  size_t total, done;
  double t0, last;
  double interval;
} sf_progress;

/* Starts a phase of total units; active only where enabled is nonzero. Local. */
void sf_progress_start(sf_progress *p, int enabled, const char *phase, const char *label,
                       size_t total);

/* Reports that done units are finished (throttled). Local. */
void sf_progress_update(sf_progress *p, size_t done);

/* Ends the phase (a final line). Local. */
void sf_progress_end(sf_progress *p);

#endif
