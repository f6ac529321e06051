#include "mpi/engine.h"
#include "mpi/kill_point.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kernels/dtype_convert.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "mpi/once_journal.h"
#include "sf_error.h"

/* ---- the compute thread -------------------------------------------------------------
 * MPI and HDF5 stay on the thread that initialised MPI (MPI_THREAD_FUNNELED is enough):
 * that thread is the I/O thread. The batches are computed on one more thread, which owns
 * the OpenMP team; it never calls MPI or HDF5. */

typedef struct job {
  const sf_pipeline *p;
  const sf_step *st;
  const sf_batch *b;
  double *partial;
} job;

typedef struct worker {
  sf_exec *exec;
  pthread_t tid;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int started;
  int quit;
  int posted;       /* a job waits */
  int busy;         /* the job is running or done but not collected */
  int done;         /* finished, status valid */
  job j;
  int status;
  int on_device;    /* the job ran a device version */
  double t_start, t_done; /* monotonic seconds */
  double busy_seconds;    /* total compute */
} worker;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One batch on the compute thread: the device version, or prepare, the units, finish. */
static int run_job(const job *jb, int *on_device) {
  const sf_step *st = jb->st;
  void *ctx = jb->p->ctx;
  sf_exec *x = jb->p->exec;
  int rc = 0;
  *on_device = 0;
  if (st->device && sf_exec_get_kind(x) == SF_EXEC_CUDA) {
    *on_device = 1;
    return st->device(ctx, jb->b, jb->partial);
  }
  if (st->prepare) rc = st->prepare(ctx, x, jb->b);
  if (rc == 0 && st->unit) rc = sf_exec_run(x, jb->b, jb->b->count, st->unit, ctx);
  if (rc == 0 && st->finish) rc = st->finish(ctx, jb->b, jb->partial);
  return rc;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  int bind_rc = sf_exec_enter_thread(w->exec); /* the device, when there is one */
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->posted && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
    if (w->quit) break;
    w->posted = 0;
    job jb = w->j;
    pthread_mutex_unlock(&w->mu);
    double t0 = now_s();
    int dev = 0;
    int rc = bind_rc < 0 ? bind_rc : run_job(&jb, &dev);
    double t1 = now_s();
    pthread_mutex_lock(&w->mu);
    w->status = rc;
    w->on_device |= dev;
    w->t_start = t0;
    w->t_done = t1;
    w->busy_seconds += t1 - t0;
    w->done = 1;
    pthread_cond_broadcast(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static int worker_start(worker *w, sf_exec *x) {
  memset(w, 0, sizeof *w);
  w->exec = x;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  /* The compute thread gets the main thread's stack size (kernels keep small arrays there). */
  pthread_attr_t at;
  pthread_attr_init(&at);
  struct rlimit rl;
  size_t stack = (size_t)16 << 20;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > stack)
    stack = (size_t)rl.rlim_cur;
  pthread_attr_setstacksize(&at, stack);
  int rc = pthread_create(&w->tid, &at, worker_main, w);
  pthread_attr_destroy(&at);
  if (rc != 0) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return sf_error_report(SF_ERR_NOMEM, __FILE__, __LINE__, __func__,
                           "cannot start the compute thread");
  }
  w->started = 1;
  return 0;
}

static void worker_stop(worker *w) {
  if (!w->started) return;
  pthread_mutex_lock(&w->mu);
  w->quit = 1;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->tid, NULL);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  w->started = 0;
}

/* Hands a batch to the compute thread (which must be idle). Returns the post time. */
static double worker_post(worker *w, const job *jb) {
  pthread_mutex_lock(&w->mu);
  w->j = *jb;
  w->posted = 1;
  w->busy = 1;
  w->done = 0;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return now_s();
}

/* Waits for the posted batch; returns its status (0 when nothing is posted). */
static int worker_wait(worker *w, double *t_done) {
  int rc = 0;
  pthread_mutex_lock(&w->mu);
  if (w->busy) {
    while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
    rc = w->status;
    w->busy = 0;
  }
  if (t_done) *t_done = w->t_done;
  pthread_mutex_unlock(&w->mu);
  return rc;
}

/* ---- a sweep ------------------------------------------------------------------------- */

typedef struct sweep {
  const sf_pipeline *p;
  const sf_step *st;
  MPI_Comm comm;
  int rank;
  sf_source *src;
  const sf_plan *plan;
  size_t s0, ns, steps, ue, esz, halo;
  sf_dtype dtype;
  unsigned char *in[2];  /* typed input buffers, by step parity (the pipeline's) */
  sf_raw_buf *raw;       /* raw input buffers, by step parity (the pipeline's) */
  sf_batch b[2];
  double *partials;      /* SF_STEP_REDUCE: one per owned segment */
  worker *w;
  sf_phase_times *tm;
  double t_post;         /* when the last batch was posted (or would have been, if empty) */
  /* what the I/O thread did lately, to tell what the compute thread was waiting for */
  struct { int kind; double t0, t1; } io[8];
  int n_io;
  int held, held_rc;     /* a compute collected early (late overlap), and its status */
  double held_t;
} sweep;

/* First non-finite unit of a float batch and its position, for the NaN check. */
static size_t first_nonfinite_unit(const sf_batch *b, size_t ue, size_t *pos) {
  for (size_t k = 0; k < b->count; k++) {
    size_t i = sf_find_nonfinite(b->in + k * ue, ue);
    if (i < ue) {
      *pos = i;
      return k;
    }
  }
  return SIZE_MAX;
}

/* Agrees on non-finite input; the owner of the first bad unit reports it. Collective. */
static int check_finite(const sweep *sw, const sf_batch *b) {
  const sf_source_meta *m = sf_source_get_meta(sw->src);
  if (m->dtype != SF_DTYPE_F32 && m->dtype != SF_DTYPE_F64) return 0;
  if (sw->st->payload == SF_PAYLOAD_RAW) return 0;
  size_t ue = sw->ue, pos = 0;
  size_t k = b->in ? first_nonfinite_unit(b, ue, &pos) : SIZE_MAX;
  if (!b->in && b->count > 0 && b->dtype == SF_DTYPE_F64) {
    /* float64 payload: the check on the values as they are */
    for (size_t q = 0; q < b->count && k == SIZE_MAX; q++) {
      const double *d = (const double *)sf_batch_unit(b, (long)q);
      for (size_t i = 0; i < ue; i++)
        if (!(d[i] - d[i] == 0.0)) {
          k = q;
          pos = i;
          break;
        }
    }
  }
  unsigned long long mine = k == SIZE_MAX ? ULLONG_MAX : (unsigned long long)(b->first + k);
  unsigned long long first = sf_mpi_min_u64(mine, sw->comm);
  if (first == ULLONG_MAX) return 0;
  if (first == mine) {
    double v = b->in ? b->in[k * ue + pos] : ((const double *)sf_batch_unit(b, (long)k))[pos];
    size_t px = pos / m->c;
    sf_error_report(SF_ERR_INPUT, __FILE__, __LINE__, __func__,
                    "%s%s%s: frame %llu contains %s at y=%zu, x=%zu; slabflow does not process "
                    "non-finite values",
                    m->path, m->kind == SF_SOURCE_HDF5 ? ":" : "", m->dataset, first,
                    v != v ? "NaN" : "Inf", px / m->w, px % m->w);
  }
  return SF_ERR_INPUT;
}

/* Reads the batch of lockstep step s (empty where this rank has none) into slot s & 1 and
 * checks it. Collective. */
static int read_step(sweep *sw, size_t s) {
  int q = (int)(s & 1), status;
  sf_batch *b = &sw->b[q];
  memset(b, 0, sizeof *b);
  b->step = s;
  b->segment = -1;
  b->slot = q;
  b->dtype = sw->dtype;
  b->unit_elems = sw->ue;
  if (s < sw->ns && !(sw->st->kind == SF_STEP_PER_UNIT && sw->st->done &&
                      sw->st->done(sw->p->ctx, (long)(sw->s0 + s)))) {
    b->segment = (long)(sw->s0 + s);
    sf_plan_segment(sw->plan, sw->s0 + s, &b->first, &b->count);
    size_t end = sw->plan->first_unit + sw->plan->n_units, last = b->first + b->count;
    size_t before = b->first - sw->plan->first_unit;
    b->halo_lo = before < sw->halo ? before : sw->halo;
    b->halo_hi = end - last < sw->halo ? end - last : sw->halo;
  }
  size_t n_read = b->count ? b->count + b->halo_lo + b->halo_hi : 0;
  if (sw->st->payload == SF_PAYLOAD_RAW) {
    status = sf_source_read_raw(sw->src, b->first, b->count, &sw->raw[q]);
    b->raw = sw->raw[q].data;
    b->raw_off = sw->raw[q].off;
    b->raw_len = sw->raw[q].len;
    b->raw_filters = sw->raw[q].filters;
    return status;
  }
  b->data = sw->in[q] + b->halo_lo * sw->ue * sw->esz;
  b->in = sw->dtype == SF_DTYPE_F32 ? (const float *)b->data : NULL;
  status = sf_source_read_batch(sw->src, b->first - b->halo_lo, n_read, b->first, b->count,
                                sw->dtype, sw->in[q]);
  if (status < 0) return status;
  return check_finite(sw, b);
}

/* Overlap modes, rank 0's choice (ranks in different modes would enter the collectives in
 * different orders): 0 = off; late = commit(k) only after compute(k+1) has finished, so that
 * a buffer shared by the two shows as wrong output every time rather than by chance of
 * timing (diagnostics); otherwise on. Collective. */
enum { OVERLAP_OFF = 0, OVERLAP_ON = 1, OVERLAP_LATE = 2 };

static int overlap_mode(MPI_Comm comm) {
  const char *e = getenv("SLABFLOW_OVERLAP");
  int mode = OVERLAP_ON, status = 0;
  if (e && !strcmp(e, "0")) mode = OVERLAP_OFF;
  else if (e && !strcmp(e, "late")) mode = OVERLAP_LATE;
  SF_MPI_HERE(MPI_Bcast(&mode, 1, MPI_INT, 0, comm));
  (void)status; /* sf_mpi_fail has stopped the job */
  return mode;
}

/* The I/O thread's activities, for the compute thread's phases. */
enum { IO_READ = 0, IO_WAIT = 1, IO_WRITE = 2 };

static void io_log(sweep *sw, int kind, double t0, double t1) {
  if (sw->n_io == 8) {
    memmove(sw->io, sw->io + 1, 7 * sizeof sw->io[0]);
    sw->n_io = 7;
  }
  sw->io[sw->n_io].kind = kind;
  sw->io[sw->n_io].t0 = t0;
  sw->io[sw->n_io].t1 = t1;
  sw->n_io++;
}

/* The compute thread idled over [a, b]: the time goes to what the I/O thread was doing then
 * (reading, waiting for other ranks, writing); what no activity covers counts as writing
 * (agreements, bookkeeping). */
static void charge_idle(sweep *sw, double a, double b) {
  if (b <= a) return;
  double got[3] = {0, 0, 0}, total = 0;
  for (int i = 0; i < sw->n_io; i++) {
    double lo = sw->io[i].t0 > a ? sw->io[i].t0 : a, hi = sw->io[i].t1 < b ? sw->io[i].t1 : b;
    if (hi > lo) {
      got[sw->io[i].kind] += hi - lo;
      total += hi - lo;
    }
  }
  if (total > b - a) { /* cannot happen with disjoint activities; keep the sum exact anyway */
    for (int k = 0; k < 3; k++) got[k] *= (b - a) / total;
    total = b - a;
  }
  sw->tm->read += got[IO_READ];
  sw->tm->wait += got[IO_WAIT];
  sw->tm->commit += got[IO_WRITE] + (b - a - total);
}

/* Waits until every rank has reached this point without spinning on a core (the ranks'
 * compute threads may need it): a non-blocking barrier tested every 100 us. The
 * collectives that follow then find every rank there. Collective. */
static void quiet_barrier(sweep *sw) {
  int status = 0, done = 0;
  MPI_Request rq;
  double t0 = now_s();
  SF_MPI_HERE(MPI_Ibarrier(sw->comm, &rq));
  while (status == 0 && !done) {
    SF_MPI_HERE(MPI_Test(&rq, &done, MPI_STATUS_IGNORE));
    if (!done) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
  double t1 = now_s();
  sw->tm->io_wait += t1 - t0;
  io_log(sw, IO_WAIT, t0, t1);
}

/* Commit of step s's batch, then progress. Collective. */
static int commit_step(sweep *sw, size_t s) {
  sf_kill_point("commit", sw->rank);
  int status = 0;
  if (sw->st->commit) {
    double t = now_s();
    status = sw->st->commit(sw->p->ctx, &sw->b[s & 1]);
    double t1 = now_s();
    sw->tm->io_commit += t1 - t;
    io_log(sw, IO_WRITE, t, t1);
  }
  if (status == 0 && sw->st->prog)
    sf_progress_update(sw->st->prog, sw->st->progress_base + sf_plan_units_done(sw->plan, s + 1));
  return status;
}

/* After compute(s): every rank there (quietly), its status agreed, then the interrupt
 * check. Collective. */
static int agree_step(sweep *sw, int rc, size_t s) {
  if (sw->st->kind == SF_STEP_REDUCE) sf_kill_point("reduce", sw->rank);
  quiet_barrier(sw);
  int status = sf_mpi_agree(rc, sw->comm);
  if (status < 0) return status;
  status = sf_interrupt_agree(sw->comm);
  if (status < 0 && sw->rank == 0)
    sf_error_report(status, __FILE__, __LINE__, __func__,
                    "interrupted by a signal; stopping after %zu of %zu units",
                    sf_plan_units_done(sw->plan, s), sw->plan->n_units);
  return status;
}

/* Collects compute(s) (0 and the post time when its batch was empty): status, and when the
 * compute thread became free. */
static int collect(sweep *sw, double *t_free) {
  int rc;
  if (sw->held) {
    sw->held = 0;
    rc = sw->held_rc;
    *t_free = sw->held_t;
  } else if (sw->w->busy) {
    rc = worker_wait(sw->w, t_free);
  } else {
    rc = 0;
    *t_free = sw->t_post;
  }
  return rc;
}

/* The lockstep sweep of one step over its plan. At step s the I/O thread (this one) posts
 * batch s to the compute thread, then commits batch s-1 and reads batch s+1 while it is
 * computed. Every rank runs the same sequence of collectives: read, NaN check, agreement,
 * commit, for every step, also with empty batches. Collective. */
static int sweep_run(sweep *sw) {
  int status = 0;
  int overlap = sw->st->overlap && sw->st->commit ? overlap_mode(sw->comm) : OVERLAP_OFF;
  sf_phase_times *tm = sw->tm;
  double t_begin = now_s(), t, t_free = 0;
  sw->n_io = 0;
  status = read_step(sw, 0);
  t = now_s();
  tm->io_read += t - t_begin;
  tm->read += t - t_begin;
  if (status < 0) return status;
  sw->t_post = t_begin;
  for (size_t s = 0; s < sw->steps; s++) {
    const sf_batch *b = &sw->b[s & 1];
    double *partial = NULL;
    if (sw->partials && b->count) {
      partial = sw->partials + s * sw->st->reduce_len;
      memset(partial, 0, sw->st->reduce_len * sizeof *partial);
    }
    int rc_prev = 0;
    if (s > 0) {
      rc_prev = collect(sw, &t_free);
      if (overlap == OVERLAP_OFF) {
        /* compute(s-1) is committed before compute(s) starts */
        status = agree_step(sw, rc_prev, s - 1);
        if (status == 0) status = commit_step(sw, s - 1);
        if (status < 0) goto out;
      }
    }
    sw->t_post = now_s();
    if (b->count) {
      job jb = {sw->p, sw->st, b, partial};
      sw->t_post = worker_post(sw->w, &jb);
    }
    /* The compute thread was idle from the end of compute(s-1) to this post. */
    if (s > 0) charge_idle(sw, t_free, sw->t_post);
    if (s > 0 && overlap != OVERLAP_OFF) {
      if (overlap == OVERLAP_LATE) {
        sw->held_rc = collect(sw, &sw->held_t);
        sw->held = 1;
      }
      status = agree_step(sw, rc_prev, s - 1);
      if (status == 0) status = commit_step(sw, s - 1);
      if (status < 0) goto out;
    }
    if (s + 1 < sw->steps) {
      t = now_s();
      status = read_step(sw, s + 1);
      double t1 = now_s();
      tm->io_read += t1 - t;
      io_log(sw, IO_READ, t, t1);
      if (status < 0) goto out;
    }
  }
  {
    int rc = collect(sw, &t_free);
    status = agree_step(sw, rc, sw->steps - 1);
    if (status == 0) status = commit_step(sw, sw->steps - 1);
    charge_idle(sw, t_free, now_s());
  }
out:
  if (sw->w->busy) worker_wait(sw->w, &t_free);
  sw->held = 0;
  tm->compute = now_s() - t_begin - tm->read - tm->commit - tm->wait;
  return status;
}

/* The input buffers of a pipeline's sweeps, by step parity: allocated once for the run and
 * reused by every sweep (grown when a sweep needs more), so the pages are touched once. */
typedef struct in_bufs {
  unsigned char *in[2];
  size_t cap;
  sf_raw_buf raw[2];
} in_bufs;

/* A sweep's buffers, made once for all its batches. Collective (agrees on memory). */
static int sweep_setup(sweep *sw, const sf_pipeline *p, const sf_step *st, worker *w,
                       sf_phase_times *tm, in_bufs *bufs) {
  int status = 0;
  memset(sw, 0, sizeof *sw);
  sw->p = p;
  sw->st = st;
  sw->comm = p->comm;
  sw->w = w;
  sw->tm = tm;
  sw->src = st->src ? st->src : p->src;
  sw->plan = st->plan ? st->plan : p->plan;
  SF_MPI(MPI_Comm_rank(sw->comm, &sw->rank));
  sf_plan_rank_segments(sw->plan, sw->rank, &sw->s0, &sw->ns);
  sw->steps = sf_plan_steps(sw->plan);
  sw->ue = sf_source_unit_elems(sw->src);
  sw->halo = st->halo;
  const sf_source_meta *m = sf_source_get_meta(sw->src);
  sw->dtype = st->payload == SF_PAYLOAD_NATIVE && m->kind != SF_SOURCE_CUSTOM ? m->dtype : SF_DTYPE_F32;
  sw->esz = sf_dtype_size(sw->dtype);
  int ok = 1;
  if (st->payload != SF_PAYLOAD_RAW && sw->ns) {
    size_t n = (sw->plan->seg_units + 2 * sw->halo) * sw->ue * sw->esz;
    if (n > bufs->cap) {
      for (int q = 0; q < 2; q++) {
        free(bufs->in[q]);
        bufs->in[q] = malloc(n);
        ok = ok && bufs->in[q];
      }
      bufs->cap = ok ? n : 0;
    }
  }
  for (int q = 0; q < 2; q++) sw->in[q] = bufs->in[q];
  sw->raw = bufs->raw;
  if (ok && st->kind == SF_STEP_REDUCE)
    ok = (sw->partials = calloc((sw->ns ? sw->ns : 1) * (st->reduce_len ? st->reduce_len : 1),
                                sizeof(double))) != NULL;
  status = sf_mpi_agree(ok ? 0 : SF_ERR_NOMEM, sw->comm);
  if (status < 0 && !ok)
    sf_error_report(status, __FILE__, __LINE__, __func__, "%s: out of memory for the batch buffers",
                    st->name);
cleanup:
  return status;
}

static void sweep_free(sweep *sw) { free(sw->partials); }

static void in_bufs_free(in_bufs *b) {
  for (int q = 0; q < 2; q++) {
    free(b->in[q]);
    sf_raw_buf_free(&b->raw[q]);
  }
  memset(b, 0, sizeof *b);
}

/* SF_STEP_REDUCE after its sweep: the fixed-order sum, then reduced() everywhere. */
static int reduce_finish(sweep *sw) {
  int status = 0;
  double *tot = NULL;
  size_t len = sw->st->reduce_len;
  SF_ALLOC(tot, len ? len : 1);
  SF_CALL(sf_mpi_ordered_sum(sw->partials, sw->ns, len, tot, sw->comm));
  if (sw->st->reduced) status = sw->st->reduced(sw->p->ctx, tot, sw->plan->n_units);
cleanup:
  free(tot);
  return sf_mpi_agree(status, sw->comm);
}

/* SF_STEP_ONCE: rank 0 computes, the status and the result are broadcast. */
static int run_once(const sf_pipeline *p, const sf_step *st) {
  int status = 0, rank;
  SF_MPI(MPI_Comm_rank(p->comm, &rank));
  sf_kill_point("once", rank);
  if (rank == 0 && st->once) status = st->once(p->ctx);
  SF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, p->comm));
  if (status == 0 && st->result && st->result_bytes)
    status = sf_mpi_bcast_big(st->result, st->result_bytes, MPI_BYTE, 0, p->comm);
  if (status == 0 && st->share) status = sf_mpi_agree(st->share(p->ctx, p->comm), p->comm);
cleanup:
  return status;
}

/* --resume: which steps the journal of run-once results holds a result for (the steps a
 * keeping step covers), and that result's bytes at the keeping step. Collective. */
static int find_kept(const sf_pipeline *p, unsigned char *covered, void **data, size_t *len) {
  int status = 0, rank;
  SF_MPI(MPI_Comm_rank(p->comm, &rank));
  for (size_t i = 0; i < p->n_steps; i++) {
    const sf_step *st = &p->steps[i];
    if (!st->restore) continue;
    int found = sf_journal_load(p->comm, st->name, &data[i], &len[i]);
    SF_CALL(found);
    if (!found) continue;
    size_t k = st->keep_steps ? st->keep_steps : 1, first = i + 1 >= k ? i + 1 - k : 0;
    for (size_t c = first; c <= i; c++) covered[c] = 1;
    if (rank == 0 && first < i)
      fprintf(stderr, "slabflow: --resume: the steps from %s to %s kept by the interrupted run, not run again\n",
              p->steps[first].name, st->name);
    else if (rank == 0)
      fprintf(stderr, "slabflow: --resume: the step %s kept by the interrupted run, not run again\n", st->name);
  }
cleanup:
  return status;
}

/* After step st succeeded or was skipped: its result into the journal. Collective. */
static int keep_result(const sf_pipeline *p, const sf_step *st) {
  int status = 0, rank;
  void *bytes = NULL;
  size_t n = 0;
  SF_MPI(MPI_Comm_rank(p->comm, &rank));
  if (rank == 0) status = st->keep(p->ctx, &bytes, &n);
  SF_CALL(sf_mpi_agree(status, p->comm));
  SF_CALL(sf_journal_store(p->comm, st->name, bytes, n));
cleanup:
  free(bytes);
  return status;
}

int sf_pipeline_run(const sf_pipeline *p, sf_run_info *info) {
  int status = 0;
  worker w;
  in_bufs bufs;
  unsigned char *covered = calloc(p->n_steps + 1, 1);
  void **kept = calloc(p->n_steps + 1, sizeof *kept);
  size_t *kept_len = calloc(p->n_steps + 1, sizeof *kept_len);
  memset(&w, 0, sizeof w);
  memset(&bufs, 0, sizeof bufs);
  if (info) snprintf(info->backend, sizeof info->backend, "cpu");
  status = sf_mpi_agree(covered && kept && kept_len ? 0 : SF_ERR_NOMEM, p->comm);
  if (status == 0) status = find_kept(p, covered, kept, kept_len);
  if (status == 0) status = sf_mpi_agree(worker_start(&w, p->exec), p->comm);
  if (status < 0) goto out;
  for (size_t i = 0; i < p->n_steps && status == 0; i++) {
    const sf_step *st = &p->steps[i];
    sf_phase_times dummy, *tm = info && info->times ? &info->times[i] : &dummy;
    memset(tm, 0, sizeof *tm);
    if (covered[i]) {
      if (kept[i]) status = sf_mpi_agree(st->restore(p->ctx, kept[i], kept_len[i]), p->comm);
      continue;
    }
    int skip = st->skip ? st->skip(p->ctx) : 0;
    if (skip) {
      if (st->keep) status = keep_result(p, st);
      continue;
    }
    if (st->start) status = sf_mpi_agree(st->start(p->ctx), p->comm);
    if (status < 0) break;
    if (st->kind == SF_STEP_ONCE) {
      status = run_once(p, st);
    } else {
      sweep sw;
      status = sweep_setup(&sw, p, st, &w, tm, &bufs);
      if (status == 0) status = sweep_run(&sw);
      if (status == 0 && st->kind == SF_STEP_REDUCE) status = reduce_finish(&sw);
      sweep_free(&sw);
    }
    if (st->stop) status = sf_mpi_agree(st->stop(p->ctx, status), p->comm);
    if (status == 0 && st->keep) status = keep_result(p, st);
  }
  worker_stop(&w);
  in_bufs_free(&bufs);
  if (info && w.on_device) {
    const char *name = sf_exec_device_name(p->exec);
    snprintf(info->backend, sizeof info->backend, "cuda:%s", name && *name ? name : "device");
  }
out:
  for (size_t i = 0; kept && i < p->n_steps; i++) free(kept[i]);
  free(kept);
  free(kept_len);
  free(covered);
  return status;
}
