/* CUnit tests of the EDF/EDF+/BDF reader (src/io/eeg_edf.h): EDF+ and BDF+ files written here
 * with EDFlib's writer and read back (every header field, physical values within one digital
 * step, two signals at different rates, annotation onsets and their nearest sample: round,
 * never floor, specs/eeg.md), hand-built EDF+ files for onsets at EDFlib's 100 ns resolution
 * (its writer stores 100 us) and for EDF+D with and without gaps, and a clean SF_ERR_INPUT
 * naming the file for empty, truncated, text and wrong-record-count files.
 * Usage: test_eeg_edf WORKDIR. */
#include <CUnit/Basic.h>
#include <edflib.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/eeg_edf.h"
#include "sf_cunit.h"
#include "sf_error.h"

static char g_dir[1024];

/* WORKDIR/name (names are short). */
static const char *wpath(const char *name) {
  static char buf[4][1400];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

static int write_bytes(const char *name, const void *data, size_t n) {
  FILE *f = fopen(wpath(name), "wb");
  if (!f) return -1;
  size_t w = n ? fwrite(data, 1, n, f) : 0;
  return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Whole file into a malloc'd buffer. */
static char *read_all(const char *name, size_t *n) {
  FILE *f = fopen(wpath(name), "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len + 1);
  if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *n = (size_t)len;
  return b;
}

/* Test signal s at sample i: a ramp plus a sine, inside the physical range. */
static double sig_value(int s, long i, double pmin, double pmax) {
  double mid = 0.5 * (pmin + pmax), half = 0.45 * (pmax - pmin);
  return mid + half * (0.5 * sin(0.05 * i * (s + 1)) + 0.5 * ((i % 97) / 48.0 - 1.0));
}

#define NREC 10
static const struct {
  const char *label, *dim, *prefilter, *transducer;
  int rate, dmin, dmax;
  double pmin, pmax;
} g_sig[2][2] = {
    /* EDF+ */
    {{"EEG Fz", "uV", "HP:0.1Hz LP:250Hz", "AgAgCl electrode", 100, -32768, 32767, -3200.0, 3200.0},
     {"ECG", "mV", "HP:0.05Hz", "chest lead", 200, -2048, 2047, -5.0, 5.0}},
    /* BDF+ */
    {{"EEG Cz", "uV", "DC", "active electrode", 256, -8388608, 8388607, -262144.0, 262143.0},
     {"Status", "Boolean", "No filtering", "Triggers", 128, -8388608, 8388607, -8388608.0,
      8388607.0}}};

/* Onsets written with EDFlib's writer, in its 100 us units. At 100 Hz sample 123 is 1.23 s:
 * +0.5, +0.49 and +0.51 samples are 1.2350, 1.2349 and 1.2351 s. */
static const struct {
  long long onset, duration; /* 100 us */
  const char *text;
} g_ann[] = {{12350, 5000, "1"},
             {12349, -1, "2"},
             {12351, -1, "R128 \xc3\xa9"},
             {0, -1, "start"},
             {93456, 20, "Blink"}};

/* Writes an EDF+ (bdf 0) or BDF+ (bdf 1) file with two signals at different rates. */
static int write_plus(const char *name, int bdf) {
  int h = edfopen_file_writeonly(wpath(name),
                                 bdf ? EDFLIB_FILETYPE_BDFPLUS : EDFLIB_FILETYPE_EDFPLUS, 2);
  if (h < 0) return -1;
  int bad = 0;
  for (int s = 0; s < 2; s++) {
    bad |= edf_set_samplefrequency(h, s, g_sig[bdf][s].rate);
    bad |= edf_set_physical_maximum(h, s, g_sig[bdf][s].pmax);
    bad |= edf_set_physical_minimum(h, s, g_sig[bdf][s].pmin);
    bad |= edf_set_digital_maximum(h, s, g_sig[bdf][s].dmax);
    bad |= edf_set_digital_minimum(h, s, g_sig[bdf][s].dmin);
    bad |= edf_set_label(h, s, g_sig[bdf][s].label);
    bad |= edf_set_physical_dimension(h, s, g_sig[bdf][s].dim);
    bad |= edf_set_prefilter(h, s, g_sig[bdf][s].prefilter);
    bad |= edf_set_transducer(h, s, g_sig[bdf][s].transducer);
  }
  double buf[512];
  for (int r = 0; r < NREC && !bad; r++)
    for (int s = 0; s < 2; s++) {
      int n = g_sig[bdf][s].rate;
      for (int i = 0; i < n; i++)
        buf[i] = sig_value(s, (long)r * n + i, g_sig[bdf][s].pmin, g_sig[bdf][s].pmax);
      bad |= edfwrite_physical_samples(h, buf);
    }
  for (size_t k = 0; k < sizeof g_ann / sizeof g_ann[0]; k++)
    bad |= edfwrite_annotation_utf8(h, g_ann[k].onset, g_ann[k].duration, g_ann[k].text);
  bad |= edfclose_file(h);
  return bad ? -1 : 0;
}

static void check_plus(int bdf) {
  const char *name = bdf ? "two.bdf" : "two.edf";
  CU_ASSERT_EQUAL_FATAL(write_plus(name, bdf), 0);
  sf_eeg_rec *r = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath(name), &r), 0);
  CU_ASSERT_EQUAL(r->filetype, bdf ? SF_EEG_BDFPLUS : SF_EEG_EDFPLUS);
  CU_ASSERT_EQUAL(r->nsignals, 2);
  CU_ASSERT_EQUAL(r->records, NREC);
  CU_ASSERT_EQUAL(r->record_duration, 10000000LL);
  CU_ASSERT_EQUAL(r->duration, NREC * 10000000LL);
  CU_ASSERT_EQUAL(r->same_rate, 0); /* allowed, and reported */
  {
    /* EDFlib opens a path once per process (the header's thread note) */
    sf_eeg_rec *again = NULL;
    char msg[512] = "";
    sf_error_defer(msg, sizeof msg);
    CU_ASSERT_EQUAL(sf_eeg_open(wpath(name), &again), SF_ERR_USAGE);
    sf_error_defer(NULL, 0);
    CU_ASSERT(again == NULL && strstr(msg, "already open") != NULL);
  }
  for (int s = 0; s < 2; s++) {
    const sf_eeg_signal *g = &r->signals[s];
    CU_ASSERT_STRING_EQUAL(g->label, g_sig[bdf][s].label);
    CU_ASSERT_STRING_EQUAL(g->dimension, g_sig[bdf][s].dim);
    CU_ASSERT_STRING_EQUAL(g->prefilter, g_sig[bdf][s].prefilter);
    CU_ASSERT_STRING_EQUAL(g->transducer, g_sig[bdf][s].transducer);
    CU_ASSERT_DOUBLE_EQUAL(g->rate, g_sig[bdf][s].rate, 1e-12);
    CU_ASSERT_EQUAL(g->samples_per_record, g_sig[bdf][s].rate);
    CU_ASSERT_EQUAL(g->samples, (size_t)g_sig[bdf][s].rate * NREC);
    CU_ASSERT_DOUBLE_EQUAL(g->phys_min, g_sig[bdf][s].pmin, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(g->phys_max, g_sig[bdf][s].pmax, 1e-9);
    CU_ASSERT_EQUAL(g->dig_min, g_sig[bdf][s].dmin);
    CU_ASSERT_EQUAL(g->dig_max, g_sig[bdf][s].dmax);

    /* physical values within one digital step, whole signal and an unaligned window */
    double step = (g->phys_max - g->phys_min) / (g->dig_max - g->dig_min);
    size_t n = g->samples;
    double *v = malloc(n * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT_EQUAL(sf_eeg_read_channel(r, s, 0, n, v), 0);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
      double e = fabs(v[i] - sig_value(s, (long)i, g->phys_min, g->phys_max));
      if (e > worst) worst = e;
    }
    CU_ASSERT(worst <= step);
    CU_ASSERT_EQUAL(sf_eeg_read_channel(r, s, 137, 333, v), 0);
    worst = 0;
    for (size_t i = 0; i < 333; i++) {
      double e = fabs(v[i] - sig_value(s, (long)(137 + i), g->phys_min, g->phys_max));
      if (e > worst) worst = e;
    }
    CU_ASSERT(worst <= step);
    /* past the end: a clean error, nothing read */
    char msg[512];
    sf_error_defer(msg, sizeof msg);
    CU_ASSERT_EQUAL(sf_eeg_read_channel(r, s, n - 5, 6, v), SF_ERR_USAGE);
    CU_ASSERT_EQUAL(sf_eeg_read_channel(r, 2, 0, 1, v), SF_ERR_USAGE);
    sf_error_defer(NULL, 0);
    CU_ASSERT(strstr(msg, name) != NULL);
    CU_ASSERT_EQUAL(sf_eeg_read_channel(r, s, n - 5, 5, v), 0);
    free(v);
  }

  /* annotations: onsets in 100 ns, durations, text (EDFlib lists them by onset) */
  const size_t na = sizeof g_ann / sizeof g_ann[0];
  CU_ASSERT_EQUAL_FATAL(r->nannotations, na);
  for (size_t k = 0; k < na; k++) {
    size_t j = 0;
    while (j < na && strcmp(r->annotations[j].text, g_ann[k].text) != 0)
      j++;
    CU_ASSERT_FATAL(j < na);
    CU_ASSERT_EQUAL(r->annotations[j].onset, g_ann[k].onset * 1000);
    CU_ASSERT_EQUAL(r->annotations[j].duration,
                    g_ann[k].duration < 0 ? -1 : g_ann[k].duration * 1000);
  }
  if (!bdf) {
    /* nearest sample: 123.5 -> 124, 123.49 -> 123, 123.51 -> 124 at 100 Hz; at 200 Hz
     * 246.98 -> 247 and 247.02 -> 247 (floor would give 246 and 247) */
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 0, 12350000LL), 124);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 0, 12349000LL), 123);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 0, 12351000LL), 124);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 1, 12349000LL), 247);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 1, 12351000LL), 247);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 1, 12350000LL), 247);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 0, 0), 0);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 0, 93456000LL), 935); /* 934.56 */
  }
  sf_eeg_close(&r);
  CU_ASSERT_PTR_NULL(r);
  sf_eeg_close(&r); /* NULL is fine */
}

static void test_edfplus(void) { check_plus(0); }
static void test_bdfplus(void) { check_plus(1); }

/* ---- hand-built EDF+ (one 100 Hz signal, 1 s records) ------------------------------------- */

static void put(char *h, int off, int len, const char *s) {
  memset(h + off, ' ', (size_t)len);
  memcpy(h + off, s, strlen(s) < (size_t)len ? strlen(s) : (size_t)len);
}

/* Writes name: EDF+C (plus_d 0) or EDF+D with records starting at starts[i] (seconds, as
 * TAL text), record 0 also carrying the TALs extra[0, extra_len) (or none). */
static int write_hand(const char *name, int plus_d, int nrec, const char *const *starts,
                      const char *extra, size_t extra_len) {
  enum { NS = 2, SPR = 100, ASPR = 40 };
  char h[256 * (NS + 1)];
  memset(h, ' ', sizeof h);
  char tmp[32];
  put(h, 0, 8, "0");
  put(h, 8, 80, "X X X X");
  put(h, 88, 80, "Startdate 05-DEC-2026 X X X");
  put(h, 168, 8, "05.12.26");
  put(h, 176, 8, "10.00.00");
  snprintf(tmp, sizeof tmp, "%d", 256 * (NS + 1));
  put(h, 184, 8, tmp);
  put(h, 192, 44, plus_d ? "EDF+D" : "EDF+C");
  snprintf(tmp, sizeof tmp, "%d", nrec);
  put(h, 236, 8, tmp);
  put(h, 244, 8, "1");
  snprintf(tmp, sizeof tmp, "%d", NS);
  put(h, 252, 4, tmp);
  const char *label[NS] = {"EEG Pz", "EDF Annotations"}, *dim[NS] = {"uV", ""};
  const char *pmin[NS] = {"-500", "-1"}, *pmax[NS] = {"500", "1"};
  const int spr[NS] = {SPR, ASPR};
  for (int s = 0; s < NS; s++) {
    put(h, 256 + 16 * s, 16, label[s]);
    put(h, 256 + 96 * NS + 8 * s, 8, dim[s]);
    put(h, 256 + 104 * NS + 8 * s, 8, pmin[s]);
    put(h, 256 + 112 * NS + 8 * s, 8, pmax[s]);
    put(h, 256 + 120 * NS + 8 * s, 8, "-32768");
    put(h, 256 + 128 * NS + 8 * s, 8, "32767");
    snprintf(tmp, sizeof tmp, "%d", spr[s]);
    put(h, 256 + 216 * NS + 8 * s, 8, tmp);
  }
  FILE *f = fopen(wpath(name), "wb");
  if (!f) return -1;
  int bad = fwrite(h, 1, sizeof h, f) != sizeof h;
  for (int r = 0; r < nrec; r++) {
    unsigned char rec[2 * (SPR + ASPR)];
    memset(rec, 0, sizeof rec);
    for (int i = 0; i < SPR; i++) {
      short v = (short)(100 * r + i);
      rec[2 * i] = (unsigned char)(v & 0xff);
      rec[2 * i + 1] = (unsigned char)((v >> 8) & 0xff);
    }
    char tal[2 * ASPR];
    memset(tal, 0, sizeof tal);
    int len = snprintf(tal, sizeof tal, "+%s\x14\x14", starts[r]) + 1;
    if (r == 0 && extra && len + extra_len <= sizeof tal) memcpy(tal + len, extra, extra_len);
    memcpy(rec + 2 * SPR, tal, sizeof tal);
    bad |= fwrite(rec, 1, sizeof rec, f) != sizeof rec;
  }
  bad |= fclose(f) != 0;
  return bad ? -1 : 0;
}

/* Onsets at 100 ns: 1.2345678 s, and 0.00495 / 0.00505 s, i.e. 0.495 and 0.505 samples. */
static void test_onset_resolution(void) {
  static const char *const starts[] = {"0", "1", "2"};
  static const char extra[] = "+1.2345678\x14"
                              "a\x14\0"
                              "+0.00495\x14"
                              "b\x14\0"
                              "+0.00505\x15"
                              "0.25\x14"
                              "c\x14"; /* and the final NUL */
  CU_ASSERT_EQUAL_FATAL(write_hand("res.edf", 0, 3, starts, extra, sizeof extra), 0);
  sf_eeg_rec *r = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("res.edf"), &r), 0);
  CU_ASSERT_EQUAL(r->filetype, SF_EEG_EDFPLUS);
  CU_ASSERT_EQUAL(r->nsignals, 1);
  CU_ASSERT_EQUAL(r->same_rate, 1);
  CU_ASSERT_STRING_EQUAL(r->signals[0].label, "EEG Pz");
  CU_ASSERT_EQUAL(r->signals[0].samples, 300);
  CU_ASSERT_EQUAL_FATAL(r->nannotations, 3);
  long long want_on[3] = {12345678LL, 49500LL, 50500LL}, want_smp[3] = {123, 0, 1};
  const char *txt[3] = {"a", "b", "c"};
  for (int k = 0; k < 3; k++) {
    size_t j = 0;
    while (j < 3 && strcmp(r->annotations[j].text, txt[k]) != 0)
      j++;
    CU_ASSERT_FATAL(j < 3);
    CU_ASSERT_EQUAL(r->annotations[j].onset, want_on[k]);
    CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 0, r->annotations[j].onset), want_smp[k]);
    if (k == 2) CU_ASSERT_EQUAL(r->annotations[j].duration, 2500000LL);
  }
  double v[300];
  CU_ASSERT_EQUAL(sf_eeg_read_channel(r, 0, 0, 300, v), 0);
  int same = 1;
  for (int i = 0; i < 300; i++)
    same &= fabs(v[i] - (100 * (i / 100) + i % 100) * 1000.0 / 65535.0 -
                 (500.0 - 32767 * 1000.0 / 65535.0)) < 1e-9;
  CU_ASSERT(same);
  sf_eeg_close(&r);
}

/* EDF+D (which EDFlib refuses): SF_ERR_INPUT, the message telling a contiguous file (only
 * its label is wrong) from one with a gap, and before which record. */
static void test_discontinuous(void) {
  static const char *const ok[] = {"0", "1", "2"}, *const gap[] = {"0", "1", "5"};
  static const struct {
    const char *name, *want;
    const char *const *starts;
  } cases[] = {{"dcont.edf", "records are contiguous", ok},
               {"dgap.edf", "gap before data record 2", gap}};
  for (size_t i = 0; i < 2; i++) {
    sf_eeg_rec *r = NULL;
    char msg[512] = "";
    CU_ASSERT_EQUAL_FATAL(write_hand(cases[i].name, 1, 3, cases[i].starts, NULL, 0), 0);
    sf_error_defer(msg, sizeof msg);
    int rc = sf_eeg_open(wpath(cases[i].name), &r);
    sf_error_defer(NULL, 0);
    CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT(strstr(msg, cases[i].name) != NULL && strstr(msg, cases[i].want) != NULL);
    if (rc != SF_ERR_INPUT || !strstr(msg, cases[i].want))
      fprintf(stderr, "\n%s: rc %d '%s'\n", cases[i].name, rc, msg);
  }
  /* the same records labelled EDF+C open */
  sf_eeg_rec *r = NULL;
  CU_ASSERT_EQUAL_FATAL(write_hand("ccont.edf", 0, 3, ok, NULL, 0), 0);
  CU_ASSERT_EQUAL(sf_eeg_open(wpath("ccont.edf"), &r), 0);
  if (r) CU_ASSERT_EQUAL(r->signals[0].samples, 300);
  sf_eeg_close(&r);
}

/* Bad files: SF_ERR_INPUT (SF_ERR_IO for a missing one), one message naming the file. */
static void test_bad_files(void) {
  CU_ASSERT_EQUAL_FATAL(write_plus("good.edf", 0), 0);
  size_t n = 0;
  char *good = read_all("good.edf", &n);
  CU_ASSERT_FATAL(good != NULL && n > 2000);
  static const char text[] = "time,Fz,Cz\n0.000,1.5,2.5\n0.004,1.6,2.4\n";
  char *wrongcount = malloc(n);
  CU_ASSERT_FATAL(wrongcount != NULL);
  memcpy(wrongcount, good, n);
  memcpy(wrongcount + 236, "11      ", 8); /* 10 records in the file */
  char *fewer = malloc(n);
  CU_ASSERT_FATAL(fewer != NULL);
  memcpy(fewer, good, n);
  memcpy(fewer + 236, "9       ", 8);
  char *garbled = malloc(n);
  CU_ASSERT_FATAL(garbled != NULL);
  memcpy(garbled, good, n);
  memcpy(garbled + 252, "zz  ", 4); /* number of signals */
  char *bdfmagic = malloc(n);
  CU_ASSERT_FATAL(bdfmagic != NULL);
  memcpy(bdfmagic, good, n);
  bdfmagic[0] = (char)0xff; /* BDF magic on EDF data */
  char longtext[2048] = "";
  while (strlen(longtext) + sizeof text < sizeof longtext)
    strcat(longtext, text);
  const struct {
    const char *name;
    const void *data;
    size_t len;
    const char *want;
  } bad[] = {{"empty.edf", "", 0, "shorter than the 256-byte header"},
             {"trunc.edf", good, n - 101, "truncated, or a wrong number of data records"},
             {"trunc_hdr.edf", good, 200, "shorter than the 256-byte header"},
             {"trunc_sig.edf", good, 256 + 100, "truncated EDF/BDF header"},
             {"text.edf", text, sizeof text - 1, "not an EDF/BDF file"},
             {"longtext.edf", longtext, strlen(longtext), "EDF"},
             {"count.edf", wrongcount, n, "wrong number of data records"},
             {"count9.edf", fewer, n, "wrong number of data records"},
             {"nsig.edf", garbled, n, "not a valid EDF/BDF file"},
             {"magic.edf", bdfmagic, n, "not a valid EDF/BDF file"}};
  char msg[1024];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CU_ASSERT_FATAL(write_bytes(bad[i].name, bad[i].data, bad[i].len) == 0);
    sf_eeg_rec *r = NULL;
    msg[0] = '\0';
    sf_error_defer(msg, sizeof msg);
    int rc = sf_eeg_open(wpath(bad[i].name), &r);
    sf_error_defer(NULL, 0);
    CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT(strstr(msg, bad[i].name) != NULL && strstr(msg, bad[i].want) != NULL);
    if (rc != SF_ERR_INPUT || !strstr(msg, bad[i].name) || !strstr(msg, bad[i].want))
      fprintf(stderr, "\n%s: rc %d, '%s'\n", bad[i].name, rc, msg);
    sf_eeg_close(&r);
  }
  sf_eeg_rec *r = NULL;
  sf_error_defer(msg, sizeof msg);
  int rc = sf_eeg_open(wpath("no_such.edf"), &r);
  sf_error_defer(NULL, 0);
  CU_ASSERT_EQUAL(rc, SF_ERR_IO);
  CU_ASSERT(strstr(msg, "no_such.edf") != NULL);
  /* the good file still opens after all those failures (no EDFlib handle leaked) */
  CU_ASSERT_EQUAL(sf_eeg_open(wpath("good.edf"), &r), 0);
  sf_eeg_close(&r);
  CU_ASSERT_EQUAL(edflib_get_number_of_open_files(), 0);
  free(good);
  free(wrongcount);
  free(fewer);
  free(garbled);
  free(bdfmagic);
}

/* Mutated headers and annotation bytes, random lengths: 0 (and every sample readable) or
 * SF_ERR_INPUT with the file named; never a crash. */
static void test_fuzz(void) {
  CU_ASSERT_EQUAL_FATAL(write_plus("fz.edf", 0), 0);
  size_t n = 0;
  char *good = read_all("fz.edf", &n);
  CU_ASSERT_FATAL(good != NULL);
  char *buf = malloc(n);
  double *v = malloc(4096 * sizeof *v);
  CU_ASSERT_FATAL(buf != NULL && v != NULL);
  static const char digits[] = "0123456789 -+.xD\x14\0\xff";
  unsigned long long x = 0x9e3779b97f4a7c15ULL;
  int ok = 0, bad = 0, other = 0;
  for (int it = 0; it < 400; it++) {
    memcpy(buf, good, n);
    size_t len = n;
    int muts = 1 + (int)((x >> 40) % 4);
    for (int m = 0; m < muts; m++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t at = (size_t)((x >> 33) % 768);                              /* header */
      if ((x >> 20) % 4 == 0) at = 768 + (size_t)((x >> 33) % (n - 768)); /* records, TALs */
      buf[at] = digits[(x >> 13) % (sizeof digits - 1)];
    }
    if ((x >> 7) % 5 == 0) len = (size_t)((x >> 29) % n);
    CU_ASSERT_FATAL(write_bytes("fuzz.edf", buf, len) == 0);
    char msg[512] = "";
    sf_eeg_rec *r = NULL;
    sf_error_defer(msg, sizeof msg);
    int rc = sf_eeg_open(wpath("fuzz.edf"), &r);
    sf_error_defer(NULL, 0);
    if (rc == 0) {
      ok++;
      for (int s = 0; s < r->nsignals; s++) {
        size_t k = r->signals[s].samples < 4096 ? r->signals[s].samples : 4096;
        int rrc = sf_eeg_read_channel(r, s, 0, k, v);
        CU_ASSERT_EQUAL(rrc, 0);
      }
    } else if (rc == SF_ERR_INPUT && strstr(msg, "fuzz.edf")) {
      bad++;
    } else {
      other++;
      fprintf(stderr, "\nfuzz %d: rc %d '%s'\n", it, rc, msg);
    }
    sf_eeg_close(&r);
  }
  CU_ASSERT(ok > 0 && bad > 0);
  CU_ASSERT_EQUAL(other, 0);
  CU_ASSERT_EQUAL(edflib_get_number_of_open_files(), 0);
  free(good);
  free(buf);
  free(v);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_eeg_edf WORKDIR\n");
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[1]);
  if (mkdir(g_dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "test_eeg_edf: cannot create %s: %s\n", g_dir, strerror(errno));
    return 1;
  }
  static const sf_test tests[] = {
      {"EDF+ written by EDFlib, two rates", test_edfplus},
      {"BDF+ written by EDFlib, two rates", test_bdfplus},
      {"onsets at 100 ns, nearest sample", test_onset_resolution},
      {"EDF+D with and without gaps -> SF_ERR_INPUT", test_discontinuous},
      {"bad files -> SF_ERR_INPUT", test_bad_files},
      {"mutated files", test_fuzz},
      {NULL, NULL}};
  return sf_cunit_run("eeg_edf", tests);
}
