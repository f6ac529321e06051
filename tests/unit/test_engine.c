/* CUnit tests of the engine's contract, run at any rank count (ctest runs np 1..5 and 1..2
 * threads): the plan; every dtype through a typed batch; raw-chunk batches; a toy pipeline
 * of a run-once step, a fixed-order reduction and a per-unit step with a halo and collective
 * commits, whose output is checked against a serial reference (so its bytes are the same for
 * any rank and thread count), in both OpenMP modes; the sweep's threads and order; failures.
 * SF_TEST_THREADS sets the executors' threads. */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <mpi.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/h5_util.h"
#include "mpi/engine.h"
#include "mpi/h5_output.h"
#include "mpi/mpi_agree.h"
#include "mpi/plan.h"
#include "sf_cunit.h"
#include "sf_error.h"

static int g_rank, g_size, g_threads = 2;
static char g_dir[400];

/* A file name shared by every rank. */
static void shared_path(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", g_dir, name);
}

static sf_exec *make_exec(sf_exec_kind kind) {
  sf_exec *x = NULL;
  sf_exec_config c = {kind, g_threads, 0, NULL, NULL, NULL, 1};
  CU_ASSERT_FATAL(sf_exec_create(&c, &x) == 0);
  return x;
}

/* ---- the plan ---- */

static void test_plan_cover(void) {
  /* Every unit is owned exactly once, contiguously in rank order, for many shapes. */
  for (size_t n = 0; n < 40; n++)
    for (size_t seg = 1; seg < 9; seg++)
      for (int R = 1; R < 7; R++) {
        sf_plan p;
        sf_plan_init(&p, 5, n, seg, R);
        size_t next = 5, steps = 0;
        for (int r = 0; r < R; r++) {
          size_t s0, ns;
          sf_plan_rank_segments(&p, r, &s0, &ns);
          if (ns > steps) steps = ns;
          for (size_t s = s0; s < s0 + ns; s++) {
            size_t f, c;
            sf_plan_segment(&p, s, &f, &c);
            CU_ASSERT_EQUAL(f, next);
            CU_ASSERT(c >= 1 && c <= seg);
            CU_ASSERT_EQUAL(sf_plan_owner(&p, s), r);
            next += c;
          }
        }
        CU_ASSERT_EQUAL(next, 5 + n);
        CU_ASSERT_EQUAL(sf_plan_steps(&p), steps);
        CU_ASSERT_EQUAL(sf_plan_units_done(&p, steps), n);
      }
}

static void test_plan_idle_rank(void) {
  sf_plan p;
  sf_plan_init(&p, 0, 30, 8, 5); /* 4 segments over 5 ranks */
  size_t s0, ns;
  sf_plan_rank_segments(&p, 4, &s0, &ns);
  CU_ASSERT_EQUAL(ns, 0);
  CU_ASSERT_EQUAL(p.n_segments, 4);
  sf_plan_segment(&p, 3, &s0, &ns);
  CU_ASSERT(s0 == 24 && ns == 6);
}

/* ---- every dtype through a batch ---- */

#define DT_T 13
#define DT_H 3
#define DT_W 8 /* DT_W values per row: the type's extremes among them */

static const sf_dtype k_dtypes[] = {SF_DTYPE_U8,  SF_DTYPE_I8,  SF_DTYPE_U16, SF_DTYPE_I16,
                                    SF_DTYPE_U32, SF_DTYPE_I32, SF_DTYPE_U64, SF_DTYPE_I64,
                                    SF_DTYPE_F32, SF_DTYPE_F64};

/* Value i of the dataset of dtype t, as the type's bytes: extremes and ordinary values. */
static void dt_value(sf_dtype t, size_t i, void *dst) {
  long long v = (long long)(i * 37 % 211) - 90;
  int which = (int)(i % 11);
  switch (t) {
  case SF_DTYPE_U8: *(uint8_t *)dst = which == 0 ? 255 : which == 1 ? 0 : (uint8_t)(v + 90); break;
  case SF_DTYPE_I8: *(int8_t *)dst = which == 0 ? 127 : which == 1 ? -128 : (int8_t)(v / 2); break;
  case SF_DTYPE_U16: *(uint16_t *)dst = which == 0 ? 65535 : (uint16_t)(v + 1000); break;
  case SF_DTYPE_I16: *(int16_t *)dst = which == 0 ? -32768 : which == 1 ? 32767 : (int16_t)(v * 100); break;
  case SF_DTYPE_U32: *(uint32_t *)dst = which == 0 ? 4294967295u : (uint32_t)(v + 100000); break;
  case SF_DTYPE_I32: *(int32_t *)dst = which == 0 ? -2147483647 - 1 : which == 1 ? 2147483647 : (int32_t)(v * 1000); break;
  case SF_DTYPE_U64: *(uint64_t *)dst = which == 0 ? UINT64_MAX : (uint64_t)(v + 5000); break;
  case SF_DTYPE_I64: *(int64_t *)dst = which == 0 ? INT64_MIN : which == 1 ? INT64_MAX : (int64_t)v * 3; break;
  case SF_DTYPE_F32: *(float *)dst = which == 0 ? 3.4e38f : (float)v * 0.25f; break;
  case SF_DTYPE_F64: *(double *)dst = which == 0 ? -3.0e38 : (double)v * 0.125 + 1e-9; break;
  default: break;
  }
}

typedef struct dt_check {
  sf_dtype t;
  int native;   /* the step asked for the source's own dtype */
  int units;    /* units seen on this rank */
  int bad;
} dt_check;

static int dt_unit(void *ctx, void *ws, const sf_batch *b, size_t k) {
  dt_check *c = ctx;
  (void)ws;
  size_t ue = DT_H * DT_W, esz = sf_dtype_size(c->t), u = b->first + k;
  unsigned char want[8];
  if (b->unit_elems != ue || b->dtype != (c->native ? c->t : SF_DTYPE_F32)) c->bad = 1;
  for (size_t i = 0; i < ue; i++) {
    dt_value(c->t, u * ue + i, want);
    if (c->native) {
      if (memcmp((const char *)sf_batch_unit(b, (long)k) + i * esz, want, esz)) c->bad = 1;
    } else {
      float f;
      sf_dtype_to_float(c->t, want, &f, 1);
      if (memcmp(&b->in[k * ue + i], &f, sizeof f)) c->bad = 1;
    }
  }
#pragma omp atomic
  c->units++;
  return 0;
}

static void test_dtypes_roundtrip(void) {
  char path[512];
  shared_path(path, sizeof path, "dtypes.h5");
  size_t nd = sizeof k_dtypes / sizeof *k_dtypes, n = DT_T * DT_H * DT_W;
  if (g_rank == 0) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {DT_T, DT_H, DT_W};
    for (size_t d = 0; d < nd; d++) {
      unsigned char *v = malloc(n * 8);
      for (size_t i = 0; i < n; i++) dt_value(k_dtypes[d], i, v + i * sf_dtype_size(k_dtypes[d]));
      char name[32];
      snprintf(name, sizeof name, "/%s", sf_dtype_name(k_dtypes[d]));
      hid_t sp = H5Screate_simple(3, dims, NULL);
      hid_t ds = H5Dcreate2(f, name, sf_h5_native_type(k_dtypes[d]), sp, H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT);
      CU_ASSERT(H5Dwrite(ds, sf_h5_native_type(k_dtypes[d]), H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
      H5Dclose(ds);
      H5Sclose(sp);
      free(v);
    }
    H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  sf_exec *x = make_exec(SF_EXEC_OPENMP);
  for (size_t d = 0; d < nd; d++)
    for (int native = 0; native < 2; native++) {
      char name[32];
      snprintf(name, sizeof name, "/%s", sf_dtype_name(k_dtypes[d]));
      sf_source *src = NULL;
      CU_ASSERT_FATAL(sf_source_open(MPI_COMM_WORLD, path, name, 1, &src) == 0);
      CU_ASSERT_EQUAL(sf_source_get_meta(src)->dtype, k_dtypes[d]);
      sf_plan plan;
      sf_plan_init(&plan, 0, DT_T, 3, g_size);
      dt_check c = {k_dtypes[d], native, 0, 0};
      sf_step st = {.name = "dtype", .kind = SF_STEP_PER_UNIT, .halo = 1,
                    .payload = native ? SF_PAYLOAD_NATIVE : SF_PAYLOAD_F32, .unit = dt_unit};
      sf_pipeline p = {MPI_COMM_WORLD, &c, x, src, &plan, &st, 1};
      CU_ASSERT_EQUAL(sf_pipeline_run(&p, NULL), 0);
      int units = 0, bad = 0;
      MPI_Allreduce(&c.units, &units, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
      MPI_Allreduce(&c.bad, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
      CU_ASSERT_EQUAL(units, DT_T);
      CU_ASSERT_EQUAL(bad, 0);
      if (bad) fprintf(stderr, "\n%s (native %d): wrong values\n", name, native);
      sf_source_close(&src);
    }
  sf_exec_destroy(&x);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) unlink(path);
}

/* ---- raw chunks ---- */

#define RW_T 9
#define RW_H 16
#define RW_W 12

static uint16_t rw_value(size_t t, size_t i) { return (uint16_t)((t * 7 + i / 5) % 60); }

typedef struct raw_check {
  int deflate;
  int units, bad;
} raw_check;

static int raw_unit(void *ctx, void *ws, const sf_batch *b, size_t k) {
  raw_check *c = ctx;
  (void)ws;
  uint16_t frame[RW_H * RW_W];
  uLongf n = sizeof frame;
  const unsigned char *bytes = b->raw + b->raw_off[k];
  if (b->raw_filters[k] != 0) c->bad = 1;
  if (c->deflate) {
    if (b->raw_len[k] >= sizeof frame) c->bad = 1; /* compressed, so smaller */
    if (uncompress((Bytef *)frame, &n, bytes, b->raw_len[k]) != Z_OK || n != sizeof frame) c->bad = 1;
  } else {
    if (b->raw_len[k] != sizeof frame) c->bad = 1;
    else memcpy(frame, bytes, sizeof frame);
  }
  for (size_t i = 0; i < RW_H * RW_W; i++)
    if (frame[i] != rw_value(b->first + k, i)) c->bad = 1;
#pragma omp atomic
  c->units++;
  return 0;
}

static void test_raw_chunks(void) {
  char path[512];
  shared_path(path, sizeof path, "raw.h5");
  if (g_rank == 0) {
    uint16_t *v = malloc(RW_T * RW_H * RW_W * sizeof *v);
    for (size_t t = 0; t < RW_T; t++)
      for (size_t i = 0; i < RW_H * RW_W; i++) v[t * RW_H * RW_W + i] = rw_value(t, i);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {RW_T, RW_H, RW_W}, chunk[3] = {1, RW_H, RW_W};
    for (int z = 0; z < 2; z++) {
      hid_t sp = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_chunk(dcpl, 3, chunk);
      if (z) H5Pset_deflate(dcpl, 6);
      hid_t ds = H5Dcreate2(f, z ? "/deflate" : "/plain", H5T_NATIVE_UINT16, sp, H5P_DEFAULT, dcpl,
                            H5P_DEFAULT);
      CU_ASSERT(H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
      H5Dclose(ds);
      H5Pclose(dcpl);
      H5Sclose(sp);
    }
    H5Fclose(f);
    free(v);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  sf_exec *x = make_exec(SF_EXEC_OPENMP);
  for (int z = 0; z < 2; z++) {
    sf_source *src = NULL;
    CU_ASSERT_FATAL(sf_source_open(MPI_COMM_WORLD, path, z ? "/deflate" : "/plain", 1, &src) == 0);
    sf_plan plan;
    sf_plan_init(&plan, 0, RW_T, 2, g_size);
    raw_check c = {z, 0, 0};
    sf_step st = {.name = "raw", .kind = SF_STEP_PER_UNIT, .payload = SF_PAYLOAD_RAW, .unit = raw_unit};
    sf_pipeline p = {MPI_COMM_WORLD, &c, x, src, &plan, &st, 1};
    CU_ASSERT_EQUAL(sf_pipeline_run(&p, NULL), 0);
    int units = 0, bad = 0;
    MPI_Allreduce(&c.units, &units, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&c.bad, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    CU_ASSERT_EQUAL(units, RW_T);
    CU_ASSERT_EQUAL(bad, 0);
    sf_source_close(&src);
  }
  sf_exec_destroy(&x);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) unlink(path);
}

/* ---- a toy pipeline ---- */

#define TY_T 23   /* units of TY_N float values */
#define TY_N 300
#define TY_SEG 4

static float ty_input(size_t u, size_t i) { return (float)((u * 131 + i * 17) % 97) * 0.37f - 5.0f; }

typedef struct toy {
  sf_exec *x;
  float table[TY_N];    /* run-once result (rank 0 computes it) */
  double total;         /* reduction: sum over units of their values' sums */
  float *slot[2];       /* per-unit results, by step parity */
  sf_output *out;
  int id;
  char path[512];
  int stops, starts;
  long fail_step;       /* the per-unit step fails there (-1: never) */
  int stop_status;
} toy;

static int toy_once(void *ctx) {
  toy *t = ctx;
  for (size_t i = 0; i < TY_N; i++) t->table[i] = (float)(i % 7) * 0.5f + 1.0f;
  return 0;
}

static int toy_partial(void *ctx, const sf_batch *b, double *partial) {
  (void)ctx;
  for (size_t k = 0; k < b->count; k++)
    for (size_t i = 0; i < TY_N; i++) partial[i % 3] += b->in[k * TY_N + i] * 1e-3;
  return 0;
}

static int toy_reduced(void *ctx, const double *sum, size_t n) {
  toy *t = ctx;
  t->total = (sum[0] + sum[1] * 2 + sum[2] * 3) / (double)n;
  return 0;
}

/* Out = the unit and its two neighbours (clamped to the range), times the table, plus the
 * reduced total; in shared mode the team splits the values (orphaned omp for). */
static float toy_value(const toy *t, const float *lo, const float *mid, const float *hi, size_t i) {
  return (lo[i] + 2.0f * mid[i] + hi[i]) * t->table[i] + (float)t->total;
}

static int toy_unit(void *ctx, void *ws, const sf_batch *b, size_t k) {
  toy *t = ctx;
  (void)ws;
  if ((long)b->step == t->fail_step) return SF_ERR_INPUT;
  const float *mid = b->in + k * TY_N;
  long u = (long)(b->first + k);
  const float *lo = u > 0 && (k > 0 || b->halo_lo) ? mid - TY_N : mid;
  const float *hi = u + 1 < TY_T && (k + 1 < b->count || b->halo_hi) ? mid + TY_N : mid;
  float *dst = t->slot[b->slot] + k * TY_N;
  if (sf_exec_get_kind(t->x) == SF_EXEC_OPENMP_SHARED) {
#pragma omp for schedule(static)
    for (size_t i = 0; i < TY_N; i++) dst[i] = toy_value(t, lo, mid, hi, i);
  } else {
    for (size_t i = 0; i < TY_N; i++) dst[i] = toy_value(t, lo, mid, hi, i);
  }
  return 0;
}

static int toy_commit(void *ctx, const sf_batch *b) {
  toy *t = ctx;
  int status = sf_output_write_rows(t->out, t->id, b->first, b->count, H5T_NATIVE_FLOAT,
                                    t->slot[b->slot]);
  if (status == 0) status = sf_output_mark_done(t->out, b->segment);
  return status;
}

static int toy_start(void *ctx) {
  toy *t = ctx;
  int status = 0;
  hsize_t dims[2] = {TY_T, TY_N}, chunk[2] = {1, TY_N};
  t->starts++;
  SF_CALL(sf_output_create(MPI_COMM_WORLD, t->path, (TY_T + TY_SEG - 1) / TY_SEG, &t->out));
  SF_CALL(sf_output_add(t->out, "/out", H5T_NATIVE_FLOAT, 2, dims, chunk, &t->id));
cleanup:
  return status;
}

static int toy_stop(void *ctx, int status) {
  toy *t = ctx;
  t->stops++;
  t->stop_status = status;
  return sf_output_finish(&t->out, status);
}

/* Runs the toy pipeline; 0 or its status. */
static int toy_run(toy *t, sf_exec_kind kind) {
  char in[512];
  shared_path(in, sizeof in, "toy_in.h5");
  shared_path(t->path, sizeof t->path, "toy_out.h5");
  if (g_rank == 0) {
    float *v = malloc(TY_T * TY_N * sizeof *v);
    for (size_t u = 0; u < TY_T; u++)
      for (size_t i = 0; i < TY_N; i++) v[u * TY_N + i] = ty_input(u, i);
    hid_t f = H5Fcreate(in, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {TY_T, 1, TY_N};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(f, "/data", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    free(v);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  sf_source *src = NULL;
  int status = sf_source_open(MPI_COMM_WORLD, in, "/data", 1, &src);
  CU_ASSERT_FATAL(status == 0);
  t->x = make_exec(kind);
  for (int q = 0; q < 2; q++) t->slot[q] = calloc(TY_SEG * TY_N, sizeof(float));
  sf_plan plan, ref_plan;
  sf_plan_init(&plan, 0, TY_T, TY_SEG, g_size);
  sf_plan_init(&ref_plan, 3, 17, 5, g_size); /* units 3..19 in segments of 5 */
  const sf_step steps[] = {
      {.name = "table", .kind = SF_STEP_ONCE, .once = toy_once, .result = t->table,
       .result_bytes = sizeof t->table},
      {.name = "total", .kind = SF_STEP_REDUCE, .plan = &ref_plan, .finish = toy_partial,
       .reduce_len = 3, .reduced = toy_reduced},
      {.name = "main", .kind = SF_STEP_PER_UNIT, .halo = 1, .start = toy_start, .unit = toy_unit,
       .commit = toy_commit, .overlap = 1, .stop = toy_stop},
  };
  sf_phase_times tm[3];
  sf_run_info info = {tm, ""};
  sf_pipeline p = {MPI_COMM_WORLD, t, t->x, src, &plan, steps, 3};
  status = sf_pipeline_run(&p, &info);
  CU_ASSERT_STRING_EQUAL(info.backend, "cpu");
  for (int q = 0; q < 2; q++) free(t->slot[q]);
  sf_exec_destroy(&t->x);
  sf_source_close(&src);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) unlink(in);
  return status;
}

/* The serial reference of the toy pipeline's output. */
static void toy_reference(float *out) {
  toy t;
  memset(&t, 0, sizeof t);
  toy_once(&t);
  double part[3] = {0, 0, 0}, sum[3] = {0, 0, 0};
  /* the fixed-order sum: per segment of 5 units from unit 3, segments added in order */
  for (size_t s0 = 3; s0 < 20; s0 += 5) {
    part[0] = part[1] = part[2] = 0;
    for (size_t u = s0; u < s0 + 5 && u < 20; u++)
      for (size_t i = 0; i < TY_N; i++) part[i % 3] += ty_input(u, i) * 1e-3;
    for (int c = 0; c < 3; c++) sum[c] = s0 == 3 ? part[c] : sum[c] + part[c];
  }
  toy_reduced(&t, sum, 17);
  float *in = malloc(TY_T * TY_N * sizeof *in);
  for (size_t u = 0; u < TY_T; u++)
    for (size_t i = 0; i < TY_N; i++) in[u * TY_N + i] = ty_input(u, i);
  for (size_t u = 0; u < TY_T; u++) {
    const float *mid = in + u * TY_N, *lo = u > 0 ? mid - TY_N : mid, *hi = u + 1 < TY_T ? mid + TY_N : mid;
    for (size_t i = 0; i < TY_N; i++) out[u * TY_N + i] = toy_value(&t, lo, mid, hi, i);
  }
  free(in);
}

static unsigned long long fnv(const void *p, size_t n) {
  const unsigned char *b = p;
  unsigned long long h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static void test_toy_pipeline(void) {
  static float ref[TY_T * TY_N], got[TY_T * TY_N];
  toy_reference(ref);
  for (int kind = 0; kind < 2; kind++) {
    toy t;
    memset(&t, 0, sizeof t);
    t.fail_step = -1;
    CU_ASSERT_EQUAL(toy_run(&t, kind ? SF_EXEC_OPENMP_SHARED : SF_EXEC_OPENMP), 0);
    CU_ASSERT(t.starts == 1 && t.stops == 1 && t.stop_status == 0);
    if (g_rank == 0) {
      hid_t f = H5Fopen(t.path, H5F_ACC_RDONLY, H5P_DEFAULT);
      CU_ASSERT_FATAL(f >= 0);
      hid_t d = H5Dopen2(f, "/out", H5P_DEFAULT);
      CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
      H5Dclose(d);
      H5Fclose(f);
      CU_ASSERT(memcmp(got, ref, sizeof ref) == 0);
      printf("\ntoy pipeline (%s, %d rank(s) x %d thread(s)): output fnv64 %016llx\n",
             kind ? "shared" : "one unit per thread", g_size, g_threads, fnv(got, sizeof got));
      unlink(t.path);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
}

static void test_toy_failure(void) {
  /* A unit fails at step 1 on every rank that has one: the agreed status comes back, stop
   * sees it, and no output is left. */
  toy t;
  memset(&t, 0, sizeof t);
  t.fail_step = 1;
  int rc = toy_run(&t, SF_EXEC_OPENMP);
  CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
  CU_ASSERT(t.stops == 1 && t.stop_status == SF_ERR_INPUT);
  CU_ASSERT(access(t.path, F_OK) != 0);
}

/* ---- the sweep's threads and order (any rank count) ---- */

typedef struct order_log {
  int bad;
  int computes, commits;
  size_t computed_upto;  /* steps whose compute finished (compute thread) */
  size_t committed;      /* commits run */
  pthread_t main;
  int compute_on_main;
} order_log;

static int ord_prepare(void *ctx, sf_exec *x, const sf_batch *b) {
  order_log *l = ctx;
  (void)x;
  if (pthread_equal(pthread_self(), l->main)) l->compute_on_main = 1;
  if (b->step != __atomic_load_n(&l->computed_upto, __ATOMIC_ACQUIRE)) l->bad = 1;
  return 0;
}

static int ord_finish(void *ctx, const sf_batch *b, double *partial) {
  order_log *l = ctx;
  (void)partial;
  __atomic_store_n(&l->computed_upto, b->step + 1, __ATOMIC_RELEASE);
  l->computes++;
  return 0;
}

static int ord_commit(void *ctx, const sf_batch *b) {
  order_log *l = ctx;
  int main = 0;
  MPI_Is_thread_main(&main);
  if (!main || b->step != l->committed) l->bad = 1;
  /* commit(k) after compute(k) finished (when this rank computed something at step k) */
  if (b->count && __atomic_load_n(&l->computed_upto, __ATOMIC_ACQUIRE) < b->step + 1) l->bad = 1;
  l->committed++;
  l->commits++;
  return 0;
}

static void test_sweep_order(void) {
  char path[512];
  shared_path(path, sizeof path, "order.h5");
  if (g_rank == 0) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {31, 2, 2};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(f, "/data", H5T_NATIVE_UINT8, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    unsigned char v[31 * 4] = {0};
    H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  sf_source *src = NULL;
  CU_ASSERT_FATAL(sf_source_open(MPI_COMM_WORLD, path, "/data", 1, &src) == 0);
  sf_exec *x = make_exec(SF_EXEC_OPENMP);
  for (int overlap = 0; overlap < 2; overlap++) {
    order_log l;
    memset(&l, 0, sizeof l);
    l.main = pthread_self();
    sf_plan plan;
    sf_plan_init(&plan, 0, 31, 3, g_size);
    sf_progress prog;
    memset(&prog, 0, sizeof prog);
    prog.active = 1;
    prog.interval = 1e30; /* track done, print nothing */
    sf_step st = {.name = "order", .kind = SF_STEP_PER_UNIT, .prepare = ord_prepare,
                  .finish = ord_finish, .commit = ord_commit, .overlap = overlap, .prog = &prog};
    sf_pipeline p = {MPI_COMM_WORLD, &l, x, src, &plan, &st, 1};
    CU_ASSERT_EQUAL(sf_pipeline_run(&p, NULL), 0);
    size_t s0, ns;
    sf_plan_rank_segments(&plan, g_rank, &s0, &ns);
    CU_ASSERT_EQUAL(l.bad, 0);
    CU_ASSERT_EQUAL(l.compute_on_main, 0); /* computes run on the compute thread */
    CU_ASSERT_EQUAL((size_t)l.computes, ns);
    CU_ASSERT_EQUAL((size_t)l.commits, sf_plan_steps(&plan)); /* also for empty batches */
    CU_ASSERT_EQUAL(prog.done, 31);
  }
  sf_exec_destroy(&x);
  sf_source_close(&src);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) unlink(path);
}

static void test_ordered_sum_single(void) {
  if (g_size != 1) return;
  double chunks[6] = {1, 2, 3, 10, 20, 30}, total[3];
  CU_ASSERT_EQUAL(sf_mpi_ordered_sum(chunks, 2, 3, total, MPI_COMM_WORLD), 0);
  CU_ASSERT(total[0] == 11 && total[1] == 22 && total[2] == 33);
  CU_ASSERT_EQUAL(sf_mpi_ordered_sum(chunks, 0, 3, total, MPI_COMM_WORLD), 0);
  CU_ASSERT(total[0] == 0 && total[2] == 0);
}

static void test_exit_codes(void) {
  CU_ASSERT_EQUAL(sf_exit_code(0), 0);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_USAGE), 2);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_INPUT), 2);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_IO), 3);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_NOMEM), 4);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_INTERRUPTED), 5);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_INTERNAL), 1);
}

int main(int argc, char **argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const char *th = getenv("SF_TEST_THREADS");
  if (th && atoi(th) > 0) g_threads = atoi(th);
  /* one scratch directory for all ranks */
  if (g_rank == 0) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/sf_test_engine_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) g_dir[0] = 0;
  }
  MPI_Bcast(g_dir, sizeof g_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  sf_error_set_rank(g_rank);
  static const sf_test tests[] = {
      {"plan covers every unit once, in rank order", test_plan_cover},
      {"plan leaves extra ranks idle", test_plan_idle_rank},
      {"every dtype round-trips through a batch", test_dtypes_roundtrip},
      {"a raw-chunk batch delivers the chunks' bytes", test_raw_chunks},
      {"toy pipeline: run-once, reduction, per-unit with halo = serial reference", test_toy_pipeline},
      {"toy pipeline: a failing unit stops it, no output left", test_toy_failure},
      {"sweep: computes off the main thread, commits in order after their computes", test_sweep_order},
      {"ordered sum on one rank", test_ordered_sum_single},
      {"exit codes", test_exit_codes},
      {NULL, NULL}};
  int rc = sf_cunit_run("engine", tests);
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0 && g_dir[0]) rmdir(g_dir);
  MPI_Finalize();
  return worst;
}
