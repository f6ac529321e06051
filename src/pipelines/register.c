/* `slabflow register`: motion correction of a video (spec register.md). This file declares
 * the job's steps: options, the run-once reference (distributed, reduced in a fixed order),
 * the per-frame step (rigid shift by phase correlation, warp), and the output layout. */
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_args.h"
#include "io/h5_check.h"
#include "io/h5_storage.h"
#include "io/h5_util.h"
#include "kernels/dtype_convert.h"
#include "kernels/warp_shift.h"
#include "kernels/xcorr_rigid.h"
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
#include "pipelines/register_impl.h"
#include "sf_error.h"


static const char *const k_methods[] = {"rigid", "flow", NULL};
static const char *const k_quality[] = {"fast", "balanced", "quality", NULL};
static const char *const k_constancy[] = {"gc", "gray", NULL};
static const char *const k_norm[] = {"joint", "separate", NULL};
static const char *const k_interps[] = {"linear", "cubic", NULL};
static const char *const k_backends[] = {"cpu", "cuda", "auto", NULL}; /* REG_BACKEND_* */

/* Prints `slabflow register --help`. */
static void reg_help(void) {
  printf(
      "usage: slabflow register IN.h5|IN.tif -o OUT.h5 [options]\n"
      "\n"
      "Motion correction of a video (T,H,W) or (T,H,W,C): every frame is registered to a\n"
      "reference and written to OUT.h5 as /registered (input shape and dtype) with\n"
      "/reference. --method flow (variational optical flow, Flow-Registration's algorithm)\n"
      "adds /stats/{mean_disp,max_disp,mean_div,mean_translation} (T,) and, on request, /flow\n"
      "(T,H,W,2) float32 and /valid (T,H,W) uint8 (1 = sampled inside the frame); --method\n"
      "rigid adds /shifts (T,2). Displacements are [u=x, v=y] in the backward convention\n"
      "registered(y,x) = frame(y+v, x+u). Run it under mpirun/srun; frames are spread over\n"
      "ranks in segments of --buffer-size frames.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output FILE.h5        output file (written as FILE.h5.partial, renamed when done)\n"
      "  --method flow|rigid         motion model [flow]\n"
      "  --dataset PATH              HDF5 dataset of the input [/data]\n"
      "  --reference-frames A:B      frames averaged into the reference, clipped to the\n"
      "                              recording (all frames when it is shorter) [50:499]\n"
      "  --reference-file F.h5[:/ds] use this image (H,W[,C]) as the reference [/reference]\n"
      "  --interp linear|cubic       warp interpolation (out-of-bounds pixels from the\n"
      "                              reference) [cubic]\n"
      "  --weight W1,W2,...          per-channel weights of the motion estimate [equal]\n"
      "  --buffer-size N             frames per segment: unit of distribution, of the initial\n"
      "                              flow and of the done marks [flow 128, rigid 64]\n"
      "  --threads N                 OpenMP threads per rank [OMP_NUM_THREADS or all cores]\n"
      "  --backend cpu|cuda|auto     where the per-frame step runs: cuda puts each rank on\n"
      "                              device (local rank mod devices) and stops (exit 2) when a\n"
      "                              rank sees none; auto uses the CPU on such ranks, with a\n"
      "                              warning [cpu]. Both methods have a device version (not\n"
      "                              yet validated on a device; flow solves each level in\n"
      "                              red-black order there; --cc-init and --a-smooth run\n"
      "                              there too)\n"
      "  --resume                    continue OUT.h5.partial of an interrupted run (same input and\n"
      "                              options; any rank and thread count): its reference and the\n"
      "                              segments marked done are kept, the others computed\n"
      "flow options:\n"
      "  --quality fast|balanced|quality  finest pyramid level 6, 4 or 0 [quality]\n"
      "  --min-level N               finest pyramid level, overrides --quality [-1: preset]\n"
      "  --alpha A | AX,AY           smoothness weight, > 0 [1.5,1.5]\n"
      "  --levels N                  most pyramid levels per axis [100]\n"
      "  --eta E                     downsampling factor per level, in (0,1] [0.8]\n"
      "  --iterations N              SOR sweeps per level [50]\n"
      "  --update-lag N              sweeps between nonlinearity updates [5]\n"
      "  --a-data A | A1,A2,...      data-term exponent per channel, in (0,1] [0.45]\n"
      "  --a-smooth A                smoothness exponent, >= 0 [1]\n"
      "  --sigma S | SY,SX,ST        Gaussian preprocessing, px and frames [1,1,0.1]\n"
      "  --constancy gc|gray         gradient or brightness constancy [gc]\n"
      "  --normalization joint|separate  normalise by the reference range over all channels\n"
      "                              or per channel [joint]\n"
      "  --save-flow                 write /flow\n"
      "  --save-valid                write /valid\n"
      "  --cc-init                   rigid prealignment by phase correlation [off]\n"
      "  --cc-hw N                   size the prealignment works at [256]\n"
      "rigid (and --cc-init) options:\n"
      "  --cc-up N                   subpixel upsampling of the correlation peak, 1/N px [20]\n"
      "  --cc-sigma S                Gaussian smoothing of the correlation, px [1.5]\n"
      "  -h, --help                  this help\n"
      "\n"
      "exit codes: 0 done, 2 bad usage or bad input, 3 I/O failure, 4 out of memory,\n"
      "5 interrupted (the partial output is kept as OUT.h5.partial).\n"
      "progress: rank 0's stderr; SLABFLOW_PROGRESS_SECONDS sets the interval in batch logs.\n");
}

/* Parses "A" or "A1,A2,..." (at most max values), each in (lo_excl, hi]. */
static int parse_pos_list(int verbose, const char *opt, const char *s, double lo_excl, double hi,
                          double *out, size_t max, size_t *n) {
  size_t k = 0;
  const char *p = s;
  while (p && *p) {
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || (*end && *end != ',') || k >= max) break;
    if (!(v > lo_excl && v <= hi))
      return sf_cli_usage_error(verbose, "%s: every value must be in (%g, %g], got '%s'", opt, lo_excl, hi, s);
    out[k++] = v;
    p = *end ? end + 1 : end;
  }
  if (k == 0 || (p && *p))
    return max == 1 ? sf_cli_usage_error(verbose, "%s: expected a number, got '%s'", opt, s ? s : "")
                    : sf_cli_usage_error(verbose, "%s: expected up to %zu comma-separated numbers, got '%s'",
                                         opt, max, s ? s : "");
  *n = k;
  return 0;
}

/* Parses the register options into o; prints problems when verbose. */
static int reg_parse(int argc, char **argv, int verbose, reg_opts *o, int *help) {
  enum { O_METHOD = 256, O_DATASET, O_REFFR, O_REFFILE, O_CCUP, O_CCSIG, O_INTERP, O_BUF, O_THR, O_W,
         O_QUAL, O_MINL, O_ALPHA, O_LEVELS, O_ETA, O_ITER, O_LAG, O_ADATA, O_ASMOOTH, O_SIGMA,
         O_CONST, O_NORM, O_SFLOW, O_SVALID, O_CCINIT, O_CCHW, O_RESUME, O_BACKEND };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'},    {"method", required_argument, 0, O_METHOD},
      {"dataset", required_argument, 0, O_DATASET}, {"reference-frames", required_argument, 0, O_REFFR},
      {"reference-file", required_argument, 0, O_REFFILE}, {"cc-up", required_argument, 0, O_CCUP},
      {"cc-sigma", required_argument, 0, O_CCSIG}, {"interp", required_argument, 0, O_INTERP},
      {"buffer-size", required_argument, 0, O_BUF}, {"threads", required_argument, 0, O_THR},
      {"weight", required_argument, 0, O_W},    {"quality", required_argument, 0, O_QUAL},
      {"min-level", required_argument, 0, O_MINL}, {"alpha", required_argument, 0, O_ALPHA},
      {"levels", required_argument, 0, O_LEVELS}, {"eta", required_argument, 0, O_ETA},
      {"iterations", required_argument, 0, O_ITER}, {"update-lag", required_argument, 0, O_LAG},
      {"a-data", required_argument, 0, O_ADATA}, {"a-smooth", required_argument, 0, O_ASMOOTH},
      {"sigma", required_argument, 0, O_SIGMA}, {"constancy", required_argument, 0, O_CONST},
      {"normalization", required_argument, 0, O_NORM}, {"save-flow", no_argument, 0, O_SFLOW},
      {"save-valid", no_argument, 0, O_SVALID}, {"cc-init", no_argument, 0, O_CCINIT},
      {"cc-hw", required_argument, 0, O_CCHW},  {"resume", no_argument, 0, O_RESUME},
      {"backend", required_argument, 0, O_BACKEND},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int status = 0, c;
  memset(o, 0, sizeof *o);
  o->method = REG_FLOW;
  o->dataset = "/data";
  o->ref_a = 50;
  o->ref_b = 499;
  o->cc_up = 20;
  o->cc_sigma = 1.5;
  o->interp = 1;
  o->quality = 2;
  o->min_level = -1;
  o->alpha[0] = o->alpha[1] = 1.5;
  o->levels = 100;
  o->eta = 0.8;
  o->iterations = 50;
  o->update_lag = 5;
  o->a_data[0] = 0.45;
  o->n_a_data = 1;
  o->a_smooth = 1.0;
  o->sigma[0] = o->sigma[1] = 1.0;
  o->sigma[2] = 0.1;
  o->cc_hw = 256;
  *help = 0;
  opterr = 0;
  optind = 1;
  /* ':' first: a missing value comes back as ':', not '?', so its option can be named */
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
    size_t th = 0, n = 0;
    double v[3];
    switch (c) {
    case 'o': o->out = optarg; break;
    case 'h': *help = 1; return 0;
    case O_METHOD: SF_CALL(sf_cli_choice(verbose, "--method", optarg, k_methods, &o->method)); break;
    case O_DATASET: o->dataset = optarg; break;
    case O_REFFR: SF_CALL(sf_cli_range(verbose, "--reference-frames", optarg, &o->ref_a, &o->ref_b)); break;
    case O_REFFILE: o->ref_file = optarg; break;
    case O_CCUP: SF_CALL(sf_cli_size(verbose, "--cc-up", optarg, 1, 1000, &o->cc_up)); break;
    case O_CCSIG: SF_CALL(sf_cli_double(verbose, "--cc-sigma", optarg, 0.0, 100.0, &o->cc_sigma)); break;
    case O_INTERP: SF_CALL(sf_cli_choice(verbose, "--interp", optarg, k_interps, &o->interp)); break;
    case O_BUF: SF_CALL(sf_cli_size(verbose, "--buffer-size", optarg, 1, 1u << 20, &o->buffer)); break;
    case O_THR: SF_CALL(sf_cli_size(verbose, "--threads", optarg, 1, 4096, &th)); o->threads = (int)th; break;
    case O_W: SF_CALL(sf_cli_double_list(verbose, "--weight", optarg, o->weight, REG_MAX_CH, &o->n_weight)); break;
    case O_QUAL: SF_CALL(sf_cli_choice(verbose, "--quality", optarg, k_quality, &o->quality)); break;
    case O_MINL: SF_CALL(sf_cli_size(verbose, "--min-level", optarg, 0, 1000, &th)); o->min_level = (long)th; break;
    case O_ALPHA:
      SF_CALL(parse_pos_list(verbose, "--alpha", optarg, 0.0, 1e6, v, 2, &n));
      o->alpha[0] = v[0];
      o->alpha[1] = n == 2 ? v[1] : v[0];
      break;
    case O_LEVELS: SF_CALL(sf_cli_size(verbose, "--levels", optarg, 1, 1000, &th)); o->levels = (long)th; break;
    case O_ETA:
      SF_CALL(parse_pos_list(verbose, "--eta", optarg, 0.0, 1.0, v, 1, &n));
      o->eta = v[0];
      break;
    case O_ITER: SF_CALL(sf_cli_size(verbose, "--iterations", optarg, 1, 100000, &th)); o->iterations = (long)th; break;
    case O_LAG: SF_CALL(sf_cli_size(verbose, "--update-lag", optarg, 1, 100000, &th)); o->update_lag = (long)th; break;
    case O_ADATA: SF_CALL(parse_pos_list(verbose, "--a-data", optarg, 0.0, 1.0, o->a_data, REG_MAX_CH, &o->n_a_data)); break;
    case O_ASMOOTH: SF_CALL(sf_cli_double(verbose, "--a-smooth", optarg, 0.0, 10.0, &o->a_smooth)); break;
    case O_SIGMA:
      SF_CALL(sf_cli_double_list(verbose, "--sigma", optarg, v, 3, &n));
      if (n == 2) SF_CALL(sf_cli_usage_error(verbose, "--sigma: expected S or SY,SX,ST, got '%s'", optarg));
      o->sigma[0] = v[0];
      o->sigma[1] = n == 3 ? v[1] : v[0];
      o->sigma[2] = n == 3 ? v[2] : 0.1;
      for (int i = 0; i < 3; i++)
        if (o->sigma[i] > 40) SF_CALL(sf_cli_usage_error(verbose, "--sigma: at most 40, got '%s'", optarg));
      break;
    case O_CONST: SF_CALL(sf_cli_choice(verbose, "--constancy", optarg, k_constancy, &o->constancy)); break;
    case O_NORM: SF_CALL(sf_cli_choice(verbose, "--normalization", optarg, k_norm, &o->separate_norm)); break;
    case O_SFLOW: o->save_flow = 1; break;
    case O_SVALID: o->save_valid = 1; break;
    case O_CCINIT: o->cc_init = 1; break;
    case O_CCHW: SF_CALL(sf_cli_size(verbose, "--cc-hw", optarg, 8, 1u << 16, &o->cc_hw)); break;
    case O_RESUME: o->resume = 1; break;
    case O_BACKEND: SF_CALL(sf_cli_choice(verbose, "--backend", optarg, k_backends, &o->backend)); break;
    case '?':
    default:
      status = sf_cli_bad_option(verbose, "register", c, argc, argv, lo);
      goto cleanup;
    }
  }
  if (!o->buffer) o->buffer = o->method == REG_FLOW ? 128 : 64;
  if (optind < argc) o->in = argv[optind++];
  SF_CHECK(o->in || !verbose, SF_ERR_USAGE, "register: no input file given (see --help)");
  if (!o->in) SF_FAIL_QUIET(SF_ERR_USAGE);
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "register: unexpected argument '%s'", argv[optind]));
  if (!o->out) SF_CALL(sf_cli_usage_error(verbose, "register: no output file given (-o OUT.h5)"));
cleanup:
  return status;
}

/* ---- the job's state (register_impl.h) ------------------------------------ */

static void reg_ws_destroy(void *ctx, void **p);

/* Per-thread workspace: the method's buffers. */
static int reg_ws_create(void *ctx, int t, void **out) {
  int status = 0;
  reg_job *j = ctx;
  reg_ws *w = NULL;
  (void)t;
  SF_ALLOC(w, 1);
  SF_CALL(j->meth->ws_create(j, w));
  *out = w;
  w = NULL;
cleanup:
  if (w) reg_ws_destroy(ctx, (void **)&w);
  return status;
}

/* Frees a workspace made by reg_ws_create. */
static void reg_ws_destroy(void *ctx, void **p) {
  reg_job *j = ctx;
  reg_ws *w = *p;
  if (!w) return;
  j->meth->ws_destroy(w);
  free(w);
  *p = NULL;
}

/* ---- the per-frame step ------------------------------------------------------ */

/* Main pass commit: collective writes of the batch (registered frames and the method's
 * datasets) and its done mark. It runs on the I/O thread while the next batch is computed,
 * so it reads only b and the batch's own slot, never b->data. */
static int main_commit(void *ctx, const sf_batch *b) {
  reg_job *j = ctx;
  int status = 0;
  const reg_slot *sl = reg_slot_of(j, b);
  SF_CALL(sf_output_write_rows(j->out, j->id_reg, b->first, b->count, sf_h5_native_type(j->m->dtype), sl->outbuf));
  SF_CALL(j->meth->commit(j, b));
  SF_CALL(sf_output_mark_done(j->out, b->segment));
cleanup:
  return status;
}

/* Run-once step on rank 0: loads --reference-file F.h5[:/ds] (H,W[,C]) and checks its shape;
 * the engine broadcasts it. */
static int load_reference_file(void *ctx) {
  reg_job *j = ctx;
  float *ref = j->ref;
  int status = 0;
  hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char path[4096];
  {
    snprintf(path, sizeof path, "%s", j->o.ref_file);
    char *colon = strrchr(path, ':');
    const char *ds = "/reference";
    if (colon && colon[1] == '/') {
      *colon = 0;
      ds = colon + 1;
    }
    SF_H5_AS(SF_ERR_INPUT, f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT),
             "%s: cannot open the reference file", path);
    SF_CHECK(H5Lexists(f, ds, H5P_DEFAULT) > 0, SF_ERR_INPUT, "%s: no dataset %s", path, ds);
    d = H5Dopen2(f, ds, H5P_DEFAULT);
    SF_CHECK(d >= 0, SF_ERR_INPUT, "%s:%s: cannot open the dataset", path, ds);
    {
      char name[4200];
      snprintf(name, sizeof name, "%s:%s", path, ds);
      SF_CALL(sf_h5_check_storage(f, d, path, name, NULL));
    }
    sp = H5Dget_space(d);
    hsize_t dims[4] = {0, 0, 1, 1};
    int nd = H5Sget_simple_extent_ndims(sp);
    SF_CHECK(nd == 2 || nd == 3, SF_ERR_INPUT,
             "%s:%s: a reference image must be (H,W) or (H,W,C), found %d dimensions", path, ds, nd);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t c = nd == 3 ? dims[2] : 1;
    SF_CHECK(dims[0] == j->m->h && dims[1] == j->m->w && c == j->m->c, SF_ERR_INPUT,
             "%s:%s: reference is %llux%llux%zu but the frames are %zux%zux%zu", path, ds,
             (unsigned long long)dims[0], (unsigned long long)dims[1], c, j->m->h, j->m->w, j->m->c);
    SF_CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref) >= 0, SF_ERR_IO,
             "%s:%s: reading the reference failed", path, ds);
    size_t bad = sf_find_nonfinite(ref, j->ue);
    SF_CHECK(bad == j->ue, SF_ERR_INPUT, "%s:%s: the reference contains NaN or Inf", path, ds);
  }
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  return status;
}

/* The options that change results, as one string (provenance and the resume identity). */
static void options_string(const reg_job *j, char *opts, size_t n) {
  const reg_opts *o = &j->o;
  int used = snprintf(opts, n,
                      "method=%s dataset=%s reference-frames=%zu:%zu reference-file=%s cc-up=%zu "
                      "cc-sigma=%.17g interp=%s buffer-size=%zu save-flow=%d save-valid=%d weights=",
                      k_methods[o->method], o->dataset, o->ref_a, o->ref_b,
                      o->ref_file ? o->ref_file : "-", o->cc_up, o->cc_sigma, k_interps[o->interp], o->buffer,
                      o->save_flow, o->save_valid);
  for (size_t k = 0; k < (size_t)j->nch && used < (int)n; k++)
    used += snprintf(opts + used, n - (size_t)used, "%s%.9g", k ? "," : "", (double)j->wch[k]);
  if (o->method == REG_FLOW && used < (int)n) {
    used += snprintf(opts + used, n - (size_t)used,
                     " quality=%s min-level=%d alpha=%.17g,%.17g levels=%ld eta=%.17g iterations=%ld update-lag=%ld "
                     "a-smooth=%.17g sigma=%.17g,%.17g,%.17g constancy=%s normalization=%s cc-init=%d cc-hw=%zu a-data=",
                     k_quality[o->quality], sf_flow_pyramid(j->fp)->min_level, o->alpha[0], o->alpha[1],
                     o->levels, o->eta, o->iterations, o->update_lag, o->a_smooth, o->sigma[0], o->sigma[1],
                     o->sigma[2], k_constancy[o->constancy], k_norm[o->separate_norm], o->cc_init, o->cc_hw);
    for (size_t k = 0; k < o->n_a_data && used < (int)n; k++)
      used += snprintf(opts + used, n - (size_t)used, "%s%.17g", k ? "," : "", o->a_data[k]);
  }
}

/* The run's identity for --resume: the input (path, size, modification time), the reference
 * file's, and every option that changes results. */
static void resume_identity(const reg_job *j, char *id, size_t n) {
  char opts[4096];
  options_string(j, opts, sizeof opts);
  size_t k = (size_t)snprintf(id, n, "register input=%s:%s", j->m->path, j->m->dataset);
  sf_output_identity_file(id, n, &k, j->m->path);
  sf_output_identity_file(id, n, &k, j->o.ref_file);
  if (k < n) snprintf(id + k, n - k, " %s per-frame=%s", opts, j->on_device ? "device" : "cpu");
}

/* The reference passes' result, kept for --resume (the engine's journal of run-once
 * results): the reference image. */
static int keep_reference(void *ctx, void **bytes, size_t *n) {
  reg_job *j = ctx;
  int status = 0;
  float *r = NULL;
  SF_ALLOC(r, j->ue);
  memcpy(r, j->ref, j->ue * sizeof(float));
  *bytes = r;
  *n = j->ue * sizeof(float);
cleanup:
  return status;
}

static int restore_reference(void *ctx, const void *bytes, size_t n) {
  reg_job *j = ctx;
  int status = 0;
  SF_CHECK(n == j->ue * sizeof(float), SF_ERR_INPUT,
           "%s.once: the reference kept has %zu bytes, this run needs %zu; remove it, or run without --resume",
           j->o.out, n, j->ue * sizeof(float));
  memcpy(j->ref, bytes, n);
cleanup:
  return status;
}

/* Writes the provenance attributes on / (every rank, same values). */
static int write_provenance(reg_job *j, int argc, char **argv, int nranks, const double *t,
                            const char *backend) {
  int status = 0;
  hid_t root = sf_output_root(j->out);
  char cmd[8192], opts[4096];
  sf_cli_join(argc, argv, cmd, sizeof cmd);
  options_string(j, opts, sizeof opts);
  SF_CALL(sf_h5_attr_string(root, "slabflow_version", SF_VERSION));
  SF_CALL(sf_h5_attr_string(root, "command", "register"));
  SF_CALL(sf_h5_attr_string(root, "command_line", cmd));
  SF_CALL(sf_h5_attr_string(root, "options", opts));
  SF_CALL(sf_h5_attr_string(root, "input", j->m->path));
  SF_CALL(sf_h5_attr_string(root, "backend", backend));
  SF_CALL(sf_h5_attr_int(root, "ranks", nranks));
  SF_CALL(sf_h5_attr_int(root, "threads", sf_exec_threads(j->exec)));
  static const char *names[] = {"time_setup_s", "time_reference_s", "time_read_s",
                                "time_compute_s", "time_write_s", "time_wait_s", "time_total_s"};
  for (int i = 0; i < 7; i++) SF_CALL(sf_h5_attr_double(root, names[i], t[i]));
cleanup:
  return sf_mpi_agree(status, MPI_COMM_WORLD);
}

/* The memory one rank will allocate, added up from the input's header and the options before
 * any of it is allocated, so that a frame, a --buffer-size or a header that asks for more
 * than the node has is refused with the amounts rather than met by a failed allocation on
 * some ranks, or by the OOM killer (overcommit) in the middle of the run. The big items only:
 * frame-sized buffers, per-thread workspaces, the reference sums. Collective. */
static int reg_check_memory(const reg_job *j, int rank) {
  const sf_source_meta *m = j->m;
  const reg_opts *o = &j->o;
  uint64_t hw = sf_mul_sat(m->h, m->w), ue = sf_mul_sat(hw, m->c), seg = o->buffer;
  uint64_t esz = sf_dtype_size(m->dtype);
  uint64_t threads = o->threads > 0 ? (uint64_t)o->threads : (uint64_t)omp_get_max_threads();
  const char *dt = sf_dtype_name(m->dtype);
  sf_mem_budget b;
  sf_mem_budget_init(&b);
  sf_mem_budget_add(&b, 2, seg, ue, esz,
                    "2 output buffers of %zu frames of %zux%zux%zu %s (--buffer-size %zu)",
                    o->buffer, m->h, m->w, m->c, dt, o->buffer);
  /* the engine reads the next batch while this one is computed: two input buffers */
  uint64_t halo = o->method == REG_FLOW ? (uint64_t)(4 * (o->sigma[2] + 0.5) + 0.5) : 0;
  sf_mem_budget_add(&b, 2, sf_add_sat(seg, 2 * halo), ue, sizeof(float),
                    "2 input buffers of %zu float frames (--buffer-size %zu)", o->buffer, o->buffer);
  sf_mem_budget_add(&b, 2, ue, 1, sizeof(float), "the reference image");
  j->meth->budget(j, &b, threads);
  if (m->kind == SF_SOURCE_TIFF && rank == 0)
    sf_mem_budget_add(&b, seg, ue, esz + sizeof(float), 1, "the TIFF staging buffer of %zu frames",
                      o->buffer);
  char what[4700];
  snprintf(what, sizeof what, "%s%s%s", m->path, m->kind == SF_SOURCE_HDF5 ? ":" : "",
           m->kind == SF_SOURCE_HDF5 ? m->dataset : "");
  return sf_mpi_check_memory(
      MPI_COMM_WORLD, &b, what,
      "a smaller --buffer-size, fewer --threads or fewer ranks per node need less");
}

/* The main step's start: the method's main pass from the reference, then the output, every
 * dataset at its final size, chunked by frame. Collective. */
static int main_start(void *ctx) {
  reg_job *j = ctx;
  int status = 0;
  SF_CALL(j->meth->set_reference(j));
  j->t_ref = MPI_Wtime() - j->t_start - j->t_setup;
  SF_CALL(sf_output_create(MPI_COMM_WORLD, j->o.out, j->plan.n_segments, &j->out));
  hsize_t dims[4] = {j->m->t, j->m->h, j->m->w, j->m->c}, chunk[4] = {1, j->m->h, j->m->w, j->m->c};
  hsize_t rdims[3] = {j->m->h, j->m->w, j->m->c};
  SF_CALL(sf_output_add(j->out, "/registered", sf_h5_native_type(j->m->dtype), j->m->ndims, dims, chunk, &j->id_reg));
  SF_CALL(sf_output_add(j->out, "/reference", H5T_NATIVE_FLOAT, j->m->ndims - 1, rdims, NULL, &j->id_ref));
  SF_CALL(j->meth->add_outputs(j));
  SF_CALL(sf_output_write_all(j->out, j->id_ref, H5T_NATIVE_FLOAT, j->ref));
  if (sf_output_resumed(j->out) && j->rank == 0)
    fprintf(stderr, "slabflow: register: resuming %s.partial: %zu of %zu segments already done\n", j->o.out,
            sf_output_segments_done(j->out), j->plan.n_segments);
  sf_progress_start(&j->prog, j->rank == 0, "register", "frames", j->m->t);
cleanup:
  return status;
}

/* The main step's stop. Collective. */
static int main_stop(void *ctx, int status) {
  reg_job *j = ctx;
  sf_progress_end(&j->prog);
  return status;
}

static int main_done(void *ctx, long seg) { return sf_output_segment_done(((reg_job *)ctx)->out, seg); }


/* --backend, decided before any work (issue 16 point 4): every rank asks whether it sees a
 * CUDA device. cuda: a usage error (exit 2) reported once by rank 0 when any rank sees none;
 * auto: ranks without one run on the CPU, named in one warning line by rank 0; cpu: nothing is
 * asked. Sets *kind to the executor kind of this rank. Collective. */
static int reg_pick_backend(reg_job *j, sf_exec_kind *kind) {
  int status = 0;
  const char *why = NULL;
  int have = 0, n_have = 0, first_without = 0, mine;
  *kind = SF_EXEC_OPENMP;
  if (j->o.backend == REG_BACKEND_CPU) return 0;
  have = sf_exec_cuda_available(&why);
  mine = have ? j->nranks : j->rank;
  SF_MPI(MPI_Allreduce(&have, &n_have, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  SF_MPI(MPI_Allreduce(&mine, &first_without, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  if (n_have < j->nranks) {
    /* the reason as rank 0 would give it: the build is the same on every rank */
    if (!why) why = "no CUDA device visible";
    if (j->o.backend == REG_BACKEND_CUDA) {
      if (n_have == 0)
        status = sf_cli_usage_error(j->rank == 0, "--backend cuda: %s (%d rank(s)); use --backend cpu or auto",
                                    why, j->nranks);
      else
        status = sf_cli_usage_error(j->rank == 0,
                                    "--backend cuda: no CUDA device visible on %d of %d rank(s), rank %d "
                                    "first; use --backend cpu or auto",
                                    j->nranks - n_have, j->nranks, first_without);
      goto cleanup;
    }
    if (j->rank == 0) {
      fprintf(stderr, "slabflow: warning: --backend auto: %s on %d of %d rank(s); they run on the CPU\n",
              why, j->nranks - n_have, j->nranks);
      fflush(stderr);
    }
  }
  if (have) *kind = SF_EXEC_CUDA;
  j->on_device = n_have > 0 && j->meth->device != NULL;
  if (have && !j->meth->device && j->rank == 0 && j->o.backend == REG_BACKEND_CUDA) {
    fprintf(stderr, "slabflow: warning: --backend cuda: --method %s has no device version yet; it runs on the CPU\n",
            k_methods[j->o.method]);
    fflush(stderr);
  }
cleanup:
  return status;
}

int sf_cmd_register(int argc, char **argv) {
  int status = 0, rank, size, help = 0;
  reg_job job, *j = &job;
  sf_source *src = NULL;
  memset(j, 0, sizeof *j);
  SF_MPI(MPI_Barrier(MPI_COMM_WORLD)); /* phases are timed from a common start */
  j->t_start = MPI_Wtime();
  SF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  SF_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
  j->rank = rank;
  j->nranks = size;
  status = reg_parse(argc, argv, rank == 0, &j->o, &help);
  if (help) {
    if (rank == 0) reg_help();
    return 0;
  }
  if (status < 0) return status;
  j->meth = j->o.method == REG_RIGID ? &reg_rigid_method : &reg_flow_method;
  sf_exec_kind exec_kind = SF_EXEC_OPENMP;
  SF_CALL(reg_pick_backend(j, &exec_kind));
  /* Validation before any work: input, output path, reference file, weights. */
  SF_CALL(sf_source_open(MPI_COMM_WORLD, j->o.in, j->o.dataset, 8, &src));
  j->m = sf_source_get_meta(src);
  {
    const char *inputs[2] = {j->o.in, j->o.ref_file};
    SF_CALL(sf_output_check_path(MPI_COMM_WORLD, j->o.out, inputs, 2));
  }
  j->hw = j->m->h * j->m->w;
  j->ue = j->hw * j->m->c;
  if (j->o.n_weight && j->o.n_weight != j->m->c)
    SF_CALL(sf_cli_usage_error(rank == 0, "--weight: %zu weights given but %s has %zu channel(s)",
                               j->o.n_weight, j->m->path, j->m->c));
  if (j->m->c > REG_MAX_CH)
    SF_CALL(sf_cli_usage_error(rank == 0, "%s: %zu channels; register handles at most %d", j->m->path, j->m->c,
                               REG_MAX_CH));
  j->nch = (int)j->m->c;
  {
    double wsum = 0;
    for (size_t c = 0; c < j->m->c; c++) wsum += j->o.n_weight ? j->o.weight[c] : 1.0;
    if (!(wsum > 0)) SF_CALL(sf_cli_usage_error(rank == 0, "--weight: the weights sum to 0"));
    for (size_t c = 0; c < j->m->c; c++) j->wch[c] = (float)((j->o.n_weight ? j->o.weight[c] : 1.0) / wsum);
  }
  j->interp = j->o.interp == 0 ? SF_INTERP_LINEAR : SF_INTERP_CUBIC;
  if (j->o.method == REG_FLOW && j->o.n_a_data != 1 && j->o.n_a_data != j->m->c)
    SF_CALL(sf_cli_usage_error(rank == 0, "--a-data: %zu values given but %s has %zu channel(s)",
                               j->o.n_a_data, j->m->path, j->m->c));
  SF_CALL(reg_check_memory(j, rank));
  SF_ALLOC(j->ref, j->ue);
  /* Setup: plans once (FFTW_ESTIMATE: the same algorithm on every rank), workspaces once. */
  status = j->meth->setup(j);
  SF_CALL(sf_mpi_agree(status, MPI_COMM_WORLD));
  {
    int local_rank = 0, local_size = 1;
    SF_CALL(sf_mpi_local_rank(MPI_COMM_WORLD, &local_rank, &local_size));
    /* quiet: reg_pick_backend has said what runs where */
    sf_exec_config xc = {exec_kind, j->o.threads, local_rank, reg_ws_create, reg_ws_destroy, j, 1};
    status = sf_exec_create(&xc, &j->exec);
    SF_CALL(sf_mpi_agree(status, MPI_COMM_WORLD));
  }
  /* Two output slots: the main pass computes one batch while it writes the other. */
  for (int s = 0; s < 2; s++) j->slot[s].outbuf = calloc(j->o.buffer * j->ue, sf_dtype_size(j->m->dtype));
  status = sf_mpi_agree(j->slot[0].outbuf && j->slot[1].outbuf ? 0 : SF_ERR_NOMEM, MPI_COMM_WORLD);
  if (status < 0) {
    sf_error_report(status, __FILE__, __LINE__, __func__, "out of memory for two %zu-frame buffers", j->o.buffer);
    goto cleanup;
  }
  sf_plan_init(&j->plan, 0, j->m->t, j->o.buffer, size);
  SF_CALL(sf_plan_bcast(&j->plan, MPI_COMM_WORLD));
  {
    char *id = malloc(16384);
    if (id) resume_identity(j, id, 16384);
    status = sf_output_begin(MPI_COMM_WORLD, j->o.out, j->o.resume, id ? id : "", j->plan.n_segments);
    free(id);
    SF_CALL(status);
  }
  j->t_setup = MPI_Wtime() - j->t_start;
  /* The pipeline: the reference (from a file, or the method's run-once reductions over the
   * reference frames), then the per-frame step over every rank's segments (overlap: batch
   * k-1 is written while batch k is computed, slots by step parity; the main pass's computes
   * never read what an earlier commit wrote). */
  sf_step steps[2 + REG_MAX_REF_STEPS];
  size_t n = 0;
  if (j->o.ref_file) {
    steps[n++] = (sf_step){.name = "reference file", .kind = SF_STEP_ONCE,
                           .once = load_reference_file, .result = j->ref,
                           .result_bytes = j->ue * sizeof(float)};
  } else {
    /* the reference passes' result kept for a --resume */
    size_t k = j->meth->reference_steps(j, steps + n);
    n += k;
    steps[n - 1].keep = keep_reference;
    steps[n - 1].restore = restore_reference;
    steps[n - 1].keep_steps = k;
  }
  size_t main_step = n;
  steps[n++] = (sf_step){.name = "register", .kind = SF_STEP_PER_UNIT, .start = main_start,
                         .prepare = j->meth->prepare, .unit = j->meth->unit,
                         .finish = j->meth->finish, .device = j->meth->device,
                         .commit = main_commit, .overlap = 1,
                         .stop = main_stop, .done = main_done, .prog = &j->prog};
  sf_phase_times tm[2 + REG_MAX_REF_STEPS];
  sf_run_info info = {tm, ""};
  sf_pipeline pl = {MPI_COMM_WORLD, j, j->exec, src, &j->plan, steps, n};
  SF_CALL(sf_pipeline_run(&pl, &info));
  {
    /* Phases of the main pass: the longest time any rank spent in each, as its compute
     * thread saw them (read: waiting for input, write: for the collective writes, wait: for
     * the other ranks). The reference phase is timed as a whole (wall time from the common
     * start). */
    double local[4] = {tm[main_step].read, tm[main_step].compute, tm[main_step].commit,
                       tm[main_step].wait}, mx[4];
    SF_MPI(MPI_Allreduce(local, mx, 4, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    double gsum, gmax;
    SF_MPI(MPI_Allreduce(&j->sum_shift, &gsum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    SF_MPI(MPI_Allreduce(&j->max_shift, &gmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    double total = MPI_Wtime() - j->t_start;
    SF_MPI(MPI_Bcast(&total, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD));
    {
      /* The backend as one value on every rank (an attribute every rank writes): the
       * device of the lowest rank whose batches ran on one, or "cpu". */
      int mine = strncmp(info.backend, "cuda:", 5) == 0 ? rank : size, root = size;
      SF_MPI(MPI_Allreduce(&mine, &root, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
      if (root < size) SF_MPI(MPI_Bcast(info.backend, (int)sizeof info.backend, MPI_CHAR, root, MPI_COMM_WORLD));
    }
    double times[7] = {j->t_setup, j->t_ref, mx[0], mx[1], mx[2], mx[3], total};
    SF_CALL(write_provenance(j, argc, argv, size, times, info.backend));
    status = sf_output_finish(&j->out, 0);
    if (status == 0 && rank == 0) {
      printf("slabflow register: %zu frames of %zux%zux%zu %s, %d rank(s) x %d thread(s)\n",
             j->m->t, j->m->h, j->m->w, j->m->c, sf_dtype_name(j->m->dtype), size, sf_exec_threads(j->exec));
      printf("  %.1f frames/s overall (%.2f s: setup %.2f, reference %.2f, read %.2f, compute %.2f, write %.2f, "
             "wait %.2f)\n",
             (double)j->m->t / total, total, j->t_setup, j->t_ref, mx[0], mx[1], mx[2], mx[3]);
      if (j->o.method == REG_RIGID) {
        printf("  shift: mean %.3f px, max %.3f px\n", gsum / (double)j->m->t, gmax);
        printf("  output: %s (/registered, /shifts, /reference)\n", j->o.out);
      } else {
        printf("  displacement: mean %.3f px, max %.3f px (%s, finest level %d)\n", gsum / (double)j->m->t,
               gmax, j->o.min_level >= 0 ? "custom" : k_quality[j->o.quality], sf_flow_pyramid(j->fp)->min_level);
        printf("  output: %s (/registered, /reference, /stats%s%s)\n", j->o.out, j->o.save_flow ? ", /flow" : "",
               j->o.save_valid ? ", /valid" : "");
      }
      fflush(stdout);
    }
  }
cleanup:
  status = sf_output_finish(&j->out, status);
  if (j->meth && j->meth->device_release) j->meth->device_release(j);
  sf_exec_destroy(&j->exec);
  if (j->meth) j->meth->teardown(j);
  for (int s = 0; s < 2; s++) free(j->slot[s].outbuf);
  sf_source_close(&src);
  free(j->ref);
  return status;
}
