/* CUnit tests of the EDF+/BDF+ copy writer (src/io/eeg_edf_write.h): EDF+ and BDF+ inputs
 * written here with EDFlib (three signals at two rates, 0.5 s records, every patient and
 * recording subfield, a sub-second start, annotations with durations and UTF-8), copied with a
 * callback that replaces some signals by a sine with out-of-range spikes: read back through
 * sf_eeg_open, the header and annotations are the input's, copied signals bit-identical,
 * replaced ones within half a digital step and the spikes clipped and counted; a non-EDF
 * input (BrainVision's path, faked) gets BDF+ with ranges from its data, 1 s records at an
 * integer rate and 4 s at 100.25 Hz; failures (missing directory, a failing callback, the
 * input as output) leave nothing.
 * Usage: test_eeg_edf_write WORKDIR. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <edflib.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/eeg_edf.h"
#include "io/eeg_edf_write.h"
#include "sf_cunit.h"
#include "sf_error.h"

static char g_dir[1024];

static const char *wpath(const char *name) {
  static char buf[4][1400];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Files in the work directory whose names contain ".part" (the writer's temporaries). */
static int count_parts(void) {
  DIR *d = opendir(g_dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL)
    if (strstr(e->d_name, ".part")) n++;
  if (d) closedir(d);
  return n;
}

#define NSIG 3
#define NREC 12 /* of 0.5 s */
static const struct {
  const char *label, *dim, *prefilter, *transducer;
  int spr, dmin, dmax;
  double pmin, pmax;
} g_sig[2][NSIG] = {
    {{"EEG Fz", "uV", "HP:0.1Hz LP:250Hz", "AgAgCl electrode", 100, -32768, 32767, -3200.0, 3200.0},
     {"ECG", "mV", "HP:0.05Hz", "chest lead", 50, -2048, 2047, -5.0, 5.0},
     {"EEG Pz", "uV", "", "", 100, -32768, 32767, -3276.8, 3276.7}},
    {{"EEG Cz", "uV", "DC", "active electrode", 100, -8388608, 8388607, -262144.0, 262143.0},
     {"Resp", "a.u.", "No filtering", "belt", 50, -8388608, 8388607, -100.0, 100.0},
     {"EEG Oz", "uV", "DC", "active electrode", 100, -8388608, 8388607, -16384.0, 16384.0}}};

static const struct {
  long long onset, duration; /* 100 us */
  const char *text;
} g_ann[] = {{0, -1, "start"},        {12350, 5000, "1"},       {12351, -1, "R128 \xc3\xa9"},
             {12400, -1, "2"},        {12450, -1, "3"},         {23456, 20, "Blink"},
             {59999, -1, "last one"}, {31000, 10000, "block 2"}};
#define NANN (sizeof g_ann / sizeof g_ann[0])

static double in_value(int s, long i, double pmin, double pmax) {
  double mid = 0.5 * (pmin + pmax), half = 0.45 * (pmax - pmin);
  return mid + half * (0.5 * sin(0.05 * i * (s + 1)) + 0.5 * ((i % 97) / 48.0 - 1.0));
}

static int write_input(const char *name, int bdf) {
  int h = edfopen_file_writeonly(wpath(name),
                                 bdf ? EDFLIB_FILETYPE_BDFPLUS : EDFLIB_FILETYPE_EDFPLUS, NSIG);
  if (h < 0) return -1;
  int bad = edf_set_datarecord_duration(h, 50000); /* 0.5 s */
  for (int s = 0; s < NSIG; s++) {
    bad |= edf_set_samplefrequency(h, s, g_sig[bdf][s].spr);
    /* EDFlib prints header numbers truncated: 3276.7 would become 3276.699 */
    bad |= edf_set_physical_maximum(h, s, nextafter(g_sig[bdf][s].pmax, INFINITY));
    bad |= edf_set_physical_minimum(h, s, nextafter(g_sig[bdf][s].pmin, -INFINITY));
    bad |= edf_set_digital_maximum(h, s, g_sig[bdf][s].dmax);
    bad |= edf_set_digital_minimum(h, s, g_sig[bdf][s].dmin);
    bad |= edf_set_label(h, s, g_sig[bdf][s].label);
    bad |= edf_set_physical_dimension(h, s, g_sig[bdf][s].dim);
    if (g_sig[bdf][s].prefilter[0]) bad |= edf_set_prefilter(h, s, g_sig[bdf][s].prefilter);
    if (g_sig[bdf][s].transducer[0]) bad |= edf_set_transducer(h, s, g_sig[bdf][s].transducer);
  }
  bad |= edf_set_startdatetime(h, 2024, 3, 17, 14, 5, 9);
  bad |= edf_set_subsecond_starttime(h, 2500000);
  bad |= edf_set_patientcode(h, "MCH-0234567");
  bad |= edf_set_gender(h, 0);
  bad |= edf_set_birthdate(h, 1951, 8, 2);
  bad |= edf_set_patientname(h, "Haagse Harry");
  bad |= edf_set_patient_additional(h, "EEG-fMRI");
  bad |= edf_set_admincode(h, "PSG-1234/2024");
  bad |= edf_set_technician(h, "NN");
  bad |= edf_set_equipment(h, "Scanner amp");
  bad |= edf_set_recording_additional(h, "run 3");
  bad |= edf_set_number_of_annotation_signals(h, 3);
  double buf[128];
  for (int r = 0; r < NREC && !bad; r++)
    for (int s = 0; s < NSIG; s++) {
      int n = g_sig[bdf][s].spr;
      for (int i = 0; i < n; i++)
        buf[i] = in_value(s, (long)r * n + i, g_sig[bdf][s].pmin, g_sig[bdf][s].pmax);
      bad |= edfwrite_physical_samples(h, buf);
    }
  for (size_t k = 0; k < NANN; k++)
    bad |= edfwrite_annotation_utf8(h, g_ann[k].onset, g_ann[k].duration, g_ann[k].text);
  bad |= edfclose_file(h);
  return bad ? -1 : 0;
}

/* The callback: signals in mask replaced by a sine with spikes beyond the physical range at
 * i % 97 == 5 (above) and i % 89 == 7 (below); fail_at >= 0 fails once signal 1 passes it. */
typedef struct {
  unsigned mask;
  double pmin[NSIG], pmax[NSIG];
  int spikes;
  long fail_at;
  size_t calls;
  long nan_at; /* > 0: signal 0's sample nan_at is NaN */
} cb_ctx;

static double repl_value(const cb_ctx *c, int s, size_t i) {
  double span = c->pmax[s] - c->pmin[s], mid = 0.5 * (c->pmin[s] + c->pmax[s]);
  if (c->spikes && i % 97 == 5) return c->pmax[s] + 0.5 * span;
  if (c->spikes && i % 89 == 7) return c->pmin[s] - 0.01 * span;
  return mid + 0.4 * span * sin(0.013 * (double)i * (s + 1) + 0.3);
}

static int cb(void *ctx, int sig, size_t first, size_t n, double *out) {
  cb_ctx *c = ctx;
  c->calls++;
  if (c->fail_at >= 0 && sig == 1 && (long)first >= c->fail_at)
    return sf_error_report(SF_ERR_INPUT, __FILE__, __LINE__, __func__, "callback fails");
  if (!(c->mask & (1u << sig))) return 0;
  for (size_t k = 0; k < n; k++)
    out[k] = c->nan_at > 0 && sig == 0 && (long)(first + k) == c->nan_at
                 ? NAN
                 : repl_value(c, sig, first + k);
  return 1;
}

static double *read_all(sf_eeg_rec *r, int s) {
  size_t n = r->signals[s].samples;
  double *v = malloc(n * sizeof *v);
  if (v && sf_eeg_read_channel(r, s, 0, n, v) != 0) {
    free(v);
    v = NULL;
  }
  return v;
}

static void check_copy(int bdf) {
  const char *in_name = bdf ? "in.bdf" : "in.edf", *out_name = bdf ? "out.bdf" : "out.edf";
  CU_ASSERT_EQUAL_FATAL(write_input(in_name, bdf), 0);
  sf_eeg_rec *in = NULL, *out = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath(in_name), &in), 0);
  CU_ASSERT_EQUAL(in->signals[2].phys_max, g_sig[bdf][2].pmax); /* 3276.7 survives the copy */
  cb_ctx c = {.mask = 0x5u, .spikes = 1, .fail_at = -1};
  size_t expect_clip = 0;
  for (int s = 0; s < NSIG; s++) {
    c.pmin[s] = in->signals[s].phys_min;
    c.pmax[s] = in->signals[s].phys_max;
    for (size_t i = 0; (c.mask & (1u << s)) && i < in->signals[s].samples; i++) {
      double v = repl_value(&c, s, i);
      expect_clip += v < c.pmin[s] || v > c.pmax[s];
    }
  }
  size_t clipped = 12345;
  remove(wpath(out_name));
  CU_ASSERT_EQUAL_FATAL(sf_eeg_write_like(wpath(out_name), in, cb, &c, &clipped), 0);
  CU_ASSERT(expect_clip > 0);
  CU_ASSERT_EQUAL(clipped, expect_clip);
  CU_ASSERT_EQUAL(c.calls, (size_t)NREC * NSIG);
  CU_ASSERT_EQUAL(count_parts(), 0);
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath(out_name), &out), 0);

  CU_ASSERT_EQUAL(out->filetype, bdf ? SF_EEG_BDFPLUS : SF_EEG_EDFPLUS);
  CU_ASSERT_EQUAL_FATAL(out->nsignals, in->nsignals);
  CU_ASSERT_EQUAL(out->records, in->records);
  CU_ASSERT_EQUAL(out->record_duration, 5000000LL);
  CU_ASSERT_EQUAL(out->duration, in->duration);
  CU_ASSERT_EQUAL(out->start_year, 2024);
  CU_ASSERT_EQUAL(out->start_month, in->start_month);
  CU_ASSERT_EQUAL(out->start_day, in->start_day);
  CU_ASSERT_EQUAL(out->start_hour, in->start_hour);
  CU_ASSERT_EQUAL(out->start_minute, in->start_minute);
  CU_ASSERT_EQUAL(out->start_second, in->start_second);
  CU_ASSERT_EQUAL(out->start_subsecond, 2500000LL);
  CU_ASSERT_EQUAL(out->start_subsecond, in->start_subsecond);
  CU_ASSERT_STRING_EQUAL(out->patientcode, in->patientcode);
  CU_ASSERT_STRING_EQUAL(out->gender, in->gender);
  CU_ASSERT(in->gender[0] == 'F');
  CU_ASSERT_STRING_EQUAL(out->patient_name, in->patient_name);
  CU_ASSERT_STRING_EQUAL(out->patient_additional, in->patient_additional);
  CU_ASSERT_EQUAL(out->birth_year, 1951);
  CU_ASSERT_EQUAL(out->birth_month, in->birth_month);
  CU_ASSERT_EQUAL(out->birth_day, in->birth_day);
  CU_ASSERT_STRING_EQUAL(out->admincode, in->admincode);
  CU_ASSERT_STRING_EQUAL(out->technician, in->technician);
  CU_ASSERT_STRING_EQUAL(out->equipment, in->equipment);
  CU_ASSERT_STRING_EQUAL(out->recording_additional, in->recording_additional);
  CU_ASSERT(strstr(in->patient_name, "Haagse") != NULL);

  for (int s = 0; s < NSIG; s++) {
    const sf_eeg_signal *a = &in->signals[s], *b = &out->signals[s];
    CU_ASSERT_STRING_EQUAL(b->label, a->label);
    CU_ASSERT_STRING_EQUAL(b->dimension, a->dimension);
    CU_ASSERT_STRING_EQUAL(b->prefilter, a->prefilter);
    CU_ASSERT_STRING_EQUAL(b->transducer, a->transducer);
    CU_ASSERT_EQUAL(b->samples_per_record, a->samples_per_record);
    CU_ASSERT_EQUAL(b->samples, a->samples);
    CU_ASSERT_EQUAL(b->phys_min, a->phys_min);
    CU_ASSERT_EQUAL(b->phys_max, a->phys_max);
    CU_ASSERT_EQUAL(b->dig_min, a->dig_min);
    CU_ASSERT_EQUAL(b->dig_max, a->dig_max);
    double *va = read_all(in, s), *vb = read_all(out, s);
    CU_ASSERT_FATAL(va && vb);
    double step = (a->phys_max - a->phys_min) / (a->dig_max - a->dig_min);
    size_t bad = 0;
    for (size_t i = 0; i < a->samples; i++) {
      if (c.mask & (1u << s)) {
        double v = fmin(a->phys_max, fmax(a->phys_min, repl_value(&c, s, i)));
        bad += fabs(vb[i] - v) > 0.5 * step * (1 + 1e-9);
      } else {
        bad += vb[i] != va[i]; /* same digital value, same scaling */
      }
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(va);
    free(vb);
  }
  CU_ASSERT_EQUAL_FATAL(out->nannotations, in->nannotations);
  CU_ASSERT_EQUAL(in->nannotations, NANN);
  for (size_t k = 0; k < out->nannotations; k++) {
    CU_ASSERT_EQUAL(out->annotations[k].onset, in->annotations[k].onset);
    CU_ASSERT_EQUAL(out->annotations[k].duration, in->annotations[k].duration);
    CU_ASSERT_STRING_EQUAL(out->annotations[k].text, in->annotations[k].text);
  }
  sf_eeg_close(&out);

  /* the input as output, a missing directory, a failing callback: an error, nothing left */
  char msg[512] = "";
  sf_error_defer(msg, sizeof msg);
  CU_ASSERT_EQUAL(sf_eeg_write_like(wpath(in_name), in, cb, &c, NULL), SF_ERR_USAGE);
  sf_error_defer(NULL, 0);
  CU_ASSERT(strstr(msg, "overwrite") != NULL);
  sf_error_defer(msg, sizeof msg);
  const char *nodir = wpath("no-such-dir/out.edf");
  CU_ASSERT_EQUAL(sf_eeg_write_like(nodir, in, cb, &c, NULL), SF_ERR_IO);
  sf_error_defer(NULL, 0);
  CU_ASSERT(strstr(msg, "no-such-dir/out.edf") != NULL);
  CU_ASSERT(!exists(wpath("no-such-dir")));
  c.fail_at = 300;
  remove(wpath("fail.edf"));
  sf_error_defer(msg, sizeof msg);
  CU_ASSERT_EQUAL(sf_eeg_write_like(wpath("fail.edf"), in, cb, &c, NULL), SF_ERR_INPUT);
  sf_error_defer(NULL, 0);
  CU_ASSERT(strstr(msg, "callback fails") != NULL);
  CU_ASSERT(!exists(wpath("fail.edf")));
  c.fail_at = -1;
  c.nan_at = 777;
  sf_error_defer(msg, sizeof msg);
  CU_ASSERT_EQUAL(sf_eeg_write_like(wpath("fail.edf"), in, cb, &c, NULL), SF_ERR_INPUT);
  sf_error_defer(NULL, 0);
  CU_ASSERT(strstr(msg, "sample 777 is not finite") != NULL && strstr(msg, "fail.edf") != NULL);
  CU_ASSERT(!exists(wpath("fail.edf")));
  CU_ASSERT_EQUAL(count_parts(), 0);
  CU_ASSERT(exists(wpath(in_name)));
  sf_eeg_close(&in);
  CU_ASSERT_EQUAL(edflib_get_number_of_open_files(), 0);
}

static void test_edfplus(void) { check_copy(0); }
static void test_bdfplus(void) { check_copy(1); }

/* Any other file type (BrainVision): BDF+, ranges from the data, records of whole samples. */
static void test_other_type(void) {
  CU_ASSERT_EQUAL_FATAL(write_input("bv.edf", 0), 0);
  sf_eeg_rec *in = NULL, *out = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("bv.edf"), &in), 0);
  int type = in->filetype;
  in->filetype = 99; /* not EDF/BDF: the path a BrainVision input takes */
  cb_ctx c = {.mask = 0x2u, .spikes = 1, .fail_at = -1};
  for (int s = 0; s < NSIG; s++) {
    c.pmin[s] = in->signals[s].phys_min;
    c.pmax[s] = in->signals[s].phys_max;
  }
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: integer rates (200, 100 Hz) -> 1 s records; pass 1: 200.5 and 100.25 Hz -> 4 s */
    double f = pass ? 1.0025 : 1.0;
    for (int s = 0; s < NSIG; s++)
      in->signals[s].rate = 2.0 * in->signals[s].samples_per_record * f;
    size_t clipped = 99;
    const char *name = pass ? "bv2.bdf" : "bv1.bdf";
    CU_ASSERT_EQUAL_FATAL(sf_eeg_write_like(wpath(name), in, cb, &c, &clipped), 0);
    CU_ASSERT_EQUAL(clipped, 0);
    CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath(name), &out), 0);
    CU_ASSERT_EQUAL(out->filetype, SF_EEG_BDFPLUS);
    CU_ASSERT_EQUAL(out->record_duration, pass ? 40000000LL : 10000000LL);
    CU_ASSERT_EQUAL(out->records, pass ? 2 : 6);
    CU_ASSERT_EQUAL(out->nannotations, NANN);
    for (int s = 0; s < NSIG && out->nsignals == NSIG; s++) {
      const sf_eeg_signal *a = &in->signals[s], *b = &out->signals[s];
      CU_ASSERT_EQUAL(b->dig_min, -8388608);
      CU_ASSERT_EQUAL(b->dig_max, 8388607);
      CU_ASSERT_EQUAL(b->samples_per_record,
                      pass ? (s == 1 ? 401 : 802) : 2 * a->samples_per_record);
      CU_ASSERT_STRING_EQUAL(b->label, a->label);
      double *va = read_all(in, s), *vb = read_all(out, s);
      CU_ASSERT_FATAL(va && vb);
      double step = (b->phys_max - b->phys_min) / (b->dig_max - b->dig_min), lo = INFINITY,
             hi = -INFINITY;
      size_t bad = 0;
      for (size_t i = 0; i < b->samples; i++) {
        double v = i < a->samples ? (s == 1 ? repl_value(&c, s, i) : va[i]) : vb[a->samples - 1];
        lo = fmin(lo, v);
        hi = fmax(hi, v);
        bad += fabs(vb[i] - v) > 0.5 * step * (1 + 1e-9);
      }
      CU_ASSERT_EQUAL(bad, 0);
      CU_ASSERT_EQUAL(b->samples, pass ? (size_t)b->samples_per_record * 2 : a->samples);
      /* the range holds the data with a margin of about 0.1 % */
      CU_ASSERT(b->phys_min < lo && b->phys_max > hi);
      CU_ASSERT(b->phys_max - b->phys_min < 1.01 * (hi - lo));
      free(va);
      free(vb);
    }
    sf_eeg_close(&out);
  }
  for (int s = 0; s < NSIG; s++)
    in->signals[s].rate = 2.0 * in->signals[s].samples_per_record;
  in->filetype = type;
  sf_eeg_close(&in);
}

/* A real BrainVision input (float32, multiplexed, 333.33 Hz: a 3000 us interval): BDF+ with
 * records of 3 s (1000 samples, the fewest whole seconds holding whole samples; the last of
 * the two padded), the markers as annotations, one channel replaced, the others within half a
 * step. */
static void test_brainvision(void) {
  enum { BV_C = 3, BV_N = 1200 };
  float *raw = malloc(sizeof(float) * BV_C * BV_N);
  CU_ASSERT_FATAL(raw != NULL);
  for (int i = 0; i < BV_N; i++)
    for (int c = 0; c < BV_C; c++)
      raw[i * BV_C + c] =
          (float)((c + 1) * 37.5 * sin(0.01 * i * (c + 1)) + (c == 2 ? 900.0 : 0.0));
  FILE *f = fopen(wpath("bv.eeg"), "wb");
  CU_ASSERT_FATAL(f != NULL);
  CU_ASSERT_EQUAL(fwrite(raw, sizeof(float), BV_C * BV_N, f), (size_t)(BV_C * BV_N));
  fclose(f);
  f = fopen(wpath("bv.vhdr"), "wb");
  CU_ASSERT_FATAL(f != NULL);
  fprintf(f, "Brain Vision Data Exchange Header File Version 1.0\r\n\r\n[Common Infos]\r\n"
             "Codepage=UTF-8\r\nDataFile=bv.eeg\r\nMarkerFile=bv.vmrk\r\nDataFormat=BINARY\r\n"
             "DataOrientation=MULTIPLEXED\r\nNumberOfChannels=3\r\nSamplingInterval=3000\r\n\r\n"
             "[Binary Infos]\r\nBinaryFormat=IEEE_FLOAT_32\r\n\r\n[Channel Infos]\r\n"
             "Ch1=Fp1,,1,\xc2\xb5V\r\nCh2=Fp2,,0.5,\xc2\xb5V\r\nCh3=ECG,,1,mV\r\n");
  fclose(f);
  f = fopen(wpath("bv.vmrk"), "wb");
  CU_ASSERT_FATAL(f != NULL);
  fprintf(f, "Brain Vision Data Exchange Marker File, Version 1.0\r\n\r\n[Common Infos]\r\n"
             "Codepage=UTF-8\r\nDataFile=bv.eeg\r\n\r\n[Marker Infos]\r\n"
             "Mk1=New Segment,,1,1,0,20240317140509000000\r\nMk2=Stimulus,S  1,101,1,0\r\n"
             "Mk3=Response,R128,501,1,0\r\nMk4=Stimulus,S  1,1200,1,0\r\n");
  fclose(f);
  free(raw);
  sf_eeg_rec *in = NULL, *out = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("bv.vhdr"), &in), 0);
  CU_ASSERT_FATAL(in->nsignals == BV_C && in->signals[0].samples == BV_N);
  cb_ctx c = {.mask = 0x2u, .spikes = 0, .fail_at = -1};
  for (int s = 0; s < NSIG; s++) {
    c.pmin[s] = -100.0;
    c.pmax[s] = 100.0;
  }
  size_t clipped = 7;
  remove(wpath("bv.bdf"));
  CU_ASSERT_EQUAL_FATAL(sf_eeg_write_like(wpath("bv.bdf"), in, cb, &c, &clipped), 0);
  CU_ASSERT_EQUAL(clipped, 0);
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("bv.bdf"), &out), 0);
  CU_ASSERT_EQUAL(out->filetype, SF_EEG_BDFPLUS);
  CU_ASSERT_EQUAL(out->record_duration, 30000000LL);
  CU_ASSERT_EQUAL(out->records, 2);
  CU_ASSERT_EQUAL_FATAL(out->nsignals, BV_C);
  CU_ASSERT_EQUAL_FATAL(out->nannotations, in->nannotations);
  for (size_t k = 0; k < in->nannotations; k++) {
    CU_ASSERT_EQUAL(out->annotations[k].onset, in->annotations[k].onset);
    CU_ASSERT_STRING_EQUAL(out->annotations[k].text, in->annotations[k].text);
  }
  for (int s = 0; s < BV_C; s++) {
    const sf_eeg_signal *a = &in->signals[s], *b = &out->signals[s];
    CU_ASSERT_STRING_EQUAL(b->label, a->label);
    CU_ASSERT_STRING_EQUAL(b->dimension, a->dimension);
    CU_ASSERT_EQUAL(b->samples_per_record, 1000);
    CU_ASSERT_EQUAL(b->samples, 2000);
    double *va = read_all(in, s), *vb = read_all(out, s);
    CU_ASSERT_FATAL(va && vb);
    double step = (b->phys_max - b->phys_min) / (b->dig_max - b->dig_min);
    size_t bad = 0;
    for (size_t i = 0; i < b->samples; i++) {
      size_t j = i < BV_N ? i : BV_N - 1; /* padding repeats the last sample */
      double v = s == 1 ? repl_value(&c, s, j) : va[j];
      bad += fabs(vb[i] - v) > 0.5 * step * (1 + 1e-9);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(step < 1e-4 * (s == 2 ? 1000.0 : 100.0));
    free(va);
    free(vb);
  }
  sf_eeg_close(&out);
  sf_eeg_close(&in);
}

/* EDFlib writes at most 40 bytes of annotation text: a longer one (in an input read by another
 * reader) is a clean SF_ERR_INPUT that leaves nothing, not a silent truncation. */
static void test_long_text(void) {
  CU_ASSERT_EQUAL_FATAL(write_input("long.edf", 0), 0);
  sf_eeg_rec *in = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("long.edf"), &in), 0);
  CU_ASSERT_FATAL(in->nannotations > 2);
  static const char longer[] = "a rather long annotation text of sixty bytes, set by hand...";
  char *keep = in->annotations[2].text;
  remove(wpath("long2.edf"));
  in->annotations[2].text = (char *)longer;
  char msg[512] = "";
  sf_error_defer(msg, sizeof msg);
  int rc = sf_eeg_write_like(wpath("long2.edf"), in, NULL, NULL, NULL);
  sf_error_defer(NULL, 0);
  in->annotations[2].text = keep;
  CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
  CU_ASSERT(strstr(msg, "long2.edf") != NULL && strstr(msg, "40 bytes") != NULL);
  CU_ASSERT(!exists(wpath("long2.edf")));
  CU_ASSERT_EQUAL(count_parts(), 0);
  /* with no callback at all: a plain copy */
  CU_ASSERT_EQUAL(sf_eeg_write_like(wpath("long3.edf"), in, NULL, NULL, NULL), 0);
  sf_eeg_close(&in);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_eeg_edf_write WORKDIR\n");
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[1]);
  if (mkdir(g_dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "test_eeg_edf_write: cannot create %s: %s\n", g_dir, strerror(errno));
    return 1;
  }
  static const sf_test tests[] = {{"EDF+ copy, replaced and copied signals", test_edfplus},
                                  {"BDF+ copy, replaced and copied signals", test_bdfplus},
                                  {"other file type -> BDF+ with data ranges", test_other_type},
                                  {"BrainVision input -> BDF+", test_brainvision},
                                  {"long annotation text", test_long_text},
                                  {NULL, NULL}};
  return sf_cunit_run("eeg_edf_write", tests);
}
