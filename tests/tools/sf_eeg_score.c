/* Test helper for `slabflow eeg`: scores a corrected recording against the synth truth, and
 * writes the special EDF+ files the tests need (EDFlib).
 *   sf_eeg_score score OUT.h5 REC.edf REC.h5 MAX_RMS MIN_DB
 *       per corrected channel, over the acquisition (first slice onset to one slice period
 *       after the last; the period the median trigger interval): the RMS of (corrected - clean), both band-passed 1.5-60 Hz alike
 *       (the project's zero-phase FIR); the reduction of the power at the slice frequency and
 *       its harmonics below 70 Hz (the low-pass edge), Hann-windowed DFT bins of the input
 *       against the output (the EEG's own power there bounds it per channel), per channel and
 *       over all channels together; and the same for the artifact alone (input - clean against
 *       corrected - clean, band-passed), which AAS's template noise bounds;
 *       prints them and fails when the median RMS exceeds MAX_RMS (uV) or the reduction over
 *       all channels is below MIN_DB
 *   sf_eeg_score trigchan REC.edf OUT.edf    REC.edf's signals plus a channel TRIG that is
 *       100 for 4 samples from every annotation's sample and 0 elsewhere, no annotations
 *   sf_eeg_score triggers OUT.h5 REC.h5 TOL SPREAD   /triggers within TOL samples of the
 *       truth's onsets (annotations map to the nearest sample), and /triggers_aligned minus
 *       the truth within SPREAD samples of its median (sub-sample alignment)
 *   sf_eeg_score edfcheck OUT.h5 IN.edf OUT.edf   OUT.edf (--edf-out) against its input and
 *       OUT.h5: the same signals (labels, rates, ranges) and annotations (onsets, texts); the
 *       corrected signals within half a quantum of /corrected; the others as in the input
 *   sf_eeg_score crop REC.edf OUT.edf S E     REC.edf without its first S and last E seconds
 *       (annotations moved and dropped alike)
 *   sf_eeg_score mixed OUT.edf               3 EEG channels, C3 at half the rate of the others,
 *       60 annotations "1"
 *   sf_eeg_score few OUT.edf N               3 EEG channels at 500 Hz, N annotations "1" */
#include <edflib.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/eeg_edf.h"
#include "kernels/eeg_filter.h"

static double *read_ds(const char *path, const char *ds, hsize_t *dims) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return NULL;
  hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
  if (d < 0) {
    H5Fclose(f);
    return NULL;
  }
  hid_t sp = H5Dget_space(d);
  dims[1] = 1;
  H5Sget_simple_extent_dims(sp, dims, NULL);
  size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
  double *b = malloc(n * sizeof *b);
  if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) < 0) {
    free(b);
    b = NULL;
  }
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return b;
}

static char *read_names(const char *path, size_t *n, size_t *len) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, "/channels", H5P_DEFAULT);
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  hsize_t dims[1];
  H5Sget_simple_extent_dims(sp, dims, NULL);
  *len = H5Tget_size(t);
  char *b = calloc(dims[0] * *len + 1, 1);
  H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, b);
  *n = dims[0];
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return b;
}

/* |sum_i w_i x_i e^{-2 pi i f i / fs}|^2 over [a, b) with a Hann window. */
static double power_at(const double *x, size_t a, size_t b, double f, double fs) {
  double re = 0, im = 0, n = (double)(b - a);
  for (size_t i = a; i < b; i++) {
    double w = 0.5 - 0.5 * cos(2 * M_PI * (double)(i - a) / n);
    double ph = 2 * M_PI * f * (double)(i - a) / fs;
    re += w * x[i] * cos(ph);
    im -= w * x[i] * sin(ph);
  }
  return re * re + im * im;
}


static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int score(int argc, char **argv) {
  if (argc < 7) return 2;
  const char *out = argv[2], *edf = argv[3], *truth = argv[4];
  double max_rms = atof(argv[5]), min_db = atof(argv[6]);
  hsize_t dc[2], dt[2], dtr[2];
  double *corr = read_ds(out, "/corrected", dc), *clean = read_ds(truth, "/clean", dt);
  double *trig = read_ds(truth, "/triggers", dtr);
  if (!corr || !clean || !trig) {
    fprintf(stderr, "cannot read %s or %s\n", out, truth);
    return 1;
  }
  size_t nc, lc, nt, lt;
  char *cn = read_names(out, &nc, &lc), *tn = read_names(truth, &nt, &lt);
  size_t n = dc[1], ntr = dtr[0];
  sf_eeg_rec *r = NULL;
  if (sf_eeg_open(edf, &r) != 0) return 1;
  /* the slice period: the median trigger interval (pauses between blocks excluded) */
  double *d = malloc(ntr * sizeof *d);
  for (size_t i = 0; i + 1 < ntr; i++) d[i] = trig[i + 1] - trig[i];
  qsort(d, ntr - 1, sizeof *d, cmp_d);
  double fs = r->signals[0].rate, period = d[(ntr - 1) / 2];
  free(d);
  double fsl = fs / period;
  size_t a = (size_t)ceil(trig[0]), b = (size_t)floor(trig[ntr - 1] + period);
  if (b > n) b = n;
  sf_fir *hp = NULL, *lp = NULL;
  sf_fir_ws *wh = NULL, *wl = NULL;
  sf_fir_design(fs, 1.5, NAN, &hp);
  sf_fir_design(fs, NAN, 60.0, &lp);
  sf_fir_ws_create(hp, &wh);
  sf_fir_ws_create(lp, &wl);
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
  double *in = malloc(n * sizeof *in), *rms = malloc(nc * sizeof *rms);
  double worst = INFINITY, sum_in = 0, sum_out = 0;
  int bad = 0;
  for (size_t c = 0; c < nc; c++) {
    const char *name = cn + c * lc;
    size_t k = 0;
    while (k < nt && strncmp(tn + k * lt, name, lc < lt ? lc : lt)) k++;
    int s = 0;
    while (s < r->nsignals && strcmp(r->signals[s].label, name)) s++;
    if (k == nt || s == r->nsignals) {
      fprintf(stderr, "channel %s not in the truth or the input\n", name);
      return 1;
    }
    sf_eeg_read_channel(r, s, 0, n, in);
    /* residual: both band-passed alike */
    for (size_t i = 0; i < n; i++) x[i] = corr[c * n + i] - clean[k * n + i];
    sf_fir_apply_zero_phase(hp, x, n, y, wh);
    sf_fir_apply_zero_phase(lp, y, n, z, wl);
    double e = 0;
    for (size_t i = a; i < b; i++) e += z[i] * z[i];
    rms[c] = sqrt(e / (double)(b - a));
    for (size_t i = 0; i < n; i++) x[i] = in[i] - clean[k * n + i];
    sf_fir_apply_zero_phase(hp, x, n, y, wh);
    sf_fir_apply_zero_phase(lp, y, n, x, wl);
    double pin = 0, pout = 0, ain = 0, aout = 0;
    for (int h = 1; h == 1 || h * fsl < 70.0; h++) {
      pin += power_at(in, a, b, h * fsl, fs);
      pout += power_at(corr + c * n, a, b, h * fsl, fs);
      ain += power_at(x, a, b, h * fsl, fs);
      aout += power_at(z, a, b, h * fsl, fs);
    }
    double db = 10 * log10(pin / pout);
    if (db < worst) worst = db;
    sum_in += pin, sum_out += pout;
    printf("%-6s residual %.3f uV  slice-frequency power -%.1f dB (artifact alone -%.1f dB)\n", name, rms[c], db,
           10 * log10(ain / aout));
  }
  qsort(rms, nc, sizeof *rms, cmp_d);
  double med = nc % 2 ? rms[nc / 2] : 0.5 * (rms[nc / 2 - 1] + rms[nc / 2]);
  double total = 10 * log10(sum_in / sum_out);
  printf("median residual %.3f uV (bound %.3f); slice-frequency power -%.1f dB over all channels (bound %.1f), "
         "smallest channel -%.1f dB\n",
         med, max_rms, total, min_db, worst);
  if (!(med <= max_rms) || !(total >= min_db)) bad = 1;
  sf_eeg_close(&r);
  return bad;
}

/* Writes an EDF+ with the given signals; data[s] holds rate[s] * seconds samples. */
static int write_edf(const char *path, int ns, const char *const *labels, const int *rate, int seconds,
                     double *const *data, const double *ann, int nann) {
  int h = edfopen_file_writeonly(path, EDFLIB_FILETYPE_EDFPLUS, ns);
  if (h < 0) return 1;
  for (int s = 0; s < ns; s++) {
    edf_set_samplefrequency(h, s, rate[s]);
    edf_set_physical_maximum(h, s, 16383.5);
    edf_set_physical_minimum(h, s, -16384);
    edf_set_digital_maximum(h, s, 32767);
    edf_set_digital_minimum(h, s, -32768);
    edf_set_label(h, s, labels[s]);
    edf_set_physical_dimension(h, s, "uV");
  }
  for (int sec = 0; sec < seconds; sec++)
    for (int s = 0; s < ns; s++)
      if (edfwrite_physical_samples(h, data[s] + (size_t)sec * rate[s])) return 1;
  for (int k = 0; k < nann; k++) edfwrite_annotation_utf8(h, llround(ann[k] * 1e4), -1, "1");
  return edfclose_file(h) ? 1 : 0;
}

static int trigchan(const char *in, const char *out) {
  sf_eeg_rec *r = NULL;
  if (sf_eeg_open(in, &r)) return 1;
  int ns = r->nsignals + 1, rate = (int)r->signals[0].rate, seconds = (int)(r->signals[0].samples / (size_t)rate);
  size_t n = r->signals[0].samples;
  const char **labels = calloc((size_t)ns, sizeof *labels);
  int *rates = calloc((size_t)ns, sizeof *rates);
  double **data = calloc((size_t)ns, sizeof *data);
  for (int s = 0; s < ns; s++) {
    labels[s] = s < r->nsignals ? r->signals[s].label : "TRIG";
    rates[s] = rate;
    data[s] = calloc(n, sizeof(double));
    if (s < r->nsignals) sf_eeg_read_channel(r, s, 0, n, data[s]);
  }
  for (size_t k = 0; k < r->nannotations; k++) {
    long long t = sf_eeg_time_to_sample(r, 0, r->annotations[k].onset);
    for (long long i = t; i < t + 4 && i < (long long)n; i++) data[ns - 1][i] = 100.0;
  }
  int rc = write_edf(out, ns, labels, rates, seconds, data, NULL, 0);
  sf_eeg_close(&r);
  return rc;
}

static int triggers(const char *out, const char *truth, double tol, double spread) {
  hsize_t a[2], b[2], c[2];
  double *t = read_ds(out, "/triggers", a), *ta = read_ds(out, "/triggers_aligned", b);
  double *tt = read_ds(truth, "/triggers", c);
  if (!t || !ta || !tt || a[0] != c[0] || b[0] != c[0]) {
    fprintf(stderr, "trigger counts differ or missing\n");
    return 1;
  }
  size_t n = a[0];
  double *d = malloc(n * sizeof *d), e = 0, s = 0;
  for (size_t i = 0; i < n; i++) {
    e = fmax(e, fabs(t[i] - tt[i]));
    d[i] = ta[i] - tt[i];
  }
  qsort(d, n, sizeof *d, cmp_d);
  double med = d[n / 2];
  for (size_t i = 0; i < n; i++) s = fmax(s, fabs(d[i] - med));
  printf("%zu triggers: detected within %.3f samples of the truth (bound %.3f); aligned within %.3f of their median "
         "offset %.3f (bound %.3f)\n",
         n, e, tol, s, med, spread);
  return e <= tol && s <= spread ? 0 : 1;
}

static int crop(const char *in, const char *out, int s0, int e0) {
  sf_eeg_rec *r = NULL;
  if (sf_eeg_open(in, &r)) return 1;
  int ns = r->nsignals, rate = (int)r->signals[0].rate;
  int seconds = (int)(r->signals[0].samples / (size_t)rate) - s0 - e0;
  size_t n = (size_t)seconds * (size_t)rate;
  const char **labels = calloc((size_t)ns, sizeof *labels);
  int *rates = calloc((size_t)ns, sizeof *rates);
  double **data = calloc((size_t)ns, sizeof *data), *ann = calloc(r->nannotations + 1, sizeof *ann);
  for (int s = 0; s < ns; s++) {
    labels[s] = r->signals[s].label;
    rates[s] = rate;
    data[s] = calloc(n, sizeof(double));
    sf_eeg_read_channel(r, s, (size_t)s0 * (size_t)rate, n, data[s]);
  }
  int na = 0;
  for (size_t k = 0; k < r->nannotations; k++) {
    double t = (double)r->annotations[k].onset / 1e7 - s0;
    if (t >= 0 && t < seconds) ann[na++] = t;
  }
  int rc = write_edf(out, ns, labels, rates, seconds, data, ann, na);
  sf_eeg_close(&r);
  return rc;
}

static int edfcheck(const char *h5, const char *in, const char *out) {
  sf_eeg_rec *a = NULL, *b = NULL;
  if (sf_eeg_open(in, &a) || sf_eeg_open(out, &b)) return 1;
  hsize_t dc[2];
  double *corr = read_ds(h5, "/corrected", dc);
  size_t nc, lc;
  char *cn = read_names(h5, &nc, &lc);
  if (!corr || a->nsignals != b->nsignals || a->nannotations != b->nannotations) {
    fprintf(stderr, "signals %d/%d, annotations %zu/%zu\n", a->nsignals, b->nsignals, a->nannotations,
            b->nannotations);
    return 1;
  }
  for (size_t k = 0; k < a->nannotations; k++)
    if (a->annotations[k].onset != b->annotations[k].onset || strcmp(a->annotations[k].text, b->annotations[k].text)) {
      fprintf(stderr, "annotation %zu differs\n", k);
      return 1;
    }
  size_t n = a->signals[0].samples;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  int replaced = 0;
  for (int s = 0; s < a->nsignals; s++) {
    const sf_eeg_signal *p = &a->signals[s], *q = &b->signals[s];
    if (strcmp(p->label, q->label) || p->rate != q->rate || p->phys_min != q->phys_min || p->phys_max != q->phys_max ||
        p->dig_min != q->dig_min || p->dig_max != q->dig_max || p->samples != q->samples) {
      fprintf(stderr, "signal %d (%s): header differs\n", s, p->label);
      return 1;
    }
    sf_eeg_read_channel(a, s, 0, p->samples, x);
    sf_eeg_read_channel(b, s, 0, p->samples, y);
    size_t c = 0;
    while (c < nc && strncmp(cn + c * lc, p->label, lc)) c++;
    double q2 = 0.5 * (p->phys_max - p->phys_min) / (double)(p->dig_max - p->dig_min), e = 0;
    for (size_t i = 0; i < p->samples; i++) {
      double want = c < nc ? (double)(float)corr[c * dc[1] + i] : x[i];
      if (want > p->phys_max) want = p->phys_max;
      if (want < p->phys_min) want = p->phys_min;
      e = fmax(e, fabs(y[i] - want));
    }
    if (e > (c < nc ? q2 * 1.0001 : 0.0)) {
      fprintf(stderr, "signal %s: differs by %g (%s)\n", p->label, e, c < nc ? "corrected" : "copied");
      return 1;
    }
    replaced += c < nc;
  }
  printf("%s: %d signals (%d corrected), %zu annotations as in %s\n", out, a->nsignals, replaced, a->nannotations, in);
  sf_eeg_close(&a);
  sf_eeg_close(&b);
  return replaced == (int)nc ? 0 : 1;
}

static int synthetic(const char *out, int mixed, int nann) {
  const char *labels[3] = {"Fp1", "Cz", mixed ? "C3" : "O2"};
  int rates[3] = {500, 500, mixed ? 250 : 500}, seconds = 20;
  double *data[3], ann[400];
  for (int s = 0; s < 3; s++) {
    size_t n = (size_t)rates[s] * (size_t)seconds;
    data[s] = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) data[s][i] = 20.0 * sin(0.05 * (double)i + s) + 500.0 * ((i * 7 / (size_t)rates[s]) % 2);
  }
  for (int k = 0; k < nann && k < 400; k++) ann[k] = 2.0 + 0.25 * k;
  return write_edf(out, 3, labels, rates, seconds, data, ann, nann);
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "score")) return score(argc, argv);
  if (argc >= 4 && !strcmp(argv[1], "trigchan")) return trigchan(argv[2], argv[3]);
  if (argc >= 6 && !strcmp(argv[1], "triggers")) return triggers(argv[2], argv[3], atof(argv[4]), atof(argv[5]));
  if (argc >= 5 && !strcmp(argv[1], "edfcheck")) return edfcheck(argv[2], argv[3], argv[4]);
  if (argc >= 6 && !strcmp(argv[1], "crop")) return crop(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
  if (argc >= 3 && !strcmp(argv[1], "mixed")) return synthetic(argv[2], 1, 60);
  if (argc >= 4 && !strcmp(argv[1], "few")) return synthetic(argv[2], 0, atoi(argv[3]));
  fprintf(stderr, "usage: see the comment at the top of sf_eeg_score.c\n");
  return 2;
}
