/* CUnit tests of the BrainVision reader (src/io/eeg_vhdr.c behind sf_eeg_open): hand-written
 * .vhdr/.vmrk/.eeg files in INT_16, INT_32 and IEEE_FLOAT_32, multiplexed and vectorized,
 * larger than one read block, read back exactly (raw x resolution) whole and in pieces;
 * "\1" commas in names and descriptions, unit spellings, empty resolutions, CR LF, a byte-order
 * mark and Version 2.0 headers; markers whose onsets map back to Position - 1 exactly at
 * sampling intervals of 200, 244.140625 and 333.333 us; and a clean status (SF_ERR_INPUT, or
 * SF_ERR_IO for a missing header) for truncated, missing and unsupported files, plus mutated
 * headers and marker files that must not crash. The good files stay in WORKDIR for the MNE
 * comparison (tests/tools/eeg_vhdr_mne.py). Usage: test_eeg_vhdr WORKDIR. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int write_text(const char *name, const char *text) {
  return write_bytes(name, text, strlen(text));
}

/* Whole file into a malloc'd buffer (NUL-terminated). */
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
  if (b) b[len] = '\0';
  fclose(f);
  *n = (size_t)len;
  return b;
}

enum { I16, I32, F32 };
static const char *fmt_name[] = {"INT_16", "INT_32", "IEEE_FLOAT_32"};
static const int fmt_bytes[] = {2, 4, 4};

/* Raw value of channel c at sample i, inside the format's range (exact in float32 too). */
static double raw_value(int fmt, int c, size_t i) {
  if (fmt == I16) return (double)((long)((i * 37 + (size_t)c * 1000) % 60001) - 30000);
  if (fmt == I32)
    return (double)((long long)((i * 100003 + (size_t)c * 7919) % 4000000001ULL) - 2000000000LL);
  return (double)(float)(1000.0 * sin(0.01 * (double)i * (c + 1)) + 0.125 * c);
}

/* Little-endian bytes of raw value v in format fmt at p. */
static void put_raw(unsigned char *p, int fmt, double v) {
  uint32_t u;
  if (fmt == I16) {
    uint16_t h = (uint16_t)(int16_t)v;
    p[0] = (unsigned char)(h & 0xff);
    p[1] = (unsigned char)(h >> 8);
    return;
  }
  if (fmt == I32) {
    u = (uint32_t)(int32_t)v;
  } else {
    float f = (float)v;
    memcpy(&u, &f, 4);
  }
  for (int k = 0; k < 4; k++)
    p[k] = (unsigned char)(u >> (8 * k));
}

/* Writes stem.eeg: nch channels x ns samples of raw_value, multiplexed or vectorized. */
static int write_data(const char *stem, int fmt, int vec, int nch, size_t ns) {
  size_t b = (size_t)fmt_bytes[fmt];
  unsigned char *d = malloc(b * (size_t)nch * ns);
  if (!d) return -1;
  for (int c = 0; c < nch; c++)
    for (size_t i = 0; i < ns; i++)
      put_raw(d + b * (vec ? (size_t)c * ns + i : i * (size_t)nch + (size_t)c), fmt,
              raw_value(fmt, c, i));
  char name[256];
  snprintf(name, sizeof name, "%s.eeg", stem);
  int rc = write_bytes(name, d, b * (size_t)nch * ns);
  free(d);
  return rc;
}

/* Writes stem.vhdr with the given first line, format, orientation, channel lines, and a
 * [Coordinates] entry per channel (skipped by the reader, read by MNE). */
static int write_header(const char *stem, const char *first, const char *fmt, const char *orient,
                        int nch, const char *interval, const char *channels, const char *eol) {
  char text[8192], coord[2048] = "";
  for (int c = 0; c < nch && c < 32; c++)
    snprintf(coord + strlen(coord), sizeof coord - strlen(coord), "Ch%d=1,%d,%d%s", c + 1,
             10 * c - 90, 5 * c, eol);
  snprintf(text, sizeof text,
           "%s%s; a comment%s%s[Common Infos]%sCodepage=UTF-8%sDataFile=%s.eeg%s"
           "MarkerFile=%s.vmrk%sDataFormat=BINARY%sDataOrientation=%s%sNumberOfChannels=%d%s"
           "SamplingInterval=%s%s%s[Binary Infos]%sBinaryFormat=%s%s%s[Channel Infos]%s%s%s"
           "[Coordinates]%s%s%s[Comment]%sfree text with = signs%s",
           first, eol, eol, eol, eol, eol, stem, eol, stem, eol, eol, orient, eol, nch, eol,
           interval, eol, eol, eol, fmt, eol, eol, eol, channels, eol, eol, coord, eol, eol, eol);
  char name[256];
  snprintf(name, sizeof name, "%s.vhdr", stem);
  return write_text(name, text);
}

/* Writes stem.vmrk with the given marker lines. */
static int write_markers(const char *stem, const char *markers, const char *eol) {
  char *text = malloc(strlen(markers) + 512);
  if (!text) return -1;
  sprintf(text,
          "Brain Vision Data Exchange Marker File, Version 1.0%s%s[Common Infos]%sCodepage=UTF-8%s"
          "DataFile=%s.eeg%s%s[Marker Infos]%s; "
          "Mk<n>=<Type>,<Description>,<Position>,<Size>,<Channel>%s%s",
          eol, eol, eol, eol, stem, eol, eol, eol, eol, markers);
  char name[256];
  snprintf(name, sizeof name, "%s.vmrk", stem);
  int rc = write_text(name, text);
  free(text);
  return rc;
}

static const char *V1 = "Brain Vision Data Exchange Header File Version 1.0";
static const char *CHANNELS3 =
    "Ch1=Fp1,,0.1,\xc2\xb5V\nCh2=A\\1B,REF,0.5,\xc2\xb5V\nCh3=ECG,,,mV\n";
static const char *MARKERS3 =
    "Mk1=New Segment,,1,1,0,20260101120000000000\n"
    "Mk2=Stimulus,S  1,100,1,0\nMk3=Response,R128,4096,1,0\nMk4=Stimulus,a\\1b,4097,0,0\n";

/* Reads every channel of r whole and in pieces and compares with raw x resolution. */
static void check_values(sf_eeg_rec *r, int fmt, const double *res) {
  size_t ns = r->signals[0].samples;
  double *x = malloc(ns * sizeof *x);
  CU_ASSERT_FATAL(x != NULL);
  for (int c = 0; c < r->nsignals; c++) {
    CU_ASSERT_EQUAL_FATAL(sf_eeg_read_channel(r, c, 0, ns, x), 0);
    size_t bad = 0;
    for (size_t i = 0; i < ns; i++)
      bad += x[i] != raw_value(fmt, c, i) * res[c];
    CU_ASSERT_EQUAL(bad, 0);
    size_t first[] = {12345 % ns, ns - 1, ns / 2, 0}, len[] = {777, 1, ns - ns / 2, 0};
    for (int k = 0; k < 4; k++) {
      size_t n = first[k] + len[k] <= ns ? len[k] : ns - first[k];
      CU_ASSERT_EQUAL(sf_eeg_read_channel(r, c, first[k], n, x), 0);
      for (size_t i = 0; i < n; i++)
        bad += x[i] != raw_value(fmt, c, first[k] + i) * res[c];
    }
    CU_ASSERT_EQUAL(bad, 0);
  }
  CU_ASSERT_EQUAL(sf_eeg_read_channel(r, r->nsignals, 0, 1, x), SF_ERR_USAGE);
  CU_ASSERT_EQUAL(sf_eeg_read_channel(r, -1, 0, 1, x), SF_ERR_USAGE);
  CU_ASSERT_EQUAL(sf_eeg_read_channel(r, 0, ns, 1, x), SF_ERR_USAGE);
  CU_ASSERT_EQUAL(sf_eeg_read_channel(r, 0, 1, ns, x), SF_ERR_USAGE);
  free(x);
}

/* Every format x orientation, 3 channels of 300000 samples (over one 1 MiB read block). */
static void test_formats(void) {
  static const struct {
    const char *stem;
    int fmt, vec;
  } cases[] = {{"i16_mux", I16, 0}, {"i16_vec", I16, 1}, {"i32_mux", I32, 0},
               {"i32_vec", I32, 1}, {"f32_mux", F32, 0}, {"f32_vec", F32, 1}};
  const size_t ns = 300000;
  const double res[3] = {0.1, 0.5, 1.0};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    const char *stem = cases[k].stem;
    int fmt = cases[k].fmt;
    CU_ASSERT_EQUAL_FATAL(write_data(stem, fmt, cases[k].vec, 3, ns), 0);
    CU_ASSERT_EQUAL_FATAL(write_header(stem, V1, fmt_name[fmt],
                                       cases[k].vec ? "VECTORIZED" : "MULTIPLEXED", 3, "244.140625",
                                       CHANNELS3, "\n"),
                          0);
    CU_ASSERT_EQUAL_FATAL(write_markers(stem, MARKERS3, "\n"), 0);
    char name[256];
    snprintf(name, sizeof name, "%s.vhdr", stem);
    sf_eeg_rec *r = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath(name), &r), 0);
    CU_ASSERT_EQUAL(r->filetype, SF_EEG_BRAINVISION);
    CU_ASSERT_EQUAL_FATAL(r->nsignals, 3);
    CU_ASSERT_STRING_EQUAL(r->signals[0].label, "Fp1");
    CU_ASSERT_STRING_EQUAL(r->signals[1].label, "A,B");
    CU_ASSERT_STRING_EQUAL(r->signals[2].label, "ECG");
    CU_ASSERT_STRING_EQUAL(r->signals[0].dimension, "uV");
    CU_ASSERT_STRING_EQUAL(r->signals[2].dimension, "mV");
    CU_ASSERT_EQUAL(r->same_rate, 1);
    for (int c = 0; c < 3; c++) {
      CU_ASSERT_EQUAL(r->signals[c].rate, 4096.0);
      CU_ASSERT_EQUAL(r->signals[c].samples, ns);
      if (fmt == I16) {
        CU_ASSERT_EQUAL(r->signals[c].dig_min, -32768);
        CU_ASSERT_EQUAL(r->signals[c].dig_max, 32767);
        CU_ASSERT_EQUAL(r->signals[c].phys_max, 32767 * res[c]);
      } else if (fmt == I32) {
        CU_ASSERT_EQUAL(r->signals[c].dig_max, 2147483647);
      } else {
        CU_ASSERT_EQUAL(r->signals[c].dig_min, 0);
        CU_ASSERT(r->signals[c].phys_max > 1e37 && r->signals[c].phys_min < -1e37);
      }
    }
    /* 244.140625 us = 2441.40625 x 100 ns: 32 samples last 78125 x 100 ns */
    CU_ASSERT_EQUAL(r->record_duration, 78125);
    CU_ASSERT_EQUAL(r->signals[0].samples_per_record, 32);
    CU_ASSERT_EQUAL(r->duration, (long long)(ns * 78125 / 32));
    CU_ASSERT_EQUAL_FATAL(r->nannotations, 4);
    CU_ASSERT_STRING_EQUAL(r->annotations[0].text, "New Segment");
    CU_ASSERT_STRING_EQUAL(r->annotations[1].text, "S  1");
    CU_ASSERT_STRING_EQUAL(r->annotations[2].text, "R128");
    CU_ASSERT_STRING_EQUAL(r->annotations[3].text, "a,b");
    CU_ASSERT_EQUAL(r->annotations[0].onset, 0);
    CU_ASSERT_EQUAL(r->annotations[3].onset, 10000000); /* sample 4096 at 1 s */
    CU_ASSERT_EQUAL(r->annotations[2].duration, 2441);  /* one sample, rounded to 100 ns */
    CU_ASSERT_EQUAL(r->annotations[3].duration, 0);
    long long pos[4] = {1, 100, 4096, 4097};
    for (int a = 0; a < 4; a++)
      CU_ASSERT_EQUAL(sf_eeg_time_to_sample(r, 0, r->annotations[a].onset), pos[a] - 1);
    check_values(r, fmt, res);
    sf_eeg_close(&r);
    CU_ASSERT_PTR_NULL(r);
  }
}

/* Markers at every 7th sample map back to Position - 1 exactly at three sampling intervals. */
static void test_marker_onsets(void) {
  static const char *intervals[] = {"200", "244.140625", "333.333", "1000", "50"};
  const size_t ns = 20000;
  char *mk = malloc(64 * (ns / 7 + 2));
  CU_ASSERT_FATAL(mk != NULL);
  size_t m = 0, len = 0;
  for (size_t p = 1; p <= ns; p += 7)
    len += (size_t)sprintf(mk + len, "Mk%zu=Stimulus,S%3zu,%zu,1,0\n", ++m, p % 1000, p);
  for (size_t k = 0; k < sizeof intervals / sizeof *intervals; k++) {
    CU_ASSERT_EQUAL_FATAL(write_data("onsets", I16, 0, 1, ns), 0);
    CU_ASSERT_EQUAL_FATAL(
        write_header("onsets", V1, "INT_16", "MULTIPLEXED", 1, intervals[k], "Ch1=Cz,,,\n", "\n"),
        0);
    CU_ASSERT_EQUAL_FATAL(write_markers("onsets", mk, "\n"), 0);
    sf_eeg_rec *r = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("onsets.vhdr"), &r), 0);
    CU_ASSERT_EQUAL_FATAL(r->nannotations, m);
    double iv = atof(intervals[k]);
    CU_ASSERT(fabs(r->signals[0].rate - 1e6 / iv) < 1e-9 * r->signals[0].rate);
    CU_ASSERT_STRING_EQUAL(r->signals[0].dimension, "uV"); /* empty unit: BrainVision's uV */
    size_t bad = 0, badt = 0;
    for (size_t a = 0; a < m; a++) {
      long long p = 1 + 7 * (long long)a;
      bad += sf_eeg_time_to_sample(r, 0, r->annotations[a].onset) != p - 1;
      badt += fabs((double)r->annotations[a].onset - (double)(p - 1) * iv * 10.0) > 0.5 + 1e-6;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(badt, 0);
    CU_ASSERT_STRING_EQUAL(r->annotations[0].text, "S  1");
    sf_eeg_close(&r);
  }
  free(mk);
}

/* Unit spellings, empty resolution, CR LF, a byte-order mark, Version 2.0, an upper-case
 * .VHDR name and an absolute DataFile, big-endian INT_16. */
static void test_header_variants(void) {
  CU_ASSERT_EQUAL_FATAL(write_data("var", I16, 0, 7, 100), 0);
  const char *ch = "Ch1=a,,1,\xb5V\r\nCh2=b,,2,\xce\xbcV\r\nCh3=c,,,V\r\nCh4=d,,0.25,nV\r\n"
                   "Ch5=e,,1e-1,mV\r\nCh6=a-very-long-channel-name,,1,\r\nCh7=g,,1,uV";
  char first[128];
  snprintf(first, sizeof first, "\xef\xbb\xbf%s",
           "Brain Vision Data Exchange Header File Version 2.0");
  CU_ASSERT_EQUAL_FATAL(write_header("var", first, "INT_16", "MULTIPLEXED", 7, "1000", ch, "\r\n"),
                        0);
  CU_ASSERT_EQUAL_FATAL(write_markers("var", "Mk1=Comment,,50,,0\r\n", "\r\n"), 0);
  CU_ASSERT_EQUAL_FATAL(rename(wpath("var.vhdr"), wpath("var.VHDR")), 0);
  sf_eeg_rec *r = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("var.VHDR"), &r), 0);
  CU_ASSERT_EQUAL_FATAL(r->nsignals, 7);
  const char *dim[7] = {"uV", "uV", "V", "nV", "mV", "uV", "uV"};
  for (int c = 0; c < 7; c++)
    CU_ASSERT_STRING_EQUAL(r->signals[c].dimension, dim[c]);
  CU_ASSERT_STRING_EQUAL(r->signals[5].label, "a-very-long-chan"); /* cut to 16 bytes */
  CU_ASSERT_EQUAL(r->signals[0].rate, 1000.0);
  CU_ASSERT_EQUAL_FATAL(r->nannotations, 1);
  CU_ASSERT_STRING_EQUAL(r->annotations[0].text, "Comment"); /* no description: the type */
  CU_ASSERT_EQUAL(r->annotations[0].duration, -1);           /* no size */
  CU_ASSERT_EQUAL(r->annotations[0].onset, 49 * 10000);
  const double res[7] = {1, 2, 1, 0.25, 1e-1, 1, 1};
  check_values(r, I16, res);
  sf_eeg_close(&r);

  /* big-endian, absolute DataFile path */
  size_t n;
  char *d = read_all("var.eeg", &n);
  CU_ASSERT_FATAL(d != NULL);
  for (size_t i = 0; i + 1 < n; i += 2) {
    char t = d[i];
    d[i] = d[i + 1];
    d[i + 1] = t;
  }
  CU_ASSERT_EQUAL_FATAL(write_bytes("big.eeg", d, n), 0);
  free(d);
  char text[2048];
  snprintf(
      text, sizeof text,
      "Brain Vision Data Exchange Header File Version 1.0\n[Common Infos]\nDataFile=%s\n"
      "DataFormat=BINARY\nDataOrientation=MULTIPLEXED\nNumberOfChannels=7\nSamplingInterval=1000\n"
      "DataPoints=100\n[Binary Infos]\nBinaryFormat=INT_16\nUseBigEndianOrder=YES\n[Channel "
      "Infos]\n%s\n",
      wpath("big.eeg"), ch);
  CU_ASSERT_EQUAL_FATAL(write_text("big.vhdr", text), 0);
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("big.vhdr"), &r), 0);
  CU_ASSERT_EQUAL(r->nannotations, 0); /* no MarkerFile: no markers */
  check_values(r, I16, res);
  sf_eeg_close(&r);
}

/* sf_eeg_open of name must fail with status want, leave *out NULL and not crash. */
static void expect_fail(const char *name, int want) {
  sf_eeg_rec *r = (sf_eeg_rec *)&r; /* must be set to NULL */
  int rc = sf_eeg_open(wpath(name), &r);
  CU_ASSERT_EQUAL(rc, want);
  CU_ASSERT_PTR_NULL(r);
  if (rc != want) fprintf(stderr, "  (%s: status %d, expected %d)\n", name, rc, want);
  if (rc == 0) sf_eeg_close(&r);
}

/* Writes bad.vhdr as the good header with `from` replaced by `to`, opens it, expects want. */
static void expect_header_fail(const char *from, const char *to, int want) {
  size_t n;
  char *h = read_all("good.vhdr", &n), *p = h ? strstr(h, from) : NULL;
  CU_ASSERT_FATAL(p != NULL);
  char *out = malloc(n + strlen(to) + 1);
  memcpy(out, h, (size_t)(p - h));
  strcpy(out + (p - h), to);
  strcat(out, p + strlen(from));
  CU_ASSERT_EQUAL_FATAL(write_text("bad.vhdr", out), 0);
  free(out);
  free(h);
  expect_fail("bad.vhdr", want);
}

/* Truncated, missing and unsupported files: a clean status, nothing left open. */
static void test_bad_files(void) {
  CU_ASSERT_EQUAL_FATAL(write_data("good", I16, 0, 3, 1000), 0);
  CU_ASSERT_EQUAL_FATAL(
      write_header("good", V1, "INT_16", "MULTIPLEXED", 3, "200", CHANNELS3, "\n"), 0);
  CU_ASSERT_EQUAL_FATAL(write_markers("good", "Mk1=Stimulus,S  1,1000,1,0\n", "\n"), 0);
  sf_eeg_rec *r = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("good.vhdr"), &r), 0);
  sf_eeg_close(&r);

  expect_fail("nonexistent.vhdr", SF_ERR_IO);
  CU_ASSERT_EQUAL_FATAL(write_text("empty.vhdr", ""), 0);
  expect_fail("empty.vhdr", SF_ERR_INPUT);
  CU_ASSERT_EQUAL_FATAL(write_text("text.vhdr", "hello\n[Common Infos]\n"), 0);
  expect_fail("text.vhdr", SF_ERR_INPUT);
  CU_ASSERT_EQUAL_FATAL(write_bytes("nul.vhdr", "Brain Vision\0", 13), 0);
  expect_fail("nul.vhdr", SF_ERR_INPUT);

  /* the data file: truncated by a byte, by a frame with DataPoints, empty, missing */
  size_t n;
  char *d = read_all("good.eeg", &n);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT_EQUAL_FATAL(write_bytes("short.eeg", d, n - 1), 0);
  expect_header_fail("DataFile=good.eeg", "DataFile=short.eeg", SF_ERR_INPUT);
  expect_header_fail("NumberOfChannels=3", "NumberOfChannels=3\nDataPoints=999", SF_ERR_INPUT);
  CU_ASSERT_EQUAL_FATAL(write_bytes("short.eeg", d, n - 6), 0);
  expect_header_fail("DataFile=good.eeg", "DataFile=short.eeg\nDataPoints=1000", SF_ERR_INPUT);
  CU_ASSERT_EQUAL_FATAL(write_bytes("zero.eeg", d, 0), 0);
  expect_header_fail("DataFile=good.eeg", "DataFile=zero.eeg", SF_ERR_INPUT);
  free(d);
  expect_header_fail("DataFile=good.eeg", "DataFile=missing.eeg", SF_ERR_INPUT);
  expect_header_fail("DataFile=good.eeg", "DataFile=", SF_ERR_INPUT);
  expect_header_fail("MarkerFile=good.vmrk", "MarkerFile=missing.vmrk", SF_ERR_INPUT);

  /* unsupported or missing header fields */
  expect_header_fail("DataFormat=BINARY", "DataFormat=ASCII", SF_ERR_INPUT);
  expect_header_fail("DataOrientation=MULTIPLEXED", "DataOrientation=SIDEWAYS", SF_ERR_INPUT);
  expect_header_fail("BinaryFormat=INT_16", "BinaryFormat=UINT_16", SF_ERR_INPUT);
  expect_header_fail("BinaryFormat=INT_16", "", SF_ERR_INPUT);
  expect_header_fail("NumberOfChannels=3", "", SF_ERR_INPUT);
  expect_header_fail("NumberOfChannels=3", "NumberOfChannels=0", SF_ERR_INPUT);
  expect_header_fail("NumberOfChannels=3", "NumberOfChannels=x3", SF_ERR_INPUT);
  expect_header_fail("NumberOfChannels=3", "NumberOfChannels=4", SF_ERR_INPUT); /* no Ch4 */
  expect_header_fail("NumberOfChannels=3", "NumberOfChannels=2", SF_ERR_INPUT); /* Ch3 extra */
  expect_header_fail("SamplingInterval=200", "", SF_ERR_INPUT);
  expect_header_fail("SamplingInterval=200", "SamplingInterval=-200", SF_ERR_INPUT);
  expect_header_fail("SamplingInterval=200", "SamplingInterval=0", SF_ERR_INPUT);
  expect_header_fail("SamplingInterval=200", "SamplingInterval=0.05", SF_ERR_INPUT);
  expect_header_fail("SamplingInterval=200", "SamplingInterval=2e2", SF_ERR_INPUT);
  expect_header_fail("Codepage=UTF-8", "DataType=FREQUENCYDOMAIN", SF_ERR_INPUT);
  expect_header_fail("Codepage=UTF-8", "SegmentationType=MARKERBASED", SF_ERR_INPUT);
  expect_header_fail("Ch1=Fp1,,0.1,", "Ch1=Fp1,,abc,", SF_ERR_INPUT);
  expect_header_fail("Ch1=Fp1,,0.1,", "Ch1=Fp1,,0,", SF_ERR_INPUT);
  expect_header_fail("Ch2=", "Ch1=", SF_ERR_INPUT); /* Ch1 twice */
  expect_header_fail("Version 1.0", "Version 3.0", SF_ERR_INPUT);

  /* markers: out of range, malformed, not a marker file */
  static const char *bad_markers[] = {"Mk1=Stimulus,S  1,0,1,0\n",  "Mk1=Stimulus,S  1,1001,1,0\n",
                                      "Mk1=Stimulus,S  1,-5,1,0\n", "Mk1=Stimulus,S  1,x,1,0\n",
                                      "Mk1=Stimulus,S  1\n",        "Mk1=Stimulus,S  1,10,-1,0\n"};
  for (size_t k = 0; k < sizeof bad_markers / sizeof *bad_markers; k++) {
    CU_ASSERT_EQUAL_FATAL(write_markers("good", bad_markers[k], "\n"), 0);
    expect_fail("good.vhdr", SF_ERR_INPUT);
  }
  CU_ASSERT_EQUAL_FATAL(
      write_text("good.vmrk", "Brain Vision Data Exchange Header File Version 1.0\n"), 0);
  expect_fail("good.vhdr", SF_ERR_INPUT);
  CU_ASSERT_EQUAL_FATAL(write_markers("good", "Mk1=Stimulus,S  1,1000,1,0\n", "\n"), 0);
  CU_ASSERT_EQUAL_FATAL(sf_eeg_open(wpath("good.vhdr"), &r), 0);
  sf_eeg_close(&r);
}

/* Mutated headers and marker files (bytes replaced, inserted, cut): every open returns 0 or
 * a negative status, and a record that opens reads all its channels. */
static void test_fuzz(void) {
  size_t nh, nm;
  char *h = read_all("good.vhdr", &nh), *m = read_all("good.vmrk", &nm);
  CU_ASSERT_FATAL(h && m);
  static const char alphabet[] = "=,;[]\\1\n\r 0123456789-.aZ\xb5\xc2";
  uint64_t s = 12345;
  int opened = 0;
  double *x = malloc(1000 * sizeof *x);
  for (int it = 0; it < 600; it++) {
    int marker = it % 3 == 2;
    const char *src = marker ? m : h;
    size_t n = marker ? nm : nh, n0 = n;
    char *b = malloc(n + 8);
    memcpy(b, src, n);
    int edits = 1 + (int)((s >> 33) % 4);
    for (int e = 0; e < edits; e++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t at = (size_t)((s >> 33) % n);
      int kind = (int)((s >> 20) % 3);
      char c = alphabet[(s >> 40) % (sizeof alphabet - 1)];
      if (kind == 0)
        b[at] = c;
      else if (kind == 1)
        n = at > 0 ? at : n; /* cut */
      else if (n < n0 + 7) {
        memmove(b + at + 1, b + at, n - at);
        b[at] = c;
        n++;
      }
    }
    CU_ASSERT_EQUAL_FATAL(write_bytes(marker ? "fuzz.vmrk" : "fuzz.vhdr", b, n), 0);
    CU_ASSERT_EQUAL_FATAL(
        marker ? write_bytes("fuzz.vhdr", h, nh) : write_bytes("fuzz.vmrk", m, nm), 0);
    free(b);
    /* the header names good.eeg/good.vmrk: point the marker file at fuzz.vmrk */
    size_t hn;
    char *hh = read_all("fuzz.vhdr", &hn), *p = hh ? strstr(hh, "good.vmrk") : NULL;
    if (p) memcpy(p, "fuzz", 4);
    if (hh) write_bytes("fuzz.vhdr", hh, hn);
    free(hh);
    sf_error_defer(NULL, 0);
    char msg[512];
    sf_error_defer(msg, sizeof msg); /* quiet: hundreds of expected messages */
    sf_eeg_rec *r = NULL;
    int rc = sf_eeg_open(wpath("fuzz.vhdr"), &r);
    CU_ASSERT(rc == 0 || rc < 0);
    if (rc == 0) {
      opened++;
      for (int c = 0; c < r->nsignals; c++) {
        size_t k = r->signals[c].samples < 1000 ? r->signals[c].samples : 1000;
        CU_ASSERT_EQUAL(sf_eeg_read_channel(r, c, 0, k, x), 0);
      }
      sf_eeg_close(&r);
    } else {
      CU_ASSERT_PTR_NULL(r);
    }
    sf_error_defer(NULL, 0);
  }
  printf("\n  %d of 600 mutated recordings opened and read\n", opened);
  free(x);
  free(h);
  free(m);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_eeg_vhdr WORKDIR\n");
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[1]);
  /* mkdir -p: the work directory's parent may not exist yet in a fresh build tree */
  for (char *p = strchr(g_dir + 1, '/'); p; p = strchr(p + 1, '/')) {
    *p = '\0';
    mkdir(g_dir, 0777); /* an existing or unmakeable parent: the last mkdir reports */
    *p = '/';
  }
  if (mkdir(g_dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "test_eeg_vhdr: cannot create %s: %s\n", g_dir, strerror(errno));
    return 1;
  }
  static const sf_test tests[] = {
      {"INT_16/INT_32/FLOAT_32 x multiplexed/vectorized", test_formats},
      {"marker onsets map back to Position - 1", test_marker_onsets},
      {"units, CR LF, BOM, Version 2.0, big-endian", test_header_variants},
      {"bad files -> SF_ERR_INPUT", test_bad_files},
      {"mutated headers and markers", test_fuzz},
      {NULL, NULL}};
  return sf_cunit_run("eeg_vhdr", tests);
}
