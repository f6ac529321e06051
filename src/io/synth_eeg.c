/* Synthetic EEG-fMRI recording (serial): 1/f background, posterior alpha bursts, frontal
 * blinks, an ECG channel, and the MR gradient artifact of slice-timed EPI with a scanner
 * drift; EDF+/BDF+ through EDFlib's writer or BrainVision .vhdr/.vmrk/.eeg of our own, the
 * clean truth in HDF5. */
#include "io/synth_eeg.h"

#include <edflib.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/h5_util.h"
#include "io/synth_rng.h"
#include "sf_error.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { ST_PINK = 1, ST_COMMON, ST_ALPHA, ST_BLINK, ST_ECG, ST_GAIN, ST_JITTER, ST_DRIFT, ST_START };

#define EEG_PHYS_MIN (-16384.0)
#define EEG_MAX_CHANNELS 64
#define EEG_CLEAN_MAX 5.0 /* s of clean recording before and after the scan, at most */
#define EEG_RAMP 0.2e-3   /* s: gradient ramp from 0 to full amplitude */
#define EEG_SLICE_LEN 33.0e-3 /* s: one slice's nominal gradient train */

/* 10-20 then 10-10 labels in montage order, with the weight of the blink (frontal) and alpha
 * (posterior) sources on each. */
typedef struct {
  const char *label;
  float blink, alpha;
} eeg_site;
static const eeg_site eeg_sites[] = {
    {"Fp1", 1.0f, 0.0f},  {"Fp2", 1.0f, 0.0f},  {"F7", 0.45f, 0.0f},  {"F3", 0.45f, 0.05f},
    {"Fz", 0.45f, 0.05f}, {"F4", 0.45f, 0.05f}, {"F8", 0.45f, 0.0f},  {"T7", 0.1f, 0.15f},
    {"C3", 0.15f, 0.2f},  {"Cz", 0.15f, 0.2f},  {"C4", 0.15f, 0.2f},  {"T8", 0.1f, 0.15f},
    {"P7", 0.02f, 0.7f},  {"P3", 0.02f, 0.7f},  {"Pz", 0.02f, 0.7f},  {"P4", 0.02f, 0.7f},
    {"P8", 0.02f, 0.7f},  {"O1", 0.0f, 1.0f},   {"O2", 0.0f, 1.0f},   {"Fpz", 1.0f, 0.0f},
    {"AF3", 0.7f, 0.0f},  {"AF4", 0.7f, 0.0f},  {"AF7", 0.7f, 0.0f},  {"AF8", 0.7f, 0.0f},
    {"F1", 0.45f, 0.05f}, {"F2", 0.45f, 0.05f}, {"F5", 0.45f, 0.0f},  {"F6", 0.45f, 0.0f},
    {"FC1", 0.25f, 0.1f}, {"FC2", 0.25f, 0.1f}, {"FC5", 0.25f, 0.1f}, {"FC6", 0.25f, 0.1f},
    {"FT7", 0.2f, 0.05f}, {"FT8", 0.2f, 0.05f}, {"C1", 0.15f, 0.2f},  {"C2", 0.15f, 0.2f},
    {"C5", 0.15f, 0.2f},  {"C6", 0.15f, 0.2f},  {"CP1", 0.05f, 0.4f}, {"CP2", 0.05f, 0.4f},
    {"CP5", 0.05f, 0.4f}, {"CP6", 0.05f, 0.4f}, {"TP7", 0.05f, 0.3f}, {"TP8", 0.05f, 0.3f},
    {"P1", 0.02f, 0.7f},  {"P2", 0.02f, 0.7f},  {"P5", 0.02f, 0.7f},  {"P6", 0.02f, 0.7f},
    {"PO3", 0.0f, 0.9f},  {"PO4", 0.0f, 0.9f},  {"PO7", 0.0f, 0.9f},  {"PO8", 0.0f, 0.9f},
    {"Oz", 0.0f, 1.0f},   {"POz", 0.0f, 0.9f},  {"CPz", 0.05f, 0.4f}, {"FCz", 0.25f, 0.1f},
    {"AFz", 0.7f, 0.0f},  {"FT9", 0.15f, 0.0f}, {"FT10", 0.15f, 0.0f}, {"TP9", 0.05f, 0.2f},
    {"TP10", 0.05f, 0.2f}, {"Iz", 0.0f, 0.8f},  {"T9", 0.05f, 0.1f}};
/* Which sites a small montage keeps first: both frontal poles and both occipital sites, then
 * the rest of 10-20 spread over the head. Sites past this list come in montage order. */
static const int eeg_priority[] = {0, 1, 17, 18, 8, 10, 3, 5, 13, 15, 9, 4, 14, 2, 6, 7, 11, 12, 16};

/* The EEG sites of an n-site montage (n <= 63), in montage order. */
static void eeg_montage(size_t n, int *site) {
  const size_t np = sizeof eeg_priority / sizeof *eeg_priority;
  unsigned char use[sizeof eeg_sites / sizeof *eeg_sites] = {0};
  for (size_t i = 0; i < n && i < np; i++) use[eeg_priority[i]] = 1;
  for (size_t i = np; i < n; i++) use[i] = 1;
  size_t k = 0;
  for (size_t i = 0; i < sizeof eeg_sites / sizeof *eeg_sites && k < n; i++)
    if (use[i]) site[k++] = (int)i;
}

/* Paul Kellet's refined pink filter: white in, 1/f out (within 0.05 dB from fs/4000 up). */
static double eeg_pink(double *b, double w) {
  b[0] = 0.99886 * b[0] + w * 0.0555179;
  b[1] = 0.99332 * b[1] + w * 0.0750759;
  b[2] = 0.96900 * b[2] + w * 0.1538520;
  b[3] = 0.86650 * b[3] + w * 0.3104856;
  b[4] = 0.55000 * b[4] + w * 0.5329522;
  b[5] = -0.7616 * b[5] - w * 0.0168980;
  double p = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
  b[6] = w * 0.115926;
  return p;
}

/* n samples of unit-RMS pink noise from stream (seed, stream, a) into out (a burn-in of
 * 8192 samples lets the slowest pole settle). */
static void eeg_pink_series(uint64_t seed, uint64_t stream, uint64_t a, size_t n, double *out) {
  syn_rng r = {rng_key(seed, stream, a, 0)};
  double b[7] = {0}, ss = 0;
  for (int i = 0; i < 8192; i++) eeg_pink(b, rng_normal(&r));
  for (size_t i = 0; i < n; i++) {
    out[i] = eeg_pink(b, rng_normal(&r));
    ss += out[i] * out[i];
  }
  double s = ss > 0 ? 1.0 / sqrt(ss / (double)n) : 0.0;
  for (size_t i = 0; i < n; i++) out[i] *= s;
}

/* One slice's gradient waveforms (readout x, phase y, slice z) as piecewise-linear
 * breakpoints from t = 0 at the slice trigger; every ramp has slope 1 / ramp. */
#define EEG_MAXBP 256
typedef struct {
  double t[3][EEG_MAXBP], g[3][EEG_MAXBP];
  int n[3];
  double len, ramp; /* s: end of the train; ramp time (scaled) */
} eeg_slice;

static void eeg_trap(eeg_slice *s, int ax, double start, double amp, double flat) {
  double r = fabs(amp) * s->ramp;
  double tt[4] = {start, start + r, start + r + flat, start + 2 * r + flat};
  double gg[4] = {0, amp, amp, 0};
  for (int i = 0; i < 4; i++) {
    s->t[ax][s->n[ax]] = tt[i];
    s->g[ax][s->n[ax]++] = gg[i];
  }
}

/* EPI slice: slice-select and rephaser (z), readout and phase prephasers (x, y), 32 echoes of
 * alternating readout lobes with phase blips, a spoiler (z). Nominal 33 ms, compressed by
 * k <= 1 to fit 85 % of a shorter slice period. */
static void eeg_slice_build(eeg_slice *s, double slice_period) {
  double k = fmin(1.0, 0.85 * slice_period / EEG_SLICE_LEN), ms = 1e-3 * k;
  memset(s, 0, sizeof *s);
  s->ramp = EEG_RAMP * k;
  eeg_trap(s, 2, 0.0, 1.0, 2.5 * ms);
  eeg_trap(s, 2, 2.9 * ms, -1.0, 1.05 * ms);
  eeg_trap(s, 0, 2.9 * ms, -1.0, 0.4 * ms);
  eeg_trap(s, 1, 2.9 * ms, -0.6, 0.5 * ms);
  double t = 4.4 * ms;
  for (int e = 0; e < 32; e++) {
    eeg_trap(s, 0, t, e % 2 ? -1.0 : 1.0, 0.4 * ms);
    t += 0.8 * ms;
    if (e < 31) eeg_trap(s, 1, t - 0.04 * ms, 0.2, 0.0);
  }
  eeg_trap(s, 2, t + 0.2 * ms, 1.0, 2.0 * ms);
  s->len = t + 0.2 * ms + 2.0 * ms + 2 * s->ramp;
}

/* Gradient of axis ax at time tau after a slice trigger. */
static double eeg_slice_g(const eeg_slice *s, int ax, double tau) {
  const double *t = s->t[ax];
  int n = s->n[ax];
  if (tau <= t[0] || tau >= t[n - 1]) return 0.0;
  int lo = 0, hi = n - 1; /* t[lo] <= tau < t[hi] */
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (t[mid] <= tau) lo = mid; else hi = mid;
  }
  return s->g[ax][lo] + (s->g[ax][hi] - s->g[ax][lo]) * (tau - t[lo]) / (t[hi] - t[lo]);
}

/* The three gradients at time t (s) of the scan with sorted slice onsets on[nt] (s). */
static void eeg_grad(const eeg_slice *s, const double *on, size_t nt, double t, double *g) {
  g[0] = g[1] = g[2] = 0.0;
  if (nt == 0 || t <= on[0]) return;
  size_t lo = 0, hi = nt; /* on[lo] <= t */
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (on[mid] <= t) lo = mid; else hi = mid;
  }
  double tau = t - on[lo];
  if (tau >= s->len) return;
  for (int ax = 0; ax < 3; ax++) g[ax] = eeg_slice_g(s, ax, tau);
}

int sf_synth_eeg_check(const sf_synth_eeg_opts *o, double *clean_s, size_t *volumes) {
  int status = 0;
  SF_CHECK(o, SF_ERR_USAGE, "synth eeg: no options");
  SF_CHECK(o->channels >= 2 && o->channels <= EEG_MAX_CHANNELS, SF_ERR_USAGE,
           "synth eeg: channels must be 2..%d (EEG channels and one ECG), got %zu",
           EEG_MAX_CHANNELS, o->channels);
  SF_CHECK(o->rate >= 100 && o->rate <= 20000, SF_ERR_USAGE,
           "synth eeg: rate must be 100..20000 Hz, got %zu", o->rate);
  SF_CHECK(o->tr >= 0.1 && o->tr <= 60.0 && o->slices >= 1 && o->slices <= 1000, SF_ERR_USAGE,
           "synth eeg: TR must be 0.1..60 s and slices 1..1000");
  double ts = o->tr / (double)o->slices;
  SF_CHECK(ts * (double)o->rate >= 10.0, SF_ERR_USAGE,
           "synth eeg: the slice period TR/slices = %g s is under 10 samples at %zu Hz", ts, o->rate);
  SF_CHECK((double)o->slices / o->tr <= 62.0, SF_ERR_USAGE,
           "synth eeg: %g slices per second: EDF+ annotations of one slice each hold at most 62 "
           "per second (fewer slices or a longer TR)", (double)o->slices / o->tr);
  SF_CHECK(o->seconds >= 1 && o->seconds <= 86400, SF_ERR_USAGE,
           "synth eeg: seconds must be 1..86400, got %zu", o->seconds);
  SF_CHECK((double)o->channels * (double)o->seconds * (double)o->rate <= (double)(1u << 30),
           SF_ERR_USAGE, "synth eeg: channels x samples over 2^30 (the clean truth is held in memory)");
  size_t nb = o->blocks > 1 ? o->blocks : 1;
  SF_CHECK(nb <= 1000, SF_ERR_USAGE, "synth eeg: blocks must be 1..1000, got %zu", nb);
  SF_CHECK(nb == 1 || (o->pause > 0.0 && o->pause <= 3600.0), SF_ERR_USAGE,
           "synth eeg: the pause between blocks must be over 0 and at most 3600 s, got %g",
           o->pause);
  double c = fmin(EEG_CLEAN_MAX, 0.2 * (double)o->seconds);
  double nv = floor(((double)o->seconds - 2.0 * c) / o->tr + 1e-9);
  if (nb > 1) {
    /* equal blocks in what the clean stretches and the pauses leave */
    double scan = (double)o->seconds - 2.0 * c - (double)(nb - 1) * o->pause;
    double per = scan > 0 ? floor(scan / ((double)nb * o->tr) + 1e-9) : 0.0;
    SF_CHECK(per >= 1.0, SF_ERR_USAGE,
             "synth eeg: %zu blocks of at least one volume (TR %g s) with pauses of %g s between "
             "them need %g s, but %zu s with clean stretches of %g s before and after leave %g s "
             "(more --seconds, fewer --blocks or a shorter --pause)",
             nb, o->tr, o->pause, (double)nb * o->tr + (double)(nb - 1) * o->pause, o->seconds, c,
             (double)o->seconds - 2.0 * c);
    nv = per * (double)nb;
  }
  SF_CHECK(nv >= 1.0, SF_ERR_USAGE,
           "synth eeg: %zu s hold no volume of TR %g s between clean stretches of %g s",
           o->seconds, o->tr, c);
  if (clean_s) *clean_s = c;
  if (volumes) *volumes = (size_t)nv;
cleanup:
  return status;
}

/* HDF5 failure: report with HDF5's own innermost message appended (needs char why[256]). */
#define EEG_H5(cond, fmt, ...)                                                                     \
  SF_CHECK((cond), SF_ERR_IO, fmt ": %s", __VA_ARGS__, sf_h5_error_text(why, sizeof why))

/* The clean truth file. */
static int eeg_write_h5(const char *path, const sf_synth_eeg_opts *o, const float *clean,
                        size_t ns, const int *site, const double *trig, size_t nt, double clean_s,
                        size_t volumes, double resolution, const char *annotations,
                        size_t nb, const int *tblock) {
  int status = 0;
  hid_t file = -1, d = -1, st = -1;
  char why[256] = "", (*labels)[16] = NULL;
  size_t C = o->channels;
  sf_h5_quiet();
  SF_ALLOC(labels, C);
  for (size_t c = 0; c + 1 < C; c++) snprintf(labels[c], 16, "%s", eeg_sites[site[c]].label);
  snprintf(labels[C - 1], 16, "ECG");
  file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  EEG_H5(file >= 0, "%s: cannot create the HDF5 file", path);
  hsize_t dims[2] = {C, ns}, chunk[2] = {1, ns < 65536 ? ns : 65536}, cd[1] = {C}, td[1] = {nt};
  d = sf_h5_dataset_create(file, "clean", H5T_IEEE_F32LE, 2, dims, chunk);
  EEG_H5(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, clean) >= 0 &&
             sf_h5_attr_string(d, "units", "uV") >= 0,
         "%s: cannot write /clean", path);
  H5Dclose(d);
  st = H5Tcopy(H5T_C_S1);
  EEG_H5(st >= 0 && H5Tset_size(st, 16) >= 0 && H5Tset_strpad(st, H5T_STR_NULLPAD) >= 0,
         "%s: cannot make the label type", path);
  d = sf_h5_dataset_create(file, "channels", st, 1, cd, NULL);
  EEG_H5(d >= 0 && H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) >= 0,
         "%s: cannot write /channels", path);
  H5Dclose(d);
  d = sf_h5_dataset_create(file, "triggers", H5T_IEEE_F64LE, 1, td, NULL);
  EEG_H5(d >= 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, trig) >= 0 &&
             sf_h5_attr_string(d, "units", "samples (sample n at n / rate s)") >= 0,
         "%s: cannot write /triggers", path);
  H5Dclose(d);
  d = -1;
  if (nb > 1) {
    d = sf_h5_dataset_create(file, "trigger_block", H5T_STD_I32LE, 1, td, NULL);
    EEG_H5(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tblock) >= 0,
           "%s: cannot write /trigger_block", path);
    H5Dclose(d);
    d = -1;
  }
  int e = sf_h5_attr_string(file, "generator", "slabflow synth eeg");
  e |= sf_h5_attr_double(file, "rate", (double)o->rate);
  e |= sf_h5_attr_double(file, "tr", o->tr);
  e |= sf_h5_attr_int(file, "slices", (long long)o->slices);
  e |= sf_h5_attr_int(file, "volumes", (long long)volumes);
  e |= sf_h5_attr_uint64(file, "seed", o->seed);
  e |= sf_h5_attr_int(file, "jitter", o->jitter ? 1 : 0);
  e |= sf_h5_attr_double(file, "clean_seconds", clean_s);
  e |= sf_h5_attr_double(file, "resolution", resolution);
  e |= sf_h5_attr_string(file, "annotations", annotations);
  if (nb > 1) {
    e |= sf_h5_attr_int(file, "blocks", (long long)nb);
    e |= sf_h5_attr_double(file, "pause", o->pause);
    e |= sf_h5_attr_int(file, "volumes_per_block", (long long)(volumes / nb));
  }
  EEG_H5(e >= 0, "%s: cannot write the attributes", path);
cleanup:
  if (d >= 0) H5Dclose(d);
  if (st >= 0) H5Tclose(st);
  if (file >= 0 && H5Fclose(file) < 0 && status == 0)
    status = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                             "%s: cannot close the file: %s", path, sf_h5_error_text(why, sizeof why));
  free(labels);
  return status;
}

/* 1e6 / rate (the BrainVision SamplingInterval, us) as an exact decimal into buf ("200",
 * "244.140625"); 0, or -1 when it has no finite decimal expansion (rate has a prime factor
 * other than 2 and 5 beyond those of 10^6). */
static int bv_interval(size_t rate, char *buf, size_t n) {
  unsigned long long num = 1000000ULL;
  for (int d = 0; d <= 12; d++, num *= 10) {
    if (num % rate) continue;
    unsigned long long q = num / rate, p10 = 1;
    for (int k = 0; k < d; k++) p10 *= 10;
    if (d == 0) snprintf(buf, n, "%llu", q);
    else snprintf(buf, n, "%llu.%0*llu", q / p10, d, q % p10);
    return 0;
  }
  return -1;
}

/* The last path component of p. */
static const char *bv_base(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* The BrainVision header of the recording (INT_16 multiplexed, resolution res uV). */
static int bv_write_header(const char *vhdr, const char *eeg, const char *vmrk, size_t C,
                           const int *site, const char *interval, double res) {
  int status = 0;
  FILE *f = fopen(vhdr, "wb");
  SF_CHECK(f, SF_ERR_IO, "%s: cannot create the file", vhdr);
  fprintf(f,
          "Brain Vision Data Exchange Header File Version 1.0\r\n"
          "; Data written by slabflow synth eeg\r\n\r\n"
          "[Common Infos]\r\nCodepage=UTF-8\r\nDataFile=%s\r\nMarkerFile=%s\r\n"
          "DataFormat=BINARY\r\n; Data orientation: MULTIPLEXED=ch1,pt1, ch2,pt1 ...\r\n"
          "DataOrientation=MULTIPLEXED\r\nNumberOfChannels=%zu\r\n"
          "; Sampling interval in microseconds\r\nSamplingInterval=%s\r\n\r\n"
          "[Binary Infos]\r\nBinaryFormat=INT_16\r\n\r\n"
          "[Channel Infos]\r\n"
          "; Each entry: Ch<Channel number>=<Name>,<Reference channel name>,\r\n"
          "; <Resolution in \"Unit\">,<Unit>, Future extensions..\r\n",
          bv_base(eeg), bv_base(vmrk), C, interval);
  for (size_t c = 0; c < C; c++)
    fprintf(f, "Ch%zu=%s,,%g,\xc2\xb5V\r\n", c + 1, c + 1 < C ? eeg_sites[site[c]].label : "ECG",
            res);
  int rc = fclose(f);
  f = NULL;
  SF_CHECK(rc == 0, SF_ERR_IO, "%s: cannot write the file", vhdr);
cleanup:
  if (f) fclose(f);
  return status;
}

/* The BrainVision markers: "New Segment" at sample 1 (dated as the EDF output's start), then
 * one "Stimulus","S  1" per slice at its onset rounded to the nearest sample. */
static int bv_write_markers(const char *vmrk, const char *eeg, const double *trig, size_t nt) {
  int status = 0;
  FILE *f = fopen(vmrk, "wb");
  SF_CHECK(f, SF_ERR_IO, "%s: cannot create the file", vmrk);
  fprintf(f,
          "Brain Vision Data Exchange Marker File, Version 1.0\r\n\r\n"
          "[Common Infos]\r\nCodepage=UTF-8\r\nDataFile=%s\r\n\r\n"
          "[Marker Infos]\r\n"
          "; Each entry: Mk<Marker number>=<Type>,<Description>,<Position in data points>,\r\n"
          "; <Size in data points>, <Channel number (0 = marker is related to all channels)>\r\n"
          "Mk1=New Segment,,1,1,0,19850101000000000000\r\n",
          bv_base(eeg));
  for (size_t j = 0; j < nt; j++)
    fprintf(f, "Mk%zu=Stimulus,S  1,%lld,1,0\r\n", j + 2, llround(trig[j]) + 1);
  int rc = fclose(f);
  f = NULL;
  SF_CHECK(rc == 0, SF_ERR_IO, "%s: cannot write the file", vmrk);
cleanup:
  if (f) fclose(f);
  return status;
}

int sf_synth_eeg_write(const char *edf_path, const char *h5_path, const sf_synth_eeg_opts *o) {
  int status = 0, hdl = -1, made_edf = 0, made_h5 = 0, site[EEG_MAX_CHANNELS];
  float *clean = NULL;
  double *common = NULL, *own = NULL, *on = NULL, *trig = NULL, *gb = NULL;
  int *dig = NULL, *tblock = NULL;
  unsigned char *frames = NULL;
  eeg_slice *sl = NULL;
  FILE *bvf = NULL;
  char *bv_eeg = NULL, *bv_vmrk = NULL, interval[64];
  double clean_s;
  size_t volumes;
  SF_CHECK(edf_path && h5_path, SF_ERR_USAGE, "synth eeg: no output path");
  SF_CALL(sf_synth_eeg_check(o, &clean_s, &volumes));
  size_t len = strlen(edf_path);
  int bdf = len >= 4 && strcasecmp(edf_path + len - 4, ".bdf") == 0;
  int bv = len >= 5 && strcasecmp(edf_path + len - 5, ".vhdr") == 0;
  SF_CHECK(bdf || bv || (len >= 4 && strcasecmp(edf_path + len - 4, ".edf") == 0), SF_ERR_USAGE,
           "synth eeg: %s: the name must end in .edf (EDF+), .bdf (BDF+) or .vhdr (BrainVision)",
           edf_path);
  if (bv) {
    SF_CHECK(bv_interval(o->rate, interval, sizeof interval) == 0, SF_ERR_USAGE,
             "synth eeg: %s: BrainVision stores the sampling interval in microseconds, and "
             "1e6 / %zu Hz is no finite decimal (use a rate of 2^a 5^b Hz, as 1000, 2048, 5000)",
             edf_path, o->rate);
    SF_ALLOC(bv_eeg, len + 1);
    SF_ALLOC(bv_vmrk, len + 1);
    snprintf(bv_eeg, len + 1, "%.*s.eeg", (int)(len - 5), edf_path);
    snprintf(bv_vmrk, len + 1, "%.*s.vmrk", (int)(len - 5), edf_path);
  }
  const size_t C = o->channels, fs = o->rate, ns = o->seconds * fs, nt = volumes * o->slices;
  const double rate = (double)fs, ts = o->tr / (double)o->slices;
  const int dmax = bdf ? 8388607 : 32767, dmin = -dmax - 1;
  const double pmax = bdf ? 16384.0 : 16383.5, pmin = EEG_PHYS_MIN;
  const double bitv = (pmax - pmin) / (double)(dmax - dmin), offs = pmax / bitv - (double)dmax;
  eeg_montage(C - 1, site);

  /* Background: 60 % of the power from a source common to every EEG channel, 40 % own. */
  SF_ALLOC(clean, C * ns);
  SF_ALLOC(common, ns);
  SF_ALLOC(own, ns);
  eeg_pink_series(o->seed, ST_COMMON, 0, ns, common);
  for (size_t c = 0; c < C; c++) {
    syn_rng g = {rng_key(o->seed, ST_GAIN, c, 99)};
    double rms = c + 1 < C ? rng_range(&g, 10.0, 20.0) : rng_range(&g, 3.0, 6.0);
    double wc = c + 1 < C ? sqrt(0.6) : 0.0, wo = c + 1 < C ? sqrt(0.4) : 1.0;
    eeg_pink_series(o->seed, ST_PINK, c, ns, own);
    for (size_t i = 0; i < ns; i++) clean[c * ns + i] = (float)(rms * (wc * common[i] + wo * own[i]));
  }
  /* Alpha bursts (one posterior source): Hann-windowed 8.5-11.5 Hz, 1-3 s, 15-35 uV. */
  {
    syn_rng r = {rng_key(o->seed, ST_ALPHA, 0, 0)};
    double t = rng_range(&r, 0.2, 3.0);
    while (t < (double)o->seconds) {
      double dur = rng_range(&r, 1.0, 3.0), f = rng_range(&r, 8.5, 11.5);
      double amp = rng_range(&r, 15.0, 35.0), ph = rng_range(&r, 0.0, 2 * M_PI);
      size_t i0 = (size_t)ceil(t * rate), i1 = (size_t)floor((t + dur) * rate);
      for (size_t i = i0; i <= i1 && i < ns; i++) {
        double u = ((double)i / rate - t) / dur, w = 0.5 - 0.5 * cos(2 * M_PI * u);
        double v = amp * w * sin(2 * M_PI * f * ((double)i / rate - t) + ph);
        for (size_t c = 0; c + 1 < C; c++)
          clean[c * ns + i] += (float)(eeg_sites[site[c]].alpha * v);
      }
      t += dur + rng_range(&r, 0.5, 6.0);
    }
  }
  /* Blinks (frontal): x^2 e^(2 (1 - x)), x = tau / 0.12 s, 100-200 uV, every 2-7 s. */
  {
    syn_rng r = {rng_key(o->seed, ST_BLINK, 0, 0)};
    double t = rng_range(&r, 0.3, 4.0);
    while (t < (double)o->seconds) {
      double amp = rng_range(&r, 100.0, 200.0);
      size_t i0 = (size_t)ceil(t * rate), i1 = (size_t)floor((t + 1.2) * rate);
      for (size_t i = i0; i <= i1 && i < ns; i++) {
        double x = ((double)i / rate - t) / 0.12, v = amp * x * x * exp(2.0 * (1.0 - x));
        for (size_t c = 0; c + 1 < C; c++)
          clean[c * ns + i] += (float)(eeg_sites[site[c]].blink * v);
      }
      t += rng_range(&r, 2.0, 7.0);
    }
  }
  /* ECG (last channel): beats at ~1.1 Hz with 4 % beat-to-beat and respiratory (0.25 Hz)
   * variability; P, Q, R, S, T as Gaussians (McSharry et al. 2003's shape), R 600-1200 uV. */
  {
    static const double pos[5] = {-0.2, -0.03, 0.0, 0.03, 0.28}, wid[5] = {0.025, 0.01, 0.012, 0.01, 0.05};
    static const double amp[5] = {0.12, -0.12, 1.0, -0.25, 0.3};
    syn_rng r = {rng_key(o->seed, ST_ECG, 0, 0)};
    double rp = rng_range(&r, 600.0, 1200.0), t = rng_range(&r, 0.0, 0.9);
    float *e = clean + (C - 1) * ns;
    while (t < (double)o->seconds + 0.5) {
      double lo = t - 0.35, hi = t + 0.5;
      size_t i0 = lo > 0 ? (size_t)ceil(lo * rate) : 0, i1 = hi > 0 ? (size_t)floor(hi * rate) : 0;
      for (size_t i = i0; i <= i1 && i < ns && hi > 0; i++) {
        double tau = (double)i / rate - t, v = 0;
        for (int k = 0; k < 5; k++) v += amp[k] * exp(-0.5 * pow((tau - pos[k]) / wid[k], 2));
        e[i] += (float)(rp * v);
      }
      t += (1.0 / 1.1) * (1.0 + 0.04 * rng_normal(&r) + 0.03 * sin(2 * M_PI * 0.25 * t));
    }
  }

  /* Slice onsets: first at clean_s plus a sub-sample fraction, period TR / slices; block b
   * (of nt / nb slices) starts b (its volumes x TR + pause) later. */
  const size_t nb = o->blocks > 1 ? o->blocks : 1, per_block = nt / nb;
  SF_ALLOC(on, nt);
  SF_ALLOC(trig, nt);
  SF_ALLOC(tblock, nt);
  {
    syn_rng r = {rng_key(o->seed, ST_START, 0, 0)};
    double t0 = clean_s + rng_unif(&r) / rate;
    for (size_t j = 0; j < nt; j++) {
      double jit = 0.0;
      size_t b = j / per_block;
      if (o->jitter) {
        syn_rng q = {rng_key(o->seed, ST_JITTER, j, 0)};
        jit = fmax(-0.45, fmin(0.45, 0.15 * rng_normal(&q))) / rate;
      }
      double tb = b ? t0 + (double)b * ((double)(volumes / nb) * o->tr + o->pause) : t0;
      on[j] = tb + (double)(j - b * per_block) * ts + jit;
      trig[j] = on[j] * rate;
      tblock[j] = (int)b;
    }
  }
  SF_ALLOC(sl, 1);
  eeg_slice_build(sl, ts);
  /* Per channel: gains of dG/dt along x, y, z (random polarity) and a drift of three slow
   * sinusoids, ramped in and out over the acquisition. */
  double gain[EEG_MAX_CHANNELS][3], dr[EEG_MAX_CHANNELS][3][3];
  for (size_t c = 0; c < C; c++) {
    syn_rng g = {rng_key(o->seed, ST_GAIN, c, 0)};
    static const double glo[3] = {2000, 500, 1000}, ghi[3] = {6000, 2000, 3000};
    for (int ax = 0; ax < 3; ax++)
      gain[c][ax] = rng_range(&g, glo[ax], ghi[ax]) * (rng_unif(&g) < 0.5 ? -1.0 : 1.0);
    syn_rng d = {rng_key(o->seed, ST_DRIFT, c, 0)};
    double da = rng_range(&d, 50.0, 300.0) / 3.0;
    for (int k = 0; k < 3; k++) {
      dr[c][k][0] = da * (rng_unif(&d) < 0.5 ? -1.0 : 1.0);
      dr[c][k][1] = rng_range(&d, 0.005, 0.05);
      dr[c][k][2] = rng_range(&d, 0.0, 2 * M_PI);
    }
  }
  double a0 = on[0], a1 = on[nt - 1] + sl->len, ramp = fmin(1.0, 0.25 * (a1 - a0));

  /* BrainVision: the EDF output's 16-bit integers at its 0.5 uV, multiplexed, so both files
   * hold the same samples; header now, markers after the data. */
  if (bv) {
    made_edf = 1;
    SF_CALL(bv_write_header(edf_path, bv_eeg, bv_vmrk, C, site, interval, bitv));
    bvf = fopen(bv_eeg, "wb");
    SF_CHECK(bvf, SF_ERR_IO, "%s: cannot create the file", bv_eeg);
    SF_ALLOC(frames, 2 * C * fs);
  } else { /* EDF+/BDF+ header */
    hdl = edfopen_file_writeonly(edf_path, bdf ? EDFLIB_FILETYPE_BDFPLUS : EDFLIB_FILETYPE_EDFPLUS, (int)C);
    SF_CHECK(hdl >= 0, SF_ERR_IO, "%s: EDFlib cannot create the file (error %d)", edf_path, hdl);
    made_edf = 1;
    /* One annotation signal holds one annotation per data record (EDFlib). */
    int nann = (int)ceil((double)o->slices / o->tr) + 2;
    int e = edf_set_number_of_annotation_signals(hdl, nann > 64 ? 64 : nann);
    e |= edf_set_startdatetime(hdl, 1985, 1, 1, 0, 0, 0);
    e |= edf_set_patientname(hdl, "synthetic");
    e |= edf_set_equipment(hdl, "slabflow synth eeg");
    for (size_t c = 0; c < C; c++) {
      int s = (int)c;
      e |= edf_set_samplefrequency(hdl, s, (int)fs);
      e |= edf_set_physical_maximum(hdl, s, pmax);
      e |= edf_set_physical_minimum(hdl, s, pmin);
      e |= edf_set_digital_maximum(hdl, s, dmax);
      e |= edf_set_digital_minimum(hdl, s, dmin);
      e |= edf_set_label(hdl, s, c + 1 < C ? eeg_sites[site[c]].label : "ECG");
      e |= edf_set_physical_dimension(hdl, s, "uV");
      e |= edf_set_transducer(hdl, s, c + 1 < C ? "AgAgCl electrode" : "AgAgCl ECG electrode");
    }
    SF_CHECK(e == 0, SF_ERR_IO, "%s: EDFlib refused the header", edf_path);
  }

  /* Data records of 1 s. The artifact of sample n is the mean of gain x ramp x dG/dt over
   * [n, n + 1) / rate (a box-car anti-alias filter): gain x ramp x rate x (G(n + 1) - G(n)),
   * at most |gain| per axis since |dG/dt| <= 1 / ramp. */
  SF_ALLOC(gb, 3 * (fs + 1));
  SF_ALLOC(dig, C * fs);
  double k_art = sl->ramp * rate;
  for (size_t rec = 0; rec < o->seconds; rec++) {
    for (size_t i = 0; i <= fs; i++) eeg_grad(sl, on, nt, (double)(rec * fs + i) / rate, gb + 3 * i);
    for (size_t c = 0; c < C; c++) {
      for (size_t i = 0; i < fs; i++) {
        size_t n = rec * fs + i;
        double t = ((double)n + 0.5) / rate, v = clean[c * ns + n];
        if (t > a0 && t < a1) {
          double w = fmin(1.0, fmin(t - a0, a1 - t) / ramp), dv = 0;
          w = 0.5 - 0.5 * cos(M_PI * w);
          for (int k = 0; k < 3; k++) dv += dr[c][k][0] * sin(2 * M_PI * dr[c][k][1] * (t - a0) + dr[c][k][2]);
          v += w * dv;
        }
        for (int ax = 0; ax < 3; ax++) v += gain[c][ax] * k_art * (gb[3 * (i + 1) + ax] - gb[3 * i + ax]);
        double q = nearbyint(v / bitv - offs);
        SF_CHECK(q >= dmin && q <= dmax, SF_ERR_INTERNAL,
                 "synth eeg: channel %zu sample %zu (%g uV) outside the physical range", c, n, v);
        dig[c * fs + i] = (int)q;
      }
      if (!bv)
        SF_CHECK(edfwrite_digital_samples(hdl, dig + c * fs) == 0, SF_ERR_IO,
                 "%s: EDFlib cannot write data record %zu", edf_path, rec);
    }
    if (bv) { /* frames of every channel's sample, little-endian */
      for (size_t i = 0; i < fs; i++)
        for (size_t c = 0; c < C; c++) {
          unsigned v = (unsigned)dig[c * fs + i] & 0xffffu;
          frames[2 * (i * C + c)] = (unsigned char)(v & 0xff);
          frames[2 * (i * C + c) + 1] = (unsigned char)(v >> 8);
        }
      SF_CHECK(fwrite(frames, 2 * C, fs, bvf) == fs, SF_ERR_IO, "%s: cannot write second %zu",
               bv_eeg, rec);
    }
  }
  if (bv) {
    int rc = fclose(bvf);
    bvf = NULL;
    SF_CHECK(rc == 0, SF_ERR_IO, "%s: cannot write the file", bv_eeg);
    SF_CALL(bv_write_markers(bv_vmrk, bv_eeg, trig, nt));
  } else {
    for (size_t j = 0; j < nt; j++)
      SF_CHECK(edfwrite_annotation_utf8(hdl, llround(on[j] * 1e4), -1, "1") == 0, SF_ERR_IO,
               "%s: EDFlib cannot add annotation %zu", edf_path, j);
    int rc = edfclose_file(hdl);
    hdl = -1;
    SF_CHECK(rc == 0, SF_ERR_IO, "%s: EDFlib cannot close the file", edf_path);
  }

  made_h5 = 1;
  SF_CALL(eeg_write_h5(h5_path, o, clean, ns, site, trig, nt, clean_s, volumes, bitv,
                       bv ? "one BrainVision marker per slice, Stimulus S  1, at the onset rounded "
                            "to the nearest sample; New Segment at sample 1"
                          : "one per slice, text 1, onset rounded to 100 us",
                       nb, tblock));

cleanup:
  if (hdl >= 0) edfclose_file(hdl);
  if (bvf) fclose(bvf);
  if (status < 0 && made_edf) remove(edf_path); /* no half-written outputs */
  if (status < 0 && made_edf && bv_eeg) remove(bv_eeg);
  if (status < 0 && made_edf && bv_vmrk) remove(bv_vmrk);
  if (status < 0 && made_h5) remove(h5_path);
  free(clean);
  free(common);
  free(own);
  free(on);
  free(trig);
  free(tblock);
  free(gb);
  free(dig);
  free(frames);
  free(bv_eeg);
  free(bv_vmrk);
  free(sl);
  return status;
}
