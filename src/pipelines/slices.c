/* `slabflow slices`: 3-D volumes into 2.5-D training slices with a context window
 * (specs/slices.md). The unit of work is one output slice; the slices of all cases form one
 * plan spread over the ranks in balanced blocks, and each rank reads only the slabs (plus
 * the +-K halo) of the volumes its slices belong to.
 *
 * Passes over each rank's slices, all through the engine's sweep:
 *   1. statistics: per slice min, max, voxels at the min, label range and emptiness, and
 *      the foreground moments of the clipped values (two candidate sets, see slice_moments);
 *   2-4. only with --clip-percentiles: an exact distributed percentile by two 16-bit
 *      histogram passes of order-preserving keys, then the moments with the bounds found;
 *   5. the output: context stacks, normalised, written collectively (writes of one batch
 *      overlapped with the compute of the next).
 * Per-slice results are gathered to every rank and combined per case in slice order, so
 * every statistic, and therefore every output byte, is the same for any rank or thread
 * count. */
#include <getopt.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_args.h"
#include "io/h5_util.h"
#include "io/volume.h"
#include "kernels/slice_ops.h"
#include "mpi/engine.h"
#include "mpi/h5_output.h"
#include "mpi/mem_check.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "mpi/plan.h"
#include "mpi/progress.h"
#include "mpi/unit_source.h"
#include "mpi/mpi_local.h"
#include "node/exec.h"
#include "pipelines/pipelines.h"
#include "pipelines/slices_impl.h"
#include "sf_error.h"

static const char *const pad_names[] = {"zero", "replicate", "reflect", "symmetric", NULL};

/* Per-slice results of the statistics pass (plain data, gathered as bytes). */
typedef struct sl_ustat {
  double min, max, nmin;   /* min and max of the values; voxels equal to the min */
  sf_moments all, above;   /* clipped values: all voxels, voxels above the clipped min */
  int32_t lab_min, lab_max;
  int32_t labelled;        /* any label voxel != 0 */
  int32_t pad_;
} sl_ustat;

enum { SL_HBINS = 65536, SL_NQ = 4, SL_HGROUP = 8 };
enum { PASS_STATS = 1, PASS_HIST_HI, PASS_HIST_LO, PASS_MOMENTS, PASS_OUTPUT };

/* Percentile search state of one case: the order statistics needed and what is known. */
typedef struct sl_pct {
  double n;                /* voxels the percentiles are taken over */
  double rank[SL_NQ];      /* 0-based order statistics: lo floor/ceil, hi floor/ceil */
  uint32_t hi_bin[SL_NQ];  /* high 16 bits of each one's key (after pass 2) */
  double rank_in[SL_NQ];   /* its rank among the voxels of that high bin */
  float value[SL_NQ];
} sl_pct;

typedef struct sl_job {
  sl_opts o;
  MPI_Comm comm;
  int rank, nranks;
  sl_case *cases;
  size_t ncases, nunits, ue; /* ue: floats per unit slot (the largest slice) */
  size_t *unit_case;          /* case of each unit */
  sf_plan plan;
  sf_exec *exec;
  sf_source *src;             /* the engine's reader over every case (sl_read) */
  sf_progress prog;
  double t0;
  int pass;
  /* reader */
  sf_vol *img, *lab;
  long img_case, lab_case;
  size_t reads;               /* reader calls in this pass (= the step) */
  int32_t *labels[2];         /* core labels of the step, by step parity */
  size_t bad_unit;            /* first unit with a non-finite voxel (SIZE_MAX: none) */
  size_t bad_pos;
  size_t err_unit;            /* first unit whose read failed */
  int err_code;               /* its status: bad input (2) or a read that failed (3) */
  char err_msg[1024];
  /* statistics */
  sl_ustat *ustat;            /* nunits */
  sl_pct *pct;                /* ncases (percentile mode) */
  size_t hcase0, hncases;     /* cases this rank's units touch, for histograms */
  uint64_t *hist;             /* hncases x SL_NQ x SL_HBINS (pass 3) or x SL_HBINS (pass 2) */
  /* output */
  long *wrow;                 /* written row of each unit in /index, -1 when skipped */
  float *out[2];              /* step-parity output slots: seg x C x ue */
  int32_t *outlab[2];
  sf_output *output;
  int *img_id, *lab_id;
  hid_t lab_type;
  double t_stats, t_out;
  int argc;
  char **argv;
} sl_job;

/* ---- options ------------------------------------------------------------------------ */

static void slices_help(void) {
  printf(
      "usage: mpirun -np N slabflow slices INPUT -o OUT.h5 [options]\n"
      "\n"
      "Cuts 3-D volumes into 2.5-D training slices: every slice along --axis with its K\n"
      "neighbours each side as 2K+1 channels, intensities clipped and z-scored over the\n"
      "foreground, the label's centre slice beside it; cases assigned to train/val/test.\n"
      "\n"
      "INPUT is an nnU-Net raw dataset folder (imagesTr/<case>_0000.nii.gz with\n"
      "labelsTr/<case>.nii.gz), a manifest file of 'case image [label]' lines (# starts a\n"
      "comment; paths relative to the manifest; volumes are .nii, .nii.gz or FILE.h5:/dataset),\n"
      "or a single volume. Cases are processed in sorted order.\n"
      "\n"
      "Output: /<split>/<case>/image (D,2K+1,H,W) float32 and /<split>/<case>/label (D,H,W);\n"
      "along axis 2 a slice is vol[:, :, t] of the (i,j,k) voxel array (H=i, W=j); along axis\n"
      "1, vol[:, t, :]; along axis 0, vol[t, :, :]. /index (N,3) int32 [split, case, slice],\n"
      "/cases the case names; statistics as attributes of each case group.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output OUT.h5           output file\n"
      "  --axis 0|1|2                  voxel axis to slice along [2]\n"
      "  --window K                    neighbours each side, 0..%d [2]\n"
      "  --pad zero|replicate|reflect|symmetric\n"
      "                                context beyond the volume's ends [replicate]\n"
      "  --clip LO HI                  clip intensities to [LO, HI] before normalising\n"
      "  --clip-percentiles P Q        clip to the P-th and Q-th percentiles of the foreground\n"
      "  --no-normalize                keep intensities (no z-score)\n"
      "  --skip-empty                  drop slices whose label is all background\n"
      "  --split TRAIN,VAL,TEST        case fractions, summing to 1 [1,0,0]\n"
      "  --seed S                      split seed (numpy's legacy permutation) [42]\n"
      "  --nan-fill V                  replace non-finite voxels by V [off: they are an error]\n"
      "  --buffer-size N               slices per segment [32]\n"
      "  --threads N                   OpenMP threads per rank [OMP_NUM_THREADS or all cores]\n"
      "  --resume                      continue OUT.h5.partial of an interrupted run (same inputs\n"
      "                                and options; any rank and thread count): segments marked\n"
      "                                done are kept, the others written\n",
      SL_MAX_WINDOW);
}

/* Parses "a,b,c" fractions summing to 1. */
static int parse_split(int verbose, const char *s, double r[3]) {
  size_t n = 0;
  int status = sf_cli_double_list(verbose, "--split", s, r, 3, &n);
  if (status < 0) return status;
  if (n != 3)
    return sf_cli_usage_error(verbose, "--split: expected three fractions TRAIN,VAL,TEST, got '%s'", s);
  double sum = r[0] + r[1] + r[2];
  if (fabs(sum - 1.0) > 1e-6)
    return sf_cli_usage_error(verbose, "--split: the fractions %s sum to %g; they must sum to 1", s, sum);
  return 0;
}

static int parse_opts(int argc, char **argv, int verbose, sl_opts *o) {
  enum { O_AXIS = 256, O_WIN, O_PAD, O_CLIP, O_CLIPP, O_NONORM, O_SKIP, O_SPLIT, O_SEED,
         O_NAN, O_BUF, O_THR, O_RESUME };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'}, {"axis", required_argument, 0, O_AXIS},
      {"window", required_argument, 0, O_WIN}, {"pad", required_argument, 0, O_PAD},
      {"clip", required_argument, 0, O_CLIP}, {"clip-percentiles", required_argument, 0, O_CLIPP},
      {"no-normalize", no_argument, 0, O_NONORM}, {"skip-empty", no_argument, 0, O_SKIP},
      {"split", required_argument, 0, O_SPLIT}, {"seed", required_argument, 0, O_SEED},
      {"nan-fill", required_argument, 0, O_NAN}, {"buffer-size", required_argument, 0, O_BUF},
      {"threads", required_argument, 0, O_THR}, {"resume", no_argument, 0, O_RESUME},
      {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int status = 0, c, pad = SF_PAD_REPLICATE;
  size_t v = 0;
  *o = (sl_opts){NULL, NULL, 2, 2, SF_PAD_REPLICATE, SL_CLIP_NONE, 0, 0, 1, 0, {1, 0, 0}, 42,
                 0, 0, 0, 32, 0};
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) { /* ':': see sf_cli_bad_option */
    switch (c) {
    case 'o': o->out = optarg; break;
    case 'h': if (verbose) slices_help(); return 1;
    case O_AXIS: SF_CALL(sf_cli_size(verbose, "--axis", optarg, 0, 2, &v)); o->axis = (int)v; break;
    case O_WIN: SF_CALL(sf_cli_size(verbose, "--window", optarg, 0, SL_MAX_WINDOW, &o->window)); break;
    case O_PAD: SF_CALL(sf_cli_choice(verbose, "--pad", optarg, pad_names, &pad)); o->pad = (sf_pad_mode)pad; break;
    case O_CLIP:
    case O_CLIPP: {
      const char *opt = c == O_CLIP ? "--clip" : "--clip-percentiles";
      if (optind >= argc)
        SF_CALL(sf_cli_usage_error(verbose, "%s: expected two values LO HI", opt));
      double lim = c == O_CLIP ? 1e300 : 100.0, lo0 = c == O_CLIP ? -1e300 : 0.0;
      SF_CALL(sf_cli_double(verbose, opt, optarg, lo0, lim, &o->clip_lo));
      SF_CALL(sf_cli_double(verbose, opt, argv[optind], lo0, lim, &o->clip_hi));
      optind++;
      if (o->clip_lo > o->clip_hi)
        SF_CALL(sf_cli_usage_error(verbose, "%s: LO %g is above HI %g", opt, o->clip_lo, o->clip_hi));
      if (o->clip != SL_CLIP_NONE)
        SF_CALL(sf_cli_usage_error(verbose, "--clip and --clip-percentiles exclude each other"));
      o->clip = c == O_CLIP ? SL_CLIP_VALUES : SL_CLIP_PERCENTILES;
      break;
    }
    case O_NONORM: o->normalize = 0; break;
    case O_SKIP: o->skip_empty = 1; break;
    case O_SPLIT: SF_CALL(parse_split(verbose, optarg, o->split)); break;
    case O_SEED: SF_CALL(sf_cli_u64(verbose, "--seed", optarg, &o->seed));
      if (o->seed > 0xffffffffull) SF_CALL(sf_cli_usage_error(verbose, "--seed: expected 0 to 4294967295, got '%s'", optarg));
      break;
    case O_NAN: SF_CALL(sf_cli_double(verbose, "--nan-fill", optarg, -3e38, 3e38, &o->nan_fill)); o->nan_fill_set = 1; break;
    case O_BUF: SF_CALL(sf_cli_size(verbose, "--buffer-size", optarg, 1, 1 << 20, &o->buffer)); break;
    case O_THR: SF_CALL(sf_cli_size(verbose, "--threads", optarg, 1, 4096, &v)); o->threads = (int)v; break;
    case O_RESUME: o->resume = 1; break;
    default:
      SF_CALL(sf_cli_bad_option(verbose, "slices", c, argc, argv, lo));
    }
  }
  if (optind < argc) o->in = argv[optind++];
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "slices: unexpected argument '%s'", argv[optind]));
  if (!o->in) SF_CALL(sf_cli_usage_error(verbose, "slices: no input given (a dataset folder, a manifest or a volume)"));
  if (!o->out) SF_CALL(sf_cli_usage_error(verbose, "slices: no output file given (-o OUT.h5)"));
cleanup:
  return status;
}

/* ---- reading ------------------------------------------------------------------------- */

static size_t case_of_unit(const sl_job *j, size_t u) { return j->unit_case[u]; }

/* Opens the image (or label) volume of case c on this rank, closing the previous one. */
static int ensure_open(sl_job *j, size_t c, int label) {
  sf_vol **v = label ? &j->lab : &j->img;
  long *cur = label ? &j->lab_case : &j->img_case;
  if (*cur == (long)c && *v) return 0;
  sf_vol_close(v);
  *cur = -1;
  int status = sf_vol_open(label ? j->cases[c].label : j->cases[c].image,
                           label ? 0 : 2 * j->o.window, v); /* a batch steps back 2K planes */
  if (status == 0) *cur = (long)c;
  /* Every volume opened when the cases were probed: one that no longer does has changed
   * while the job ran (truncated, replaced), a failure of I/O rather than bad input. */
  return status == SF_ERR_INPUT ? SF_ERR_IO : status;
}

/* Reads n image (or label: int32) slices starting at slice t of case c into dst with unit
 * stride j->ue (both element types are 4 bytes). */
static int read_run(sl_job *j, size_t c, size_t t, size_t n, int label, void *dst) {
  const sl_case *k = &j->cases[c];
  size_t se = k->h * k->w;
  int status = ensure_open(j, c, label);
  if (status < 0) return status;
  status = label ? sf_vol_read_label_slices(j->lab, j->o.axis, t, n, dst)
                 : sf_vol_read_slices(j->img, j->o.axis, t, n, dst);
  if (status < 0) return status;
  char *d = dst;
  for (size_t q = n; q-- > 1;) memmove(d + q * j->ue * 4, d + q * se * 4, se * 4);
  return 0;
}

/* Non-finite voxels of units [u0, u0+n) (slot stride ue): replaced by --nan-fill, or the
 * first one is remembered for a single report after the pass. */
static void check_finite(sl_job *j, size_t u0, size_t n, float *buf) {
  for (size_t q = 0; q < n; q++) {
    const sl_case *k = &j->cases[case_of_unit(j, u0 + q)];
    float *x = buf + q * j->ue;
    size_t se = k->h * k->w, i = sf_find_nonfinite(x, se);
    if (i == se) continue;
    if (j->o.nan_fill_set) {
      for (; i < se; i++)
        if (!isfinite(x[i])) x[i] = (float)j->o.nan_fill;
    } else if (u0 + q < j->bad_unit) {
      j->bad_pos = i;
      __atomic_store_n(&j->bad_unit, u0 + q, __ATOMIC_RELEASE);
    }
  }
}

/* Whether a read error or a non-finite voxel is held (the reader sets them on the I/O thread
 * while a batch is computed). */
static int held_error(const sl_job *j) {
  return __atomic_load_n(&j->err_unit, __ATOMIC_ACQUIRE) != SIZE_MAX ||
         __atomic_load_n(&j->bad_unit, __ATOMIC_ACQUIRE) != SIZE_MAX;
}

/* The engine's reader: runs of units of one case at a time; halo units of another case
 * than the batch's edge are left unread (the context never crosses a case). Read errors
 * are held and reported once after the pass by the rank that met the first. */
static int sl_read(void *ctx, size_t first, size_t count, size_t core_first, size_t core_count,
                   float *buf) {
  sl_job *j = ctx;
  size_t step = j->reads++;
  if (count == 0 || j->err_unit != SIZE_MAX) return 0;
  size_t c_lo = case_of_unit(j, core_first), c_hi = case_of_unit(j, core_first + core_count - 1);
  int want_labels = j->pass == PASS_STATS || j->pass == PASS_OUTPUT;
  int32_t *lab = j->labels[step & 1];
  size_t u = first, end = first + count;
  sf_error_defer(j->err_msg, sizeof j->err_msg);
  int status = 0;
  while (u < end && status == 0) {
    size_t c = case_of_unit(j, u);
    const sl_case *k = &j->cases[c];
    size_t run_end = k->unit0 + k->depth < end ? k->unit0 + k->depth : end;
    if (c < c_lo || c > c_hi) {
      u = run_end;
      continue;
    }
    status = read_run(j, c, u - k->unit0, run_end - u, 0, buf + (u - first) * j->ue);
    if (status == 0) check_finite(j, u, run_end - u, buf + (u - first) * j->ue);
    if (status == 0 && want_labels && k->label[0]) {
      size_t a = u > core_first ? u : core_first;
      size_t b = run_end < core_first + core_count ? run_end : core_first + core_count;
      if (a < b) status = read_run(j, c, a - k->unit0, b - a, 1, lab + (a - core_first) * j->ue);
    }
    if (status < 0) {
      j->err_code = status;
      __atomic_store_n(&j->err_unit, u, __ATOMIC_RELEASE);
    }
    u = run_end;
  }
  sf_error_defer(NULL, 0);
  return 0;
}

/* After a pass: the error met first in unit order is reported once, by its rank. Collective. */
static int agree_read_errors(sl_job *j) {
  unsigned long long e = sf_mpi_min_u64(j->err_unit == SIZE_MAX ? ~0ull : j->err_unit, j->comm);
  if (e != ~0ull) {
    if (e == j->err_unit) sf_error_print(j->err_msg[0] ? j->err_msg : "reading a volume failed");
    int code = sf_mpi_agree(e == j->err_unit ? j->err_code : 0, j->comm);
    return code < 0 ? code : SF_ERR_INPUT;
  }
  unsigned long long b = sf_mpi_min_u64(j->bad_unit == SIZE_MAX ? ~0ull : j->bad_unit, j->comm);
  if (b != ~0ull) {
    if (b == j->bad_unit) {
      const sl_case *k = &j->cases[case_of_unit(j, b)];
      size_t t = b - k->unit0, r = j->bad_pos / k->w, q = j->bad_pos % k->w;
      size_t ijk[3];
      ijk[j->o.axis] = t;
      ijk[j->o.axis == 0 ? 1 : 0] = r;
      ijk[j->o.axis == 2 ? 1 : 2] = q;
      sf_error_report(SF_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "%s: voxel (%zu,%zu,%zu) is not finite (NaN or Inf); give --nan-fill V to "
                      "replace such voxels", k->image, ijk[0], ijk[1], ijk[2]);
    }
    return SF_ERR_INPUT;
  }
  return 0;
}

/* ---- statistics passes ---------------------------------------------------------------- */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static int stats_unit(void *ctx, void *ws, const sf_batch *b, size_t q) {
  sl_job *j = ctx;
  (void)ws;
  if (__atomic_load_n(&j->err_unit, __ATOMIC_ACQUIRE) != SIZE_MAX) return 0; /* reported after the pass */
  size_t u = b->first + q;
  const sl_case *k = &j->cases[case_of_unit(j, u)];
  const float *x = b->in + q * j->ue;
  size_t se = k->h * k->w;
  sl_ustat *s = &j->ustat[u];
  if (j->pass == PASS_STATS) {
    float mn = x[0], mx = x[0];
    for (size_t i = 1; i < se; i++) {
      mn = x[i] < mn ? x[i] : mn;
      mx = x[i] > mx ? x[i] : mx;
    }
    size_t nmin = 0;
    for (size_t i = 0; i < se; i++) nmin += x[i] == mn;
    s->min = mn;
    s->max = mx;
    s->nmin = (double)nmin;
    s->lab_min = s->lab_max = 0;
    s->labelled = 0;
    if (k->label[0]) {
      const int32_t *l = j->labels[b->slot] + q * j->ue;
      int32_t lo = l[0], hi = l[0];
      for (size_t i = 1; i < se; i++) {
        lo = l[i] < lo ? l[i] : lo;
        hi = l[i] > hi ? l[i] : hi;
      }
      s->lab_min = lo;
      s->lab_max = hi;
      s->labelled = lo != 0 || hi != 0;
    }
  }
  if (j->pass == PASS_STATS || j->pass == PASS_MOMENTS) {
    double lo = k->lo, hi = k->hi;
    if (j->pass == PASS_STATS && j->o.clip == SL_CLIP_PERCENTILES) return 0;
    sf_moments_clamped(x, se, lo, hi, clampd(s->min, lo, hi), &s->all, &s->above);
  }
  return 0;
}

/* Histogram passes: serial, per batch (integer counts; order does not matter). */
static int hist_finish(void *ctx, const sf_batch *b, double *partial) {
  sl_job *j = ctx;
  (void)partial;
  if (__atomic_load_n(&j->err_unit, __ATOMIC_ACQUIRE) != SIZE_MAX) return 0;
  for (size_t q = 0; q < b->count; q++) {
    size_t u = b->first + q, c = case_of_unit(j, u);
    const sl_case *k = &j->cases[c];
    const sl_pct *p = &j->pct[c];
    const float *x = b->in + q * j->ue;
    size_t se = k->h * k->w;
    int all = p->n == (double)(k->dim[0] * k->dim[1] * k->dim[2]); /* no foreground: all */
    float vmin = (float)k->vmin;
    uint64_t *h = j->hist + (c - j->hcase0) * (j->pass == PASS_HIST_HI ? 1 : SL_NQ) * SL_HBINS;
    if (j->pass == PASS_HIST_HI) {
      for (size_t i = 0; i < se; i++)
        if (all || x[i] > vmin) h[sf_float_key(x[i]) >> 16]++;
    } else {
      for (size_t i = 0; i < se; i++) {
        if (!all && !(x[i] > vmin)) continue;
        uint32_t key = sf_float_key(x[i]);
        for (int r = 0; r < SL_NQ; r++)
          if ((key >> 16) == p->hi_bin[r]) h[r * SL_HBINS + (key & 0xffff)]++;
      }
    }
  }
  return 0;
}

/* A statistics pass's end: the volumes closed, a held read error reported. Collective. */
static int pass_stop(sl_job *j, int status) {
  sf_vol_close(&j->img);
  sf_vol_close(&j->lab);
  j->img_case = j->lab_case = -1;
  if (status < 0) return status;
  return agree_read_errors(j);
}

/* This rank's units [*u0, *u0 + *n). */
static void rank_units(const sl_job *j, int r, size_t *u0, size_t *n) {
  size_t s0, ns, c, f1, c1;
  sf_plan_rank_segments(&j->plan, r, &s0, &ns);
  *u0 = 0;
  *n = 0;
  if (ns == 0) return;
  sf_plan_segment(&j->plan, s0, u0, &c);
  sf_plan_segment(&j->plan, s0 + ns - 1, &f1, &c1);
  *n = f1 + c1 - *u0;
}

/* Every rank gets every unit's statistics. Collective. */
static int gather_ustats(sl_job *j) {
  int status = 0;
  int *cnt = NULL, *dsp = NULL;
  SF_ALLOC(cnt, j->nranks);
  SF_ALLOC(dsp, j->nranks);
  MPI_Datatype t;
  SF_MPI(MPI_Type_contiguous((int)sizeof(sl_ustat), MPI_BYTE, &t));
  SF_MPI(MPI_Type_commit(&t));
  for (int r = 0; r < j->nranks; r++) {
    size_t u0, n;
    rank_units(j, r, &u0, &n);
    cnt[r] = (int)n;
    dsp[r] = (int)u0;
  }
  SF_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, t, j->ustat, cnt, dsp, t, j->comm));
  SF_MPI(MPI_Type_free(&t));
cleanup:
  free(cnt);
  free(dsp);
  return status;
}

/* Per case, in slice order: value range, voxels at the min, label range. */
static void combine_ranges(sl_job *j) {
  for (size_t c = 0; c < j->ncases; c++) {
    sl_case *k = &j->cases[c];
    const sl_ustat *s = j->ustat + k->unit0;
    k->vmin = s[0].min;
    k->vmax = s[0].max;
    k->lab_min = s[0].lab_min;
    k->lab_max = s[0].lab_max;
    for (size_t t = 1; t < k->depth; t++) {
      k->vmin = s[t].min < k->vmin ? s[t].min : k->vmin;
      k->vmax = s[t].max > k->vmax ? s[t].max : k->vmax;
      k->lab_min = s[t].lab_min < k->lab_min ? s[t].lab_min : k->lab_min;
      k->lab_max = s[t].lab_max > k->lab_max ? s[t].lab_max : k->lab_max;
    }
  }
}

/* Per case, in slice order: foreground moments of the clipped values (spec decision 4:
 * voxels whose clipped value exceeds the clipped volume minimum; all voxels when none do).
 * A slice whose clipped min equals the volume's contributes its "above" set; one whose
 * clipped min is higher has every voxel in the foreground. */
static void combine_moments(sl_job *j) {
  for (size_t c = 0; c < j->ncases; c++) {
    sl_case *k = &j->cases[c];
    const sl_ustat *s = j->ustat + k->unit0;
    double cm = clampd(k->vmin, k->lo, k->hi);
    sf_moments fg = {0, 0, 0}, all = {0, 0, 0};
    for (size_t t = 0; t < k->depth; t++) {
      sf_moments_merge(&fg, clampd(s[t].min, k->lo, k->hi) > cm ? &s[t].all : &s[t].above);
      sf_moments_merge(&all, &s[t].all);
    }
    if (fg.n == 0) fg = all;
    k->fg_voxels = fg.n;
    k->mean = fg.mean;
    k->std = sqrt(fg.m2 / fg.n);
    if (!(k->std >= 1e-8)) k->std = 1.0;
  }
}

/* The cases this rank's units touch. */
static void rank_cases(sl_job *j) {
  size_t u0, n;
  rank_units(j, j->rank, &u0, &n);
  j->hcase0 = n ? case_of_unit(j, u0) : 0;
  j->hncases = n ? case_of_unit(j, u0 + n - 1) - j->hcase0 + 1 : 0;
}

/* Sums the histograms of all ranks, SL_HGROUP cases at a time; per is the bins per case.
 * The result replaces j->hist for this rank's cases; fn gets each case's total. Collective. */
static int reduce_hist(sl_job *j, size_t per, void (*fn)(sl_job *, size_t, const uint64_t *)) {
  int status = 0;
  uint64_t *buf = NULL;
  SF_ALLOC(buf, SL_HGROUP * per);
  for (size_t g = 0; g < j->ncases; g += SL_HGROUP) {
    size_t ng = j->ncases - g < SL_HGROUP ? j->ncases - g : SL_HGROUP;
    memset(buf, 0, ng * per * sizeof *buf);
    for (size_t c = g; c < g + ng; c++)
      if (c >= j->hcase0 && c < j->hcase0 + j->hncases)
        memcpy(buf + (c - g) * per, j->hist + (c - j->hcase0) * per, per * sizeof *buf);
    SF_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, (int)(ng * per), MPI_UINT64_T, MPI_SUM, j->comm));
    for (size_t c = g; c < g + ng; c++) fn(j, c, buf + (c - g) * per);
  }
cleanup:
  free(buf);
  return status;
}

/* After the high-bits pass: the bin and in-bin rank of each order statistic. */
static void locate_hi(sl_job *j, size_t c, const uint64_t *h) {
  sl_pct *p = &j->pct[c];
  for (int r = 0; r < SL_NQ; r++) {
    double cum = 0;
    uint32_t b = 0;
    while (b < SL_HBINS - 1 && cum + (double)h[b] <= p->rank[r]) cum += (double)h[b++];
    p->hi_bin[r] = b;
    p->rank_in[r] = p->rank[r] - cum;
  }
}

/* After the low-bits pass: the exact value of each order statistic. */
static void locate_lo(sl_job *j, size_t c, const uint64_t *h) {
  sl_pct *p = &j->pct[c];
  for (int r = 0; r < SL_NQ; r++) {
    const uint64_t *hr = h + (size_t)r * SL_HBINS;
    double cum = 0;
    uint32_t b = 0;
    while (b < SL_HBINS - 1 && cum + (double)hr[b] <= p->rank_in[r]) cum += (double)hr[b++];
    p->value[r] = sf_float_from_key(p->hi_bin[r] << 16 | b);
  }
}

/* Exact percentiles of each case's foreground (voxels above the volume minimum; all voxels
 * when none are), numpy's linear interpolation (spec B5.28), from two histogram passes of
 * order-preserving keys: the high 16 bits, then the low 16 bits inside the bins found.
 * First the order statistics wanted, from the statistics pass. */
static int hist_hi_start(void *ctx) {
  sl_job *j = ctx;
  int status = 0;
  SF_ALLOC(j->pct, j->ncases);
  for (size_t c = 0; c < j->ncases; c++) {
    sl_case *k = &j->cases[c];
    const sl_ustat *s = j->ustat + k->unit0;
    double nmin = 0, nvox = (double)(k->dim[0] * k->dim[1] * k->dim[2]);
    for (size_t t = 0; t < k->depth; t++)
      if (s[t].min == k->vmin) nmin += s[t].nmin;
    sl_pct *p = &j->pct[c];
    p->n = nvox - nmin > 0 ? nvox - nmin : nvox;
    double q[2] = {j->o.clip_lo, j->o.clip_hi};
    for (int e = 0; e < 2; e++) {
      double h = (p->n - 1) * (q[e] / 100.0), f = floor(h); /* numpy's virtual index */
      p->rank[2 * e] = f;
      p->rank[2 * e + 1] = f + 1 < p->n ? f + 1 : f;
    }
  }
  rank_cases(j);
  SF_ALLOC(j->hist, (j->hncases ? j->hncases : 1) * SL_HBINS);
  j->pass = PASS_HIST_HI;
  j->reads = 0;
cleanup:
  return status;
}

static int hist_hi_stop(void *ctx, int status) {
  sl_job *j = ctx;
  SF_CALL(pass_stop(j, status));
  SF_CALL(reduce_hist(j, SL_HBINS, locate_hi));
cleanup:
  free(j->hist);
  j->hist = NULL;
  return status;
}

static int hist_lo_start(void *ctx) {
  sl_job *j = ctx;
  int status = 0;
  SF_ALLOC(j->hist, (j->hncases ? j->hncases : 1) * SL_NQ * SL_HBINS);
  j->pass = PASS_HIST_LO;
  j->reads = 0;
cleanup:
  return status;
}

static int hist_lo_stop(void *ctx, int status) {
  sl_job *j = ctx;
  SF_CALL(pass_stop(j, status));
  SF_CALL(reduce_hist(j, (size_t)SL_NQ * SL_HBINS, locate_lo));
  for (size_t c = 0; c < j->ncases; c++) {
    sl_case *k = &j->cases[c];
    sl_pct *p = &j->pct[c];
    double q[2] = {j->o.clip_lo, j->o.clip_hi}, v[2];
    for (int e = 0; e < 2; e++) {
      /* numpy's _lerp, bit for bit: from the nearer end */
      double h = (p->n - 1) * (q[e] / 100.0), g = h - floor(h);
      double a = p->value[2 * e], b = p->value[2 * e + 1], d = b - a;
      v[e] = g >= 0.5 ? b - d * (1 - g) : a + d * g;
    }
    k->lo = v[0];
    k->hi = v[1];
  }
cleanup:
  free(j->hist);
  j->hist = NULL;
  return status;
}

/* ---- output ----------------------------------------------------------------------------- */

static int output_unit(void *ctx, void *ws, const sf_batch *b, size_t q) {
  sl_job *j = ctx;
  (void)ws;
  size_t u = b->first + q;
  if (j->wrow[u] < 0) return 0;
  size_t c = case_of_unit(j, u), nch = 2 * j->o.window + 1;
  const sl_case *k = &j->cases[c];
  long t = (long)(u - k->unit0), d = (long)k->depth;
  /* slot = written rows of this batch before u */
  size_t slot = 0;
  for (size_t v = b->first; v < u; v++) slot += j->wrow[v] >= 0;
  const float *src[2 * SL_MAX_WINDOW + 1];
  for (size_t ch = 0; ch < nch; ch++) {
    long s = sf_pad_index(j->o.pad, t + (long)ch - (long)j->o.window, d);
    src[ch] = s < 0 ? NULL : b->in + ((long)(k->unit0 + (size_t)s) - (long)b->first) * (long)j->ue;
  }
  size_t se = k->h * k->w;
  sf_slice_stack(src, nch, se, k->lo, k->hi, j->o.normalize, k->mean, k->std,
                 j->out[b->slot] + slot * nch * j->ue);
  if (k->label[0])
    memcpy(j->outlab[b->slot] + slot * j->ue, j->labels[b->slot] + q * j->ue,
           se * sizeof(int32_t));
  return 0;
}

/* A held error stops the output pass; it is reported after the pass is agreed off. */
static int output_prepare(void *ctx, sf_exec *x, const sf_batch *b) {
  (void)x;
  (void)b;
  return held_error(ctx) ? SF_ERR_INPUT : 0;
}

/* Collective: for every case any rank writes at this step (known from the plan), each rank
 * writes its rows of it, or an empty selection. */
static int output_done(void *ctx, long seg) { return sf_output_segment_done(((sl_job *)ctx)->output, seg); }

static int output_commit(void *ctx, const sf_batch *b) {
  sl_job *j = ctx;
  int status = 0;
  size_t nch = 2 * j->o.window + 1, last = SIZE_MAX;
  for (int r = 0; r < j->nranks; r++) {
    size_t s0, ns;
    sf_plan_rank_segments(&j->plan, r, &s0, &ns);
    if (b->step >= ns) continue;
    size_t f, n;
    sf_plan_segment(&j->plan, s0 + b->step, &f, &n);
    for (size_t c = case_of_unit(j, f); c <= case_of_unit(j, f + n - 1); c++) {
      if (last != SIZE_MAX && c <= last) continue;
      last = c;
      const sl_case *k = &j->cases[c];
      if (k->written == 0) continue;
      /* my written rows of case c in this batch, and their first slot */
      size_t row0 = 0, nrow = 0, slot0 = 0, slot = 0;
      for (size_t q = 0; b->segment >= 0 && q < b->count; q++) {
        size_t u = b->first + q;
        if (j->wrow[u] < 0) continue;
        if (case_of_unit(j, u) == c) {
          if (nrow == 0) {
            row0 = (size_t)j->wrow[u] - k->row0;
            slot0 = slot;
          }
          nrow++;
        }
        slot++;
      }
      const float *img = j->out[b->slot] + slot0 * nch * j->ue;
      SF_CALL(sf_output_write_rows_strided(j->output, j->img_id[c], row0, nrow, H5T_NATIVE_FLOAT,
                                           img, nch * j->ue));
      if (k->label[0])
        SF_CALL(sf_output_write_rows_strided(j->output, j->lab_id[c], row0, nrow,
                                             H5T_NATIVE_INT32,
                                             j->outlab[b->slot] + slot0 * j->ue, j->ue));
    }
  }
  SF_CALL(sf_output_mark_done(j->output, b->segment));
cleanup:
  return status;
}

/* A fixed-size array attribute of doubles. Collective (same values on every rank). */
static int attr_doubles(hid_t obj, const char *name, const double *v, int nd, const hsize_t *dims) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name); /* a resumed output has it */
  hid_t sp = H5Screate_simple(nd, dims, NULL);
  hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, v) : -1;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc < 0 ? SF_ERR_IO : 0;
}

/* The options that change results, as one string (provenance and the resume identity). */
static void options_string(const sl_job *j, char *opts, size_t n) {
  snprintf(opts, n,
           "axis=%d window=%zu pad=%s clip=%s clip-values=%.17g,%.17g normalize=%s skip_empty=%d "
           "split=%.17g,%.17g,%.17g seed=%llu nan_fill=%s buffer-size=%zu",
           j->o.axis, j->o.window, pad_names[j->o.pad],
           j->o.clip == SL_CLIP_NONE ? "none" : j->o.clip == SL_CLIP_VALUES ? "values" : "percentiles",
           j->o.clip_lo, j->o.clip_hi, j->o.normalize ? "zscore-foreground" : "none", j->o.skip_empty,
           j->o.split[0], j->o.split[1], j->o.split[2], (unsigned long long)j->o.seed,
           j->o.nan_fill_set ? "set" : "off", j->o.buffer);
}

/* The run's identity for --resume: every case's image and label files (path, size,
 * modification time) and every option that changes results. */
static char *resume_identity(const sl_job *j) {
  size_t n = 4096 + j->ncases * 2200, k = 0;
  char *id = malloc(n), opts[1024];
  if (!id) return NULL;
  options_string(j, opts, sizeof opts);
  k += (size_t)snprintf(id + k, n - k, "slices input=%s %s cases=%zu", j->o.in, opts, j->ncases);
  for (size_t c = 0; c < j->ncases && k < n; c++) {
    sf_output_identity_file(id, n, &k, j->cases[c].image);
    sf_output_identity_file(id, n, &k, j->cases[c].label[0] ? j->cases[c].label : NULL);
  }
  return id;
}

/* Datasets, attributes, /index and /cases. Collective. */
static int create_output(sl_job *j, int argc, char **argv) {
  int status = 0;
  int32_t *index = NULL;
  char *names = NULL;
  hid_t g = H5I_INVALID_HID, st = H5I_INVALID_HID;
  size_t nch = 2 * j->o.window + 1, total = 0;
  SF_CALL(sf_output_create(j->comm, j->o.out, j->plan.n_segments, &j->output));
  if (sf_output_resumed(j->output) && j->rank == 0)
    fprintf(stderr, "slabflow: slices: resuming %s.partial: %zu of %zu segments already done\n", j->o.out,
            sf_output_segments_done(j->output), j->plan.n_segments);
  SF_ALLOC(j->img_id, j->ncases);
  SF_ALLOC(j->lab_id, j->ncases);
  int32_t lmin = 0, lmax = 0;
  for (size_t c = 0; c < j->ncases; c++) {
    if (!j->cases[c].label[0]) continue;
    lmin = j->cases[c].lab_min < lmin ? j->cases[c].lab_min : lmin;
    lmax = j->cases[c].lab_max > lmax ? j->cases[c].lab_max : lmax;
  }
  j->lab_type = lmin >= 0 && lmax <= 255           ? H5T_STD_U8LE
                : lmin >= -32768 && lmax <= 32767 ? H5T_STD_I16LE
                                                    : H5T_STD_I32LE;
  for (size_t c = 0; c < j->ncases; c++) {
    sl_case *k = &j->cases[c];
    char name[512];
    hsize_t dims[4] = {k->written, nch, k->h, k->w}, chunk[4] = {1, nch, k->h, k->w};
    snprintf(name, sizeof name, "/%s/%s/image", sl_split_names[k->split], k->name);
    SF_CALL(sf_output_add(j->output, name, H5T_IEEE_F32LE, 4, dims, k->written ? chunk : NULL,
                          &j->img_id[c]));
    if (k->label[0]) {
      hsize_t ld[3] = {k->written, k->h, k->w}, lc[3] = {1, k->h, k->w};
      snprintf(name, sizeof name, "/%s/%s/label", sl_split_names[k->split], k->name);
      SF_CALL(sf_output_add(j->output, name, j->lab_type, 3, ld, k->written ? lc : NULL,
                            &j->lab_id[c]));
    }
    snprintf(name, sizeof name, "/%s/%s", sl_split_names[k->split], k->name);
    g = H5Gopen2(sf_output_root(j->output), name, H5P_DEFAULT);
    SF_CHECK(g >= 0, SF_ERR_IO, "%s: cannot open group %s", j->o.out, name);
    double shape[3] = {(double)k->dim[0], (double)k->dim[1], (double)k->dim[2]};
    hsize_t three = 3, four[2] = {4, 4};
    SF_CALL(attr_doubles(g, "shape", shape, 1, &three));
    SF_CALL(attr_doubles(g, "spacing", k->spacing, 1, &three));
    SF_CALL(attr_doubles(g, "affine", k->affine, 2, four));
    double clip[2] = {k->lo, k->hi};
    hsize_t two = 2;
    SF_CALL(attr_doubles(g, "clip", clip, 1, &two));
    SF_CALL(sf_h5_attr_double(g, "mean", k->mean));
    SF_CALL(sf_h5_attr_double(g, "std", k->std));
    SF_CALL(sf_h5_attr_double(g, "min", clampd(k->vmin, k->lo, k->hi)));
    SF_CALL(sf_h5_attr_double(g, "max", clampd(k->vmax, k->lo, k->hi)));
    SF_CALL(sf_h5_attr_double(g, "foreground_voxels", k->fg_voxels));
    SF_CALL(sf_h5_attr_int(g, "slices_written", (long long)k->written));
    SF_CALL(sf_h5_attr_int(g, "slices_skipped", (long long)k->skipped));
    SF_CALL(sf_h5_attr_string(g, "image_file", k->image));
    SF_CALL(sf_h5_attr_string(g, "label_file", k->label));
    SF_CALL(sf_h5_attr_string(g, "image_type", k->itype));
    H5Gclose(g);
    g = H5I_INVALID_HID;
    total += k->written;
  }
  /* /index and /cases, written by rank 0 */
  int idx_id, cases_id;
  hsize_t idims[2] = {total, 3}, cdims[1] = {j->ncases};
  SF_CALL(sf_output_add(j->output, "/index", H5T_STD_I32LE, 2, idims, NULL, &idx_id));
  st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, sizeof j->cases[0].name);
  SF_CALL(sf_output_add(j->output, "/cases", st, 1, cdims, NULL, &cases_id));
  if (j->rank == 0) {
    SF_ALLOC(index, 3 * (total ? total : 1));
    SF_ALLOC(names, j->ncases * sizeof j->cases[0].name);
    for (size_t u = 0; u < j->nunits; u++) {
      if (j->wrow[u] < 0) continue;
      size_t c = case_of_unit(j, u);
      int32_t *row = index + 3 * (size_t)j->wrow[u];
      row[0] = j->cases[c].split;
      row[1] = (int32_t)c;
      row[2] = (int32_t)(u - j->cases[c].unit0);
    }
    for (size_t c = 0; c < j->ncases; c++)
      memcpy(names + c * sizeof j->cases[0].name, j->cases[c].name, sizeof j->cases[0].name);
  }
  SF_CALL(sf_output_write_all(j->output, idx_id, H5T_NATIVE_INT32, index));
  SF_CALL(sf_output_write_all(j->output, cases_id, st, names));
  hid_t root = sf_output_root(j->output);
  char cmd[4096], opts[1024];
  sf_cli_join(argc, argv, cmd, sizeof cmd);
  options_string(j, opts, sizeof opts);
  SF_CALL(sf_h5_attr_string(root, "slabflow_version", SF_VERSION));
  SF_CALL(sf_h5_attr_string(root, "command", "slices"));
  SF_CALL(sf_h5_attr_string(root, "command_line", cmd));
  SF_CALL(sf_h5_attr_string(root, "options", opts));
  SF_CALL(sf_h5_attr_string(root, "input", j->o.in));
  SF_CALL(sf_h5_attr_int(root, "window", (long long)j->o.window));
  SF_CALL(sf_h5_attr_int(root, "channels", (long long)nch));
  SF_CALL(sf_h5_attr_string(root, "padding", pad_names[j->o.pad]));
  SF_CALL(sf_h5_attr_int(root, "axis", j->o.axis));
  SF_CALL(sf_h5_attr_string(root, "normalization", j->o.normalize ? "zscore-foreground" : "none"));
  if (j->o.clip != SL_CLIP_NONE) {
    double cl[2] = {j->o.clip_lo, j->o.clip_hi};
    hsize_t two = 2;
    SF_CALL(attr_doubles(root, j->o.clip == SL_CLIP_VALUES ? "clip" : "clip_percentiles", cl, 1, &two));
  }
  hsize_t three = 3;
  SF_CALL(attr_doubles(root, "split_ratios", j->o.split, 1, &three));
  SF_CALL(sf_h5_attr_string(root, "splits", "train,val,test"));
  SF_CALL(sf_h5_attr_string(root, "index_columns", "split,case,slice"));
  SF_CALL(sf_h5_attr_int(root, "seed", (long long)j->o.seed));
  SF_CALL(sf_h5_attr_int(root, "skip_empty", j->o.skip_empty));
  SF_CALL(sf_h5_attr_int(root, "cases", (long long)j->ncases));
  SF_CALL(sf_h5_attr_int(root, "slices_written", (long long)total));
  SF_CALL(sf_h5_attr_int(root, "slices_skipped", (long long)(j->nunits - total)));
  SF_CALL(sf_h5_attr_int(root, "ranks", j->nranks));
  SF_CALL(sf_h5_attr_int(root, "threads", sf_exec_threads(j->exec)));
cleanup:
  if (g >= 0) H5Gclose(g);
  if (st >= 0) H5Tclose(st);
  free(index);
  free(names);
  return status;
}

/* ---- the command ------------------------------------------------------------------------- */

static int ws_create(void *ctx, int t, void **ws) {
  *ws = NULL;
  return 0;
}
static void ws_destroy(void *ctx, void **ws) { *ws = NULL; }

/* Bytes per stored value of a type named "uint8", "int16", "float64", ... */
static uint64_t type_bytes(const char *name) {
  size_t n = strcspn(name, "0123456789");
  int bits = name[n] ? atoi(name + n) : 64;
  return bits >= 8 ? (uint64_t)bits / 8 : 1;
}

/* The memory this rank will allocate, from the headers and the options, before any of it is
 * (see reg_check_memory in register.c): the per-slice statistics of every slice, the
 * segment buffers, the readers' planes, the percentile histograms. Collective. */
static int check_memory(const sl_job *j) {
  const uint64_t seg = j->plan.seg_units, halo = 2 * (uint64_t)j->o.window, nch = halo + 1;
  const uint64_t ue = j->ue, slots = sf_add_sat(seg, halo);
  sf_mem_budget b;
  sf_mem_budget_init(&b);
  sf_mem_budget_add(&b, j->nunits, 1, 1, sizeof(sl_ustat) + sizeof(long) + sizeof(size_t),
                    "the per-slice statistics of %zu slices", j->nunits);
  if (j->rank == 0)
    sf_mem_budget_add(&b, j->nunits, 3, 1, sizeof(int32_t), "the index of %zu slices", j->nunits);
  sf_mem_budget_add(
      &b, 2, seg, nch, sf_mul_sat(ue, sizeof(float)),
      "2 output buffers of %zu slices of %zu voxels x %zu channels (--buffer-size %zu)",
      j->o.buffer, j->ue, (size_t)nch, j->o.buffer);
  sf_mem_budget_add(&b, 2, seg, ue, sizeof(int32_t), "2 label output buffers of %zu slices",
                    j->o.buffer);
  sf_mem_budget_add(
      &b, 4, slots, ue, sizeof(float),
      "2 input and 2 label buffers of %llu slices of %zu voxels (--buffer-size %zu + 2 x --window %zu)",
      (unsigned long long)slots, j->ue, j->o.buffer, j->o.window);
  /* Readers: a NIfTI reader keeps 2K k-planes of the image, one of the label, and converts a
   * plane at a time; an HDF5 reader, boxes of at least one slice (axis 2: one i-row of it
   * for every slice of a batch). The largest case decides. */
  uint64_t rd = 0;
  size_t rc = 0;
  for (size_t c = 0; c < j->ncases; c++) {
    const sl_case *k = &j->cases[c];
    uint64_t plane = sf_mul_sat(k->dim[0], k->dim[1]), se = sf_mul_sat(k->h, k->w), need = 0;
    for (int lab = 0; lab < 2; lab++) {
      const char *spec = lab ? k->label : k->image;
      if (!*spec) continue;
      uint64_t es = type_bytes(lab ? k->ltype : k->itype);
      if (strstr(spec, ".nii"))
        need = sf_add_sat(
            need, sf_mul_sat(plane, sf_add_sat(sf_mul_sat(lab || !halo ? 1 : halo, es), 4)));
      else
        need = sf_add_sat(need, sf_mul_sat(j->o.axis == 2 ? sf_mul_sat(k->w, slots) : se, es + 4));
    }
    if (need > rd) rd = need, rc = c;
  }
  if (j->ncases)
    sf_mem_budget_add(&b, rd, 1, 1, 1, "the volume readers' planes of %s (%zux%zux%zu)",
                      j->cases[rc].image, j->cases[rc].dim[0], j->cases[rc].dim[1],
                      j->cases[rc].dim[2]);
  if (j->o.clip == SL_CLIP_PERCENTILES) {
    size_t u0, n, cases = 0;
    rank_units(j, j->rank, &u0, &n);
    for (size_t c = 0; c < j->ncases && n; c++) /* the cases this rank's units touch */
      cases += j->cases[c].unit0 < u0 + n && j->cases[c].unit0 + j->cases[c].depth > u0;
    sf_mem_budget_add(&b, cases, SL_NQ, SL_HBINS, sizeof(uint64_t),
                      "the percentile histograms of %zu cases", cases);
  }
  return sf_mpi_check_memory(
      j->comm, &b, j->o.in,
      "a smaller --buffer-size, fewer ranks per node or fewer slices per run need less");
}

/* Rank 0 finds and checks the cases and assigns splits; every rank gets the table. */
static int plan_cases(sl_job *j) {
  int status = 0;
  unsigned long long n = 0;
  if (j->rank == 0) {
    status = sl_find_cases(j->o.in, &j->cases, &j->ncases);
    if (status == 0) status = sl_probe_cases(j->cases, j->ncases, j->o.axis);
    if (status == 0) sl_assign_splits(j->cases, j->ncases, j->o.split, (uint32_t)j->o.seed);
    n = j->ncases;
  }
  SF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, j->comm));
  if (status < 0) return j->rank == 0 ? status : SF_ERR_SILENT + status;
  SF_MPI(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, j->comm));
  j->ncases = n;
  if (j->rank != 0) SF_ALLOC(j->cases, n);
  SF_CALL(sf_mpi_bcast_big(j->cases, n * sizeof *j->cases, MPI_BYTE, 0, j->comm));
  /* Saturating: sizes from headers may not fit; the memory check then refuses them. */
  size_t u = 0, maxse = 1;
  for (size_t c = 0; c < n; c++) {
    sl_case *k = &j->cases[c];
    k->unit0 = u;
    u = (size_t)sf_add_sat(u, k->depth);
    uint64_t se = sf_mul_sat(k->h, k->w);
    maxse = se > maxse ? (size_t)se : maxse;
    k->lo = j->o.clip == SL_CLIP_VALUES ? j->o.clip_lo : -INFINITY;
    k->hi = j->o.clip == SL_CLIP_VALUES ? j->o.clip_hi : INFINITY;
  }
  j->nunits = u;
  j->ue = maxse;
  sf_plan_init(&j->plan, 0, u, j->o.buffer, j->nranks);
  SF_CALL(check_memory(j));
  /* The statistics are gathered with int counts and displacements (MPI). */
  if (u > INT_MAX) {
    status = j->rank == 0 ? sf_error_report(SF_ERR_INPUT, __FILE__, __LINE__, __func__,
                                            "%s: %zu slices along --axis %d in all; slices "
                                            "handles at most %d",
                                            j->o.in, u, j->o.axis, INT_MAX)
                          : SF_ERR_INPUT;
    goto cleanup;
  }
  SF_ALLOC(j->unit_case, u);
  for (size_t c = 0; c < n; c++)
    for (size_t t = 0; t < j->cases[c].depth; t++) j->unit_case[j->cases[c].unit0 + t] = c;
cleanup:
  return status;
}

/* Which slices are written, their rows, and per-case counts. */
static void assign_rows(sl_job *j) {
  long row = 0;
  for (size_t c = 0; c < j->ncases; c++) {
    sl_case *k = &j->cases[c];
    k->row0 = (size_t)row;
    k->written = k->skipped = 0;
    for (size_t t = 0; t < k->depth; t++) {
      size_t u = k->unit0 + t;
      int keep = !(j->o.skip_empty && k->label[0] && !j->ustat[u].labelled);
      j->wrow[u] = keep ? row++ : -1;
      if (keep) k->written++;
      else k->skipped++;
    }
  }
}

/* Checks the output path against every file the run reads (the input, a manifest, each
 * case's image and label) and takes the output's lock. Collective. */
static int check_output(sl_job *j) {
  int status = 0;
  const char **inputs = NULL;
  size_t n = 0;
  if (j->rank == 0) {
    SF_ALLOC(inputs, 1 + 2 * j->ncases);
    inputs[n++] = j->o.in;
    for (size_t c = 0; c < j->ncases; c++) {
      inputs[n++] = j->cases[c].image;
      if (j->cases[c].label[0]) inputs[n++] = j->cases[c].label;
    }
  }
cleanup:
  status = sf_mpi_agree(status, j->comm);
  if (status == 0) status = sf_output_check_path(j->comm, j->o.out, inputs, n);
  free(inputs);
  return status;
}

/* ---- the pipeline -------------------------------------------------------------------- */

static int not_percentiles(void *ctx) { return ((sl_job *)ctx)->o.clip != SL_CLIP_PERCENTILES; }

/* 1. statistics */
static int stats_start(void *ctx) {
  sl_job *j = ctx;
  j->pass = PASS_STATS;
  j->reads = 0;
  return 0;
}

static int stats_stop(void *ctx, int status) {
  sl_job *j = ctx;
  SF_CALL(pass_stop(j, status));
  SF_CALL(gather_ustats(j));
  combine_ranges(j);
cleanup:
  return status;
}

/* 4. moments with the percentile bounds */
static int moments_start(void *ctx) {
  sl_job *j = ctx;
  j->pass = PASS_MOMENTS;
  j->reads = 0;
  return 0;
}

static int moments_stop(void *ctx, int status) {
  sl_job *j = ctx;
  SF_CALL(pass_stop(j, status));
  SF_CALL(gather_ustats(j));
cleanup:
  return status;
}

/* The statistics passes' result, kept for --resume: every unit's statistics, then per case
 * the value and label ranges and the clip bounds. */
typedef struct sl_kept_case {
  double vmin, vmax, lo, hi;
  int32_t lab_min, lab_max;
} sl_kept_case;

static int stats_keep(void *ctx, void **bytes, size_t *n) {
  sl_job *j = ctx;
  int status = 0;
  size_t nu = j->nunits * sizeof(sl_ustat);
  unsigned char *b = NULL;
  SF_ALLOC(b, nu + j->ncases * sizeof(sl_kept_case));
  memcpy(b, j->ustat, nu);
  for (size_t c = 0; c < j->ncases; c++) {
    const sl_case *k = &j->cases[c];
    sl_kept_case kc = {k->vmin, k->vmax, k->lo, k->hi, k->lab_min, k->lab_max};
    memcpy(b + nu + c * sizeof kc, &kc, sizeof kc);
  }
  *bytes = b;
  *n = nu + j->ncases * sizeof(sl_kept_case);
cleanup:
  return status;
}

static int stats_restore(void *ctx, const void *bytes, size_t n) {
  sl_job *j = ctx;
  int status = 0;
  size_t nu = j->nunits * sizeof(sl_ustat);
  SF_CHECK(n == nu + j->ncases * sizeof(sl_kept_case), SF_ERR_INPUT,
           "%s.once: the statistics kept have %zu bytes, this run needs %zu; remove it, or run without --resume",
           j->o.out, n, nu + j->ncases * sizeof(sl_kept_case));
  memcpy(j->ustat, bytes, nu);
  for (size_t c = 0; c < j->ncases; c++) {
    sl_kept_case kc;
    memcpy(&kc, (const unsigned char *)bytes + nu + c * sizeof kc, sizeof kc);
    sl_case *k = &j->cases[c];
    k->vmin = kc.vmin;
    k->vmax = kc.vmax;
    k->lo = kc.lo;
    k->hi = kc.hi;
    k->lab_min = kc.lab_min;
    k->lab_max = kc.lab_max;
  }
cleanup:
  return status;
}

/* 5. the output: statistics combined, rows assigned, the file created. */
static int output_start(void *ctx) {
  sl_job *j = ctx;
  int status = 0;
  combine_moments(j);
  assign_rows(j);
  j->t_stats = MPI_Wtime() - j->t0;
  size_t nch = 2 * j->o.window + 1;
  for (int q = 0; q < 2; q++) {
    SF_ALLOC(j->out[q], j->plan.seg_units * nch * j->ue);
    SF_ALLOC(j->outlab[q], j->plan.seg_units * j->ue);
  }
  SF_CALL(sf_mpi_agree(status, j->comm));
  SF_CALL(create_output(j, j->argc, j->argv));
  j->pass = PASS_OUTPUT;
  j->reads = 0;
  sf_progress_start(&j->prog, j->rank == 0, "slices", "slices", j->nunits);
cleanup:
  return status;
}

static int output_stop(void *ctx, int status) {
  sl_job *j = ctx;
  sf_progress_end(&j->prog);
  sf_vol_close(&j->img);
  sf_vol_close(&j->lab);
  if (status < 0) {
    /* a read error held during the pass is reported here, once, with its own code */
    int rc = agree_read_errors(j);
    if (rc < 0) status = rc;
  }
  return status;
}

int sf_cmd_slices(int argc, char **argv) {
  sl_job job, *j = &job;
  int status = 0;
  memset(j, 0, sizeof *j);
  j->comm = MPI_COMM_WORLD;
  j->img_case = j->lab_case = -1;
  j->bad_unit = j->err_unit = SIZE_MAX;
  j->argc = argc;
  j->argv = argv;
  SF_MPI(MPI_Comm_rank(j->comm, &j->rank));
  SF_MPI(MPI_Comm_size(j->comm, &j->nranks));
  j->t0 = MPI_Wtime();
  double t0 = j->t0;
  int p = parse_opts(argc, argv, j->rank == 0, &j->o);
  if (p == 1) return 0;
  SF_CALL(p);
  SF_CALL(plan_cases(j));
  SF_CALL(check_output(j));
  {
    char *id = resume_identity(j);
    status = sf_output_begin(j->comm, j->o.out, j->o.resume, id ? id : "", j->plan.n_segments);
    free(id);
    SF_CALL(status);
  }
  {
    int local_rank = 0, local_size = 1;
    SF_CALL(sf_mpi_local_rank(j->comm, &local_rank, &local_size));
    sf_exec_config xc = {SF_EXEC_OPENMP, j->o.threads, local_rank, ws_create, ws_destroy, j, j->rank != 0};
    SF_CALL(sf_mpi_agree(sf_exec_create(&xc, &j->exec), j->comm));
  }
  size_t seg_slots = j->plan.seg_units + 2 * j->o.window;
  for (int q = 0; q < 2; q++) SF_ALLOC(j->labels[q], seg_slots * j->ue);
  SF_ALLOC(j->ustat, j->nunits);
  SF_ALLOC(j->wrow, j->nunits);
  {
    sf_source_reader rd = {j, sl_read};
    SF_CALL(sf_source_custom(j->comm, &rd, j->ue, j->o.in, &j->src));
  }
  {
    /* Passes 1-4 gather per-slice statistics; pass 5 writes (commit(k-1) during compute(k)). */
    const sf_step steps[] = {
        {.name = "statistics", .kind = SF_STEP_PER_UNIT, .start = stats_start,
         .unit = stats_unit, .stop = stats_stop},
        {.name = "percentiles (high bits)", .kind = SF_STEP_PER_UNIT, .skip = not_percentiles,
         .start = hist_hi_start, .finish = hist_finish, .stop = hist_hi_stop},
        {.name = "percentiles (low bits)", .kind = SF_STEP_PER_UNIT, .skip = not_percentiles,
         .start = hist_lo_start, .finish = hist_finish, .stop = hist_lo_stop},
        {.name = "moments", .kind = SF_STEP_PER_UNIT, .skip = not_percentiles,
         .start = moments_start, .unit = stats_unit, .stop = moments_stop,
         .keep = stats_keep, .restore = stats_restore, .keep_steps = 4},
        {.name = "slices", .kind = SF_STEP_PER_UNIT, .halo = j->o.window, .start = output_start,
         .prepare = output_prepare, .unit = output_unit, .commit = output_commit, .overlap = 1,
         .stop = output_stop, .done = output_done, .prog = &j->prog},
    };
    sf_pipeline pl = {j->comm, j, j->exec, j->src, &j->plan, steps, sizeof steps / sizeof *steps};
    SF_CALL(sf_pipeline_run(&pl, NULL));
  }
  size_t nch = 2 * j->o.window + 1;
  double t1 = MPI_Wtime();
  j->t_out = t1 - t0 - j->t_stats;
  status = sf_output_finish(&j->output, 0);
  if (status == 0 && j->rank == 0) {
    size_t written = 0;
    for (size_t c = 0; c < j->ncases; c++) written += j->cases[c].written;
    double mb = 0;
    for (size_t c = 0; c < j->ncases; c++)
      mb += (double)j->cases[c].written * (double)(nch * j->cases[c].h * j->cases[c].w) * 4e-6;
    double secs = MPI_Wtime() - t0;
    printf("slabflow slices: %zu cases, %zu slices along axis %d (window %zu, %s), %d rank(s) x %d "
           "thread(s)\n  %zu slices written, %zu skipped; %.1f slices/s, %.1f MB/s (%.2f s: "
           "statistics %.2f, slices %.2f)\n  output: %s\n",
           j->ncases, j->nunits, j->o.axis, j->o.window, pad_names[j->o.pad], j->nranks,
           sf_exec_threads(j->exec), written, j->nunits - written, (double)written / secs,
           mb / secs, secs, j->t_stats, j->t_out, j->o.out);
  }
cleanup:
  if (j->output) sf_output_finish(&j->output, status < 0 ? status : SF_ERR_IO);
  sf_vol_close(&j->img);
  sf_vol_close(&j->lab);
  sf_source_close(&j->src);
  sf_exec_destroy(&j->exec);
  for (int q = 0; q < 2; q++) {
    free(j->labels[q]);
    free(j->out[q]);
    free(j->outlab[q]);
  }
  free(j->cases);
  free(j->unit_case);
  free(j->ustat);
  free(j->wrow);
  free(j->pct);
  free(j->hist);
  free(j->img_id);
  free(j->lab_id);
  return status;
}
