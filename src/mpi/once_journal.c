#include "mpi/once_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpi/kill_point.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "sf_error.h"

static const char k_magic[16] = "slabflow once 1\n";

typedef struct record {
  char *name;
  unsigned char *data;
  size_t n;
} record;

/* Rank 0's view: the journal's path, the run's identity, the records it trusts. */
static char g_path[PATH_MAX + 16];
static char *g_identity;
static int g_resume;
static record *g_rec;
static size_t g_nrec;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

static uint64_t checksum(const char *name, size_t len, const void *data, size_t n) {
  uint64_t h = fnv1a(0xcbf29ce484222325ULL, name, len);
  return fnv1a(h, data, n);
}

static void free_records(void) {
  for (size_t i = 0; i < g_nrec; i++) {
    free(g_rec[i].name);
    free(g_rec[i].data);
  }
  free(g_rec);
  g_rec = NULL;
  g_nrec = 0;
}

static int add_record(const char *name, size_t len, const void *data, size_t n) {
  record *r = realloc(g_rec, (g_nrec + 1) * sizeof *r);
  if (!r) return SF_ERR_NOMEM;
  g_rec = r;
  r += g_nrec;
  r->name = malloc(len + 1);
  r->data = malloc(n ? n : 1);
  if (!r->name || !r->data) {
    free(r->name);
    free(r->data);
    return SF_ERR_NOMEM;
  }
  memcpy(r->name, name, len);
  r->name[len] = '\0';
  if (n) memcpy(r->data, data, n);
  r->n = n;
  g_nrec++;
  return 0;
}

/* Reads a u64 at *pos of buf (size sz); 0 when it is not all there. */
static int get_u64(const unsigned char *buf, size_t sz, size_t *pos, uint64_t *v) {
  if (sz - *pos < 8) return 0;
  memcpy(v, buf + *pos, 8);
  *pos += 8;
  return 1;
}

int sf_journal_parse(const unsigned char *buf, size_t sz, const char *identity,
                     int (*fn)(void *arg, const char *name, size_t len, const void *data, size_t n), void *arg,
                     size_t *bad_at) {
  size_t pos = sizeof k_magic, want = strlen(identity);
  uint64_t idlen = 0;
  *bad_at = sz;
  if (sz < sizeof k_magic || memcmp(buf, k_magic, sizeof k_magic)) return 1;
  if (!get_u64(buf, sz, &pos, &idlen) || idlen > sz - pos || idlen != want || memcmp(buf + pos, identity, want))
    return 2;
  pos += (size_t)idlen;
  while (pos < sz) {
    uint64_t len = 0, n = 0, sum = 0;
    size_t p = pos;
    int ok = get_u64(buf, sz, &p, &len) && len < 256 && len <= sz - p;
    const char *name = ok ? (const char *)buf + p : NULL;
    if (ok) p += (size_t)len;
    ok = ok && get_u64(buf, sz, &p, &n) && n <= sz - p;
    const unsigned char *data = ok ? buf + p : NULL;
    if (ok) p += (size_t)n;
    ok = ok && get_u64(buf, sz, &p, &sum) && sum == checksum(name, (size_t)len, data, (size_t)n);
    if (!ok) {
      *bad_at = pos;
      return 0;
    }
    int rc = fn(arg, name, (size_t)len, data, (size_t)n);
    if (rc < 0) return rc;
    pos = p;
  }
  return 0;
}

static int keep_record(void *arg, const char *name, size_t len, const void *data, size_t n) {
  (void)arg;
  return add_record(name, len, data, n);
}

/* Rank 0: the records of an existing journal with this run's identity. Notes on stderr what
 * is not trusted. Local; SF_ERR_NOMEM only. */
static int read_journal(void) {
  int status = 0;
  FILE *f = fopen(g_path, "rb");
  unsigned char *buf = NULL;
  if (!f) return 0; /* none: nothing kept */
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) goto cleanup;
  size_t sz = (size_t)st.st_size, bad_at = 0;
  SF_ALLOC(buf, sz ? sz : 1);
  if (fread(buf, 1, sz, f) != sz) {
    fprintf(stderr, "slabflow: --resume: %s cannot be read; its run-once results are computed again\n", g_path);
    goto cleanup;
  }
  int rc = sf_journal_parse(buf, sz, g_identity, keep_record, NULL, &bad_at);
  SF_CALL(rc < 0 ? rc : 0);
  if (rc == 1)
    fprintf(stderr, "slabflow: --resume: %s is not a journal of run-once results; they are computed again\n",
            g_path);
  else if (rc == 2)
    fprintf(stderr,
            "slabflow: --resume: %s was written for another input or other options; its run-once results are "
            "computed again\n",
            g_path);
  else if (bad_at < sz)
    fprintf(stderr, "slabflow: --resume: %s is damaged after %zu record(s) (byte %zu); the rest is computed again\n",
            g_path, g_nrec, bad_at);
cleanup:
  free(buf);
  fclose(f);
  return status;
}

int sf_journal_begin(MPI_Comm comm, const char *out_path, int resume, const char *identity) {
  int status = 0, rank;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  g_resume = resume;
  if (rank == 0) {
    free_records();
    free(g_identity);
    g_identity = strdup(identity ? identity : "");
    snprintf(g_path, sizeof g_path, "%s.once", out_path);
    if (!g_identity)
      status = SF_ERR_NOMEM;
    else if (resume)
      status = read_journal();
    else
      unlink(g_path);
  }
cleanup:
  return sf_mpi_agree(status, comm);
}

int sf_journal_load(MPI_Comm comm, const char *name, void **data, size_t *n) {
  int status = 0, rank;
  unsigned long long len = 0;
  int found = 0;
  *data = NULL;
  *n = 0;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  const record *r = NULL;
  if (rank == 0 && g_resume)
    for (size_t i = 0; i < g_nrec && !r; i++)
      if (!strcmp(g_rec[i].name, name)) r = &g_rec[i];
  found = r != NULL;
  len = r ? r->n : 0;
  SF_MPI(MPI_Bcast(&found, 1, MPI_INT, 0, comm));
  if (!found) return 0;
  SF_MPI(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, comm));
  *data = malloc(len ? (size_t)len : 1);
  SF_CALL(sf_mpi_agree(*data ? 0 : SF_ERR_NOMEM, comm));
  if (rank == 0 && len) memcpy(*data, r->data, (size_t)len);
  SF_CALL(sf_mpi_bcast_big(*data, (size_t)len, MPI_BYTE, 0, comm));
  *n = (size_t)len;
  return 1;
cleanup:
  free(*data);
  *data = NULL;
  return status;
}

static int write_all(int fd, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Rank 0: writes the header and every record to NAME.once.tmp, fsyncs it and renames it over
 * NAME.once (a crash leaves the old journal or the new one, never half of one). Local. */
static int write_journal(void) {
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp", g_path);
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  uint64_t idlen = strlen(g_identity);
  int bad = write_all(fd, k_magic, sizeof k_magic) || write_all(fd, &idlen, 8) ||
            write_all(fd, g_identity, (size_t)idlen);
  for (size_t i = 0; i < g_nrec && !bad; i++) {
    uint64_t len = strlen(g_rec[i].name), n = g_rec[i].n;
    uint64_t sum = checksum(g_rec[i].name, (size_t)len, g_rec[i].data, g_rec[i].n);
    bad = write_all(fd, &len, 8) || write_all(fd, g_rec[i].name, (size_t)len) || write_all(fd, &n, 8) ||
          write_all(fd, g_rec[i].data, g_rec[i].n) || write_all(fd, &sum, 8);
  }
  bad = bad || fsync(fd) != 0;
  int err = errno;
  close(fd);
  if (!bad && rename(tmp, g_path) != 0) {
    err = errno;
    bad = 1;
  }
  if (bad) {
    unlink(tmp);
    errno = err;
    return -1;
  }
  return 0;
}

int sf_journal_store(MPI_Comm comm, const char *name, const void *data, size_t n) {
  int status = 0, rank;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    SF_CHECK(g_identity != NULL, SF_ERR_INTERNAL, "%s: the run-once journal was not begun", name);
    size_t len = strlen(name);
    for (size_t i = 0; i < g_nrec; i++)
      if (!strcmp(g_rec[i].name, name)) { /* a record computed again replaces the one held */
        free(g_rec[i].name);
        free(g_rec[i].data);
        g_rec[i] = g_rec[--g_nrec];
        break;
      }
    SF_CALL(add_record(name, len, data, n));
    SF_CHECK(write_journal() == 0, SF_ERR_IO, "%s: cannot write the run-once results (%s): %s", g_path, name,
             strerror(errno));
    sf_kill_point("keep", rank);
  }
cleanup:
  return sf_mpi_agree(status, comm);
}

void sf_journal_remove(void) {
  if (g_path[0]) unlink(g_path);
  free_records();
}
