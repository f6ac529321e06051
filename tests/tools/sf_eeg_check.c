/* Checks a recording of `slabflow synth eeg` against its truth: sf_eeg_check REC.edf|.bdf|.vhdr
 * REC.h5 CHANNELS RATE SECONDS. Reads REC through the project's reader (sf_eeg_open,
 * sf_eeg_read_channel) and REC.h5 through HDF5; checks labels, rate, duration, one annotation
 * "1" per slice within 50 us of its true onset (BrainVision: a "New Segment" at 0, then one
 * "S  1" per slice within half a sample), recording = truth within half the digital
 * resolution outside the acquisition, an artifact of over 500 uV inside it with its power at
 * the slice frequency and its harmonics. Exit 0 when all hold, 1 otherwise. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/eeg_edf.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static int failures = 0;
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      printf("FAIL: " __VA_ARGS__);                                                                \
      printf("\n");                                                                                \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

static double attr_double(hid_t f, const char *name) {
  double v = NAN;
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  if (a >= 0) {
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
  }
  return v;
}

/* Power of x[0..n) (Hann-windowed) at frequency f (cycles per sample). */
static double power_at(const double *x, size_t n, double f) {
  double re = 0, im = 0;
  for (size_t i = 0; i < n; i++) {
    double w = 0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)(n - 1));
    re += w * x[i] * cos(2 * M_PI * f * (double)i);
    im -= w * x[i] * sin(2 * M_PI * f * (double)i);
  }
  return re * re + im * im;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: sf_eeg_check REC.edf REC.h5 CHANNELS RATE SECONDS\n");
    return 2;
  }
  int C = atoi(argv[3]);
  double rate = atof(argv[4]), seconds = atof(argv[5]);
  sf_eeg_rec *r = NULL;
  if (sf_eeg_open(argv[1], &r) != 0) return 1;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    printf("FAIL: cannot open %s\n", argv[2]);
    return 1;
  }
  double hrate = attr_double(f, "rate"), tr = attr_double(f, "tr"), res = attr_double(f, "resolution");
  double slices = attr_double(f, "slices"), volumes = attr_double(f, "volumes");
  int jitter = attr_double(f, "jitter") != 0.0;
  CHECK(hrate == rate, "rate attribute %g, expected %g", hrate, rate);
  CHECK(r->nsignals == C, "%d signals, expected %d", r->nsignals, C);
  CHECK(r->duration == (long long)llround(seconds * 1e7), "duration %lld x 100 ns, expected %g s",
        r->duration, seconds);
  size_t ns = (size_t)llround(seconds * rate);

  /* Labels. */
  char(*labels)[16] = calloc((size_t)C, 16);
  hid_t d = H5Dopen2(f, "channels", H5P_DEFAULT), st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, 16);
  H5Tset_strpad(st, H5T_STR_NULLPAD);
  CHECK(d >= 0 && H5Dread(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) >= 0, "cannot read /channels");
  H5Dclose(d);
  for (int c = 0; c < C && c < r->nsignals; c++) {
    char lab[17];
    memcpy(lab, labels[c], 16);
    lab[16] = '\0';
    CHECK(strcmp(lab, r->signals[c].label) == 0, "channel %d: EDF label '%s', truth '%s'", c,
          r->signals[c].label, lab);
    CHECK(strcmp(r->signals[c].dimension, "uV") == 0, "channel %d: dimension '%s'", c,
          r->signals[c].dimension);
    CHECK(fabs(r->signals[c].rate - rate) < 1e-9, "channel %d: rate %g", c, r->signals[c].rate);
    CHECK(r->signals[c].samples == ns, "channel %d: %zu samples, expected %zu", c,
          r->signals[c].samples, ns);
  }
  CHECK(C >= 2 && strcmp(r->signals[C - 1].label, "ECG") == 0, "last channel is not ECG");
  CHECK(C < 3 || strcmp(r->signals[0].label, "Fp1") == 0, "first channel is %s, not Fp1",
        r->signals[0].label);

  /* Triggers and annotations. */
  d = H5Dopen2(f, "triggers", H5P_DEFAULT);
  hid_t sp = H5Dget_space(d);
  hssize_t nt = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  double *trig = malloc((size_t)(nt > 0 ? nt : 1) * sizeof *trig);
  CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, trig) >= 0, "cannot read /triggers");
  H5Dclose(d);
  CHECK(nt == (hssize_t)llround(volumes * slices) && volumes >= 1,
        "%lld triggers for %g volumes of %g slices", (long long)nt, volumes, slices);
  /* BrainVision: a "New Segment" marker first, slice markers "S  1" at whole samples */
  int bv = r->filetype == SF_EEG_BRAINVISION;
  size_t a0n = bv ? 1 : 0;
  const char *want = bv ? "S  1" : "1";
  double tol_on = bv ? 0.5 / rate : 0.5e-4;
  if (bv)
    CHECK(r->nannotations > 0 && strcmp(r->annotations[0].text, "New Segment") == 0 &&
              r->annotations[0].onset == 0, "no New Segment marker at sample 1");
  CHECK(r->nannotations == (size_t)nt + a0n, "%zu annotations, expected %lld (one per slice)",
        r->nannotations, (long long)nt + (long long)a0n);
  double ts = tr / slices * rate, worst_on = 0;
  int nblk_attr = H5Aexists(f, "blocks") > 0;
  for (size_t j = 0; j + a0n < r->nannotations && j < (size_t)nt; j++) {
    const sf_eeg_annotation *an = &r->annotations[j + a0n];
    CHECK(strcmp(an->text, want) == 0, "annotation %zu text '%s'", j, an->text);
    double err = fabs((double)an->onset * 1e-7 - trig[j] / rate);
    worst_on = fmax(worst_on, err);
    if (j > 0 && !nblk_attr) /* with blocks: within each block, below */
      CHECK(fabs(trig[j] - trig[j - 1] - ts) < 0.91, "trigger %zu: step %g samples, slice period %g", j, trig[j] - trig[j - 1], ts);
  }
  CHECK(worst_on <= tol_on + 1e-9, "annotation onsets up to %g s from the true onsets", worst_on);

  /* Acquisition blocks (synth eeg --blocks): /trigger_block, equal blocks, pauses of `pause` s
   * between one block's last volume and the next block without a trigger or an annotation. */
  int nb = 1;
  int *tblock = calloc((size_t)(nt > 0 ? nt : 1), sizeof *tblock);
  double pause = 0;
  if (H5Aexists(f, "blocks") > 0) {
    nb = (int)attr_double(f, "blocks");
    pause = attr_double(f, "pause");
    double vpb = attr_double(f, "volumes_per_block");
    d = H5Dopen2(f, "trigger_block", H5P_DEFAULT);
    CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tblock) >= 0,
          "cannot read /trigger_block");
    if (d >= 0) H5Dclose(d);
    CHECK(nb >= 2 && vpb * nb == volumes && pause > 0, "blocks %d, volumes_per_block %g, volumes %g, pause %g",
          nb, vpb, volumes, pause);
    size_t per = (size_t)llround(vpb * slices);
    for (hssize_t j = 0; j < nt; j++)
      CHECK(tblock[j] == (int)((size_t)j / per), "trigger %lld in block %d, expected %zu", (long long)j,
            tblock[j], (size_t)j / per);
  } else {
    CHECK(H5Lexists(f, "trigger_block", H5P_DEFAULT) <= 0, "/trigger_block without a blocks attribute");
  }
  for (size_t j = 1; j < (size_t)nt; j++) {
    if (tblock[j] == tblock[j - 1]) {
      CHECK(fabs(trig[j] - trig[j - 1] - ts) < 0.91, "trigger %zu: step %g samples, slice period %g", j,
            trig[j] - trig[j - 1], ts);
      continue;
    }
    /* the pause: from the last slice of one block to the first of the next */
    double last = trig[j - 1], first = trig[j], gap = (first - last) / rate;
    CHECK(fabs(gap - pause - ts / rate) < 1.0 / rate, "blocks %d and %d: %g s between their slices, "
          "expected the pause %g s plus a slice period", tblock[j - 1], tblock[j], gap, pause);
    size_t inside = 0;
    for (size_t k = 0; k < r->nannotations; k++) {
      double t = (double)r->annotations[k].onset * 1e-7 * rate;
      inside += t > last + 0.5 && t < first - 0.5;
    }
    CHECK(inside == 0, "%zu annotations in the pause before block %d", inside, tblock[j]);
  }


  /* Recording minus truth. */
  float *clean = malloc((size_t)C * ns * sizeof *clean);
  d = H5Dopen2(f, "clean", H5P_DEFAULT);
  CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, clean) >= 0, "cannot read /clean");
  H5Dclose(d);
  double worst_ratio = INFINITY, *x = malloc(ns * sizeof *x), *diff = malloc(ns * sizeof *diff);
  double a0 = trig[0], a1 = trig[nt - 1] + ts; /* acquisition, in samples */
  size_t i0 = (size_t)ceil(a0), i1 = (size_t)floor(a1), m = i1 - i0;
  for (int c = 0; c < C; c++) {
    if (sf_eeg_read_channel(r, c, 0, ns, x) != 0) {
      failures++;
      break;
    }
    const sf_eeg_signal *s = &r->signals[c];
    double bitv = (s->phys_max - s->phys_min) / (double)(s->dig_max - s->dig_min);
    CHECK(fabs(bitv - res) < 1e-12 * res + 1e-15, "channel %d: resolution %g, attribute %g", c, bitv, res);
    double out_max = 0, in_max = 0, rms = 0;
    for (size_t i = 0; i < ns; i++) {
      diff[i] = x[i] - clean[(size_t)c * ns + i];
      if ((double)i + 1 < a0 || (double)i > a1 + 1) out_max = fmax(out_max, fabs(diff[i]));
      else in_max = fmax(in_max, fabs(diff[i]));
      if ((double)i + 1 < a0) rms += (double)clean[(size_t)c * ns + i] * clean[(size_t)c * ns + i];
    }
    rms = sqrt(rms / fmax(1.0, floor(a0)));
    /* pauses between blocks: no gradient, so recording - truth is the slow drift (a small
     * sample-to-sample step: quantization and drift, no dG/dt of thousands of uV) */
    double pause_step = 0;
    for (size_t j = 1; j < (size_t)nt; j++) {
      if (tblock[j] == tblock[j - 1]) continue;
      size_t p0 = (size_t)ceil(trig[j - 1] + 2.0 * ts), p1 = (size_t)floor(trig[j] - 1.0);
      for (size_t i = p0 + 1; i <= p1 && i < ns; i++)
        pause_step = fmax(pause_step, fabs(diff[i] - diff[i - 1]));
    }
    CHECK(pause_step <= 2.0 + 2.0 * bitv, "channel %d: a step of %g uV in recording - truth during a pause",
          c, pause_step);
    CHECK(out_max <= 0.5 * bitv * 1.001 + 1e-3, "channel %d: off the scan |EDF - clean| up to %g uV (resolution %g)", c, out_max, bitv);
    CHECK(in_max > 500.0 && in_max < 16384, "channel %d: during the scan |EDF - clean| up to %g uV", c, in_max);
    CHECK(rms > (c + 1 < C ? 5.0 : 50.0) && rms < 2000.0, "channel %d: clean RMS %g uV before the scan", c, rms);
    /* Power at the slice frequency and its harmonics 2..8 against that halfway between
     * them: a periodic artifact has none there; jitter spreads a little over all frequencies
     * (relative power ~ (2 pi f sd)^2: sd 0.15 sample is 150 us at 1 kHz). */
    double fsl = 1.0 / ts, ph = 0, pn = 0;
    for (int k = 1; k <= 8 && (k + 0.5) * fsl < 0.5; k++) {
      ph += power_at(diff + i0, m, k * fsl);
      pn += power_at(diff + i0, m, (k - 0.5) * fsl);
    }
    CHECK(ph > (jitter ? 10.0 : 100.0) * pn, "channel %d: power at the slice harmonics %g, between them %g", c, ph, pn);
    worst_ratio = fmin(worst_ratio, ph / pn);
    if (c == 0)
      printf("channel %s: off-scan |EDF-clean| <= %.3g uV (resolution %.3g), in-scan up to %.0f uV, "
             "power at the slice harmonics %.3g x that between them, steps in pauses <= %.3g uV\n",
             s->label, out_max, bitv, in_max, ph / pn, pause_step);
  }
  printf("%s: %d channels, %zu samples at %g Hz, %lld slice annotations (onsets within %.1f us) in "
         "%d block(s), power at the slice harmonics >= %.3g x that between them, %d failures\n", argv[1], C,
         ns, rate, (long long)nt, worst_on * 1e6, nb, worst_ratio, failures);
  free(tblock);
  free(labels);
  free(trig);
  free(clean);
  free(x);
  free(diff);
  H5Tclose(st);
  H5Fclose(f);
  sf_eeg_close(&r);
  return failures ? 1 : 0;
}
