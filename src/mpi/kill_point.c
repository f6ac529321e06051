#include "mpi/kill_point.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_parsed, g_armed, g_rank;
static long g_n, g_seen;
static char g_point[32];

void sf_kill_point(const char *point, int rank) {
  if (!g_parsed) {
    g_parsed = 1;
    const char *e = getenv("SLABFLOW_TEST_KILL");
    char p[32];
    long n = 0;
    int r = 0;
    if (e && sscanf(e, "%31[a-z]:%ld:%d", p, &n, &r) >= 2 && n > 0) {
      snprintf(g_point, sizeof g_point, "%s", p);
      g_n = n;
      g_rank = r;
      g_armed = 1;
    }
  }
  if (!g_armed || rank != g_rank || strcmp(point, g_point)) return;
  if (++g_seen == g_n) {
    fprintf(stderr, "slabflow: test: rank %d killed at %s #%ld (SLABFLOW_TEST_KILL)\n", rank, point, g_n);
    fflush(stderr);
    kill(getpid(), SIGKILL);
  }
}
