#include "mpi/progress.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void sf_progress_start(sf_progress *p, int enabled, const char *phase, const char *label,
                       size_t total) {
  const char *env = getenv("SLABFLOW_PROGRESS_SECONDS");
  p->interval = env ? atof(env) : 10.0;
  p->active = enabled && p->interval > 0.0;
  p->tty = isatty(2);
  if (p->tty) p->interval = 0.2;
  p->phase = phase;
  p->label = label;
  p->total = total;
  p->done = 0;
  p->t0 = p->last = MPI_Wtime();
}

/* Formats seconds as H:MM:SS. */
static void hms(double s, char *buf, size_t n) {
  long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
  snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

/* Prints the current state as a bar (terminal) or a line. */
static void show(sf_progress *p, int final) {
  double now = MPI_Wtime(), el = now - p->t0;
  double rate = el > 0 ? (double)p->done / el : 0.0;
  double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0.0;
  char e[32];
  hms(final ? el : eta, e, sizeof e);
  double frac = p->total ? (double)p->done / (double)p->total : 1.0;
  if (p->tty) {
    char bar[31];
    int fill = (int)(frac * 30.0);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%-10s [%s] %3.0f%% %zu/%zu %s %.1f %s/s %s %s%s", p->phase, bar,
            100.0 * frac, p->done, p->total, p->label, rate, p->label, final ? "in" : "ETA", e,
            final ? "\n" : "");
  } else {
    fprintf(stderr, "slabflow: %s: %zu/%zu %s (%.0f%%), %.1f %s/s, %s %s\n", p->phase, p->done,
            p->total, p->label, 100.0 * frac, rate, p->label, final ? "took" : "ETA", e);
  }
  fflush(stderr);
}

void sf_progress_update(sf_progress *p, size_t done) {
  if (!p->active) return;
  p->done = done;
  double now = MPI_Wtime();
  if (now - p->last >= p->interval) {
    p->last = now;
    show(p, 0);
  }
}

void sf_progress_end(sf_progress *p) {
  if (!p->active) return;
  p->done = p->total;
  show(p, 1);
}
