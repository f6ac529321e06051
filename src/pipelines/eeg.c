/* `slabflow eeg`: MR gradient-artifact removal for EEG recorded in the scanner (specs/eeg.md,
 * MATLAB FACET semantics where FACETpy deviates). The unit is one channel. The pipeline:
 *   1. run once on rank 0: the triggers (annotations matching a POSIX regex, or rising edges
 *      of a trigger channel), the acquisition blocks (trigger runs separated by pauses), the
 *      artifact length; shared with every rank;
 *   2. run once on rank 0: on the reference channel, high-pass, upsampling, slice alignment
 *      (sub-sample: +-3 native samples at the upsampled rate), the AAS templates and the
 *      realigned triggers every channel subtracts at; shared;
 *   3. per channel (on one rank, the node's threads inside it): high-pass, then per block
 *      upsampling, AAS (Allen blocks, correlation threshold, per-epoch least-squares scale,
 *      overlaps assigned), optional OBS, downsampling; low-pass; optional ANC; metrics; the
 *      corrected channel written while the next one is computed.
 * Every channel's result depends only on the channel and on what steps 1-2 shared, and the
 * threads split fixed work items, so the output is the same for any rank and thread count. */
#include <errno.h>
#include <getopt.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_args.h"
#include "io/eeg_edf.h"
#include "io/eeg_edf_write.h"
#include "io/h5_check.h"
#include "io/h5_util.h"
#include "kernels/eeg_aas.h"
#include "kernels/eeg_anc.h"
#include "kernels/eeg_filter.h"
#include "kernels/eeg_metrics.h"
#include "kernels/eeg_obs.h"
#include "kernels/eeg_updown.h"
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

#define EEG_MAX_LIST 512

typedef struct eeg_opts {
  const char *in, *out, *edf_out;
  const char *regex, *trig_channel, *ref_channel, *channels, *exclude;
  double trig_threshold, offset, hp, lp, aas_threshold;
  size_t upsample, aas_window;
  int obs, anc, threads, resume;
} eeg_opts;

/* One acquisition block: triggers [i0, i1), native samples [a0, a1) processed upsampled. */
typedef struct eeg_block {
  long long i0, i1, a0, a1;
  long long L_up, off_up; /* artifact length and offset at the upsampled rate */
  long long L, off;       /* the same at the native rate (metrics, ANC) */
} eeg_block;

/* What the run-once steps share: triggers (native samples), blocks, aligned and realigned
 * trigger positions at the upsampled rate relative to each block's a0 * upsample. */
typedef struct eeg_shared {
  long long nt, nb, L;
  int volume_gaps;
  long long slices_per_volume;
} eeg_shared;

typedef struct eeg_job {
  eeg_opts o;
  MPI_Comm comm;
  int rank, nranks;
  sf_eeg_rec *rec;
  int *sel;             /* selected signals */
  size_t nsel;
  int ref;              /* reference signal */
  size_t n;             /* samples per channel */
  double fs;
  eeg_shared sh;
  long long *trig;      /* nt native trigger samples */
  eeg_block *blk;       /* nb */
  long long *t_al;      /* nt aligned triggers (upsampled, block-relative) */
  long long *t_re;      /* nt realigned triggers */
  /* run plans */
  sf_fir *hp, *lp;
  sf_fir_ws **hp_ws, **lp_ws; /* per thread */
  double *fir_scratch;        /* the team filters' blocks */
  sf_updown **ud;       /* per block */
  sf_updown_buf *ud_buf;
  sf_updown_ws **ud_ws; /* per thread */
  int nthreads;
  /* channel buffers (one channel at a time) */
  double *x, *y, *upad, *tmpl, *alpha; /* upad: a block upsampled, padded */
  size_t u_cap, n_allen_max;
  /* --obs, --anc: the artifact estimate at the upsampled rate (padded like upad) and native */
  sf_obs *obs;
  sf_obs_ws **obs_ws; /* per block (its artifact length) */
  sf_anc *anc;
  sf_anc_ws *anc_ws;
  double *noise_pad, *noise, *noise_lp;
  int obs_k;
  double t_setup, t_triggers, t_plans, t_align; /* seconds: wall, rank 0 */
  double tph[6]; /* compute seconds by phase (thread 0's clock): in+HP, up, AAS(+OBS), down, LP+ANC+out, metrics */
  float *outbuf[2];
  double *metrics[2]; /* 4 per unit */
  double mean;        /* of the current block's upsampled channel */
  int status;         /* shared among the team inside a unit */
  sf_exec *exec;
  sf_plan plan;
  sf_progress prog;
  sf_output *out;
  int id_corr, id_m[4];
  sf_source *src;
  int argc;
  char **argv;
} eeg_job;

static const char *const k_metric_names[4] = {"snr", "rms_ratio", "rms_residual", "median_p2p"};

static void eeg_help(void) {
  printf(
      "usage: slabflow eeg IN.edf|IN.bdf|IN.vhdr -o OUT.h5 [options]\n"
      "\n"
      "Removes MR gradient artifacts from EEG recorded in the scanner by averaged artifact\n"
      "subtraction (FACET): triggers from annotations or a trigger channel, acquisition blocks\n"
      "(trigger runs separated by pauses longer than 1 s and 10 trigger intervals, each\n"
      "corrected on its own: from 1.25 artifact lengths before the first trigger to 2.25 after\n"
      "the last), high-pass, upsampling, slice alignment on the reference channel (run once,\n"
      "search +-3 native samples at the upsampled rate), AAS (Allen blocks of --aas-window epochs,\n"
      "epochs joining their block's average above --aas-threshold correlation, a least-squares\n"
      "scale per epoch, realignment to the averages, overlapping epochs assigned), optional OBS,\n"
      "downsampling, low-pass, optional ANC. One channel is one unit of work: ranks take\n"
      "channels, the threads of a rank work inside each channel.\n"
      "Selected channels (default: every channel but ECG/EKG/EMG/EOG/Status/Trigger ones) are\n"
      "corrected; OUT.h5 holds /corrected (channels, samples) float32 in the input's physical\n"
      "units, /channels, /triggers (native samples), /triggers_aligned (native samples, sub-\n"
      "sample), /metrics/{snr,rms_ratio,rms_residual,median_p2p} per channel, attributes.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output OUT.h5        output file\n"
      "  --edf-out OUT.edf          also an EDF+/BDF+ copy of the input, corrected channels\n"
      "                             replaced (same header, channel order and annotations;\n"
      "                             BDF+ for a BrainVision input)\n"
      "  --trigger-regex R          POSIX extended regex searched in annotation texts [\\b1\\b]\n"
      "  --trigger-channel NAME     triggers at the rising edges of channel NAME through\n"
      "  --trigger-threshold X      X (in the channel's units; needs --trigger-channel)\n"
      "  --artifact-offset S        epoch start relative to the trigger, s [-3%% of the\n"
      "                             artifact length, MATLAB FACET's RelTrigPos 0.03]\n"
      "  --upsample N               upsampling factor, 1..50 [10]\n"
      "  --hp F                     high-pass before correction, Hz (0: none) [1]\n"
      "  --lp F                     low-pass after correction, Hz (0: none) [70]\n"
      "  --aas-window N             epochs per averaging block, 5..1000 [30]\n"
      "  --aas-threshold C          correlation to join a block's average, 0..1 [0.975]\n"
      "  --ref-channel NAME         channel for slice alignment [the first selected]\n"
      "  --obs N                    OBS: fit N principal components of the residuals (0: the\n"
      "                             MATLAB auto rule) [off]\n"
      "  --anc                      adaptive noise cancellation after the low-pass [off]\n"
      "  --channels A,B,...         channels to correct (labels) [EEG channels]\n"
      "  --exclude A,B,...          channels not to correct\n"
      "  --threads N                OpenMP threads per rank [OMP_NUM_THREADS or all]\n"
      "  --resume                   continue OUT.h5.partial of an interrupted run (same input and\n"
      "                             options; any rank and thread count): channels marked done are\n"
      "                             kept, the others computed\n");
}

static int eeg_parse(int argc, char **argv, int verbose, eeg_opts *o, int *help) {
  enum { O_EDF = 256, O_REGEX, O_TCH, O_TTH, O_OFF, O_UP, O_HP, O_LP, O_AW, O_AT, O_REF,
         O_OBS, O_ANC, O_CH, O_EX, O_THR, O_RESUME };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'},
      {"edf-out", required_argument, 0, O_EDF},
      {"trigger-regex", required_argument, 0, O_REGEX},
      {"trigger-channel", required_argument, 0, O_TCH},
      {"trigger-threshold", required_argument, 0, O_TTH},
      {"artifact-offset", required_argument, 0, O_OFF},
      {"upsample", required_argument, 0, O_UP},
      {"hp", required_argument, 0, O_HP},
      {"lp", required_argument, 0, O_LP},
      {"aas-window", required_argument, 0, O_AW},
      {"aas-threshold", required_argument, 0, O_AT},
      {"ref-channel", required_argument, 0, O_REF},
      {"obs", required_argument, 0, O_OBS},
      {"anc", no_argument, 0, O_ANC},
      {"channels", required_argument, 0, O_CH},
      {"exclude", required_argument, 0, O_EX},
      {"threads", required_argument, 0, O_THR},
      {"resume", no_argument, 0, O_RESUME},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int status = 0, c;
  memset(o, 0, sizeof *o);
  o->regex = "\\b1\\b";
  o->trig_threshold = NAN;
  o->offset = NAN;
  o->hp = 1.0;
  o->lp = 70.0;
  o->aas_threshold = 0.975;
  o->upsample = 10;
  o->aas_window = 30;
  o->obs = -1;
  *help = 0;
  opterr = 0;
  optind = 1;
  int regex_given = 0;
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
    size_t v = 0;
    switch (c) {
    case 'o': o->out = optarg; break;
    case 'h': *help = 1; return 0;
    case O_EDF: o->edf_out = optarg; break;
    case O_REGEX: o->regex = optarg; regex_given = 1; break;
    case O_TCH: o->trig_channel = optarg; break;
    case O_TTH: SF_CALL(sf_cli_double(verbose, "--trigger-threshold", optarg, -1e300, 1e300, &o->trig_threshold)); break;
    case O_OFF: SF_CALL(sf_cli_double(verbose, "--artifact-offset", optarg, -10.0, 10.0, &o->offset)); break;
    case O_UP: SF_CALL(sf_cli_size(verbose, "--upsample", optarg, 1, 50, &o->upsample)); break;
    case O_HP: SF_CALL(sf_cli_double(verbose, "--hp", optarg, 0.0, 1e6, &o->hp)); break;
    case O_LP: SF_CALL(sf_cli_double(verbose, "--lp", optarg, 0.0, 1e6, &o->lp)); break;
    case O_AW: SF_CALL(sf_cli_size(verbose, "--aas-window", optarg, 5, 1000, &o->aas_window)); break;
    case O_AT: SF_CALL(sf_cli_double(verbose, "--aas-threshold", optarg, 0.0, 1.0, &o->aas_threshold)); break;
    case O_REF: o->ref_channel = optarg; break;
    case O_OBS: SF_CALL(sf_cli_size(verbose, "--obs", optarg, 0, 64, &v)); o->obs = (int)v; break;
    case O_ANC: o->anc = 1; break;
    case O_CH: o->channels = optarg; break;
    case O_EX: o->exclude = optarg; break;
    case O_THR: SF_CALL(sf_cli_size(verbose, "--threads", optarg, 1, 4096, &v)); o->threads = (int)v; break;
    case O_RESUME: o->resume = 1; break;
    case '?':
    default:
      status = sf_cli_bad_option(verbose, "eeg", c, argc, argv, lo);
      goto cleanup;
    }
  }
  if (optind < argc) o->in = argv[optind++];
  if (!o->in) SF_CALL(sf_cli_usage_error(verbose, "eeg: no input file given (see --help)"));
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "eeg: unexpected argument '%s'", argv[optind]));
  if (!o->out) SF_CALL(sf_cli_usage_error(verbose, "eeg: no output file given (-o OUT.h5)"));
  if (o->trig_channel && regex_given)
    SF_CALL(sf_cli_usage_error(verbose, "eeg: --trigger-regex and --trigger-channel exclude each other"));
  if (o->trig_channel && !(o->trig_threshold == o->trig_threshold))
    SF_CALL(sf_cli_usage_error(verbose, "eeg: --trigger-channel needs --trigger-threshold X"));
  if (!o->trig_channel && o->trig_threshold == o->trig_threshold)
    SF_CALL(sf_cli_usage_error(verbose, "eeg: --trigger-threshold needs --trigger-channel NAME"));
  if (o->channels && o->exclude)
    SF_CALL(sf_cli_usage_error(verbose, "eeg: --channels and --exclude exclude each other"));
  if (!o->trig_channel) {
    regex_t re;
    int rc = regcomp(&re, o->regex, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char why[256];
      regerror(rc, &re, why, sizeof why);
      SF_CALL(sf_cli_usage_error(verbose, "--trigger-regex: '%s' is not a POSIX extended regex: %s", o->regex, why));
    }
    regfree(&re);
  }
cleanup:
  return status;
}

/* ---- channels ---------------------------------------------------------------------------- */

static int label_is(const char *label, const char *name) { return strcasecmp(label, name) == 0; }

/* Signal index of a label ("EEG Fp1" also matches "Fp1"), -1 if none. */
static int find_signal(const sf_eeg_rec *r, const char *name) {
  for (int s = 0; s < r->nsignals; s++)
    if (label_is(r->signals[s].label, name)) return s;
  for (int s = 0; s < r->nsignals; s++) {
    const char *l = r->signals[s].label;
    if (!strncasecmp(l, "EEG ", 4) && label_is(l + 4, name)) return s;
  }
  return -1;
}

/* Whether a channel is corrected by default: not ECG/EKG/EMG/EOG, status or trigger. */
static int default_eeg(const sf_eeg_signal *s) {
  static const char *const non[] = {"ECG", "EKG", "EMG", "EOG", "STATUS", "STI", "TRIG",
                                    "RESP", "EVENT", "MARKER", NULL};
  for (int k = 0; non[k]; k++)
    if (!strncasecmp(s->label, non[k], strlen(non[k]))) return 0;
  return 1;
}

/* Splits a comma-separated list into signal indices; reports an unknown label. */
static int parse_list(const eeg_job *j, const char *opt, const char *list, int *idx, size_t *n) {
  int status = 0, verbose = j->rank == 0;
  char buf[8192];
  snprintf(buf, sizeof buf, "%s", list);
  *n = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    int s = find_signal(j->rec, tok);
    if (s < 0) SF_CALL(sf_cli_usage_error(verbose, "%s: %s: no channel '%s' in %s", opt, list, tok, j->o.in));
    if (*n >= EEG_MAX_LIST) SF_CALL(sf_cli_usage_error(verbose, "%s: more than %d channels", opt, EEG_MAX_LIST));
    idx[(*n)++] = s;
  }
cleanup:
  return status;
}

/* The selected channels, the reference channel, the rate and length; checked on every rank
 * (every rank has the same header), reported by rank 0. */
static int select_channels(eeg_job *j) {
  int status = 0, verbose = j->rank == 0;
  const sf_eeg_rec *r = j->rec;
  int list[EEG_MAX_LIST];
  size_t nl = 0;
  char *chosen = calloc((size_t)r->nsignals + 1, 1);
  SF_ALLOC(j->sel, (size_t)r->nsignals + 1);
  if (!chosen) SF_FAIL_QUIET(SF_ERR_NOMEM);
  if (j->o.channels) {
    status = parse_list(j, "--channels", j->o.channels, list, &nl);
    if (status < 0) goto quiet;
    for (size_t k = 0; k < nl; k++) chosen[list[k]] = 1;
  } else {
    for (int s = 0; s < r->nsignals; s++) chosen[s] = (char)default_eeg(&r->signals[s]);
    if (j->o.exclude) {
      status = parse_list(j, "--exclude", j->o.exclude, list, &nl);
      if (status < 0) goto quiet;
      for (size_t k = 0; k < nl; k++) chosen[list[k]] = 0;
    }
    if (j->o.trig_channel) {
      int t = find_signal(r, j->o.trig_channel);
      if (t >= 0) chosen[t] = 0;
    }
  }
  j->nsel = 0;
  for (int s = 0; s < r->nsignals; s++)
    if (chosen[s]) j->sel[j->nsel++] = s;
  if (j->nsel == 0) {
    status = sf_cli_usage_error(verbose, "%s: no channel to correct (see --channels, --exclude)", j->o.in);
    goto quiet;
  }
  j->fs = r->signals[j->sel[0]].rate;
  j->n = r->signals[j->sel[0]].samples;
  for (size_t k = 1; k < j->nsel; k++) {
    const sf_eeg_signal *s = &r->signals[j->sel[k]];
    if (s->rate != j->fs || s->samples != j->n) {
      if (verbose)
        sf_error_report(SF_ERR_INPUT, __FILE__, __LINE__, __func__,
                        "%s: the selected channels have mixed sampling rates: %s at %g Hz, %s at %g Hz "
                        "(select channels of one rate with --channels or --exclude)",
                        j->o.in, r->signals[j->sel[0]].label, j->fs, s->label, s->rate);
      status = SF_ERR_INPUT;
      goto quiet;
    }
  }
  if (j->o.ref_channel) {
    j->ref = find_signal(r, j->o.ref_channel);
    if (j->ref < 0) {
      status = sf_cli_usage_error(verbose, "--ref-channel: no channel '%s' in %s", j->o.ref_channel, j->o.in);
      goto quiet;
    }
    if (r->signals[j->ref].rate != j->fs || r->signals[j->ref].samples != j->n) {
      status = sf_cli_usage_error(verbose, "--ref-channel: %s is sampled at %g Hz, the corrected channels at %g Hz",
                                  j->o.ref_channel, r->signals[j->ref].rate, j->fs);
      goto quiet;
    }
  } else {
    j->ref = j->sel[0];
  }
  if (j->o.trig_channel && find_signal(r, j->o.trig_channel) < 0) {
    status = sf_cli_usage_error(verbose, "--trigger-channel: no channel '%s' in %s", j->o.trig_channel, j->o.in);
    goto quiet;
  }
  if (j->o.lp > 0 && !(j->o.lp < j->fs / 2)) {
    status = sf_cli_usage_error(verbose, "--lp: %g Hz is not below the Nyquist frequency %g Hz of %s", j->o.lp,
                                j->fs / 2, j->o.in);
    goto quiet;
  }
  if (j->o.hp > 0 && !(j->o.hp < j->fs / 2)) {
    status = sf_cli_usage_error(verbose, "--hp: %g Hz is not below the Nyquist frequency %g Hz of %s", j->o.hp,
                                j->fs / 2, j->o.in);
    goto quiet;
  }
  SF_CHECK(j->n >= 16 || !verbose, SF_ERR_INPUT, "%s: only %zu samples per channel", j->o.in, j->n);
  if (j->n < 16) SF_FAIL_QUIET(SF_ERR_INPUT);
quiet:
cleanup:
  free(chosen);
  return status;
}

/* ---- step 1: triggers and blocks (rank 0) -------------------------------------------------- */

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

/* Sorted unique trigger samples of the annotations matching the regex, or of the rising
 * edges of the trigger channel. */
static int detect_triggers(eeg_job *j, long long **out, size_t *nt) {
  int status = 0;
  long long *t = NULL;
  double *x = NULL;
  size_t n = 0;
  *out = NULL;
  *nt = 0;
  if (j->o.trig_channel) {
    int s = find_signal(j->rec, j->o.trig_channel);
    size_t ns = j->rec->signals[s].samples;
    double thr = j->o.trig_threshold;
    SF_ALLOC(x, ns ? ns : 1);
    SF_CALL(sf_eeg_read_channel(j->rec, s, 0, ns, x));
    SF_ALLOC(t, ns ? ns : 1);
    for (size_t i = 1; i < ns; i++)
      if (x[i - 1] < thr && x[i] >= thr) {
        /* at the native rate of the corrected channels */
        double tt = (double)i * j->fs / j->rec->signals[s].rate;
        t[n++] = (long long)llround(tt);
      }
    SF_CHECK(n > 0, SF_ERR_INPUT, "%s: no triggers found: channel %s never rises through %g", j->o.in,
             j->o.trig_channel, thr);
  } else {
    regex_t re;
    SF_CHECK(regcomp(&re, j->o.regex, REG_EXTENDED | REG_NOSUB) == 0, SF_ERR_USAGE,
             "--trigger-regex: '%s' does not compile", j->o.regex);
    SF_ALLOC(t, j->rec->nannotations ? j->rec->nannotations : 1);
    for (size_t a = 0; a < j->rec->nannotations; a++) {
      const sf_eeg_annotation *an = &j->rec->annotations[a];
      if (regexec(&re, an->text ? an->text : "", 0, NULL, 0) != 0) continue;
      long long s = sf_eeg_time_to_sample(j->rec, j->ref, an->onset);
      if (s < 0 || (size_t)s >= j->n) continue;
      t[n++] = s;
    }
    regfree(&re);
    SF_CHECK(n > 0, SF_ERR_INPUT,
             "%s: no triggers found: none of its %zu annotations matches --trigger-regex '%s'%s", j->o.in,
             j->rec->nannotations, j->o.regex,
             j->rec->nannotations ? "" : " (the file has no annotations; see --trigger-channel)");
  }
  qsort(t, n, sizeof *t, cmp_ll);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || t[i] != t[u - 1]) t[u++] = t[i];
  *out = t;
  *nt = u;
  t = NULL;
cleanup:
  free(t);
  free(x);
  return status;
}

static int step_triggers(void *ctx) {
  eeg_job *j = ctx;
  int status = 0;
  long long *t = NULL, *d = NULL;
  size_t nt = 0;
  eeg_block *blk = NULL;
  SF_CALL(detect_triggers(j, &t, &nt));
  SF_CHECK(nt >= 2, SF_ERR_INPUT, "%s: only one trigger found (at sample %lld); AAS needs at least %zu per block",
           j->o.in, t[0], j->o.aas_window);
  /* blocks: a pause longer than 1 s and 10 median intervals starts a new one */
  SF_ALLOC(d, nt - 1);
  for (size_t i = 0; i + 1 < nt; i++) d[i] = t[i + 1] - t[i];
  qsort(d, nt - 1, sizeof *d, cmp_ll);
  double med = (nt - 1) % 2 ? (double)d[(nt - 1) / 2] : 0.5 * (double)(d[(nt - 1) / 2 - 1] + d[(nt - 1) / 2]);
  double pause = fmax(10.0 * med, j->fs);
  size_t nb = 1;
  for (size_t i = 0; i + 1 < nt; i++)
    if ((double)(t[i + 1] - t[i]) > pause) nb++;
  SF_ALLOC(blk, nb);
  {
    size_t b = 0;
    blk[0].i0 = 0;
    for (size_t i = 0; i + 1 < nt; i++)
      if ((double)(t[i + 1] - t[i]) > pause) {
        blk[b].i1 = (long long)i + 1;
        blk[++b].i0 = (long long)i + 1;
      }
    blk[nb - 1].i1 = (long long)nt;
  }
  size_t Lmax = 0;
  int gaps = 0;
  size_t spv = 0;
  for (size_t b = 0; b < nb; b++) {
    size_t m = (size_t)(blk[b].i1 - blk[b].i0), L = 0, sp = 0;
    int g = 0;
    SF_CHECK(m >= j->o.aas_window, SF_ERR_INPUT,
             "%s: acquisition block %zu (samples %lld..%lld) has %zu triggers, fewer than the AAS window of %zu "
             "(--aas-window)",
             j->o.in, b + 1, t[blk[b].i0], t[blk[b].i1 - 1], m, j->o.aas_window);
    SF_CALL(sf_eeg_artifact_length(t + blk[b].i0, m, &L, &g, &sp, NULL));
    blk[b].L = (long long)L;
    if (L > Lmax) Lmax = L;
    gaps |= g;
    spv = sp;
    long long pre = (long long)ceil(1.25 * (double)L), post = (long long)ceil(2.25 * (double)L);
    blk[b].a0 = t[blk[b].i0] - pre < 0 ? 0 : t[blk[b].i0] - pre;
    blk[b].a1 = t[blk[b].i1 - 1] + post > (long long)j->n ? (long long)j->n : t[blk[b].i1 - 1] + post;
  }
  /* neighbouring blocks' windows must not overlap */
  for (size_t b = 0; b + 1 < nb; b++)
    if (blk[b].a1 > blk[b + 1].a0) blk[b].a1 = blk[b + 1].a0 = (blk[b].a1 + blk[b + 1].a0) / 2;
  j->sh.nt = (long long)nt;
  j->sh.nb = (long long)nb;
  j->sh.L = (long long)Lmax;
  j->sh.volume_gaps = gaps;
  j->sh.slices_per_volume = (long long)spv;
  j->trig = t;
  j->blk = blk;
  t = NULL;
  blk = NULL;
cleanup:
  free(t);
  free(d);
  free(blk);
  return status;
}

static int share_triggers(void *ctx, MPI_Comm comm) {
  eeg_job *j = ctx;
  int status = 0;
  if (j->rank != 0) {
    j->trig = malloc((size_t)j->sh.nt * sizeof *j->trig);
    j->blk = malloc((size_t)j->sh.nb * sizeof *j->blk);
    status = j->trig && j->blk ? 0 : SF_ERR_NOMEM;
  }
  SF_CALL(sf_mpi_agree(status, comm));
  SF_MPI(MPI_Bcast(j->trig, (int)j->sh.nt, MPI_LONG_LONG, 0, comm));
  SF_MPI(MPI_Bcast(j->blk, (int)(j->sh.nb * (long long)sizeof(eeg_block)), MPI_BYTE, 0, comm));
cleanup:
  return status;
}

/* ---- plans (every rank, after step 1) ------------------------------------------------------ */

static int make_plans(eeg_job *j) {
  int status = 0;
  size_t nb = (size_t)j->sh.nb, up = j->o.upsample;
  j->nthreads = sf_exec_threads(j->exec);
  SF_ALLOC(j->hp_ws, (size_t)j->nthreads);
  SF_ALLOC(j->lp_ws, (size_t)j->nthreads);
  size_t fs_need = 1;
  if (j->o.hp > 0) {
    SF_CALL(sf_fir_design(j->fs, j->o.hp, NAN, &j->hp));
    for (int t = 0; t < j->nthreads; t++) SF_CALL(sf_fir_ws_create(j->hp, &j->hp_ws[t]));
    if (sf_fir_team_scratch(j->hp, j->n) > fs_need) fs_need = sf_fir_team_scratch(j->hp, j->n);
  }
  if (j->o.lp > 0) {
    SF_CALL(sf_fir_design(j->fs, NAN, j->o.lp, &j->lp));
    for (int t = 0; t < j->nthreads; t++) SF_CALL(sf_fir_ws_create(j->lp, &j->lp_ws[t]));
    if (sf_fir_team_scratch(j->lp, j->n) > fs_need) fs_need = sf_fir_team_scratch(j->lp, j->n);
  }
  SF_ALLOC(j->fir_scratch, fs_need);
  SF_ALLOC(j->ud, nb);
  j->u_cap = 0;
  j->n_allen_max = 0;
  size_t max_L = 0;
  for (size_t b = 0; b < nb; b++) {
    size_t m = (size_t)(j->blk[b].a1 - j->blk[b].a0), len = m * up;
    if (up > 1) {
      SF_CALL(sf_updown_plan(m, up, &j->ud[b]));
      len = sf_updown_len_up(j->ud[b]);
      if (sf_updown_len_padded(j->ud[b]) > max_L) max_L = sf_updown_len_padded(j->ud[b]);
    }
    if (len > j->u_cap) j->u_cap = len;
    size_t na = (size_t)((j->blk[b].i1 - j->blk[b].i0 + (long long)j->o.aas_window - 1) / (long long)j->o.aas_window);
    if (na > j->n_allen_max) j->n_allen_max = na;
  }
  SF_ALLOC(j->ud_ws, (size_t)j->nthreads);
  if (up > 1) {
    SF_CALL(sf_updown_buf_create(max_L, up, &j->ud_buf));
    for (int t = 0; t < j->nthreads; t++) SF_CALL(sf_updown_ws_create(max_L, &j->ud_ws[t]));
  }
  SF_ALLOC(j->x, j->n);
  SF_ALLOC(j->y, j->n);
  if (j->u_cap < j->n) j->u_cap = j->n; /* also the low-pass output */
  SF_ALLOC(j->upad, j->u_cap);
  SF_ALLOC(j->alpha, (size_t)j->sh.nt);
  size_t Lmax = ((size_t)j->sh.L + 8) * up; /* the artifact length after alignment (+-3 samples each side) */
  if (j->o.obs >= 0) SF_CALL(sf_obs_create(70.0, j->fs * (double)up, &j->obs));
  if (j->o.anc) {
    SF_CALL(sf_anc_create(j->trig + j->blk[0].i0, (size_t)(j->blk[0].i1 - j->blk[0].i0), j->fs, &j->anc));
    SF_CALL(sf_anc_ws_create(j->anc, j->n, &j->anc_ws));
    SF_ALLOC(j->noise_pad, j->u_cap);
    SF_ALLOC(j->noise, j->n);
    SF_ALLOC(j->noise_lp, j->n);
  }
  SF_ALLOC(j->tmpl, j->n_allen_max * Lmax);
cleanup:
  return status;
}

/* ---- per block, at the upsampled rate ------------------------------------------------------ */

/* High-pass of x (n) into y; a copy without --hp. Every thread of the team (or one alone). */
static int highpass(eeg_job *j, const double *x, double *y) {
  if (!j->hp) {
#pragma omp single
    memcpy(y, x, j->n * sizeof *y);
    return 0;
  }
  return sf_fir_apply_zero_phase_team(j->hp, x, j->n, y, j->hp_ws[sf_exec_thread()], j->fir_scratch);
}

/* Block b's upsampled samples proper in j->upad. */
static double *block_u(const eeg_job *j, size_t b) {
  return j->o.upsample == 1 ? j->upad : j->upad + sf_updown_offset(j->ud[b]);
}

/* y[a0, a1) upsampled into j->upad (block_u: the block proper). Every thread of the team
 * (or one thread alone). */
static int block_up(eeg_job *j, size_t b, const double *y) {
  const eeg_block *k = &j->blk[b];
  size_t m = (size_t)(k->a1 - k->a0);
  if (j->o.upsample == 1) {
#pragma omp single
    memcpy(j->upad, y + k->a0, m * sizeof *j->upad);
    return 0;
  }
  return sf_updown_up(j->ud[b], y + k->a0, j->upad, j->ud_buf, j->ud_ws[sf_exec_thread()]);
}

/* j->upad downsampled back into y[a0, a1). Every thread of the team (or one alone). */
static int block_down(eeg_job *j, size_t b, double *y) {
  const eeg_block *k = &j->blk[b];
  size_t m = (size_t)(k->a1 - k->a0);
  if (j->o.upsample == 1) {
#pragma omp single
    memcpy(y + k->a0, j->upad, m * sizeof *y);
    return 0;
  }
  return sf_updown_down(j->ud[b], j->upad, y + k->a0, j->ud_buf, j->ud_ws[sf_exec_thread()]);
}

static double mean_of(const double *x, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += x[i];
  return n ? s / (double)n : 0.0;
}

/* ---- step 2: alignment on the reference channel (rank 0) ----------------------------------- */

static int step_align(void *ctx) {
  eeg_job *j = ctx;
  int status = 0;
  double t_begin = MPI_Wtime();
  size_t up = j->o.upsample, nt = (size_t)j->sh.nt;
  long sw = (long)(3 * up);
  SF_ALLOC(j->t_al, nt);
  SF_ALLOC(j->t_re, nt);
  SF_CALL(sf_eeg_read_channel(j->rec, j->ref, 0, j->n, j->x));
#pragma omp parallel num_threads(j->nthreads)
  {
    int st = highpass(j, j->x, j->y);
#pragma omp single
    status = st;
  }
  SF_CALL(status);
  for (size_t b = 0; b < (size_t)j->sh.nb; b++) {
    eeg_block *k = &j->blk[b];
    size_t m = (size_t)(k->a1 - k->a0) * up, i0 = (size_t)k->i0, i1 = (size_t)k->i1;
    double *u = block_u(j, b);
    int nth = j->nthreads;
    /* the node's threads (the compute thread's team is idle between sweeps) */
#pragma omp parallel num_threads(nth)
    {
      int st = block_up(j, b, j->y); /* the same on every thread */
#pragma omp single
      {
        status = st;
        j->mean = st ? 0.0 : mean_of(u, m);
      }
#pragma omp for schedule(static)
      for (size_t i = 0; i < (status ? 0 : m); i++) u[i] -= j->mean;
    }
    SF_CALL(status);
    long long *ta = j->t_al + i0, *tr = j->t_re + i0;
    size_t nb = i1 - i0;
    for (size_t i = 0; i < nb; i++) ta[i] = (j->trig[i0 + i] - k->a0) * (long long)up;
    long long L0 = k->L * (long long)up;
    long long off = j->o.offset == j->o.offset ? llround(j->o.offset * j->fs * (double)up)
                                               : -llround(0.03 * (double)L0);
    /* slice alignment: every epoch to the first epoch wholly inside the block */
    size_t r = 0;
    while (r < nb && !sf_aas_epoch_inside(ta[r], off, (size_t)L0, m)) r++;
    SF_CHECK(r < nb, SF_ERR_INPUT, "%s: acquisition block %zu: no artifact epoch lies inside the recording", j->o.in,
             b + 1);
    const double *ref = u + ta[r] + off;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (size_t i = 0; i < nb; i++)
      if (i != r) ta[i] += sf_eeg_xcorr_shift(u, m, ta[i] + off, ref, (size_t)L0, sw);
    /* artifact length from the aligned triggers: the longest aligned interval that is not a
     * volume gap at the native rate (rule 2.2 on the native triggers tells the gaps: the
     * aligned intervals scatter by up to the search window and must not fake gaps); then
     * the offset at that length */
    size_t Lu = 0;
    double gap = INFINITY;
    for (size_t i = 1; i < nb; i++)
      SF_CHECK(ta[i] > ta[i - 1], SF_ERR_INPUT,
               "%s: acquisition block %zu: triggers %zu and %zu coincide after alignment (too close together)",
               j->o.in, b + 1, i0 + i - 1, i0 + i);
    SF_CALL(sf_eeg_artifact_length(j->trig + i0, nb, NULL, NULL, NULL, &gap));
    for (size_t i = 0; i + 1 < nb; i++)
      if ((double)(j->trig[i0 + i + 1] - j->trig[i0 + i]) < gap && (size_t)(ta[i + 1] - ta[i]) > Lu)
        Lu = (size_t)(ta[i + 1] - ta[i]);
    k->L_up = (long long)Lu;
    k->off_up = j->o.offset == j->o.offset ? off : -llround(0.03 * (double)Lu);
    k->off = (long long)floor((double)k->off_up / (double)up + 0.5); /* native, for the metrics */
    /* the reference channel's averages; realignment of every trigger to its average */
    size_t W = j->o.aas_window, na = (nb + W - 1) / W;
#pragma omp parallel num_threads(nth)
    {
#pragma omp for schedule(static)
      for (size_t a = 0; a < na; a++)
        sf_aas_block_template(u, m, 0.0, ta, nb, (long)k->off_up, Lu, W, j->o.aas_threshold, a,
                              j->tmpl + a * Lu);
#pragma omp for schedule(static)
      for (size_t i = 0; i < nb; i++) {
      const double *A = j->tmpl + (i / W) * Lu;
      tr[i] = ta[i];
      if ((unsigned long long)(ta[i] + k->off_up + (long long)Lu + sw) <= m && ta[i] + k->off_up - sw >= 0)
        tr[i] += sf_eeg_xcorr_shift(u, m, ta[i] + k->off_up, A, Lu, sw);
      }
    }
  }
cleanup:
  j->t_align = MPI_Wtime() - t_begin;
  return status;
}

static int share_align(void *ctx, MPI_Comm comm) {
  eeg_job *j = ctx;
  int status = 0;
  size_t nt = (size_t)j->sh.nt;
  if (j->rank != 0) {
    j->t_al = malloc(nt * sizeof *j->t_al);
    j->t_re = malloc(nt * sizeof *j->t_re);
    status = j->t_al && j->t_re ? 0 : SF_ERR_NOMEM;
  }
  SF_CALL(sf_mpi_agree(status, comm));
  SF_MPI(MPI_Bcast(j->t_al, (int)nt, MPI_LONG_LONG, 0, comm));
  SF_MPI(MPI_Bcast(j->t_re, (int)nt, MPI_LONG_LONG, 0, comm));
  SF_MPI(MPI_Bcast(j->blk, (int)(j->sh.nb * (long long)sizeof(eeg_block)), MPI_BYTE, 0, comm));
cleanup:
  return status;
}

/* The alignment's result, kept for --resume: the aligned and realigned triggers and the
 * blocks with their artifact lengths and offsets. */
static int keep_align(void *ctx, void **bytes, size_t *n) {
  eeg_job *j = ctx;
  int status = 0;
  size_t nt = (size_t)j->sh.nt, nb = (size_t)j->sh.nb, m = 2 * nt * sizeof(long long) + nb * sizeof(eeg_block);
  unsigned char *b = NULL;
  SF_ALLOC(b, m);
  memcpy(b, j->t_al, nt * sizeof(long long));
  memcpy(b + nt * sizeof(long long), j->t_re, nt * sizeof(long long));
  memcpy(b + 2 * nt * sizeof(long long), j->blk, nb * sizeof(eeg_block));
  *bytes = b;
  *n = m;
cleanup:
  return status;
}

static int restore_align(void *ctx, const void *bytes, size_t n) {
  eeg_job *j = ctx;
  int status = 0;
  size_t nt = (size_t)j->sh.nt, nb = (size_t)j->sh.nb, m = 2 * nt * sizeof(long long) + nb * sizeof(eeg_block);
  const unsigned char *b = bytes;
  SF_CHECK(n == m, SF_ERR_INPUT, "%s.once: the alignment kept has %zu bytes, this run needs %zu; remove it, or run "
           "without --resume", j->o.out, n, m);
  SF_ALLOC(j->t_al, nt ? nt : 1);
  SF_ALLOC(j->t_re, nt ? nt : 1);
  memcpy(j->t_al, b, nt * sizeof(long long));
  memcpy(j->t_re, b + nt * sizeof(long long), nt * sizeof(long long));
  memcpy(j->blk, b + 2 * nt * sizeof(long long), nb * sizeof(eeg_block));
cleanup:
  return status;
}

/* ---- step 3: per channel ------------------------------------------------------------------- */

/* The reader of the custom source: channels [first, first + count) of the selection as
 * float32 (the physical values; EDF's 16 and BDF's 24 bits fit). Runs on the I/O thread, the
 * only thread that touches the EDF file during the sweep. */
static int read_channels(void *ctx, size_t first, size_t count, size_t core_first, size_t core_count,
                         float *buf) {
  eeg_job *j = ctx;
  int status = 0;
  double *tmp = NULL;
  if (count == 0) return 0;
  SF_ALLOC(tmp, j->n);
  for (size_t c = 0; c < count; c++) {
    SF_CALL(sf_eeg_read_channel(j->rec, j->sel[first + c], 0, j->n, tmp));
    float *o = buf + c * j->n;
    for (size_t i = 0; i < j->n; i++) {
      SF_CHECK(isfinite(tmp[i]), SF_ERR_INPUT, "%s: channel %s: sample %zu is not a finite number", j->o.in,
               j->rec->signals[j->sel[first + c]].label, i);
      o[i] = (float)tmp[i];
    }
  }
cleanup:
  free(tmp);
  return status;
}

/* One channel, every thread of the team inside (shared executor). The FFT filters and
 * resampling run on one thread; the AAS loops over averaging blocks and epochs are split. */
static int channel_unit(void *ctx, void *ws, const sf_batch *bt, size_t k) {
  eeg_job *j = ctx;
  const float *in = bt->in + k * bt->unit_elems;
  size_t up = j->o.upsample, W = j->o.aas_window;
  int t0 = sf_exec_thread() == 0;
  double tc = t0 ? omp_get_wtime() : 0.0;
#define EEG_LAP(ph)                                                                                          \
  do {                                                                                                       \
    if (t0) {                                                                                                \
      double now_ = omp_get_wtime();                                                                         \
      j->tph[ph] += now_ - tc;                                                                               \
      tc = now_;                                                                                             \
    }                                                                                                        \
  } while (0)
#pragma omp single
  {
    j->status = 0;
    for (size_t i = 0; i < j->n; i++) j->x[i] = in[i];
  }
  {
    int st = highpass(j, j->x, j->y); /* the same on every thread */
#pragma omp single
    j->status = st;
  }
  for (size_t b = 0; b < (size_t)j->sh.nb && j->status == 0; b++) {
    const eeg_block *kb = &j->blk[b];
    size_t m = (size_t)(kb->a1 - kb->a0) * up, i0 = (size_t)kb->i0, nb = (size_t)(kb->i1 - kb->i0);
    size_t L = (size_t)kb->L_up, na = (nb + W - 1) / W;
    long off = (long)kb->off_up;
    const long long *ta = j->t_al + i0, *tr = j->t_re + i0;
    double *u = block_u(j, b);
    double *nu = j->noise_pad ? j->noise_pad + (u - j->upad) : NULL; /* the estimate, like u */
    EEG_LAP(0);
    int st = block_up(j, b, j->y); /* the same on every thread */
    if (st) {
#pragma omp single
      j->status = st;
      break;
    }
    EEG_LAP(1);
#pragma omp single
    {
      j->mean = mean_of(u, m);
      if (j->noise_pad) memset(j->noise_pad, 0, j->u_cap * sizeof *j->noise_pad);
    }
#pragma omp for schedule(static)
    for (size_t a = 0; a < na; a++)
      sf_aas_block_template(u, m, j->mean, ta, nb, off, L, W, j->o.aas_threshold, a, j->tmpl + a * L);
#pragma omp for schedule(static)
    for (size_t i = 0; i < nb; i++)
      j->alpha[i0 + i] = sf_aas_alpha(u, m, j->mean, tr[i] + off, j->tmpl + (i / W) * L, L);
#pragma omp for schedule(static)
    for (size_t i = 0; i < nb; i++) {
      long long s = tr[i] + off, e = i + 1 < nb ? tr[i + 1] + off : s + (long long)L;
      sf_aas_subtract(u, nu, m, s, e, j->alpha[i0 + i], j->tmpl + (i / W) * L, L);
    }
    if (j->obs) {
#pragma omp single
      {
        int ku = 0;
        j->status = sf_obs_execute(j->obs, u, nu, m, tr, nb, off, L, j->o.obs, &ku, j->obs_ws[b]);
        j->obs_k = ku;
        if (j->status)
          sf_error_report(j->status, __FILE__, __LINE__, __func__,
                          "%s: channel %s, acquisition block %zu: OBS failed (no epoch for the PCA inside the block)",
                          j->o.in, j->rec->signals[j->sel[bt->first + k]].label, b + 1);
      }
      if (j->status) break;
    }
#pragma omp barrier
    EEG_LAP(2);
    st = block_down(j, b, j->y);
    if (st == 0 && j->noise_pad) {
      if (j->o.upsample == 1) {
#pragma omp single
        memcpy(j->noise + kb->a0, j->noise_pad, (size_t)(kb->a1 - kb->a0) * sizeof *j->noise);
      } else {
        st = sf_updown_down(j->ud[b], j->noise_pad, j->noise + kb->a0, j->ud_buf, j->ud_ws[sf_exec_thread()]);
      }
    }
    if (st) {
#pragma omp single
      j->status = st;
      break;
    }
  }
#pragma omp barrier
  EEG_LAP(3);
  float *o = j->outbuf[bt->slot] + k * j->n;
  double *mt = j->metrics[bt->slot] + 4 * k;
  double *z = j->upad; /* scratch of >= n samples */
  if (j->status == 0 && j->lp) {
    int st = sf_fir_apply_zero_phase_team(j->lp, j->y, j->n, z, j->lp_ws[sf_exec_thread()], j->fir_scratch);
#pragma omp single
    j->status = st;
  } else if (j->status == 0) {
#pragma omp single
    memcpy(z, j->y, j->n * sizeof *z);
  }
#pragma omp single
  {
    if (j->status == 0 && j->anc) {
      /* the estimate low-passed like the data; ANC per block over [first - L, last + L) */
      if (j->lp) j->status = sf_fir_apply_zero_phase(j->lp, j->noise, j->n, j->noise_lp, j->lp_ws[0]);
      else memcpy(j->noise_lp, j->noise, j->n * sizeof *j->noise_lp);
      for (long long b = 0; b < j->sh.nb && j->status == 0; b++) {
        const eeg_block *kb = &j->blk[b];
        long long w0 = j->trig[kb->i0] - kb->L, w1 = j->trig[kb->i1 - 1] + kb->L;
        if (w0 < 0) w0 = 0;
        if (w1 > (long long)j->n) w1 = (long long)j->n;
        int rc = sf_anc_execute(j->anc, z, j->noise_lp, (size_t)w0, (size_t)w1, (size_t)kb->L, j->anc_ws);
        if (rc < 0) j->status = rc;
      }
    }
    EEG_LAP(4);
    if (j->status == 0) {
      for (size_t i = 0; i < j->n; i++) o[i] = (float)z[i];
      sf_eeg_metrics em;
      j->status = sf_eeg_metrics_compute(j->x, z, j->n, j->fs, j->trig, (size_t)j->sh.nt, (size_t)j->sh.L,
                                         (long)j->blk[0].off, &em);
      mt[0] = em.snr, mt[1] = em.rms_ratio, mt[2] = em.rms_residual, mt[3] = em.median_p2p;
    }
    EEG_LAP(5);
  }
#undef EEG_LAP
  (void)ws;
  return j->status;
}

/* The options that change results, as one string (provenance and the resume identity). */
static void options_string(const eeg_opts *o, char *buf, size_t n) {
  char off[64];
  if (o->offset == o->offset) snprintf(off, sizeof off, "%.17g", o->offset);
  else snprintf(off, sizeof off, "auto");
  snprintf(buf, n,
           "trigger=%s%s threshold=%.17g hp=%.17g lp=%.17g upsample=%zu aas-window=%zu aas-threshold=%.17g "
           "artifact-offset=%s ref-channel=%s obs=%d anc=%d",
           o->trig_channel ? "channel:" : "regex:", o->trig_channel ? o->trig_channel : o->regex, o->trig_threshold,
           o->hp, o->lp, o->upsample, o->aas_window, o->aas_threshold, off, o->ref_channel ? o->ref_channel : "-",
           o->obs, o->anc);
}

/* The run's identity for --resume: the input (path, size, modification time), the corrected
 * channels and every option that changes results. */
static void resume_identity(const eeg_job *j, char *buf, size_t n) {
  char opts[4096];
  size_t k = (size_t)snprintf(buf, n, "eeg input");
  sf_output_identity_file(buf, n, &k, j->o.in);
  options_string(&j->o, opts, sizeof opts);
  if (k < n) k += (size_t)snprintf(buf + k, n - k, " %s channels=", opts);
  for (size_t c = 0; c < j->nsel && k < n; c++)
    k += (size_t)snprintf(buf + k, n - k, "%s%s", c ? "," : "", j->rec->signals[j->sel[c]].label);
}

/* The datasets that do not depend on the channels' results: /channels, /triggers and
 * /triggers_aligned, made and written at the start. Collective. */
static int write_fixed(eeg_job *j) {
  int status = 0, id_ch = -1, id_t = -1, id_ta = -1;
  hid_t st = H5Tcopy(H5T_C_S1);
  char *names = NULL;
  double *ta = NULL;
  H5Tset_size(st, sizeof j->rec->signals[0].label);
  hsize_t nsel[1] = {j->nsel}, nt[1] = {(hsize_t)j->sh.nt};
  SF_CALL(sf_output_add(j->out, "/channels", st, 1, nsel, NULL, &id_ch));
  SF_CALL(sf_output_add(j->out, "/triggers", H5T_STD_I64LE, 1, nt, NULL, &id_t));
  SF_CALL(sf_output_add(j->out, "/triggers_aligned", H5T_IEEE_F64LE, 1, nt, NULL, &id_ta));
  SF_ALLOC(names, j->nsel * sizeof j->rec->signals[0].label);
  SF_ALLOC(ta, (size_t)j->sh.nt);
  for (size_t c = 0; c < j->nsel; c++)
    memcpy(names + c * sizeof j->rec->signals[0].label, j->rec->signals[j->sel[c]].label,
           sizeof j->rec->signals[0].label);
  for (long long b = 0; b < j->sh.nb; b++)
    for (long long i = j->blk[b].i0; i < j->blk[b].i1; i++)
      ta[i] = (double)j->blk[b].a0 + (double)j->t_re[i] / (double)j->o.upsample;
  SF_CALL(sf_output_write_all(j->out, id_ch, st, names));
  SF_CALL(sf_output_write_all(j->out, id_t, H5T_NATIVE_LLONG, j->trig));
  SF_CALL(sf_output_write_all(j->out, id_ta, H5T_NATIVE_DOUBLE, ta));
cleanup:
  H5Tclose(st);
  free(names);
  free(ta);
  return sf_mpi_agree(status, j->comm);
}

static int channels_start(void *ctx) {
  eeg_job *j = ctx;
  int status = 0;
  for (int q = 0; q < 2; q++) {
    j->outbuf[q] = malloc(j->n * sizeof(float));
    j->metrics[q] = malloc(4 * sizeof(double));
    if (!j->outbuf[q] || !j->metrics[q]) status = SF_ERR_NOMEM;
  }
  if (j->obs) {
    /* OBS workspaces per block: their artifact lengths are known after the alignment */
    j->obs_ws = calloc((size_t)j->sh.nb, sizeof *j->obs_ws);
    if (!j->obs_ws) status = SF_ERR_NOMEM;
    for (long long b = 0; status == 0 && b < j->sh.nb; b++) {
      const eeg_block *kb = &j->blk[b];
      status = sf_obs_ws_create(j->obs, (size_t)(kb->a1 - kb->a0) * j->o.upsample, (size_t)(kb->i1 - kb->i0),
                                (size_t)kb->L_up, &j->obs_ws[b]);
    }
  }
  SF_CALL(sf_mpi_agree(status, j->comm));
  SF_CALL(sf_output_create(j->comm, j->o.out, j->plan.n_segments, &j->out));
  hsize_t dims[2] = {j->nsel, j->n}, one[1] = {j->nsel};
  SF_CALL(sf_output_add(j->out, "/corrected", H5T_IEEE_F32LE, 2, dims, NULL, &j->id_corr));
  for (int m = 0; m < 4; m++) {
    char name[64];
    snprintf(name, sizeof name, "/metrics/%s", k_metric_names[m]);
    SF_CALL(sf_output_add(j->out, name, H5T_IEEE_F64LE, 1, one, NULL, &j->id_m[m]));
  }
  SF_CALL(write_fixed(j));
  if (sf_output_resumed(j->out) && j->rank == 0)
    fprintf(stderr, "slabflow: eeg: resuming %s.partial: %zu of %zu channels already done\n", j->o.out,
            sf_output_segments_done(j->out), j->nsel);
  sf_progress_start(&j->prog, j->rank == 0, "eeg", "channels", j->nsel);
cleanup:
  return status;
}

static int channels_done(void *ctx, long seg) { return sf_output_segment_done(((eeg_job *)ctx)->out, seg); }

static int channels_commit(void *ctx, const sf_batch *b) {
  eeg_job *j = ctx;
  int status = 0, q = b->slot;
  SF_CALL(sf_output_write_rows(j->out, j->id_corr, b->first, b->count, H5T_NATIVE_FLOAT, j->outbuf[q]));
  for (int m = 0; m < 4; m++) {
    double v[1] = {b->count ? j->metrics[q][m] : 0.0};
    SF_CALL(sf_output_write_rows(j->out, j->id_m[m], b->first, b->count, H5T_NATIVE_DOUBLE, v));
  }
  SF_CALL(sf_output_mark_done(j->out, b->segment));
cleanup:
  return status;
}

/* The attributes, at the end. Collective. */
static int write_rest(eeg_job *j, double total) {
  int status = 0;
  {
    hid_t root = sf_output_root(j->out);
    char cmd[8192], opts[4096];
    sf_cli_join(j->argc, j->argv, cmd, sizeof cmd);
    options_string(&j->o, opts, sizeof opts);
    SF_CALL(sf_h5_attr_string(root, "slabflow_version", SF_VERSION));
    SF_CALL(sf_h5_attr_string(root, "command", "eeg"));
    SF_CALL(sf_h5_attr_string(root, "command_line", cmd));
    SF_CALL(sf_h5_attr_string(root, "options", opts));
    SF_CALL(sf_h5_attr_string(root, "input", j->o.in));
    SF_CALL(sf_h5_attr_double(root, "sampling_rate", j->fs));
    SF_CALL(sf_h5_attr_string(root, "unit", j->rec->signals[j->sel[0]].dimension));
    SF_CALL(sf_h5_attr_int(root, "artifact_length", j->sh.L));
    SF_CALL(sf_h5_attr_int(root, "artifact_length_upsampled", j->blk[0].L_up));
    SF_CALL(sf_h5_attr_int(root, "artifact_offset_upsampled", j->blk[0].off_up));
    SF_CALL(sf_h5_attr_int(root, "upsample", (long long)j->o.upsample));
    SF_CALL(sf_h5_attr_int(root, "acquisition_blocks", j->sh.nb));
    SF_CALL(sf_h5_attr_int(root, "volume_gaps", j->sh.volume_gaps));
    SF_CALL(sf_h5_attr_string(root, "reference_channel", j->rec->signals[j->ref].label));
    SF_CALL(sf_h5_attr_int(root, "ranks", j->nranks));
    SF_CALL(sf_h5_attr_int(root, "threads", sf_exec_threads(j->exec)));
    SF_CALL(sf_h5_attr_double(root, "time_total_s", total));
    {
      /* rank 0's compute seconds by phase */
      static const char *const ph[6] = {"time_highpass_s", "time_upsample_s", "time_aas_s", "time_downsample_s",
                                        "time_lowpass_s", "time_metrics_s"};
      for (int q = 0; q < 6; q++) SF_CALL(sf_h5_attr_double(root, ph[q], j->tph[q]));
      SF_CALL(sf_h5_attr_double(root, "time_setup_s", j->t_setup));
      SF_CALL(sf_h5_attr_double(root, "time_triggers_s", j->t_triggers));
      SF_CALL(sf_h5_attr_double(root, "time_plans_s", j->t_plans));
      SF_CALL(sf_h5_attr_double(root, "time_align_s", j->t_align));
    }
    SF_CALL(sf_h5_attr_int(root, "first_trigger", j->trig[0]));
    if (j->obs) SF_CALL(sf_h5_attr_int(root, "obs_components", j->obs_k));
  }
cleanup:
  return sf_mpi_agree(status, j->comm);
}

/* ---- --edf-out (rank 0, after the HDF5 output is complete) --------------------------------- */

typedef struct edf_out_ctx {
  const eeg_job *j;
  hid_t file, dset;
  int *row; /* per input signal its row in /corrected, -1 when not corrected */
} edf_out_ctx;

static int edf_samples(void *ctx, int sig, size_t first, size_t n, double *out) {
  edf_out_ctx *c = ctx;
  int status = 0;
  if (c->row[sig] < 0) return 0;
  hid_t fs = H5Dget_space(c->dset), ms = H5Screate_simple(1, (hsize_t[]){n}, NULL);
  hsize_t start[2] = {(hsize_t)c->row[sig], first}, count[2] = {1, n};
  if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dread(c->dset, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, out) < 0)
    status = SF_ERR_IO;
  if (fs >= 0) H5Sclose(fs);
  if (ms >= 0) H5Sclose(ms);
  SF_CHECK(status == 0, SF_ERR_IO, "%s: cannot read /corrected back for %s", c->j->o.out, c->j->o.edf_out);
  return 1;
cleanup:
  return status;
}

/* The input's copy with the corrected channels replaced, read back from OUT.h5. Rank 0. */
static int write_edf_out(eeg_job *j) {
  int status = 0;
  edf_out_ctx c = {j, H5I_INVALID_HID, H5I_INVALID_HID, NULL};
  size_t clipped = 0;
  SF_ALLOC(c.row, (size_t)j->rec->nsignals);
  for (int s = 0; s < j->rec->nsignals; s++) c.row[s] = -1;
  for (size_t k = 0; k < j->nsel; k++) c.row[j->sel[k]] = (int)k;
  SF_H5_AS(SF_ERR_IO, c.file = H5Fopen(j->o.out, H5F_ACC_RDONLY, H5P_DEFAULT), "%s: cannot open", j->o.out);
  SF_H5_AS(SF_ERR_IO, c.dset = H5Dopen2(c.file, "/corrected", H5P_DEFAULT), "%s: no /corrected", j->o.out);
  SF_CALL(sf_eeg_write_like(j->o.edf_out, j->rec, edf_samples, &c, &clipped));
  if (clipped)
    fprintf(stderr, "slabflow: eeg: %zu corrected samples outside their channel's physical range were clipped in %s\n",
            clipped, j->o.edf_out);
cleanup:
  if (c.dset >= 0) H5Dclose(c.dset);
  if (c.file >= 0) H5Fclose(c.file);
  free(c.row);
  return status;
}

static void free_job(eeg_job *j) {
  for (int t = 0; t < j->nthreads; t++) {
    if (j->hp_ws) sf_fir_ws_destroy(&j->hp_ws[t]);
    if (j->lp_ws) sf_fir_ws_destroy(&j->lp_ws[t]);
  }
  free(j->hp_ws);
  free(j->lp_ws);
  free(j->fir_scratch);
  sf_fir_destroy(&j->hp);
  sf_fir_destroy(&j->lp);
  for (long long b = 0; j->ud && b < j->sh.nb; b++) sf_updown_destroy(&j->ud[b]);
  for (int t = 0; j->ud_ws && t < j->nthreads; t++) sf_updown_ws_destroy(&j->ud_ws[t]);
  sf_updown_buf_destroy(&j->ud_buf);
  free(j->ud);
  free(j->ud_ws);
  for (long long b = 0; j->obs_ws && b < j->sh.nb; b++) sf_obs_ws_destroy(&j->obs_ws[b]);
  free(j->obs_ws);
  sf_obs_destroy(&j->obs);
  sf_anc_ws_destroy(&j->anc_ws);
  sf_anc_destroy(&j->anc);
  free(j->noise_pad);
  free(j->noise);
  free(j->noise_lp);
  free(j->x);
  free(j->y);
  free(j->upad);
  free(j->tmpl);
  free(j->alpha);
  for (int q = 0; q < 2; q++) {
    free(j->outbuf[q]);
    free(j->metrics[q]);
  }
  free(j->trig);
  free(j->blk);
  free(j->t_al);
  free(j->t_re);
  free(j->sel);
  sf_eeg_close(&j->rec);
}

/* --edf-out before anything runs: not -o's file, in a writable directory. Reported by rank 0;
 * the same on every rank. */
static int check_edf_out(const eeg_job *j) {
  int verbose = j->rank == 0;
  char da[4096], db[4096], ra[PATH_MAX], rb[PATH_MAX];
  snprintf(da, sizeof da, "%s", j->o.edf_out);
  snprintf(db, sizeof db, "%s", j->o.out);
  const char *ba = strrchr(j->o.edf_out, '/'), *bb = strrchr(j->o.out, '/');
  ba = ba ? ba + 1 : j->o.edf_out;
  bb = bb ? bb + 1 : j->o.out;
  char *sa = strrchr(da, '/'), *sb = strrchr(db, '/');
  const char *dira = sa ? (sa == da ? "/" : (*sa = '\0', da)) : ".";
  const char *dirb = sb ? (sb == db ? "/" : (*sb = '\0', db)) : ".";
  if (!realpath(dira, ra) || access(ra, W_OK | X_OK) != 0)
    return sf_cli_usage_error(verbose, "--edf-out: %s: output directory %s does not exist or is not writable",
                              j->o.edf_out, dira);
  if (realpath(dirb, rb) && !strcmp(ra, rb) && !strcmp(ba, bb))
    return sf_cli_usage_error(verbose, "--edf-out: %s is the HDF5 output (-o)", j->o.edf_out);
  return 0;
}

int sf_cmd_eeg(int argc, char **argv) {
  int status = 0, help = 0;
  eeg_job job, *j = &job;
  memset(j, 0, sizeof *j);
  j->comm = MPI_COMM_WORLD;
  j->argc = argc;
  j->argv = argv;
  SF_MPI(MPI_Barrier(j->comm));
  double t0 = MPI_Wtime();
  SF_MPI(MPI_Comm_rank(j->comm, &j->rank));
  SF_MPI(MPI_Comm_size(j->comm, &j->nranks));
  status = eeg_parse(argc, argv, j->rank == 0, &j->o, &help);
  if (help) {
    if (j->rank == 0) eeg_help();
    return 0;
  }
  SF_CALL(sf_mpi_agree(status, j->comm));
  /* every rank reads the header; rank 0 reports a bad file */
  if (j->rank == 0 && access(j->o.in, R_OK) != 0)
    status = sf_cli_usage_error(1, "%s: cannot open the recording: %s", j->o.in, strerror(errno));
  SF_CALL(sf_mpi_agree(status, j->comm));
  {
    if (j->rank == 0) status = sf_eeg_open(j->o.in, &j->rec);
    SF_CALL(sf_mpi_agree(status, j->comm));
    if (j->rank != 0) status = sf_eeg_open(j->o.in, &j->rec);
    SF_CALL(sf_mpi_agree(status, j->comm));
  }
  SF_CALL(sf_mpi_agree(select_channels(j), j->comm));
  {
    const char *inputs[2] = {j->o.in, j->o.edf_out};
    struct stat a, b;
    int same = j->o.edf_out && stat(j->o.in, &a) == 0 && stat(j->o.edf_out, &b) == 0 && a.st_dev == b.st_dev &&
               a.st_ino == b.st_ino;
    if (same) status = sf_cli_usage_error(j->rank == 0, "--edf-out: %s is the input", j->o.edf_out);
    if (!same && j->o.edf_out) status = check_edf_out(j);
    SF_CALL(sf_mpi_agree(status, j->comm));
    SF_CALL(sf_output_check_path(j->comm, j->o.out, inputs, 2));
  }
  {
    int local_rank = 0, local_size = 1;
    SF_CALL(sf_mpi_local_rank(j->comm, &local_rank, &local_size));
    sf_exec_config xc = {SF_EXEC_OPENMP_SHARED, j->o.threads, local_rank, NULL, NULL, j, j->rank != 0};
    SF_CALL(sf_mpi_agree(sf_exec_create(&xc, &j->exec), j->comm));
  }
  {
    sf_source_reader rd = {j, read_channels};
    SF_CALL(sf_source_custom(j->comm, &rd, j->n, j->o.in, &j->src));
  }
  sf_plan_init(&j->plan, 0, j->nsel, 1, j->nranks);
  SF_CALL(sf_plan_bcast(&j->plan, j->comm));
  {
    char *id = malloc(16384);
    if (id) resume_identity(j, id, 16384);
    status = sf_output_begin(j->comm, j->o.out, j->o.resume, id ? id : "", j->plan.n_segments);
    free(id);
    SF_CALL(status);
  }
  {
    sf_step s1 = {.name = "triggers", .kind = SF_STEP_ONCE, .once = step_triggers, .result = &j->sh,
                  .result_bytes = sizeof j->sh, .share = share_triggers};
    sf_pipeline p1 = {j->comm, j, j->exec, j->src, &j->plan, &s1, 1};
    j->t_setup = MPI_Wtime() - t0;
    SF_CALL(sf_pipeline_run(&p1, NULL));
    j->t_triggers = MPI_Wtime() - t0 - j->t_setup;
  }
  {
    /* the memory: per rank one channel at the native rate (several copies) and one block at
     * the upsampled rate with the resampling's padded buffers */
    sf_mem_budget b;
    sf_mem_budget_init(&b);
    sf_mem_budget_add(&b, 6, j->n, sizeof(double), 1, "6 buffers of %zu samples", j->n);
    sf_mem_budget_add(&b, 5, j->n * j->o.upsample, sizeof(double), 1, "the upsampled channel (%zu samples) and its FFTs",
                      j->n * j->o.upsample);
    SF_CALL(sf_mpi_check_memory(j->comm, &b, j->o.in, "fewer --threads or a lower --upsample need less"));
  }
  {
    double tp = MPI_Wtime();
    SF_CALL(sf_mpi_agree(make_plans(j), j->comm));
    j->t_plans = MPI_Wtime() - tp;
  }
  sf_phase_times tm[2];
  sf_run_info info = {tm, ""};
  {
    sf_step steps[2] = {
        {.name = "alignment", .kind = SF_STEP_ONCE, .once = step_align, .share = share_align,
         .keep = keep_align, .restore = restore_align},
        {.name = "channels", .kind = SF_STEP_PER_UNIT, .start = channels_start, .unit = channel_unit,
         .commit = channels_commit, .overlap = 1, .done = channels_done, .prog = &j->prog}};
    sf_pipeline p2 = {j->comm, j, j->exec, j->src, &j->plan, steps, 2};
    status = sf_pipeline_run(&p2, &info);
    sf_progress_end(&j->prog);
    SF_CALL(status);
  }
  double total = MPI_Wtime() - t0;
  SF_MPI(MPI_Bcast(&total, 1, MPI_DOUBLE, 0, j->comm));
  SF_CALL(write_rest(j, total));
  SF_CALL(sf_output_finish(&j->out, 0));
  if (j->o.edf_out) {
    status = j->rank == 0 ? write_edf_out(j) : 0;
    SF_CALL(sf_mpi_agree(status, j->comm));
  }
  if (j->rank == 0) {
    printf("slabflow eeg: %zu channels x %zu samples at %g Hz, %lld triggers in %lld block(s), artifact %lld "
           "samples (x%zu: %lld), %d rank(s) x %d thread(s)\n",
           j->nsel, j->n, j->fs, j->sh.nt, j->sh.nb, j->sh.L, j->o.upsample, j->blk[0].L_up, j->nranks,
           sf_exec_threads(j->exec));
    printf("  %.2f s (%.1f recording seconds per second); output: %s%s%s\n", total, (double)j->n / j->fs / total,
           j->o.out, j->o.edf_out ? ", " : "", j->o.edf_out ? j->o.edf_out : "");
    fflush(stdout);
  }
cleanup:
  status = sf_output_finish(&j->out, status);
  sf_exec_destroy(&j->exec);
  sf_source_close(&j->src);
  free_job(j);
  return status;
}
