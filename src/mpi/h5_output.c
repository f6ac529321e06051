#include "mpi/h5_output.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "io/h5_check.h"
#include "io/h5_util.h"
#include "mpi/kill_point.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "mpi/once_journal.h"
#include "node/node_memory.h"
#include "sf_error.h"

struct sf_output {
  MPI_Comm comm;
  int rank;
  hid_t file, dxpl;
  hid_t *dsets; /* grows as datasets are added */
  int ndsets, cap;
  hid_t done;
  haddr_t data_bytes;    /* file space of the datasets created so far */
  int held;              /* the reservation is blocks held by the file (fallocate), not a
                            reading of the free space; rank 0's view, broadcast */
  char path[PATH_MAX], partial[PATH_MAX + 16];
  int resumed;           /* opened an existing NAME.partial (--resume) */
  int keep;              /* a failure leaves NAME.partial as it is (resumed, or a refused resume) */
  int flushed;           /* metadata flushed since the last change (before any raw write) */
  unsigned char *marks;  /* resumed: the done marks found, n_segments */
  size_t n_segments;
};

/* --resume and the run's identity (sf_output_begin), the same on every rank. */
static int g_resume;
static char g_identity[16384];

int sf_output_resumed(const sf_output *o) { return o && o->resumed; }

int sf_output_segment_done(const sf_output *o, long seg) {
  return o && o->marks && seg >= 0 && (size_t)seg < o->n_segments && o->marks[seg];
}

size_t sf_output_segments_done(const sf_output *o) {
  size_t n = 0;
  for (size_t s = 0; o && o->marks && s < o->n_segments; s++) n += o->marks[s] != 0;
  return n;
}

/* The first word where two identities differ, for the message. */
static void first_difference(const char *a, const char *b, char *out, size_t n) {
  size_t i = 0;
  while (a[i] && a[i] == b[i]) i++;
  size_t s = i;
  while (s > 0 && a[s - 1] != ' ') s--;
  size_t ea = s, eb = s;
  while (a[ea] && a[ea] != ' ') ea++;
  while (b[eb] && b[eb] != ' ') eb++;
  snprintf(out, n, "'%.*s' now, '%.*s' in the partial output", (int)(ea - s), a + s, (int)(eb - s), b + s);
}

/* Reads a string attribute of the root group into buf ("" when absent). Local. */
static void read_string_attr(hid_t file, const char *name, char *buf, size_t n) {
  buf[0] = '\0';
  if (H5Aexists(file, name) <= 0) return;
  hid_t a = H5Aopen(file, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
  if (t >= 0 && H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && H5Tget_size(t) < n) {
    hid_t mt = H5Tcopy(t);
    H5Aread(a, mt, buf);
    buf[H5Tget_size(t)] = '\0';
    H5Tclose(mt);
  }
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
}

/* Whether an open NAME.partial is this run's: 0, or 1 (its complete is not 0), 2 (another
 * identity, found in found: sizeof g_identity bytes), 3 (another segment count: *nd), 4 (its
 * done marks unreadable). Reads the marks into marks (n_segments) when given. Local. */
static int judge_partial(hid_t file, size_t n_segments, unsigned char *marks, char *found, long long *complete,
                         hsize_t *nd) {
  read_string_attr(file, "resume_identity", found, sizeof g_identity);
  *complete = -1;
  *nd = 0;
  if (H5Aexists(file, "complete") > 0) {
    hid_t a = H5Aopen(file, "complete", H5P_DEFAULT);
    if (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, complete) < 0) *complete = -1;
    if (a >= 0) H5Aclose(a);
  }
  int verdict = *complete != 0 ? 1 : strcmp(found, g_identity) ? 2 : 0;
  hid_t done = verdict == 0 ? H5Dopen2(file, "/slabflow/done", H5P_DEFAULT) : H5I_INVALID_HID;
  if (verdict == 0) {
    hid_t sp = done >= 0 ? H5Dget_space(done) : H5I_INVALID_HID;
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 || (H5Sget_simple_extent_dims(sp, nd, NULL), *nd) != n_segments)
      verdict = 3;
    if (sp >= 0) H5Sclose(sp);
  }
  if (verdict == 0 && marks && H5Dread(done, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, marks) < 0) verdict = 4;
  if (done >= 0) H5Dclose(done);
  return verdict;
}

/* The message of a refused resume (judge_partial's verdict). Returns SF_ERR_INPUT. Local. */
static int report_refusal(int verdict, const char *partial, const char *why, const char *found, long long complete,
                          hsize_t nd, size_t n_segments) {
  int status = SF_ERR_INPUT;
  char diff[1024] = "";
  if (verdict == 2) first_difference(g_identity, found, diff, sizeof diff);
  if (verdict == 5)
    sf_error_report(status, __FILE__, __LINE__, __func__,
                    "%s: cannot be resumed: not a readable HDF5 file (%s); run without --resume to start again",
                    partial, why);
  else if (verdict == 1)
    sf_error_report(status, __FILE__, __LINE__, __func__,
                    "%s: cannot be resumed: its 'complete' attribute is %lld, not 0", partial, complete);
  else if (verdict == 2)
    sf_error_report(status, __FILE__, __LINE__, __func__,
                    "%s: cannot be resumed: it was made from another input or with other options (%s); run "
                    "without --resume to start again",
                    partial, diff);
  else if (verdict == 3)
    sf_error_report(status, __FILE__, __LINE__, __func__,
                    "%s: cannot be resumed: its /slabflow/done has %llu segments, this run has %zu", partial,
                    (unsigned long long)nd, n_segments);
  else
    sf_error_report(status, __FILE__, __LINE__, __func__, "%s: cannot be resumed: its done marks are unreadable",
                    partial);
  return status;
}

int sf_output_begin(MPI_Comm comm, const char *out_path, int resume, const char *identity, size_t n_segments) {
  int status = 0, rank;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  g_resume = resume;
  snprintf(g_identity, sizeof g_identity, "%s", identity ? identity : "");
  if (resume && rank == 0) {
    /* the partial checked now, read-only, before any work: a refusal comes at once and
     * leaves it (and its journal) as they were */
    char partial[PATH_MAX + 16], why[512] = "";
    struct stat st;
    snprintf(partial, sizeof partial, "%s.partial", out_path);
    if (stat(partial, &st) == 0 && S_ISREG(st.st_mode)) {
      char *found = malloc(sizeof g_identity);
      hid_t f = found ? H5Fopen(partial, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
      long long complete = -1;
      hsize_t nd = 0;
      if (found && f < 0) sf_h5_error_text(why, sizeof why);
      int verdict = !found ? SF_ERR_NOMEM : f < 0 ? 5 : judge_partial(f, n_segments, NULL, found, &complete, &nd);
      if (f >= 0) H5Fclose(f);
      if (verdict < 0)
        status = verdict;
      else if (verdict > 0)
        status = report_refusal(verdict, partial, why, found, complete, nd, n_segments);
      free(found);
    }
  }
  SF_CALL(sf_mpi_agree(status, comm));
  SF_CALL(sf_journal_begin(comm, out_path, resume, identity));
cleanup:
  return status;
}

/* --resume: opens NAME.partial with the MPI-IO driver (fapl) and checks that it is this run's:
 * not complete, the same identity, the same segments; reads its done marks. Collective;
 * reported once. */
static int resume_open(sf_output *o, size_t n_segments, hid_t fapl) {
  int status = 0;
  o->keep = 1;
  char why[512] = "", *found = NULL;
  /* checked read-only first: a refused resume leaves the partial's bytes as they were */
  o->file = H5Fopen(o->partial, H5F_ACC_RDONLY, fapl);
  if (o->file < 0) sf_h5_error_text(why, sizeof why);
  status = sf_mpi_agree(o->file >= 0 ? 0 : SF_ERR_INPUT, o->comm);
  if (status < 0) {
    if (o->rank == 0) report_refusal(5, o->partial, why, "", 0, 0, n_segments);
    return status;
  }
  found = malloc(sizeof g_identity);
  o->marks = calloc(n_segments ? n_segments : 1, 1);
  long long complete = -1;
  hsize_t nd = 0;
  int verdict = !found || !o->marks ? SF_ERR_NOMEM : judge_partial(o->file, n_segments, o->marks, found, &complete, &nd);
  /* every rank read the same file: rank 0's verdict rules */
  SF_MPI(MPI_Bcast(&verdict, 1, MPI_INT, 0, o->comm));
  if (verdict != 0) {
    status = verdict == SF_ERR_NOMEM ? SF_ERR_NOMEM : SF_ERR_INPUT;
    if (o->rank == 0 && verdict > 0) report_refusal(verdict, o->partial, why, found, complete, nd, n_segments);
    goto cleanup;
  }
  SF_MPI(MPI_Bcast(o->marks, (int)n_segments, MPI_UNSIGNED_CHAR, 0, o->comm));
  H5Fclose(o->file);
  o->done = H5I_INVALID_HID;
  o->file = H5Fopen(o->partial, H5F_ACC_RDWR, fapl);
  if (o->file >= 0) o->done = H5Dopen2(o->file, "/slabflow/done", H5P_DEFAULT);
  if (o->file < 0 || o->done < 0) sf_h5_error_text(why, sizeof why);
  status = sf_mpi_agree(o->file >= 0 && o->done >= 0 ? 0 : SF_ERR_IO, o->comm);
  if (status < 0) {
    if (o->rank == 0)
      sf_error_report(status, __FILE__, __LINE__, __func__, "%s: cannot open it for writing: %s", o->partial, why);
    goto cleanup;
  }
  o->resumed = 1;
  o->flushed = 1;
cleanup:
  free(found);
  return status;
}

/* Flushes metadata and raw data to the file system (H5Fflush: HDF5's caches, then
 * MPI_File_sync). Collective. */
static int flush_output(sf_output *o) {
  herr_t rc = H5Fflush(o->file, H5F_SCOPE_GLOBAL);
  int status = sf_mpi_agree(rc < 0 ? SF_ERR_IO : 0, o->comm);
  if (status < 0 && o->rank == 0)
    sf_error_report(status, __FILE__, __LINE__, __func__, "%s: cannot flush the output to disk", o->partial);
  if (status == 0) o->flushed = 1;
  return status;
}

/* The lock beside the output (OUT.lock) this process holds: an open descriptor with an
 * fcntl write lock on it. Rank 0 only. */
static char g_lock[PATH_MAX + 16];
static int g_lock_fd = -1;

static void unlock_output(void) {
  if (g_lock_fd < 0) return;
  /* Unlinked before it is closed (which drops the lock): a run that opened the old file
   * meanwhile finds it gone from the path once it holds its lock, and starts over. */
  unlink(g_lock);
  close(g_lock_fd);
  g_lock_fd = -1;
}

void sf_output_release_lock(void) { unlock_output(); }

/* The holder a lock file names ("slabflow pid N on HOST"), for messages. */
static void lock_holder(char *held, size_t n, long *pid, char *host, size_t nhost) {
  FILE *f = fopen(g_lock, "r");
  held[0] = 0;
  if (f) {
    if (!fgets(held, (int)n, f)) held[0] = 0;
    fclose(f);
  }
  held[strcspn(held, "\n")] = 0;
  char fmt[64];
  snprintf(fmt, sizeof fmt, "slabflow pid %%ld on %%%zus", nhost - 1);
  if (sscanf(held, fmt, pid, host) != 2) *pid = 0;
}

/* Takes OUT.lock for the life of this process. The lock is an fcntl write lock, which the
 * kernel drops when the process ends however it ends, so a killed run never blocks the
 * next one and a left-over lock file is harmless. Where the file system has no locks
 * (ENOLCK and kin), the file's exclusive creation is the lock, and a file left by a dead
 * process of this host is taken over. Rank 0. */
static int lock_output(const char *out_path) {
  int status = 0, fd = -1;
  char host[256] = "", text[512];
  gethostname(host, sizeof host - 1);
  snprintf(g_lock, sizeof g_lock, "%s.lock", out_path);
  for (int attempt = 0; attempt < 4; attempt++) {
    int created = 1;
    fd = open(g_lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
      created = 0;
      fd = open(g_lock, O_RDWR | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT) continue; /* removed meanwhile */
    }
    SF_CHECK(fd >= 0, SF_ERR_IO, "%s: cannot create the output lock %s: %s", out_path, g_lock,
             strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int locked = fcntl(fd, F_SETLK, &fl) == 0, err = errno;
    if (!locked && (err == EACCES || err == EAGAIN)) {
      char held[512], who[256];
      long pid;
      lock_holder(held, sizeof held, &pid, who, sizeof who);
      SF_CHECK(0, SF_ERR_USAGE,
               "%s: another slabflow run is writing this output (%s); wait for it to end or "
               "choose another output name",
               out_path, held[0] ? held : "it holds the lock");
    }
    if (!locked && !created) { /* no locks here: is the file's writer alive? */
      char held[512], who[256] = "";
      long pid = 0;
      lock_holder(held, sizeof held, &pid, who, sizeof who);
      int dead = pid > 0 && !strcmp(who, host) && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
      SF_CHECK(dead, SF_ERR_USAGE,
               "%s: another slabflow run may be writing this output (%s holds %s, and this "
               "file system cannot tell whether it lives); remove %s if no such run is alive",
               out_path, held[0] ? held : "an unreadable lock", g_lock, g_lock);
    }
    /* Ours only if the path still leads to the file locked (a finishing run unlinks it). */
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(g_lock, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
      int n = snprintf(text, sizeof text, "slabflow pid %ld on %s\n", (long)getpid(), host);
      int ok = ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)n, 0) == n;
      g_lock_fd = fd;
      fd = -1;
      static int registered;
      if (!registered) atexit(unlock_output);
      registered = 1;
      SF_CHECK(ok, SF_ERR_IO, "%s: cannot write the output lock %s: %s", out_path, g_lock,
               strerror(errno));
      return 0;
    }
    close(fd);
    fd = -1;
  }
  SF_CHECK(0, SF_ERR_USAGE, "%s: the output lock %s keeps changing; is another run starting?",
           out_path, g_lock);
cleanup:
  if (fd >= 0) close(fd);
  return status;
}

/* The file an input spec names: the path itself, or for FILE:/dataset specs the part before
 * the last ':' when the whole does not exist. Fills st; 0 when found. */
static int stat_input(const char *spec, struct stat *st) {
  if (stat(spec, st) == 0) return 0;
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec) return -1;
  char file[PATH_MAX];
  snprintf(file, sizeof file, "%.*s", (int)(colon - spec), spec);
  return stat(file, st);
}

void sf_output_identity_file(char *buf, size_t n, size_t *k, const char *spec) {
  struct stat st;
  memset(&st, 0, sizeof st);
  if (*k >= n) return;
  if (!spec) {
    *k += (size_t)snprintf(buf + *k, n - *k, " -");
    return;
  }
  stat_input(spec, &st);
  *k += (size_t)snprintf(buf + *k, n - *k, " %s:%lld:%lld.%09ld", spec, (long long)st.st_size,
                         (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
}

/* Refuses when NAME, NAME.partial, NAME.lock or NAME.once is one of the inputs: device and inode after
 * symbolic links, so links and hard links count. Local. */
static int check_inputs(const char *out_path, const char *const *inputs, size_t n) {
  int status = 0;
  static const char *suffix[4] = {"", ".partial", ".lock", ".once"};
  static const char *what[4] = {"the output", "the output's temporary file",
                                "the output's lock file", "the output's journal"};
  struct stat so[4];
  int have[4];
  for (int k = 0; k < 4; k++) {
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s%s", out_path, suffix[k]);
    have[k] = stat(p, &so[k]) == 0;
  }
  for (size_t i = 0; i < n; i++) {
    struct stat si;
    if (!inputs[i] || stat_input(inputs[i], &si) != 0) continue;
    for (int k = 0; k < 4; k++)
      SF_CHECK(!(have[k] && si.st_dev == so[k].st_dev && si.st_ino == so[k].st_ino), SF_ERR_USAGE,
               "%s: %s would overwrite the input file %s; choose another output name", out_path,
               what[k], inputs[i]);
  }
cleanup:
  return status;
}

int sf_output_check_path(MPI_Comm comm, const char *out_path, const char *const *inputs,
                         size_t n_inputs) {
  int status = 0, rank;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    char dir[PATH_MAX];
    struct stat so;
    SF_CHECK(*out_path, SF_ERR_USAGE, "no output file given (-o OUT.h5)");
    SF_CHECK(strlen(out_path) < PATH_MAX - 16, SF_ERR_USAGE, "%.64s...: output path too long",
             out_path);
    snprintf(dir, sizeof dir, "%s", out_path);
    const char *d = dirname(dir);
    if (stat(d, &so) != 0 || !S_ISDIR(so.st_mode))
      SF_CHECK(0, SF_ERR_USAGE, "%s: output directory %s does not exist", out_path, d);
    SF_CHECK(access(d, W_OK) == 0, SF_ERR_USAGE, "%s: output directory %s is not writable",
             out_path, d);
    if (stat(out_path, &so) == 0)
      SF_CHECK(!S_ISDIR(so.st_mode), SF_ERR_USAGE, "%s: output path is a directory", out_path);
    SF_CALL(check_inputs(out_path, inputs, n_inputs));
    SF_CALL(lock_output(out_path));
  }
cleanup:
  SF_MPI_HERE(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
  return status;
}

/* Bytes free for unprivileged writers on the file system of path, or -1 when unknown: a
 * file system that reports no size at all (ramfs, some FUSE and network file systems) says
 * nothing about its free space. Local. */
static double free_bytes(const char *path) {
  struct statvfs vs;
  if (statvfs(path, &vs) != 0 || vs.f_blocks == 0) return -1;
  return (double)vs.f_bavail * (double)vs.f_frsize;
}

/* Reserves disk space for the whole file as it will be once the datasets counted in
 * data_bytes exist, plus room for metadata, before HDF5 allocates any of it: a full disk is
 * then found at creation, in seconds, and never in the middle of a write or of HDF5's close
 * (which cannot recover from it: a crash at one rank, a hang at several). Rank 0 reserves
 * with fallocate (blocks beyond the end of file, its size unchanged); where the file system
 * cannot, it compares with the free space. Collective. */
static int reserve_space(sf_output *o) {
  int status = 0;
  /* room for metadata: object headers, chunk indexes, attributes */
  haddr_t slack = ((haddr_t)1 << 20) + o->data_bytes / 128;
  haddr_t want = o->data_bytes + slack;
  /* SLABFLOW_RESERVE_SPACE=0 skips it, as on a file system without fallocate where the
   * space is free at the start (tests: a disk that fills in the middle of a write). */
  const char *env = getenv("SLABFLOW_RESERVE_SPACE");
  if (env && !strcmp(env, "0")) {
    o->held = 0;
    return 0;
  }
  if (o->rank == 0) {
    int fd = open(o->partial, O_WRONLY | O_CREAT, 0644), rc = -1, err = errno;
    struct stat st = {0};
    double held = fd >= 0 && fstat(fd, &st) == 0 ? (double)st.st_blocks * 512.0 : 0;
    double avail = free_bytes(o->partial);
    /* Asked only where the space looks free: a refused fallocate may keep the blocks it got
     * (ext4 does), filling the disk for everyone until the file goes. */
    if (fd >= 0 && avail >= 0 && avail + held < (double)want) {
      err = ENOSPC;
    } else if (fd >= 0) {
      rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)want);
      err = errno;
      if (rc != 0 && ftruncate(fd, st.st_size) != 0) { /* drops blocks beyond the end */
      }
    }
    if (fd >= 0) close(fd);
    o->held = rc == 0;
    if (rc != 0 && (err == EOPNOTSUPP || err == ENOSYS) &&
        (avail < 0 || avail + held >= (double)want))
      rc = 0; /* cannot reserve here, but the space is free now (or its size unknown) */
    if (rc != 0) {
      char need[32], free_[32];
      sf_mem_text((uint64_t)want, need, sizeof need);
      sf_mem_text(avail + held > 0 ? (uint64_t)(avail + held) : 0, free_, sizeof free_);
      if (err == ENOSPC || err == EDQUOT || err == EOPNOTSUPP || err == ENOSYS)
        status =
            sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                            "%s: not enough disk space for the output: it needs about %s, "
                            "%s are free%s",
                            o->partial, need, free_, err == EDQUOT ? " within the disk quota" : "");
      else
        status = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                                 "%s: cannot reserve %s of disk space for the output: %s",
                                 o->partial, need, strerror(err));
    }
  }
  int st[2] = {status, o->held};
  SF_MPI_HERE(MPI_Bcast(st, 2, MPI_INT, 0, o->comm));
  o->held = st[1];
  return st[0];
}

/* The property lists and dataspace of a new output, all but its MPI-IO driver: file access
 * (collective metadata, the HDF5 1.8 format and up), file creation, collective transfers
 * (o->dxpl) and the creation of /slabflow/done (n_segments marks; lcpl, dcpl, sp). Handles
 * made before a failure are left for the caller to close. Local: the caller agrees. */
static int output_plists(sf_output *o, size_t n_segments, hid_t *fapl, hid_t *fcpl, hid_t *lcpl,
                         hid_t *dcpl, hid_t *sp) {
  int status = 0;
  hsize_t n = n_segments ? n_segments : 1;
  unsigned char zero = 0;
  SF_H5(*fapl = H5Pcreate(H5P_FILE_ACCESS), "%s: cannot create the file access properties",
        o->partial);
  SF_H5(H5Pset_all_coll_metadata_ops(*fapl, 1), "%s: cannot ask for collective metadata reads",
        o->partial);
  SF_H5(H5Pset_coll_metadata_write(*fapl, 1), "%s: cannot ask for collective metadata writes",
        o->partial);
  SF_H5(H5Pset_libver_bounds(*fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST),
        "%s: cannot set the HDF5 format versions", o->partial);
  SF_H5(*fcpl = H5Pcreate(H5P_FILE_CREATE), "%s: cannot create the file creation properties",
        o->partial);
  SF_H5(o->dxpl = H5Pcreate(H5P_DATASET_XFER), "%s: cannot create the transfer properties",
        o->partial);
  SF_H5(H5Pset_dxpl_mpio(o->dxpl, H5FD_MPIO_COLLECTIVE), "%s: cannot ask for collective transfers",
        o->partial);
  SF_H5(*lcpl = H5Pcreate(H5P_LINK_CREATE),
        "%s: cannot create the link properties of /slabflow/done", o->partial);
  SF_H5(H5Pset_create_intermediate_group(*lcpl, 1),
        "%s: cannot ask for the parent groups of /slabflow/done", o->partial);
  SF_H5(*dcpl = H5Pcreate(H5P_DATASET_CREATE),
        "%s: cannot create the creation properties of /slabflow/done", o->partial);
  SF_H5(H5Pset_fill_value(*dcpl, H5T_NATIVE_UINT8, &zero),
        "%s: cannot set the fill value of /slabflow/done", o->partial);
  SF_H5(H5Pset_fill_time(*dcpl, H5D_FILL_TIME_ALLOC),
        "%s: cannot set the fill time of /slabflow/done", o->partial);
  SF_H5(H5Pset_obj_track_times(*dcpl, 0), "%s: cannot turn off the times of /slabflow/done",
        o->partial);
  SF_H5(*sp = H5Screate_simple(1, &n, NULL), "%s: cannot make the dataspace of /slabflow/done",
        o->partial);
cleanup:
  return status;
}

int sf_output_create(MPI_Comm comm, const char *out_path, size_t n_segments, sf_output **out) {
  int status = 0;
  sf_output *o = NULL;
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
  hid_t dcpl = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char why[512] = "";
  *out = NULL;
  SF_ALLOC(o, 1);
  o->comm = comm;
  o->file = o->dxpl = o->done = H5I_INVALID_HID;
  SF_MPI(MPI_Comm_rank(comm, &o->rank));
  snprintf(o->path, sizeof o->path, "%s", out_path);
  snprintf(o->partial, sizeof o->partial, "%s.partial", out_path);
  /* A property list that fails on one rank only must not leave the others alone in the
   * collectives below: the local steps are agreed first, then H5Pset_fapl_mpio (it duplicates
   * comm, a collective) on its own. */
  status = sf_mpi_agree(output_plists(o, n_segments, &fapl, &fcpl, &lcpl, &dcpl, &sp), comm);
  if (status < 0) goto cleanup;
  if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) /* SF_H5's report, without the jump */
    status = sf_h5_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                          "%s: cannot set the MPI-IO driver", o->partial);
  status = sf_mpi_agree(status, comm);
  if (status < 0) goto cleanup;
  o->n_segments = n_segments;
  if (g_resume) {
    int exists = 0;
    if (o->rank == 0) {
      struct stat st;
      exists = stat(o->partial, &st) == 0 && S_ISREG(st.st_mode);
      if (!exists)
        fprintf(stderr, "slabflow: --resume: no %s to resume; starting from the beginning\n", o->partial);
    }
    SF_MPI(MPI_Bcast(&exists, 1, MPI_INT, 0, comm));
    if (exists) {
      SF_CALL(resume_open(o, n_segments, fapl));
      *out = o;
      o = NULL;
      goto cleanup;
    }
  }
  /* A stale NAME.partial is removed rather than truncated, so that a link never leads the
   * new file's writes into another file. */
  if (o->rank == 0) unlink(o->partial);
  o->data_bytes = (haddr_t)n_segments + 4096; /* /slabflow/done, written at creation */
  /* The first megabyte (superblock, groups, the done marks) is reserved before HDF5 writes,
   * and again once HDF5 has created (truncated) the file. */
  status = reserve_space(o);
  if (status < 0) {
    if (o->rank == 0) unlink(o->partial);
    goto cleanup;
  }
  o->file = H5Fcreate(o->partial, H5F_ACC_TRUNC, fcpl, fapl);
  if (o->file < 0) sf_h5_error_text(why, sizeof why);
  status = sf_mpi_agree(o->file >= 0 ? 0 : SF_ERR_IO, comm);
  if (status < 0) {
    if (o->rank == 0)
      sf_error_report(status, __FILE__, __LINE__, __func__, "%s: cannot create the output: %s",
                      o->partial, why);
    goto cleanup;
  }
  SF_CALL(reserve_space(o));
  o->done = H5Dcreate2(o->file, "/slabflow/done", H5T_STD_U8LE, sp, lcpl, dcpl, H5P_DEFAULT);
  if (o->done < 0) sf_h5_error_text(why, sizeof why);
  status = sf_mpi_agree(o->done >= 0 ? 0 : SF_ERR_IO, comm);
  if (status < 0) {
    if (o->rank == 0)
      sf_error_report(status, __FILE__, __LINE__, __func__, "%s: cannot create /slabflow/done: %s",
                      o->partial, why);
    goto cleanup;
  }
  /* what a later --resume checks, and "not complete" from the start */
  SF_CALL(sf_mpi_agree(sf_h5_attr_string(o->file, "resume_identity", g_identity), comm));
  SF_CALL(sf_mpi_agree(sf_h5_attr_int(o->file, "complete", 0), comm));
  *out = o;
  o = NULL;
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (fapl >= 0) H5Pclose(fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (o) sf_output_finish(&o, status < 0 ? status : SF_ERR_IO);
  return status;
}

/* The room for one more dataset in o->dsets, and the dataspace and property lists of dataset
 * name (see sf_output_add). Handles made before a failure are left for the caller to close.
 * Local: the caller agrees. */
static int dataset_plists(sf_output *o, const char *name, int ndims, const hsize_t *dims,
                          const hsize_t *chunk, hid_t *sp, hid_t *lcpl, hid_t *dcpl) {
  int status = 0;
  if (o->ndsets == o->cap) {
    int cap = o->cap ? 2 * o->cap : 16;
    hid_t *p = realloc(o->dsets, (size_t)cap * sizeof *p);
    SF_CHECK(p, SF_ERR_NOMEM, "out of memory for %d output datasets", cap);
    o->dsets = p;
    o->cap = cap;
  }
  SF_H5(*sp = H5Screate_simple(ndims, dims, NULL), "%s: cannot make the dataspace of dataset %s",
        o->partial, name);
  SF_H5(*dcpl = H5Pcreate(H5P_DATASET_CREATE),
        "%s: cannot create the creation properties of dataset %s", o->partial, name);
  SF_H5(*lcpl = H5Pcreate(H5P_LINK_CREATE), "%s: cannot create the link properties of dataset %s",
        o->partial, name);
  SF_H5(H5Pset_create_intermediate_group(*lcpl, 1),
        "%s: cannot ask for the parent groups of dataset %s", o->partial, name);
  SF_H5(H5Pset_obj_track_times(*dcpl, 0), "%s: cannot turn off the times of dataset %s", o->partial,
        name);
  SF_H5(H5Pset_alloc_time(*dcpl, H5D_ALLOC_TIME_EARLY),
        "%s: cannot set the allocation time of dataset %s", o->partial, name);
  SF_H5(H5Pset_fill_time(*dcpl, H5D_FILL_TIME_NEVER), "%s: cannot set the fill time of dataset %s",
        o->partial, name);
  if (chunk)
    SF_H5(H5Pset_chunk(*dcpl, ndims, chunk), "%s: cannot set the chunks of dataset %s", o->partial,
          name);
cleanup:
  return status;
}

/* Resumed: opens dataset name and checks its type and shape. Collective. */
static int reopen_dataset(sf_output *o, const char *name, hid_t type, int ndims, const hsize_t *dims,
                          int *id) {
  int status = 0, ok = 1;
  hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
  if (o->ndsets == o->cap) {
    int cap = o->cap ? 2 * o->cap : 16;
    hid_t *p = realloc(o->dsets, (size_t)cap * sizeof *p);
    if (p) o->dsets = p, o->cap = cap;
    ok = p != NULL;
  }
  hsize_t got[8] = {0};
  if (ok) d = H5Lexists(o->file, name, H5P_DEFAULT) > 0 ? H5Dopen2(o->file, name, H5P_DEFAULT) : H5I_INVALID_HID;
  if (d >= 0) sp = H5Dget_space(d), t = H5Dget_type(d);
  ok = ok && d >= 0 && sp >= 0 && t >= 0 && H5Tequal(t, type) > 0 && H5Sget_simple_extent_ndims(sp) == ndims &&
       ndims <= 8 && H5Sget_simple_extent_dims(sp, got, NULL) >= 0;
  for (int i = 0; ok && i < ndims; i++) ok = got[i] == dims[i];
  status = sf_mpi_agree(ok ? 0 : SF_ERR_INPUT, o->comm);
  if (status < 0) {
    if (o->rank == 0)
      sf_error_report(status, __FILE__, __LINE__, __func__,
                      "%s: cannot be resumed: dataset %s is missing or of another type or shape", o->partial, name);
    goto cleanup;
  }
  *id = o->ndsets;
  o->dsets[o->ndsets++] = d;
  d = H5I_INVALID_HID;
cleanup:
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  return status;
}

int sf_output_add(sf_output *o, const char *name, hid_t type, int ndims, const hsize_t *dims,
                  const hsize_t *chunk, int *id) {
  int status = 0;
  hid_t sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
  if (o->resumed) return reopen_dataset(o, name, type, ndims, dims, id);
  o->flushed = 0;
  /* Agreed before the collectives (reserve_space, H5Dcreate2), as in sf_output_create. */
  status = sf_mpi_agree(dataset_plists(o, name, ndims, dims, chunk, &sp, &lcpl, &dcpl), o->comm);
  if (status < 0) goto cleanup;
  {
    /* Its space (allocated at creation) is reserved first. */
    double bytes = (double)H5Tget_size(type), chunks = 1;
    for (int i = 0; i < ndims; i++) {
      bytes *= (double)dims[i];
      if (chunk) chunks *= (double)((dims[i] + chunk[i] - 1) / (chunk[i] ? chunk[i] : 1));
    }
    o->data_bytes += (haddr_t)bytes + (chunk ? (haddr_t)chunks * 64 : 0) + 4096;
    SF_CALL(reserve_space(o));
  }
  d = H5Dcreate2(o->file, name, type, sp, lcpl, dcpl, H5P_DEFAULT);
  status = sf_mpi_agree(d >= 0 ? 0 : SF_ERR_IO, o->comm);
  if (status < 0) {
    if (o->rank == 0)
      sf_error_report(status, __FILE__, __LINE__, __func__, "%s: cannot create dataset %s",
                      o->partial, name);
    goto cleanup;
  }
  *id = o->ndsets;
  o->dsets[o->ndsets++] = d;
  d = H5I_INVALID_HID;
cleanup:
  if (d >= 0) H5Dclose(d);
  if (sp >= 0) H5Sclose(sp);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (lcpl >= 0) H5Pclose(lcpl);
  return status;
}

/* Less than 1 MiB free for unprivileged writers where the file lies. Local. */
static int disk_nearly_full(const char *path) {
  double avail = free_bytes(path);
  return avail >= 0 && avail < 1048576.0;
}

/* Seconds a rank waits for the others after a collective write before it takes the job as
 * stuck in the MPI-IO layer (SLABFLOW_IO_STALL_SECONDS, default 30). */
static double stall_seconds(void) {
  const char *e = getenv("SLABFLOW_IO_STALL_SECONDS");
  double v = e ? atof(e) : 0;
  return v > 0 ? v : 30.0;
}

/* Some rank is stuck inside a collective write that will not complete: no collective can
 * follow, so the job cannot end by returning to main. This rank reports once, removes the
 * partial output (nothing in it is trusted), and aborts the job with exit code 3. The one
 * MPI_Abort outside main, because MPI itself can no longer unwind. */
static void abort_stalled(sf_output *o, const char *what, const char *why) {
  sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                  "%s: writing %s %s%s%s, and the other ranks did not return from the collective "
                  "write within %g s; stopping the job",
                  o->partial, what, why ? "failed (" : "did not complete", why ? why : "",
                  why ? ")" : "", stall_seconds());
  unlink(o->partial);
  unlock_output();
  MPI_Abort(MPI_COMM_WORLD, 3);
}

/* Collective write of a hyperslab [first, first+count) x full rows (count may be 0); in
 * memory, row r starts at element r * stride (0: rows packed). */
static int write_slab_strided(sf_output *o, hid_t d, const char *what, size_t first, size_t count,
                              hid_t mtype, const void *buf, size_t stride) {
  int status = 0;
  /* every dataset and attribute made so far on disk before raw data: a crash from here on
   * leaves a file HDF5 opens, whatever the raw writes had reached */
  if (!o->flushed && (status = flush_output(o)) < 0) return status;
  hid_t fsp = H5Dget_space(d), msp = H5I_INVALID_HID;
  hsize_t dims[8], start[8] = {0}, cnt[8];
  int nd = H5Sget_simple_extent_dims(fsp, dims, NULL);
  static const char dummy[16];
  for (int i = 0; i < nd; i++)
    cnt[i] = dims[i];
  start[0] = first;
  cnt[0] = count;
  if (count > 0) {
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
    hsize_t row = 1;
    for (int i = 1; i < nd; i++)
      row *= cnt[i];
    if (stride && stride != row) {
      hsize_t mdims[2] = {count, stride}, mstart[2] = {0, 0}, mcnt[2] = {count, row};
      msp = H5Screate_simple(2, mdims, NULL);
      H5Sselect_hyperslab(msp, H5S_SELECT_SET, mstart, NULL, mcnt, NULL);
    } else {
      msp = H5Screate_simple(nd, cnt, NULL);
    }
  } else {
    H5Sselect_none(fsp);
    msp = H5Scopy(fsp);
    H5Sselect_none(msp);
  }
  char why[512] = "";
  herr_t rc = H5Dwrite(d, mtype, msp, fsp, o->dxpl, count ? buf : (const void *)dummy);
  if (rc < 0) sf_h5_error_text(why, sizeof why);
  H5Sclose(msp);
  H5Sclose(fsp);
  /* Without blocks held for the file, a disk that filled up may have swallowed a write
   * whose error the MPI-IO layer lost (Open MPI's OMPIO at 3+ ranks reports ENOSPC on
   * stderr and returns success): a full disk after a write counts as a failed write. */
  if (!o->held && o->rank == 0 && disk_nearly_full(o->partial)) {
    char h5why[sizeof why];
    snprintf(h5why, sizeof h5why, "%s", why);
    snprintf(why, sizeof why, "the disk is full%s%.400s%s", rc < 0 ? " (" : "", h5why,
             rc < 0 ? ")" : "");
    rc = -1;
  }
  int stalled = 0;
  status = sf_mpi_agree_within(rc < 0 ? SF_ERR_IO : 0, o->comm,
                               stall_seconds() + 2.0 * (o->rank < 30 ? o->rank : 30), &stalled);
  if (stalled) abort_stalled(o, what, rc < 0 ? why : NULL);
  if (status < 0) { /* one message: from the lowest rank whose write failed */
    char msg[PATH_MAX + 1024] = "";
    if (rc < 0)
      snprintf(msg, sizeof msg, "%s: writing %.256s failed: %.512s", o->partial, what, why);
    sf_mpi_report_lowest(rc < 0, msg, o->comm);
  }
  return status;
}

static int write_slab(sf_output *o, hid_t d, const char *what, size_t first, size_t count,
                      hid_t mtype, const void *buf) {
  return write_slab_strided(o, d, what, first, count, mtype, buf, 0);
}

int sf_output_write_rows(sf_output *o, int id, size_t first, size_t count, hid_t mtype,
                         const void *buf) {
  return sf_output_write_rows_strided(o, id, first, count, mtype, buf, 0);
}

int sf_output_write_rows_strided(sf_output *o, int id, size_t first, size_t count, hid_t mtype,
                                 const void *buf, size_t stride) {
  char name[256] = "";
  H5Iget_name(o->dsets[id], name, sizeof name);
  return write_slab_strided(o, o->dsets[id], name, first, count, mtype, buf, stride);
}

int sf_output_write_all(sf_output *o, int id, hid_t mtype, const void *buf) {
  hid_t sp = H5Dget_space(o->dsets[id]);
  hsize_t dims[8];
  H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  char name[256] = "";
  H5Iget_name(o->dsets[id], name, sizeof name);
  return write_slab(o, o->dsets[id], name, 0, o->rank == 0 ? dims[0] : 0, mtype, buf);
}

int sf_output_mark_done(sf_output *o, long seg) {
  unsigned char one = 1;
  /* the batch's data on disk before its mark (a crash never leaves a mark without its data) */
  int status = flush_output(o);
  if (status < 0) return status;
  status = write_slab(o, o->done, "/slabflow/done", seg >= 0 ? (size_t)seg : 0, seg >= 0 ? 1 : 0,
                      H5T_NATIVE_UINT8, &one);
  if (seg >= 0) sf_kill_point("mark", o->rank);
  return status;
}

hid_t sf_output_root(const sf_output *o) { return o->file; }

int sf_output_finish(sf_output **po, int status) {
  if (!po || !*po) return status;
  sf_output *o = *po;
  if (status == 0) sf_kill_point("finish", o->rank);
  status = sf_mpi_agree(status, o->comm);
  if (status == 0 && o->file >= 0) {
    int rc = sf_h5_attr_int(o->file, "complete", 1);
    status = sf_mpi_agree(rc, o->comm);
  } else if (o->file >= 0 && status == SF_ERR_INTERRUPTED) {
    sf_h5_attr_int(o->file, "complete", 0); /* kept for a later resume */
  } else if (o->file >= 0 && o->keep) {
    /* a resumed (or refused) partial stays for another --resume */
  } else if (o->file >= 0) {
    /* The file is removed below; emptying it first frees its space, so that HDF5's close
     * can write what it must even when the disk filled up. */
    if (o->rank == 0 && truncate(o->partial, 0) != 0) { /* removed below all the same */
    }
    SF_MPI_HERE(MPI_Barrier(o->comm));
  }
  for (int i = 0; i < o->ndsets; i++)
    H5Dclose(o->dsets[i]);
  free(o->dsets);
  free(o->marks);
  if (o->done >= 0) H5Dclose(o->done);
  if (o->dxpl >= 0) H5Pclose(o->dxpl);
  herr_t crc = o->file >= 0 ? H5Fclose(o->file) : 0;
  if (status == 0) status = sf_mpi_agree(crc < 0 ? SF_ERR_IO : 0, o->comm);
  if (o->rank == 0) {
    int rc = 0;
    if (status == 0) {
      if (rename(o->partial, o->path) != 0)
        rc = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                             "%s: cannot rename the finished output to %s: %s", o->partial, o->path,
                             strerror(errno));
      else
        sf_journal_remove(); /* the run-once results go with the partial */
    } else if (status != SF_ERR_INTERRUPTED && !o->keep) {
      unlink(o->partial);
      sf_journal_remove();
    }
    unlock_output();
    if (rc < 0) status = rc;
  }
  SF_MPI_HERE(MPI_Bcast(&status, 1, MPI_INT, 0, o->comm));
  free(o);
  *po = NULL;
  return status;
}
