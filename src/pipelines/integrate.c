/* `slabflow integrate`: azimuthal integration of X-ray detector image stacks (specs/
 * integrate.md, pyFAI's geometry and CSR integration). The unit is one frame. The pipeline:
 *   1. run once on rank 0: the PONI geometry, mask, dark and flat read and checked, the CSR
 *      table(s) built, and shared with every rank;
 *   2. per frame: the stored chunk (read raw by the I/O thread, H5Dread_chunk) decoded by the
 *      node's threads — bitshuffle-LZ4, LZ4, deflate or none — or, for any other filter, the
 *      frame as HDF5 and its plugins decode it; then the sparse products; the results of a
 *      batch written collectively while the next is computed.
 * Every frame's result depends only on the frame and the table, so the output is the same
 * for any rank and thread count. */
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_args.h"
#include "io/h5_check.h"
#include "io/h5_util.h"
#include "io/poni.h"
#include "kernels/azim.h"
#include "kernels/azim_errmodel.h"
#include "kernels/chunk_decode.h"
#include "kernels/dtype_convert.h"
#include "mpi/engine.h"
#include "mpi/h5_output.h"
#include "mpi/mem_check.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "mpi/mpi_local.h"
#include "mpi/plan.h"
#include "mpi/progress.h"
#include "mpi/unit_source.h"
#include "node/exec.h"
#include "pipelines/pipelines.h"
#include "sf_error.h"

static const char *const k_units[] = {"2th_deg", "2th_rad", "q_nm^-1", "q_A^-1", "r_mm", NULL};
static const char *const k_splits[] = {"no", "bbox", "full", NULL};
static const char *const k_errmodels[] = {"poisson", "azimuthal", "none", NULL};
enum { ERR_POISSON = 0, ERR_AZIMUTHAL = 1, ERR_NONE = 2 };

typedef struct in_opts {
  const char *in, *out, *dataset, *poni, *mask, *dark, *flat;
  size_t bins, azim_bins, buffer;
  int unit, split, error_model, solid_angle, save_sums, threads, resume;
  double polarization, dummy, delta_dummy;
  double radial[2], azimuth[2];
} in_opts;

/* One thread's buffers: the decoded chunk, the frame as float (only for the types the kernels
 * do not read in place, sf_azim_dtype_direct), the sums of the 1-D and 2-D tables. */
typedef struct in_ws {
  unsigned char *raw;
  float *frame;
  sf_azim_sums s1, s2;
  double *sums;
} in_ws;

typedef struct in_job {
  in_opts o;
  MPI_Comm comm;
  int rank, nranks;
  const sf_source_meta *m;
  size_t npix, esz;
  sf_chunk_codec codec;
  int raw;                 /* frames read as stored chunks (else through H5Dread) */
  sf_azim_geom geom;
  sf_poni poni;
  sf_azim a1, a2;          /* 1-D and (with --azimuth-bins) 2-D tables */
  uint8_t *mask;           /* npix, rank 0 during setup */
  float *dark, *flat;      /* npix or NULL */
  int have_dark;
  sf_exec *exec;
  sf_plan plan;
  sf_progress prog;
  /* per-batch results by slot */
  float *I[2], *sigma[2], *I2d[2];
  double *sums[2];         /* 3 x seg x nbins: signal, normalisation, variance */
  sf_output *out;
  int id_I, id_sigma, id_I2d, id_sum[3], id_radial, id_count, id_azim;
  /* the first corrupt frame met on this rank */
  size_t bad_frame;
  char bad_why[256];
  double t_start, t_setup;
  int argc;
  char **argv;
} in_job;

static void in_help(void) {
  printf(
      "usage: slabflow integrate IN.h5 -o OUT.h5 --poni FILE.poni [options]\n"
      "\n"
      "Azimuthal integration of a detector image stack (T,H,W), pyFAI's integrate1d (and\n"
      "integrate2d with --azimuth-bins) with its CSR engine: every frame becomes /I and /sigma\n"
      "(T, bins) float32 over /radial (bins, with a unit attribute); /count (bins) is the\n"
      "pixels' total weight per bin. Frames are spread over the ranks in segments of\n"
      "--buffer-size; compressed chunks (bitshuffle-LZ4, LZ4, deflate) are read as stored and\n"
      "decoded by the node's threads.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output FILE.h5        output file (written as FILE.h5.partial, renamed when done)\n"
      "  --poni FILE.poni            geometry (pyFAI PONI, version 1 or 2) [required]\n"
      "  --dataset PATH              frames (T,H,W) [/entry/data/data]\n"
      "  --mask FILE.h5:/ds | none   invalid pixels (nonzero) [the input's\n"
      "                              /entry/instrument/detector/pixel_mask when present]\n"
      "  --dummy V                   pixels of value V are invalid in that frame [none]\n"
      "  --delta-dummy D             ... and those within D of it [0]\n"
      "  --dark F.h5:/ds             dark current subtracted from every frame [none]\n"
      "  --flat F.h5:/ds             flat field (divides, in the normalisation) [none]\n"
      "  --bins N                    radial bins [1000]\n"
      "  --unit U                    2th_deg, 2th_rad, q_nm^-1, q_A^-1 or r_mm [q_nm^-1]\n"
      "  --split no|bbox|full        pixel splitting [bbox, pyFAI's \"csr\"]\n"
      "  --polarization P            polarisation factor in [-1, 1] [none: no correction]\n"
      "  --no-solid-angle            no solid-angle correction [corrected]\n"
      "  --error-model M             poisson: variance max(I, 1) (+ dark) per pixel; azimuthal:\n"
      "                              the spread of a bin's pixels around its mean (pyFAI's);\n"
      "                              none: sigma 0 [poisson]\n"
      "  --radial-range LO:HI        radial range in the unit [the data's]\n"
      "  --azimuth-range LO:HI       chi range in degrees [all]\n"
      "  --azimuth-bins M            also a 2-D cake /I2d (T, M, bins) over /azimuthal [none]\n"
      "  --save-sums                 also /sum_signal, /sum_normalization, /sum_variance\n"
      "                              (T, bins) float64\n"
      "  --threads N                 OpenMP threads per rank [OMP_NUM_THREADS or all cores]\n"
      "  --buffer-size N             frames per segment [32]\n"
      "  --resume                    continue OUT.h5.partial of an interrupted run (same inputs and\n"
      "                              options; any rank and thread count): segments marked done\n"
      "                              are kept, the others computed\n"
      "  -h, --help                  this text\n"
      "\n"
      "Exit codes: 0 done, 2 bad usage or input, 3 I/O error (a corrupt chunk), 4 out of\n"
      "memory, 5 interrupted (OUT.h5.partial kept for --resume).\n");
}

/* "LO:HI" of two finite doubles with LO < HI. */
static int parse_range(int verbose, const char *opt, const char *s, double *r) {
  const char *colon = strchr(s, ':');
  if (colon) {
    char lo[64];
    size_t n = (size_t)(colon - s);
    if (n > 0 && n < sizeof lo) {
      memcpy(lo, s, n);
      lo[n] = 0;
      if (sf_cli_double(0, opt, lo, -1e300, 1e300, &r[0]) == 0 &&
          sf_cli_double(0, opt, colon + 1, -1e300, 1e300, &r[1]) == 0 && r[0] < r[1])
        return 0;
    }
  }
  return sf_cli_usage_error(verbose, "%s: expected LO:HI with LO < HI, got '%s'", opt, s);
}

static int in_parse(int argc, char **argv, int verbose, in_opts *o, int *help) {
  enum { O_PONI = 256, O_DATASET, O_MASK, O_DUMMY, O_DDUMMY, O_DARK, O_FLAT, O_BINS, O_UNIT,
         O_SPLIT, O_POL, O_NOSA, O_ERR, O_RR, O_AR, O_AB, O_SUMS, O_THR, O_BUF, O_RESUME };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'},       {"poni", required_argument, 0, O_PONI},
      {"dataset", required_argument, 0, O_DATASET}, {"mask", required_argument, 0, O_MASK},
      {"dummy", required_argument, 0, O_DUMMY},     {"delta-dummy", required_argument, 0, O_DDUMMY},
      {"dark", required_argument, 0, O_DARK},       {"flat", required_argument, 0, O_FLAT},
      {"bins", required_argument, 0, O_BINS},       {"unit", required_argument, 0, O_UNIT},
      {"split", required_argument, 0, O_SPLIT},     {"polarization", required_argument, 0, O_POL},
      {"no-solid-angle", no_argument, 0, O_NOSA},   {"error-model", required_argument, 0, O_ERR},
      {"radial-range", required_argument, 0, O_RR}, {"azimuth-range", required_argument, 0, O_AR},
      {"azimuth-bins", required_argument, 0, O_AB}, {"save-sums", no_argument, 0, O_SUMS},
      {"threads", required_argument, 0, O_THR},     {"buffer-size", required_argument, 0, O_BUF},
      {"resume", no_argument, 0, O_RESUME},
      {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
  int status = 0, c;
  memset(o, 0, sizeof *o);
  o->dataset = "/entry/data/data";
  o->bins = 1000;
  o->unit = SF_UNIT_Q_NM;
  o->split = SF_SPLIT_BBOX;
  o->solid_angle = 1;
  o->polarization = NAN;
  o->dummy = NAN;
  o->delta_dummy = 0.0;
  o->radial[0] = o->radial[1] = NAN;
  o->azimuth[0] = o->azimuth[1] = NAN;
  o->buffer = 32;
  *help = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
    size_t th = 0;
    switch (c) {
    case 'o': o->out = optarg; break;
    case 'h': *help = 1; return 0;
    case O_PONI: o->poni = optarg; break;
    case O_DATASET: o->dataset = optarg; break;
    case O_MASK: o->mask = optarg; break;
    case O_DUMMY: SF_CALL(sf_cli_double(verbose, "--dummy", optarg, -1e300, 1e300, &o->dummy)); break;
    case O_DDUMMY: SF_CALL(sf_cli_double(verbose, "--delta-dummy", optarg, 0.0, 1e300, &o->delta_dummy)); break;
    case O_DARK: o->dark = optarg; break;
    case O_FLAT: o->flat = optarg; break;
    case O_BINS: SF_CALL(sf_cli_size(verbose, "--bins", optarg, 1, 1u << 24, &o->bins)); break;
    case O_UNIT: SF_CALL(sf_cli_choice(verbose, "--unit", optarg, k_units, &o->unit)); break;
    case O_SPLIT: SF_CALL(sf_cli_choice(verbose, "--split", optarg, k_splits, &o->split)); break;
    case O_POL: SF_CALL(sf_cli_double(verbose, "--polarization", optarg, -1.0, 1.0, &o->polarization)); break;
    case O_NOSA: o->solid_angle = 0; break;
    case O_ERR: SF_CALL(sf_cli_choice(verbose, "--error-model", optarg, k_errmodels, &o->error_model)); break;
    case O_RR: SF_CALL(parse_range(verbose, "--radial-range", optarg, o->radial)); break;
    case O_AR: SF_CALL(parse_range(verbose, "--azimuth-range", optarg, o->azimuth)); break;
    case O_AB: SF_CALL(sf_cli_size(verbose, "--azimuth-bins", optarg, 1, 1u << 16, &o->azim_bins)); break;
    case O_SUMS: o->save_sums = 1; break;
    case O_THR: SF_CALL(sf_cli_size(verbose, "--threads", optarg, 1, 4096, &th)); o->threads = (int)th; break;
    case O_BUF: SF_CALL(sf_cli_size(verbose, "--buffer-size", optarg, 1, 1u << 20, &o->buffer)); break;
    case O_RESUME: o->resume = 1; break;
    case '?':
    default:
      status = sf_cli_bad_option(verbose, "integrate", c, argc, argv, lo);
      goto cleanup;
    }
  }
  if (optind < argc) o->in = argv[optind++];
  SF_CHECK(o->in || !verbose, SF_ERR_USAGE, "integrate: no input file given (see --help)");
  if (!o->in) SF_FAIL_QUIET(SF_ERR_USAGE);
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "integrate: unexpected argument '%s'", argv[optind]));
  if (!o->out) SF_CALL(sf_cli_usage_error(verbose, "integrate: no output file given (-o OUT.h5)"));
  if (!o->poni) SF_CALL(sf_cli_usage_error(verbose, "integrate: no geometry given (--poni FILE.poni)"));
  if (o->azimuth[0] == o->azimuth[0] && (o->azimuth[0] < -360 || o->azimuth[1] > 360))
    SF_CALL(sf_cli_usage_error(verbose, "--azimuth-range: degrees within -360..360, got %g:%g",
                               o->azimuth[0], o->azimuth[1]));
cleanup:
  return status;
}

/* ---- run once: geometry, mask, dark, flat, tables (rank 0) ----------------------------- */

/* Splits "FILE.h5:/ds" into file and dataset (default ds when no ":/"). */
static void split_spec(const char *spec, char *file, size_t n, const char **ds, const char *def) {
  snprintf(file, n, "%s", spec);
  char *colon = strrchr(file, ':');
  *ds = def;
  if (colon && colon[1] == '/') {
    *colon = 0;
    *ds = spec + (colon - file) + 1;
  }
}

/* Rank 0 reads an (H,W) image spec as dtype t into buf (npix values); what names it. */
static int read_image(const in_job *j, const char *spec, const char *what, sf_dtype t, void *buf) {
  int status = 0;
  hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char file[4096];
  const char *ds;
  split_spec(spec, file, sizeof file, &ds, "/data");
  SF_H5_AS(SF_ERR_INPUT, f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT), "%s: cannot open the %s file",
           file, what);
  SF_CHECK(H5Lexists(f, ds, H5P_DEFAULT) > 0, SF_ERR_INPUT, "%s: no dataset %s (the %s)", file, ds, what);
  SF_H5_AS(SF_ERR_INPUT, d = H5Dopen2(f, ds, H5P_DEFAULT), "%s:%s: cannot open the %s", file, ds, what);
  SF_H5_AS(SF_ERR_INPUT, sp = H5Dget_space(d), "%s:%s: no dataspace", file, ds);
  hsize_t dims[3] = {0, 0, 0};
  int nd = H5Sget_simple_extent_ndims(sp);
  SF_CHECK(nd == 2, SF_ERR_INPUT, "%s:%s: the %s must be 2-D (H,W), found %d dimensions", file, ds, what, nd);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  SF_CHECK(dims[0] == j->m->h && dims[1] == j->m->w, SF_ERR_INPUT,
           "%s:%s: the %s is %llux%llu but the frames are %zux%zu", file, ds, what,
           (unsigned long long)dims[0], (unsigned long long)dims[1], j->m->h, j->m->w);
  SF_H5_AS(SF_ERR_INPUT, H5Dread(d, sf_h5_native_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf),
           "%s:%s: reading the %s failed", file, ds, what);
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  return status;
}

/* The input's own NeXus pixel mask, when it has one (rank 0): 1 read, 0 none. */
static int read_nexus_mask(in_job *j, uint8_t *mask) {
  static const char *ds = "/entry/instrument/detector/pixel_mask";
  int status = 0, found = 0;
  hid_t f = H5Fopen(j->o.in, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  htri_t e = H5Lexists(f, "/entry", H5P_DEFAULT) > 0 && H5Lexists(f, "/entry/instrument", H5P_DEFAULT) > 0 &&
             H5Lexists(f, "/entry/instrument/detector", H5P_DEFAULT) > 0
                 ? H5Lexists(f, ds, H5P_DEFAULT)
                 : 0;
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  if (e > 0) {
    char spec[4200];
    snprintf(spec, sizeof spec, "%s:%s", j->o.in, ds);
    status = read_image(j, spec, "pixel mask", SF_DTYPE_U8, mask);
    found = status == 0;
  }
  return status < 0 ? status : found;
}

/* What the frames' chunks are and whether slabflow decodes them itself: the source's
 * description (rank 0's look at open, the same on every rank), for one dataset or every part
 * of a master file alike. Local. */
static void probe_chunks(in_job *j, const sf_source *src) {
  int filter = 0, one_frame = 0;
  unsigned cd[16];
  size_t ncd = 16, nf = 0;
  j->raw = 0;
  memset(&j->codec, 0, sizeof j->codec);
  if (sf_source_chunk_filter(src, &filter, cd, &ncd, &nf, &one_frame) < 0 || !one_frame || nf > 1) return;
  if (nf == 1) {
    if (filter != SF_FILTER_DEFLATE && filter != SF_FILTER_LZ4 && filter != SF_FILTER_BITSHUFFLE) return;
    if (filter == SF_FILTER_BITSHUFFLE && ncd >= 5 && cd[4] != 2) return; /* not LZ4 inside */
    j->codec.filter = filter;
  }
  j->codec.elem_size = j->esz;
  j->raw = 1;
}

/* A table build's per-range phases as units of the executor: any thread count gives the
 * same table (sf_azim_builder). */
typedef struct in_build {
  sf_azim_builder *b;
  int (*phase)(sf_azim_builder *b, size_t k);
} in_build;

static int build_unit(void *ctx, void *ws, const sf_batch *batch, size_t k) {
  (void)ws, (void)batch;
  in_build *x = ctx;
  return x->phase(x->b, k);
}

/* Builds a table on the node's threads (ranges of pixel rows, about 4 per thread so that
 * uneven rows balance). Local; on the calling thread, the executor idle. */
static int build_table(in_job *j, const sf_azim_opts *ao, sf_azim *a, const char **why) {
  int status = 0;
  int nt = sf_exec_threads(j->exec);
  in_build x = {NULL, NULL};
  SF_CALL(sf_azim_builder_create(&j->geom, ao, j->mask, j->flat, nt > 1 ? 4 * (size_t)nt : 1, &x.b, why));
  size_t n = sf_azim_builder_ranges(x.b);
  x.phase = sf_azim_builder_geometry;
  SF_CALL(sf_exec_run(j->exec, NULL, n, build_unit, &x));
  x.phase = sf_azim_builder_extent;
  SF_CALL(sf_exec_run(j->exec, NULL, n, build_unit, &x));
  SF_CALL(sf_azim_builder_bounds(x.b, why));
  x.phase = sf_azim_builder_emit;
  SF_CALL(sf_exec_run(j->exec, NULL, n, build_unit, &x));
  SF_CALL(sf_azim_builder_layout(x.b, why));
  x.phase = sf_azim_builder_fill;
  SF_CALL(sf_exec_run(j->exec, NULL, n, build_unit, &x));
  x.phase = sf_azim_builder_index;
  SF_CALL(sf_exec_run(j->exec, NULL, n, build_unit, &x));
  SF_CALL(sf_azim_builder_finish(x.b, a));
cleanup:
  sf_azim_builder_destroy(&x.b);
  return status;
}

/* The run-once step on rank 0: geometry from the PONI file, mask, dark, flat, tables. */
static int setup_once(void *ctx) {
  in_job *j = ctx;
  int status = 0;
  const char *why = NULL;
  SF_CALL(sf_poni_read(j->o.poni, &j->poni));
  if (j->poni.shape[0] && (j->poni.shape[0] != j->m->h || j->poni.shape[1] != j->m->w))
    SF_CHECK(0, SF_ERR_INPUT, "%s: the detector (%s) is %zux%zu but the frames of %s:%s are %zux%zu",
             j->o.poni, j->poni.detector, j->poni.shape[0], j->poni.shape[1], j->o.in, j->o.dataset,
             j->m->h, j->m->w);
  SF_CHECK(j->poni.wavelength > 0 || (j->o.unit != SF_UNIT_Q_NM && j->o.unit != SF_UNIT_Q_A),
           SF_ERR_INPUT, "%s: no Wavelength, which --unit %s needs", j->o.poni, k_units[j->o.unit]);
  sf_azim_geom *g = &j->geom;
  g->dist = j->poni.dist;
  g->poni1 = j->poni.poni1;
  g->poni2 = j->poni.poni2;
  g->rot1 = j->poni.rot1;
  g->rot2 = j->poni.rot2;
  g->rot3 = j->poni.rot3;
  g->wavelength = j->poni.wavelength;
  g->pixel1 = j->poni.pixel1;
  g->pixel2 = j->poni.pixel2;
  g->h = j->m->h;
  g->w = j->m->w;
  SF_ALLOC(j->mask, j->npix);
  if (j->o.mask && strcmp(j->o.mask, "none"))
    SF_CALL(read_image(j, j->o.mask, "mask", SF_DTYPE_U8, j->mask));
  else if (!j->o.mask)
    SF_CALL(read_nexus_mask(j, j->mask));
  if (j->o.dark) {
    SF_ALLOC(j->dark, j->npix);
    SF_CALL(read_image(j, j->o.dark, "dark", SF_DTYPE_F32, j->dark));
  }
  if (j->o.flat) {
    SF_ALLOC(j->flat, j->npix);
    SF_CALL(read_image(j, j->o.flat, "flat", SF_DTYPE_F32, j->flat));
  }
  sf_azim_opts ao = {(sf_azim_unit)j->o.unit, (sf_azim_split)j->o.split, j->o.bins, 0,
                     j->o.radial[0], j->o.radial[1], j->o.azimuth[0], j->o.azimuth[1],
                     j->o.polarization, j->o.solid_angle};
  status = build_table(j, &ao, &j->a1, &why);
  SF_CHECK(status == 0, status, "%s: %s", j->o.in, why ? why : "cannot build the integration table");
  if (j->o.azim_bins) {
    ao.azimuth_bins = j->o.azim_bins;
    status = build_table(j, &ao, &j->a2, &why);
    SF_CHECK(status == 0, status, "%s: %s", j->o.in, why ? why : "cannot build the 2-D table");
  }
cleanup:
  free(j->mask);
  j->mask = NULL;
  return status;
}

/* The CSR arrays of a table of shape hdr (h, w, nrows, nbins, nazim, nnz), allocated in a.
 * Returns 0 or SF_ERR_NOMEM. Local. */
static int alloc_table(sf_azim *a, const unsigned long long *hdr) {
  a->h = hdr[0];
  a->w = hdr[1];
  a->npix = a->h * a->w;
  a->nrows = hdr[2];
  a->nbins = hdr[3];
  a->nazim = hdr[4];
  a->nnz = hdr[5];
  a->indptr = malloc((a->nrows + 1) * sizeof *a->indptr);
  a->indices = malloc((a->nnz ? a->nnz : 1) * sizeof *a->indices);
  a->data = malloc((a->nnz ? a->nnz : 1) * sizeof *a->data);
  a->norm = malloc((a->npix ? a->npix : 1) * sizeof *a->norm);
  a->radial = malloc((a->nbins ? a->nbins : 1) * sizeof *a->radial);
  a->azimuthal = a->nazim ? malloc(a->nazim * sizeof *a->azimuthal) : NULL;
  int ok = a->indptr && a->indices && a->data && a->norm && a->radial && (!a->nazim || a->azimuthal);
  return ok ? 0 : SF_ERR_NOMEM;
}

/* Every rank gets rank 0's table (shapes first, then the arrays). Collective. */
static int share_table(sf_azim *a, MPI_Comm comm, int rank) {
  int status = 0;
  unsigned long long hdr[7] = {a->h, a->w, a->nrows, a->nbins, a->nazim, a->nnz, a->pix_row != NULL};
  SF_MPI(MPI_Bcast(hdr, 7, MPI_UNSIGNED_LONG_LONG, 0, comm));
  SF_CALL(sf_mpi_agree(rank != 0 ? alloc_table(a, hdr) : 0, comm));
  SF_CALL(sf_mpi_bcast_big(a->indptr, a->nrows + 1, MPI_INT32_T, 0, comm));
  SF_CALL(sf_mpi_bcast_big(a->indices, a->nnz, MPI_INT32_T, 0, comm));
  SF_CALL(sf_mpi_bcast_big(a->data, a->nnz, MPI_FLOAT, 0, comm));
  SF_CALL(sf_mpi_bcast_big(a->norm, a->npix, MPI_FLOAT, 0, comm));
  SF_CALL(sf_mpi_bcast_big(a->radial, a->nbins, MPI_DOUBLE, 0, comm));
  if (a->nazim) SF_CALL(sf_mpi_bcast_big(a->azimuthal, a->nazim, MPI_DOUBLE, 0, comm));
  SF_CALL(sf_mpi_agree(rank != 0 ? sf_azim_index(a, (int)hdr[6]) : 0, comm));
cleanup:
  return status;
}

static int setup_share(void *ctx, MPI_Comm comm) {
  in_job *j = ctx;
  int status = 0;
  int have_dark = j->dark != NULL;
  SF_MPI(MPI_Bcast(&have_dark, 1, MPI_INT, 0, comm));
  j->have_dark = have_dark;
  SF_MPI(MPI_Bcast(&j->geom, (int)sizeof j->geom, MPI_BYTE, 0, comm));
  SF_MPI(MPI_Bcast(&j->poni, (int)sizeof j->poni, MPI_BYTE, 0, comm));
  SF_CALL(share_table(&j->a1, comm, j->rank));
  if (j->o.azim_bins) SF_CALL(share_table(&j->a2, comm, j->rank));
  if (j->have_dark) {
    if (j->rank != 0) j->dark = malloc(j->npix * sizeof *j->dark);
    SF_CALL(sf_mpi_agree(j->dark ? 0 : SF_ERR_NOMEM, comm));
    SF_CALL(sf_mpi_bcast_big(j->dark, j->npix, MPI_FLOAT, 0, comm));
  }
cleanup:
  return status;
}

/* The run-once step's result, kept for --resume: the geometry, the tables (CSR part; the
 * internal part is made again by sf_azim_index, as on the ranks it is sent to) and the dark
 * image. A byte writer and reader for it. */
typedef struct in_bytes {
  unsigned char *p;
  size_t n, cap;
  int err;
} in_bytes;

static void put(in_bytes *b, const void *src, size_t n) {
  if (b->err || n == 0) return;
  if (b->n + n > b->cap) {
    size_t cap = (b->cap ? 2 * b->cap : 1 << 16);
    while (cap < b->n + n) cap *= 2;
    unsigned char *q = realloc(b->p, cap);
    if (!q) {
      b->err = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void get(in_bytes *b, void *dst, size_t n) {
  if (n == 0) return;
  if (b->err || n > b->cap - b->n) {
    b->err = 1;
    return;
  }
  memcpy(dst, b->p + b->n, n);
  b->n += n;
}

static void put_table(in_bytes *b, const sf_azim *a) {
  unsigned long long hdr[7] = {a->h, a->w, a->nrows, a->nbins, a->nazim, a->nnz, a->pix_row != NULL};
  put(b, hdr, sizeof hdr);
  put(b, a->indptr, (a->nrows + 1) * sizeof *a->indptr);
  put(b, a->indices, a->nnz * sizeof *a->indices);
  put(b, a->data, a->nnz * sizeof *a->data);
  put(b, a->norm, a->npix * sizeof *a->norm);
  put(b, a->radial, a->nbins * sizeof *a->radial);
  put(b, a->azimuthal, a->nazim * sizeof *a->azimuthal);
}

static int get_table(in_bytes *b, sf_azim *a) {
  unsigned long long hdr[7] = {0};
  get(b, hdr, sizeof hdr);
  if (b->err || hdr[1] == 0 || hdr[0] > SIZE_MAX / hdr[1] || hdr[2] >= INT32_MAX || hdr[5] > b->cap) return SF_ERR_INPUT;
  memset(a, 0, sizeof *a);
  if (alloc_table(a, hdr) < 0) return SF_ERR_NOMEM;
  get(b, a->indptr, (a->nrows + 1) * sizeof *a->indptr);
  get(b, a->indices, a->nnz * sizeof *a->indices);
  get(b, a->data, a->nnz * sizeof *a->data);
  get(b, a->norm, a->npix * sizeof *a->norm);
  get(b, a->radial, a->nbins * sizeof *a->radial);
  get(b, a->azimuthal, a->nazim * sizeof *a->azimuthal);
  if (b->err) return SF_ERR_INPUT;
  return sf_azim_index(a, (int)hdr[6]);
}

static int setup_keep(void *ctx, void **bytes, size_t *n) {
  in_job *j = ctx;
  in_bytes b = {0};
  int have[2] = {j->have_dark, j->o.azim_bins != 0};
  put(&b, have, sizeof have);
  put(&b, &j->geom, sizeof j->geom);
  put(&b, &j->poni, sizeof j->poni);
  put_table(&b, &j->a1);
  if (have[1]) put_table(&b, &j->a2);
  if (have[0]) put(&b, j->dark, j->npix * sizeof *j->dark);
  if (b.err) {
    free(b.p);
    return sf_error_report(SF_ERR_NOMEM, __FILE__, __LINE__, __func__, "out of memory keeping the integration table");
  }
  *bytes = b.p;
  *n = b.n;
  return 0;
}

static int setup_restore(void *ctx, const void *bytes, size_t n) {
  in_job *j = ctx;
  int status = 0, have[2] = {0, 0};
  in_bytes b = {(unsigned char *)bytes, 0, n, 0};
  get(&b, have, sizeof have);
  get(&b, &j->geom, sizeof j->geom);
  get(&b, &j->poni, sizeof j->poni);
  int rc = b.err || have[1] != (j->o.azim_bins != 0) ? SF_ERR_INPUT : get_table(&b, &j->a1);
  if (rc == 0 && have[1]) rc = get_table(&b, &j->a2);
  if (rc == 0 && have[0]) {
    j->dark = malloc(j->npix * sizeof *j->dark);
    rc = j->dark ? 0 : SF_ERR_NOMEM;
    get(&b, j->dark, j->npix * sizeof *j->dark);
  }
  j->have_dark = have[0];
  if (rc == 0 && (b.err || b.n != n)) rc = SF_ERR_INPUT;
  SF_CHECK(rc != SF_ERR_NOMEM, rc, "out of memory restoring the integration table");
  SF_CHECK(rc == 0, rc, "%s.once: the integration table kept does not fit this run; remove it, or run without "
           "--resume", j->o.out);
cleanup:
  return status;
}

/* ---- per frame ---------------------------------------------------------------------------- */

static void in_ws_destroy(void *ctx, void **p);

static int in_ws_create(void *ctx, int t, void **out) {
  int status = 0;
  in_job *j = ctx;
  in_ws *w = NULL;
  (void)t;
  SF_ALLOC(w, 1);
  SF_ALLOC(w->raw, j->npix * j->esz);
  if (!sf_azim_dtype_direct(j->m->dtype)) SF_ALLOC(w->frame, j->npix);
  *out = w;
  w = NULL;
cleanup:
  if (w) in_ws_destroy(ctx, (void **)&w);
  return status;
}

static void in_ws_destroy(void *ctx, void **p) {
  (void)ctx;
  in_ws *w = *p;
  if (!w) return;
  free(w->raw);
  free(w->frame);
  free(w->sums);
  free(w);
  *p = NULL;
}

/* The sums of a workspace for tables a1 (and a2), made on first use (the tables arrive after
 * the workspaces). */
static int ws_sums(in_job *j, in_ws *w) {
  if (w->sums) return 0;
  size_t n1 = j->a1.nrows, n2 = j->o.azim_bins ? j->a2.nrows : 0;
  w->sums = malloc(4 * (n1 + n2) * sizeof(double) + 1);
  if (!w->sums) return SF_ERR_NOMEM;
  double *p = w->sums;
  w->s1 = (sf_azim_sums){p, p + n1, p + 2 * n1, p + 3 * n1};
  p += 4 * n1;
  w->s2 = (sf_azim_sums){p, p + n2, p + 2 * n2, p + 3 * n2};
  return 0;
}

/* Frame k of the batch: decoded (raw chunks), integrated into its slot; read in its stored
 * type (float32, uint32, uint16, int32), any other type converted to float first. */
static int frame_unit(void *ctx, void *wsp, const sf_batch *b, size_t k) {
  in_job *j = ctx;
  in_ws *w = wsp;
  int q = b->slot;
  size_t nb = j->a1.nbins, seg = j->o.buffer;
  const void *src;
  sf_dtype t;
  if (ws_sums(j, w) < 0) return SF_ERR_NOMEM;
  if (b->raw) {
    const char *why = NULL;
    if (sf_chunk_decode(&j->codec, b->raw_filters[k], b->raw + b->raw_off[k], b->raw_len[k], w->raw,
                        j->npix * j->esz, &why) < 0) {
      /* held: the first corrupt frame of this rank is reported once, after the step */
      size_t f = b->first + k;
#pragma omp critical(sf_integrate_bad)
      if (f < j->bad_frame) {
        j->bad_frame = f;
        snprintf(j->bad_why, sizeof j->bad_why, "%s", why ? why : "cannot be decoded");
      }
      return SF_ERR_IO;
    }
    src = w->raw;
    t = j->m->dtype;
  } else {
    src = sf_batch_unit(b, (long)k);
    t = b->dtype;
  }
  if (!sf_azim_dtype_direct(t)) {
    if (!w->frame && !(w->frame = malloc(j->npix * sizeof(float)))) return SF_ERR_NOMEM;
    sf_dtype_to_float(t, src, w->frame, j->npix);
    src = w->frame;
    t = SF_DTYPE_F32;
  }
  const float *dark = j->have_dark ? j->dark : NULL;
  sf_azim_integrate_typed(&j->a1, src, t, dark, j->o.dummy, j->o.delta_dummy, &w->s1);
  if (j->o.error_model == ERR_AZIMUTHAL)
    sf_azim_variance_azimuthal_typed(&j->a1, src, t, dark, j->o.dummy, j->o.delta_dummy, &w->s1);
  float *sig = j->sigma[q] + k * nb;
  sf_azim_result(&j->a1, &w->s1, j->I[q] + k * nb, sig);
  if (j->o.error_model == ERR_NONE)
    for (size_t i = 0; i < nb; i++) sig[i] = 0.0f;
  if (j->o.save_sums) {
    double *s = j->sums[q];
    memcpy(s + (0 * seg + k) * nb, w->s1.signal, nb * sizeof(double));
    memcpy(s + (1 * seg + k) * nb, w->s1.norm, nb * sizeof(double));
    memcpy(s + (2 * seg + k) * nb, w->s1.variance, nb * sizeof(double));
  }
  if (j->o.azim_bins) {
    sf_azim_integrate_typed(&j->a2, src, t, dark, j->o.dummy, j->o.delta_dummy, &w->s2);
    sf_azim_result(&j->a2, &w->s2, j->I2d[q] + k * j->a2.nrows, NULL); /* the cake keeps no sigma */
  }
  return 0;
}

/* Collective: the batch's rows of every per-frame dataset, and its done mark. */
static int frames_done(void *ctx, long seg) { return sf_output_segment_done(((in_job *)ctx)->out, seg); }

static int frames_commit(void *ctx, const sf_batch *b) {
  in_job *j = ctx;
  int status = 0, q = b->slot;
  size_t seg = j->o.buffer, nb = j->a1.nbins;
  SF_CALL(sf_output_write_rows(j->out, j->id_I, b->first, b->count, H5T_NATIVE_FLOAT, j->I[q]));
  SF_CALL(sf_output_write_rows(j->out, j->id_sigma, b->first, b->count, H5T_NATIVE_FLOAT, j->sigma[q]));
  if (j->o.save_sums)
    for (int s = 0; s < 3; s++)
      SF_CALL(sf_output_write_rows(j->out, j->id_sum[s], b->first, b->count, H5T_NATIVE_DOUBLE,
                                   j->sums[q] + (size_t)s * seg * nb));
  if (j->o.azim_bins)
    SF_CALL(sf_output_write_rows(j->out, j->id_I2d, b->first, b->count, H5T_NATIVE_FLOAT, j->I2d[q]));
  SF_CALL(sf_output_mark_done(j->out, b->segment));
cleanup:
  return status;
}

/* The options that change results, as one string (provenance and the resume identity). */
static void options_string(const in_opts *o, char *opts, size_t n) {
  snprintf(opts, n,
           "dataset=%s poni=%s mask=%s dark=%s flat=%s bins=%zu unit=%s split=%s polarization=%.17g "
           "solid-angle=%d error-model=%s radial-range=%.17g:%.17g azimuth-range=%.17g:%.17g azimuth-bins=%zu "
           "dummy=%.17g delta-dummy=%.17g buffer-size=%zu save-sums=%d",
           o->dataset, o->poni, o->mask ? o->mask : "-", o->dark ? o->dark : "-", o->flat ? o->flat : "-",
           o->bins, k_units[o->unit], k_splits[o->split], o->polarization, o->solid_angle,
           k_errmodels[o->error_model], o->radial[0], o->radial[1], o->azimuth[0], o->azimuth[1],
           o->azim_bins, o->dummy, o->delta_dummy, o->buffer, o->save_sums);
}

static int write_attrs(in_job *j, const char *backend, const double *t) {
  int status = 0;
  hid_t root = sf_output_root(j->out);
  char cmd[8192], opts[2048];
  const in_opts *o = &j->o;
  sf_cli_join(j->argc, j->argv, cmd, sizeof cmd);
  options_string(o, opts, sizeof opts);
  SF_CALL(sf_h5_attr_string(root, "slabflow_version", SF_VERSION));
  SF_CALL(sf_h5_attr_string(root, "command", "integrate"));
  SF_CALL(sf_h5_attr_string(root, "command_line", cmd));
  SF_CALL(sf_h5_attr_string(root, "options", opts));
  SF_CALL(sf_h5_attr_string(root, "input", j->m->path));
  SF_CALL(sf_h5_attr_string(root, "backend", backend));
  SF_CALL(sf_h5_attr_string(root, "chunks", j->raw ? (j->codec.filter == SF_FILTER_BITSHUFFLE ? "raw, bitshuffle-lz4"
                                                        : j->codec.filter == SF_FILTER_LZ4 ? "raw, lz4"
                                                        : j->codec.filter == SF_FILTER_DEFLATE ? "raw, deflate"
                                                                                               : "raw, none")
                                                    : "H5Dread"));
  SF_CALL(sf_h5_attr_int(root, "ranks", j->nranks));
  SF_CALL(sf_h5_attr_int(root, "threads", sf_exec_threads(j->exec)));
  SF_CALL(sf_h5_attr_uint64(root, "csr_nnz", j->a1.nnz));
  static const char *names[] = {"time_setup_s", "time_table_s", "time_read_s", "time_compute_s",
                                "time_write_s", "time_wait_s", "time_total_s"};
  for (int i = 0; i < 7; i++) SF_CALL(sf_h5_attr_double(root, names[i], t[i]));
cleanup:
  return sf_mpi_agree(status, j->comm);
}

/* The per-frame step's start: the output, every dataset at its final size. Collective. */
static int frames_start(void *ctx) {
  in_job *j = ctx;
  int status = 0;
  size_t T = j->m->t, nb = j->a1.nbins, seg = j->o.buffer;
  for (int q = 0; q < 2; q++) {
    j->I[q] = malloc(seg * nb * sizeof(float));
    j->sigma[q] = malloc(seg * nb * sizeof(float));
    if (j->o.save_sums) j->sums[q] = malloc(3 * seg * nb * sizeof(double));
    if (j->o.azim_bins) j->I2d[q] = malloc(seg * j->a2.nrows * sizeof(float));
    if (!j->I[q] || !j->sigma[q] || (j->o.save_sums && !j->sums[q]) || (j->o.azim_bins && !j->I2d[q]))
      status = SF_ERR_NOMEM;
  }
  SF_CALL(sf_mpi_agree(status, j->comm));
  SF_CALL(sf_output_create(j->comm, j->o.out, j->plan.n_segments, &j->out));
  if (sf_output_resumed(j->out) && j->rank == 0)
    fprintf(stderr, "slabflow: integrate: resuming %s.partial: %zu of %zu segments already done\n", j->o.out,
            sf_output_segments_done(j->out), j->plan.n_segments);
  hsize_t dims[3] = {T, nb, 0}, chunk[3] = {1, nb, 0}, one[1] = {nb};
  SF_CALL(sf_output_add(j->out, "/radial", H5T_NATIVE_DOUBLE, 1, one, NULL, &j->id_radial));
  SF_CALL(sf_output_add(j->out, "/count", H5T_NATIVE_DOUBLE, 1, one, NULL, &j->id_count));
  SF_CALL(sf_output_add(j->out, "/I", H5T_NATIVE_FLOAT, 2, dims, chunk, &j->id_I));
  SF_CALL(sf_output_add(j->out, "/sigma", H5T_NATIVE_FLOAT, 2, dims, chunk, &j->id_sigma));
  if (j->o.save_sums) {
    static const char *sn[3] = {"/sum_signal", "/sum_normalization", "/sum_variance"};
    for (int s = 0; s < 3; s++)
      SF_CALL(sf_output_add(j->out, sn[s], H5T_NATIVE_DOUBLE, 2, dims, chunk, &j->id_sum[s]));
  }
  if (j->o.azim_bins) {
    hsize_t d2[3] = {T, j->o.azim_bins, nb}, c2[3] = {1, j->o.azim_bins, nb}, m1[1] = {j->o.azim_bins};
    SF_CALL(sf_output_add(j->out, "/azimuthal", H5T_NATIVE_DOUBLE, 1, m1, NULL, &j->id_azim));
    SF_CALL(sf_output_add(j->out, "/I2d", H5T_NATIVE_FLOAT, 3, d2, c2, &j->id_I2d));
  }
  sf_progress_start(&j->prog, j->rank == 0, "integrate", "frames", T);
cleanup:
  return status;
}

/* The per-frame step's stop: a held corrupt chunk reported once (the lowest frame), else the
 * frame-independent datasets. Collective. */
static int frames_stop(void *ctx, int status) {
  in_job *j = ctx;
  sf_progress_end(&j->prog);
  unsigned long long mine = j->bad_frame == SIZE_MAX ? ~0ull : j->bad_frame;
  unsigned long long first = sf_mpi_min_u64(mine, j->comm);
  if (first != ~0ull) {
    if (first == mine)
      sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__, "%s:%s: the chunk of frame %llu is corrupt: %s",
                      j->m->path, j->m->dataset, first, j->bad_why);
    return SF_ERR_IO;
  }
  if (status < 0) return status;
  double *count = malloc(j->a1.nbins * sizeof *count);
  status = sf_mpi_agree(count ? 0 : SF_ERR_NOMEM, j->comm);
  if (status < 0) {
    free(count);
    return status;
  }
  for (size_t r = 0; r < j->a1.nbins; r++) {
    double c = 0;
    for (int32_t e = j->a1.indptr[r]; e < j->a1.indptr[r + 1]; e++) c += j->a1.data[e];
    count[r] = c;
  }
  status = sf_output_write_all(j->out, j->id_radial, H5T_NATIVE_DOUBLE, j->a1.radial);
  if (status == 0) status = sf_output_write_all(j->out, j->id_count, H5T_NATIVE_DOUBLE, count);
  if (status == 0 && j->o.azim_bins)
    status = sf_output_write_all(j->out, j->id_azim, H5T_NATIVE_DOUBLE, j->a2.azimuthal);
  if (status == 0) {
    hid_t d = H5Dopen2(sf_output_root(j->out), "/radial", H5P_DEFAULT);
    status = d >= 0 ? sf_h5_attr_string(d, "unit", k_units[j->o.unit]) : SF_ERR_IO;
    if (d >= 0) H5Dclose(d);
    status = sf_mpi_agree(status, j->comm);
  }
  free(count);
  return status;
}

int sf_cmd_integrate(int argc, char **argv) {
  int status = 0, help = 0;
  in_job job, *j = &job;
  sf_source *src = NULL;
  memset(j, 0, sizeof *j);
  j->comm = MPI_COMM_WORLD;
  j->bad_frame = SIZE_MAX;
  j->argc = argc;
  j->argv = argv;
  SF_MPI(MPI_Barrier(j->comm));
  j->t_start = MPI_Wtime();
  SF_MPI(MPI_Comm_rank(j->comm, &j->rank));
  SF_MPI(MPI_Comm_size(j->comm, &j->nranks));
  status = in_parse(argc, argv, j->rank == 0, &j->o, &help);
  if (help) {
    if (j->rank == 0) in_help();
    return 0;
  }
  if (status < 0) return status;
  SF_CALL(sf_source_open(j->comm, j->o.in, j->o.dataset, 1, &src));
  j->m = sf_source_get_meta(src);
  if (j->m->ndims != 3 || j->m->c != 1)
    SF_CALL(sf_cli_usage_error(j->rank == 0, "%s:%s: integrate needs frames (T,H,W), found 4 dimensions",
                               j->m->path, j->m->dataset));
  {
    const char *inputs[5] = {j->o.in, j->o.poni, j->o.mask, j->o.dark, j->o.flat};
    SF_CALL(sf_output_check_path(j->comm, j->o.out, inputs, 5));
  }
  j->npix = j->m->h * j->m->w;
  j->esz = sf_dtype_size(j->m->dtype);
  probe_chunks(j, src);
  {
    /* the big items: per thread a decoded chunk and a float frame; the input batches */
    uint64_t threads = j->o.threads > 0 ? (uint64_t)j->o.threads : (uint64_t)omp_get_max_threads();
    sf_mem_budget b;
    sf_mem_budget_init(&b);
    sf_mem_budget_add(&b, 2, j->o.buffer, j->npix, sizeof(float), "2 input buffers of %zu frames of %zux%zu",
                      j->o.buffer, j->m->h, j->m->w);
    sf_mem_budget_add(&b, threads, j->npix, j->esz + sizeof(float), 1, "the frame buffers of %llu threads",
                      (unsigned long long)threads);
    sf_mem_budget_add(&b, 3, j->npix, 2 * sizeof(float) + sizeof(int32_t), 1,
                      "the integration table of %zux%zu pixels", j->m->h, j->m->w);
    char what[4700];
    snprintf(what, sizeof what, "%s:%s", j->m->path, j->m->dataset);
    SF_CALL(sf_mpi_check_memory(j->comm, &b, what, "a smaller --buffer-size or fewer --threads need less"));
  }
  {
    int local_rank = 0, local_size = 1;
    SF_CALL(sf_mpi_local_rank(j->comm, &local_rank, &local_size));
    sf_exec_config xc = {SF_EXEC_OPENMP, j->o.threads, local_rank, in_ws_create, in_ws_destroy, j, j->rank != 0};
    SF_CALL(sf_mpi_agree(sf_exec_create(&xc, &j->exec), j->comm));
  }
  sf_plan_init(&j->plan, 0, j->m->t, j->o.buffer, j->nranks);
  SF_CALL(sf_plan_bcast(&j->plan, j->comm));
  {
    /* --resume: the inputs (frames, geometry, mask, dark, flat) and every option that changes
     * results */
    char id[16384], opts[4096];
    size_t k = (size_t)snprintf(id, sizeof id, "integrate inputs");
    const char *files[5] = {j->o.in, j->o.poni, j->o.mask, j->o.dark, j->o.flat};
    for (int f = 0; f < 5; f++) sf_output_identity_file(id, sizeof id, &k, files[f]);
    options_string(&j->o, opts, sizeof opts);
    if (k < sizeof id) snprintf(id + k, sizeof id - k, " %s", opts);
    SF_CALL(sf_output_begin(j->comm, j->o.out, j->o.resume, id, j->plan.n_segments));
  }
  j->t_setup = MPI_Wtime() - j->t_start;
  double t_table = 0;
  sf_phase_times tm[2];
  sf_run_info info = {tm, ""};
  {
    /* two pipelines: the run-once step builds the tables that size the per-frame step's
     * buffers (made in its start) */
    sf_step once = {.name = "integration table", .kind = SF_STEP_ONCE, .once = setup_once,
                    .share = setup_share, .keep = setup_keep, .restore = setup_restore};
    sf_pipeline p1 = {j->comm, j, j->exec, src, &j->plan, &once, 1};
    SF_CALL(sf_pipeline_run(&p1, NULL));
    t_table = MPI_Wtime() - j->t_start - j->t_setup;
    sf_step frames = {.name = "frames", .kind = SF_STEP_PER_UNIT,
                      .payload = j->raw ? SF_PAYLOAD_RAW : SF_PAYLOAD_NATIVE, .start = frames_start,
                      .unit = frame_unit, .commit = frames_commit, .overlap = 1, .stop = frames_stop,
                      .done = frames_done,
                      .prog = &j->prog};
    sf_pipeline p2 = {j->comm, j, j->exec, src, &j->plan, &frames, 1};
    SF_CALL(sf_pipeline_run(&p2, &info));
  }
  {
    double local[4] = {tm[0].read, tm[0].compute, tm[0].commit, tm[0].wait}, mx[4];
    SF_MPI(MPI_Allreduce(local, mx, 4, MPI_DOUBLE, MPI_MAX, j->comm));
    double total = MPI_Wtime() - j->t_start;
    SF_MPI(MPI_Bcast(&total, 1, MPI_DOUBLE, 0, j->comm));
    double times[7] = {j->t_setup, t_table, mx[0], mx[1], mx[2], mx[3], total};
    SF_CALL(write_attrs(j, info.backend, times));
    status = sf_output_finish(&j->out, 0);
    if (status == 0 && j->rank == 0) {
      printf("slabflow integrate: %zu frames of %zux%zu %s, %zu bins of %s (%s split%s), %d rank(s) x %d thread(s)\n",
             j->m->t, j->m->h, j->m->w, sf_dtype_name(j->m->dtype), j->o.bins, k_units[j->o.unit],
             k_splits[j->o.split], j->o.azim_bins ? ", 2-D" : "", j->nranks, sf_exec_threads(j->exec));
      printf("  %.1f frames/s overall (%.2f s: setup %.2f, table %.2f, read %.2f, compute %.2f, write %.2f, "
             "wait %.2f); chunks %s\n",
             (double)j->m->t / total, total, j->t_setup, t_table, mx[0], mx[1], mx[2], mx[3],
             j->raw ? "read raw, decoded by the threads" : "read through HDF5");
      printf("  output: %s (/I, /sigma, /radial, /count%s%s)\n", j->o.out,
             j->o.save_sums ? ", /sum_*" : "", j->o.azim_bins ? ", /I2d, /azimuthal" : "");
      fflush(stdout);
    }
  }
cleanup:
  status = sf_output_finish(&j->out, status);
  sf_exec_destroy(&j->exec);
  sf_azim_free(&j->a1);
  sf_azim_free(&j->a2);
  for (int q = 0; q < 2; q++) {
    free(j->I[q]);
    free(j->sigma[q]);
    free(j->sums[q]);
    free(j->I2d[q]);
  }
  free(j->dark);
  free(j->flat);
  free(j->mask);
  sf_source_close(&src);
  return status;
}
