#include "node/node_memory.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

uint64_t sf_mul_sat(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

uint64_t sf_add_sat(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

int sf_size_mul(size_t a, size_t b, size_t *out) {
  if (__builtin_mul_overflow(a, b, out)) {
    *out = SIZE_MAX;
    return -1;
  }
  return 0;
}

void sf_mem_budget_init(sf_mem_budget *b) { memset(b, 0, sizeof *b); }

void sf_mem_budget_add(sf_mem_budget *b, uint64_t n1, uint64_t n2, uint64_t n3, uint64_t elem,
                       const char *what, ...) {
  uint64_t bytes = sf_mul_sat(sf_mul_sat(n1, n2), sf_mul_sat(n3, elem));
  b->total = sf_add_sat(b->total, bytes);
  if (bytes > b->largest || !b->largest_what[0]) {
    va_list ap;
    va_start(ap, what);
    vsnprintf(b->largest_what, sizeof b->largest_what, what, ap);
    va_end(ap);
    b->largest = bytes;
  }
}

/* The value of "key: N kB" in a /proc file, in bytes; 0 when absent. */
static uint64_t proc_kb(const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  char line[256];
  size_t n = strlen(key);
  uint64_t v = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb;
    if (!strncmp(line, key, n) && line[n] == ':' && sscanf(line + n + 1, "%llu", &kb) == 1) {
      v = sf_mul_sat(kb, 1024);
      break;
    }
  }
  fclose(f);
  return v;
}

/* A number from a one-line file (cgroup), or UINT64_MAX for "max", a missing file or text. */
static uint64_t file_u64(const char *path) {
  FILE *f = fopen(path, "r");
  unsigned long long v;
  int ok = f && fscanf(f, "%llu", &v) == 1;
  if (f) fclose(f);
  return ok ? (uint64_t)v : UINT64_MAX;
}

/* Lowers *avail to limit - used where that is lower, naming the source. */
static void lower(uint64_t *avail, char *from, size_t n, uint64_t limit, uint64_t used,
                  const char *name) {
  if (limit == UINT64_MAX) return;
  uint64_t left = limit > used ? limit - used : 0;
  if (left < *avail) {
    *avail = left;
    snprintf(from, n, "%s", name);
  }
}

/* The cgroup memory limit and usage of this process (v2, else v1); UINT64_MAX when none. */
static void cgroup_memory(uint64_t *limit, uint64_t *used) {
  char line[4096], path[4600];
  *limit = *used = UINT64_MAX;
  FILE *f = fopen("/proc/self/cgroup", "r");
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "0::", 3) != 0) continue; /* v2: the unified hierarchy's line */
    line[strcspn(line, "\n")] = 0;
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", line + 3);
    *limit = file_u64(path);
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", line + 3);
    *used = file_u64(path);
  }
  if (f) fclose(f);
  if (*limit == UINT64_MAX) { /* a container shows its own cgroup as the root */
    *limit = file_u64("/sys/fs/cgroup/memory.max");
    *used = file_u64("/sys/fs/cgroup/memory.current");
  }
  if (*limit == UINT64_MAX) { /* v1; "no limit" reads as a huge number, near LONG_MAX */
    uint64_t l = file_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    if (l < ((uint64_t)1 << 60)) {
      *limit = l;
      *used = file_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    }
  }
  if (*used == UINT64_MAX) *used = 0;
}

void sf_node_memory(sf_node_mem *m) {
  memset(m, 0, sizeof *m);
  m->node = proc_kb("/proc/meminfo", "MemAvailable");
  snprintf(m->node_from, sizeof m->node_from, "MemAvailable");
  if (!m->node) {
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    m->node = pages > 0 && psz > 0 ? sf_mul_sat((uint64_t)pages, (uint64_t)psz) : UINT64_MAX;
    snprintf(m->node_from, sizeof m->node_from, "physical memory");
  }
  uint64_t limit, used;
  cgroup_memory(&limit, &used);
  lower(&m->node, m->node_from, sizeof m->node_from, limit, used, "its cgroup's memory limit");
  m->process = UINT64_MAX;
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    lower(&m->process, m->process_from, sizeof m->process_from, (uint64_t)rl.rlim_cur,
          proc_kb("/proc/self/status", "VmSize"), "RLIMIT_AS (ulimit -v)");
  if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    lower(&m->process, m->process_from, sizeof m->process_from, (uint64_t)rl.rlim_cur,
          proc_kb("/proc/self/status", "VmData"), "RLIMIT_DATA (ulimit -d)");
}

const char *sf_mem_text(uint64_t bytes, char *buf, size_t n) {
  static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes == UINT64_MAX) {
    snprintf(buf, n, "more than 16 EiB");
    return buf;
  }
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, n, "%llu B", (unsigned long long)bytes);
  else
    snprintf(buf, n, "%.1f %s", v, unit[u]);
  return buf;
}
