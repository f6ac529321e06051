/* BrainVision Core Data Format 1.0 (.vhdr header, .vmrk markers, .eeg binary data): the
 * recordings MR-compatible amplifiers (BrainAmp MR) write. No C library for it is packaged,
 * so this is a reader of our own, checked against MNE's read_raw_brainvision on the same
 * files (tests/tools/eeg_vhdr_mne.py). What it accepts and fills: src/io/eeg_vhdr_impl.h. */
#include "io/eeg_vhdr_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sf_error.h"

#define VHDR_MAX_TEXT (64u << 20) /* a header or marker file larger than this is not one */
#define VHDR_BLOCK (1u << 20)     /* bytes read at a time */
#define VHDR_MAX_CHANNELS 65536

enum { VHDR_INT16 = 0, VHDR_INT32 = 1, VHDR_FLOAT32 = 2 };

struct sf_eeg_vhdr {
  int fd;             /* the data file, open for pread */
  char *data_path;    /* for messages */
  int format;         /* VHDR_INT16 .. VHDR_FLOAT32 */
  int bytes;          /* per sample */
  int big;            /* UseBigEndianOrder=YES */
  int vectorized;     /* 0: multiplexed (frames of all channels), 1: channel after channel */
  size_t nsamples;    /* per channel */
  double *resolution; /* per channel: physical value per raw unit */
};

/* A text file split into lines: the buffer with every line NUL-terminated. */
typedef struct {
  char *buf;
  char **line;
  size_t n;
} vhdr_text;

static void text_free(vhdr_text *t) {
  free(t->buf);
  free(t->line);
  memset(t, 0, sizeof *t);
}

/* Reads the whole file at path into t, split into lines (CR LF or LF; a UTF-8 byte-order
 * mark removed). 0, or reports SF_ERR_IO (cannot open or read, naming what the file is;
 * missing_code instead when it does not exist) or SF_ERR_INPUT (larger than VHDR_MAX_TEXT,
 * or holds a NUL byte: not a text file). */
static int text_read(const char *path, const char *what, int missing_code, vhdr_text *t) {
  int status = 0;
  FILE *f = fopen(path, "rb");
  memset(t, 0, sizeof *t);
  SF_CHECK(f, errno == ENOENT ? missing_code : SF_ERR_IO, "%s: cannot open the BrainVision %s: %s",
           path, what, strerror(errno));
  SF_CHECK(fseeko(f, 0, SEEK_END) == 0, SF_ERR_IO, "%s: cannot read the BrainVision %s", path,
           what);
  off_t size = ftello(f);
  SF_CHECK(size >= 0 && fseeko(f, 0, SEEK_SET) == 0, SF_ERR_IO,
           "%s: cannot read the BrainVision %s", path, what);
  SF_CHECK((unsigned long long)size <= VHDR_MAX_TEXT, SF_ERR_INPUT,
           "%s: %lld bytes: too large for a BrainVision %s", path, (long long)size, what);
  SF_ALLOC(t->buf, (size_t)size + 1);
  SF_CHECK(fread(t->buf, 1, (size_t)size, f) == (size_t)size, SF_ERR_IO,
           "%s: cannot read the BrainVision %s", path, what);
  SF_CHECK(memchr(t->buf, '\0', (size_t)size) == NULL, SF_ERR_INPUT,
           "%s: a NUL byte in the BrainVision %s: not a text file", path, what);
  char *p = t->buf;
  if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf)
    p += 3;
  size_t cap = 1;
  for (char *q = p; *q; q++)
    cap += *q == '\n';
  SF_ALLOC(t->line, cap);
  while (*p) {
    char *e = strchr(p, '\n');
    if (e) *e = '\0';
    size_t k = strlen(p);
    while (k > 0 && (p[k - 1] == '\r' || p[k - 1] == ' ' || p[k - 1] == '\t'))
      p[--k] = '\0';
    t->line[t->n++] = p;
    if (!e) break;
    p = e + 1;
  }
cleanup:
  if (f) fclose(f);
  if (status < 0) text_free(t);
  return status;
}

/* The section a line opens ("[Common Infos]" -> "Common Infos", in place), or NULL. */
static char *section_of(char *line) {
  if (line[0] != '[') return NULL;
  char *e = strchr(line, ']');
  if (!e) return NULL;
  *e = '\0';
  return line + 1;
}

/* Splits "key=value" in place; key with surrounding blanks removed. 0, or -1 without '='. */
static int key_value(char *line, char **key, char **value) {
  char *eq = strchr(line, '=');
  if (!eq || line[0] == ';') return -1;
  *eq = '\0';
  char *k = line;
  while (*k == ' ' || *k == '\t')
    k++;
  size_t n = strlen(k);
  while (n > 0 && (k[n - 1] == ' ' || k[n - 1] == '\t'))
    k[--n] = '\0';
  *key = k;
  *value = eq + 1;
  return 0;
}

/* Value with leading blanks skipped (trailing ones are gone with the line's). */
static char *trimmed(char *v) {
  while (*v == ' ' || *v == '\t')
    v++;
  return v;
}

/* Replaces every "\1" (BrainVision's escaped comma) by ',' in place. */
static void unescape_commas(char *s) {
  char *w = s;
  for (const char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] == '1') {
      *w++ = ',';
      r++;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

/* Splits s in place at commas into at most max fields; returns how many. */
static int split_commas(char *s, char **field, int max) {
  int n = 0;
  field[n++] = s;
  for (char *p = s; *p && n < max; p++) {
    if (*p == ',') {
      *p = '\0';
      field[n++] = p + 1;
    }
  }
  return n;
}

/* Whole number of "<prefix><n>" keys ("Ch12", "Mk3"): n, or -1 if key is not one. */
static long numbered_key(const char *key, const char *prefix) {
  size_t lp = strlen(prefix);
  if (strncasecmp(key, prefix, lp) != 0 || key[lp] < '0' || key[lp] > '9') return -1;
  char *end;
  errno = 0;
  long n = strtol(key + lp, &end, 10);
  return *end || errno ? -1 : n;
}

/* A decimal "123", "244.140625" as p / q, both positive and under 10^17, reduced. 0, or -1
 * when s is not such a number (signs, exponents and more than 16 digits are refused). */
static int parse_decimal(const char *s, long long *p, long long *q) {
  long long num = 0, den = 1;
  int digits = 0, dot = 0;
  for (; *s; s++) {
    if (*s == '.' && !dot) {
      dot = 1;
    } else if (*s >= '0' && *s <= '9') {
      if (++digits > 16) return -1;
      num = num * 10 + (*s - '0');
      if (dot) den *= 10;
    } else {
      return -1;
    }
  }
  if (!digits || num == 0) return -1;
  long long a = num, b = den;
  while (b) {
    long long t = a % b;
    a = b;
    b = t;
  }
  *p = num / a;
  *q = den / a;
  return 0;
}

/* Greatest common divisor of positive a and b. */
static long long gcd_ll(long long a, long long b) {
  while (b) {
    long long t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* k sample intervals in 100 ns: k x record_duration / samples_per_record rounded half up. */
static long long samples_to_time(long long k, long long rd, long long spr) {
  __int128 num = (__int128)k * rd;
  return (long long)((2 * num + spr) / (2 * (__int128)spr));
}

/* The unit as EDF writes it: µV (UTF-8 U+00B5 or U+03BC, or Latin-1 0xB5) becomes "uV", the
 * empty unit is BrainVision's default uV; the rest is kept, cut to 8 bytes. */
static void copy_unit(char *dst, size_t n, const char *u) {
  const unsigned char *s = (const unsigned char *)u;
  size_t mu = 0; /* bytes of a leading micro sign */
  if ((s[0] == 0xc2 && s[1] == 0xb5) || (s[0] == 0xce && s[1] == 0xbc))
    mu = 2;
  else if (s[0] == 0xb5)
    mu = 1;
  if (!*s)
    snprintf(dst, n, "uV");
  else if (mu)
    snprintf(dst, n, "u%s", u + mu);
  else
    snprintf(dst, n, "%s", u);
}

/* directory of base (up to its last '/') + name, or name itself when absolute. */
static char *beside(const char *base, const char *name) {
  if (name[0] == '/') return strdup(name);
  const char *slash = strrchr(base, '/');
  size_t d = slash ? (size_t)(slash - base) + 1 : 0, n = strlen(name);
  char *p = malloc(d + n + 1);
  if (!p) return NULL;
  memcpy(p, base, d);
  memcpy(p + d, name, n + 1);
  return p;
}

/* The [Marker Infos] of the marker file mpath into r's annotations (time base rd / spr,
 * nsamples per channel). 0, or reports SF_ERR_IO / SF_ERR_INPUT / SF_ERR_NOMEM. */
static int read_markers(sf_eeg_rec *r, const char *mpath, long long rd, long long spr,
                        size_t nsamples) {
  int status = 0;
  vhdr_text t;
  SF_CALL(text_read(mpath, "marker file (MarkerFile of the header)", SF_ERR_INPUT, &t));
  SF_CHECK(t.n > 0 && strstr(t.line[0], "Data Exchange Marker File") &&
               (strstr(t.line[0], "Version 1.0") || strstr(t.line[0], "Version 2.0")),
           SF_ERR_INPUT,
           "%s: not a BrainVision marker file: the first line is not \"Brain Vision Data "
           "Exchange Marker File, Version 1.0\" (or 2.0)",
           mpath);
  /* The array grows as markers are parsed: a separate counting pass that judged lines
   * otherwise than the parser (" Mk1=" with a blank, a "[" line without "]" inside [Marker
   * Infos]) allocated too few and the parser wrote past them. */
  size_t cap = 0;
  int in = 0;
  for (size_t i = 1; i < t.n; i++) {
    char *l = t.line[i], *key, *val, *sec = section_of(l);
    if (sec) {
      in = strcasecmp(sec, "Marker Infos") == 0;
      continue;
    }
    if (!in || key_value(l, &key, &val) != 0 || numbered_key(key, "Mk") < 0) continue;
    char *fld[6];
    int nf = split_commas(val, fld, 6);
    SF_CHECK(nf >= 3, SF_ERR_INPUT,
             "%s: marker %s: not <Type>,<Description>,<Position>,<Size>,<Channel>", mpath, key);
    char *end;
    errno = 0;
    long long pos = strtoll(trimmed(fld[2]), &end, 10);
    SF_CHECK(!errno && end != trimmed(fld[2]) && !*end, SF_ERR_INPUT,
             "%s: marker %s: position '%s' is not a whole number", mpath, key, fld[2]);
    SF_CHECK(pos >= 1 && (unsigned long long)pos <= nsamples, SF_ERR_INPUT,
             "%s: marker %s at position %lld: out of range (the data hold samples 1..%zu)", mpath,
             key, pos, nsamples);
    long long size = -1;
    if (nf >= 4 && *trimmed(fld[3])) {
      errno = 0;
      size = strtoll(trimmed(fld[3]), &end, 10);
      SF_CHECK(!errno && !*end && size >= 0 && size <= (long long)nsamples, SF_ERR_INPUT,
               "%s: marker %s: size '%s' is not a number of samples", mpath, key, fld[3]);
    }
    unescape_commas(fld[0]);
    unescape_commas(fld[1]);
    if (r->nannotations == cap) {
      size_t c = cap ? 2 * cap : 64;
      sf_eeg_annotation *grown = realloc(r->annotations, c * sizeof *grown);
      SF_CHECK(grown, SF_ERR_NOMEM, "out of memory reading %s", mpath);
      r->annotations = grown;
      cap = c;
    }
    sf_eeg_annotation *a = &r->annotations[r->nannotations];
    a->onset = samples_to_time(pos - 1, rd, spr);
    a->duration = size >= 0 ? samples_to_time(size, rd, spr) : -1;
    a->text = strdup(fld[1][0] ? fld[1] : fld[0]);
    SF_CHECK(a->text, SF_ERR_NOMEM, "out of memory reading %s", mpath);
    r->nannotations++;
  }
cleanup:
  text_free(&t);
  return status;
}

int sf_eeg_vhdr_open(const char *path, sf_eeg_rec **out) {
  int status = 0;
  sf_eeg_rec *r = NULL;
  vhdr_text t = {0};
  char *dpath = NULL, *mpath = NULL;
  char **chline = NULL;
  long *chnum = NULL;
  unsigned char *seen = NULL;
  *out = NULL;
  SF_ALLOC(r, 1);
  r->handle_ = -1;
  r->filetype = SF_EEG_BRAINVISION;
  SF_ALLOC(r->path, strlen(path) + 1);
  memcpy(r->path, path, strlen(path) + 1);
  SF_ALLOC(r->vhdr_, 1);
  struct sf_eeg_vhdr *v = r->vhdr_;
  v->fd = -1;
  SF_CALL(text_read(path, "header", SF_ERR_IO, &t));
  SF_CHECK(t.n > 0 && strstr(t.line[0], "Data Exchange Header File") &&
               (strstr(t.line[0], "Version 1.0") || strstr(t.line[0], "Version 2.0")),
           SF_ERR_INPUT,
           "%s: not a BrainVision header: the first line is not \"Brain Vision Data Exchange "
           "Header File Version 1.0\" (or 2.0)",
           path);

  /* Pass 1: [Common Infos] and [Binary Infos]; the channel lines kept for pass 2. */
  const char *data_file = NULL, *marker_file = NULL, *format = NULL, *orient = NULL;
  const char *binfmt = NULL, *interval = NULL, *dtype = NULL, *segm = NULL, *endian = NULL;
  long nch = -1;
  long long datapoints = -1;
  const char *section = "";
  size_t nchlines = 0;
  for (size_t i = 1; i < t.n; i++)
    nchlines += strncasecmp(t.line[i], "Ch", 2) == 0;
  SF_ALLOC(chline, nchlines + 1);
  size_t kch = 0;
  SF_ALLOC(chnum, nchlines + 1);
  for (size_t i = 1; i < t.n; i++) {
    char *l = t.line[i], *key, *val, *sec = section_of(l);
    if (sec) {
      section = sec;
      continue;
    }
    if (strcasecmp(section, "Comment") == 0 || key_value(l, &key, &val) != 0) continue;
    val = trimmed(val);
    if (strcasecmp(section, "Common Infos") == 0) {
      char *end;
      if (strcasecmp(key, "DataFile") == 0)
        data_file = val;
      else if (strcasecmp(key, "MarkerFile") == 0)
        marker_file = val;
      else if (strcasecmp(key, "DataFormat") == 0)
        format = val;
      else if (strcasecmp(key, "DataOrientation") == 0)
        orient = val;
      else if (strcasecmp(key, "DataType") == 0)
        dtype = val;
      else if (strcasecmp(key, "SegmentationType") == 0)
        segm = val;
      else if (strcasecmp(key, "SamplingInterval") == 0)
        interval = val;
      else if (strcasecmp(key, "NumberOfChannels") == 0) {
        errno = 0;
        nch = strtol(val, &end, 10);
        SF_CHECK(!errno && end != val && !*end && nch >= 0 && nch <= VHDR_MAX_CHANNELS,
                 SF_ERR_INPUT, "%s: NumberOfChannels '%s' is not a number of channels", path, val);
      } else if (strcasecmp(key, "DataPoints") == 0) {
        errno = 0;
        datapoints = strtoll(val, &end, 10);
        SF_CHECK(!errno && end != val && !*end && datapoints >= 0, SF_ERR_INPUT,
                 "%s: DataPoints '%s' is not a number of samples", path, val);
      }
    } else if (strcasecmp(section, "Binary Infos") == 0) {
      if (strcasecmp(key, "BinaryFormat") == 0)
        binfmt = val;
      else if (strcasecmp(key, "UseBigEndianOrder") == 0)
        endian = val;
    } else if (strcasecmp(section, "Channel Infos") == 0) {
      long n = numbered_key(key, "Ch");
      if (n >= 0) {
        chnum[kch] = n;
        chline[kch++] = val;
      }
    }
  }
  SF_CHECK(data_file && *data_file, SF_ERR_INPUT, "%s: no DataFile in [Common Infos]", path);
  SF_CHECK(format && strcasecmp(format, "BINARY") == 0, SF_ERR_INPUT,
           "%s: DataFormat %s is not supported (only BINARY)", path, format ? format : "missing");
  SF_CHECK(!dtype || strcasecmp(dtype, "TIMEDOMAIN") == 0, SF_ERR_INPUT,
           "%s: DataType %s is not supported (only TIMEDOMAIN)", path, dtype);
  SF_CHECK(!segm || strcasecmp(segm, "NOTSEGMENTED") == 0, SF_ERR_INPUT,
           "%s: SegmentationType %s is not supported (only continuous, NOTSEGMENTED data)", path,
           segm);
  SF_CHECK(orient &&
               (strcasecmp(orient, "MULTIPLEXED") == 0 || strcasecmp(orient, "VECTORIZED") == 0),
           SF_ERR_INPUT, "%s: DataOrientation %s is not supported (MULTIPLEXED or VECTORIZED)",
           path, orient ? orient : "missing");
  v->vectorized = strcasecmp(orient, "VECTORIZED") == 0;
  SF_CHECK(binfmt, SF_ERR_INPUT, "%s: no BinaryFormat in [Binary Infos]", path);
  if (strcasecmp(binfmt, "INT_16") == 0)
    v->format = VHDR_INT16, v->bytes = 2;
  else if (strcasecmp(binfmt, "INT_32") == 0)
    v->format = VHDR_INT32, v->bytes = 4;
  else if (strcasecmp(binfmt, "IEEE_FLOAT_32") == 0)
    v->format = VHDR_FLOAT32, v->bytes = 4;
  else
    SF_CHECK(0, SF_ERR_INPUT,
             "%s: BinaryFormat %s is not supported (INT_16, INT_32 or IEEE_FLOAT_32)", path,
             binfmt);
  v->big = endian && strcasecmp(endian, "YES") == 0;
  SF_CHECK(nch >= 0, SF_ERR_INPUT, "%s: no NumberOfChannels in [Common Infos]", path);
  SF_CHECK(nch > 0, SF_ERR_INPUT, "%s: the recording has no channels (NumberOfChannels=0)", path);
  SF_CHECK(interval, SF_ERR_INPUT, "%s: no SamplingInterval in [Common Infos]", path);
  long long ip, iq;
  SF_CHECK(parse_decimal(interval, &ip, &iq) == 0, SF_ERR_INPUT,
           "%s: SamplingInterval '%s' is not a positive decimal number of microseconds", path,
           interval);
  SF_CHECK(ip <= LLONG_MAX / 10 && 10 * ip > iq, SF_ERR_INPUT,
           "%s: SamplingInterval %s us: at most 0.1 us apart, samples are not resolved", path,
           interval);
  /* interval = ip / iq us = 10 ip / iq x 100 ns: the exact time base */
  long long g = gcd_ll(10 * ip, iq);
  r->record_duration = 10 * ip / g;
  long long spr = iq / g;
  SF_CHECK(spr <= INT_MAX, SF_ERR_INPUT, "%s: SamplingInterval %s us has too many decimals", path,
           interval);

  /* Channels: Ch1 .. Ch<n>, each once. */
  r->nsignals = (int)nch;
  SF_ALLOC(r->signals, nch);
  SF_ALLOC(v->resolution, nch);
  SF_ALLOC(seen, nch);
  for (size_t k = 0; k < kch; k++) {
    long n = chnum[k];
    SF_CHECK(n >= 1 && n <= nch, SF_ERR_INPUT,
             "%s: Ch%ld in [Channel Infos], but NumberOfChannels is %ld", path, n, nch);
    SF_CHECK(!seen[n - 1], SF_ERR_INPUT, "%s: Ch%ld appears twice in [Channel Infos]", path, n);
    seen[n - 1] = 1;
    char *fld[4] = {"", "", "", ""};
    split_commas(chline[k], fld, 4);
    sf_eeg_signal *s = &r->signals[n - 1];
    unescape_commas(fld[0]);
    snprintf(s->label, sizeof s->label, "%s", fld[0]);
    copy_unit(s->dimension, sizeof s->dimension, trimmed(fld[3]));
    double res = 1.0;
    char *rs = trimmed(fld[2]), *end;
    if (*rs) res = strtod(rs, &end);
    SF_CHECK(!*rs || (!*end && res == res && res != 0.0 && res <= DBL_MAX && res >= -DBL_MAX),
             SF_ERR_INPUT, "%s: Ch%ld: resolution '%s' is not a nonzero number", path, n, rs);
    v->resolution[n - 1] = res;
  }
  for (long n = 0; n < nch; n++)
    SF_CHECK(seen[n], SF_ERR_INPUT,
             "%s: no Ch%ld line in [Channel Infos] (NumberOfChannels is %ld)", path, n + 1, nch);

  /* The data file: a whole number of samples x channels x bytes. */
  dpath = beside(path, data_file);
  SF_CHECK(dpath, SF_ERR_NOMEM, "out of memory opening %s", path);
  v->fd = open(dpath, O_RDONLY);
  SF_CHECK(v->fd >= 0, errno == ENOENT ? SF_ERR_INPUT : SF_ERR_IO,
           "%s: cannot open the data file %s (DataFile of the header): %s", path, dpath,
           strerror(errno));
  v->data_path = dpath;
  dpath = NULL;
  struct stat st;
  SF_CHECK(fstat(v->fd, &st) == 0, SF_ERR_IO, "%s: cannot read the data file %s: %s", path,
           v->data_path, strerror(errno));
  unsigned long long frame = (unsigned long long)nch * (unsigned long long)v->bytes;
  unsigned long long fsize = (unsigned long long)st.st_size;
  SF_CHECK(fsize > 0, SF_ERR_INPUT, "%s: the data file %s is empty", path, v->data_path);
  SF_CHECK(fsize % frame == 0, SF_ERR_INPUT,
           "%s: the data file %s holds %llu bytes, not a whole number of samples x %ld channels "
           "x %d bytes (%s): truncated, or the header's NumberOfChannels or BinaryFormat is wrong",
           path, v->data_path, fsize, nch, v->bytes, binfmt);
  v->nsamples = (size_t)(fsize / frame);
  SF_CHECK(datapoints < 0 || (unsigned long long)datapoints == v->nsamples, SF_ERR_INPUT,
           "%s: DataPoints is %lld, but the data file %s holds %zu samples per channel%s", path,
           datapoints, v->data_path, v->nsamples,
           (unsigned long long)datapoints > v->nsamples ? ": truncated" : "");

  /* Signals: the data type's range, the rate, the time base. */
  r->same_rate = 1;
  for (long c = 0; c < nch; c++) {
    sf_eeg_signal *s = &r->signals[c];
    double res = v->resolution[c], lo, hi;
    s->samples = v->nsamples;
    s->samples_per_record = (int)spr;
    s->rate = (double)spr * 1e7 / (double)r->record_duration;
    if (v->format == VHDR_INT16)
      s->dig_min = -32768, s->dig_max = 32767;
    else if (v->format == VHDR_INT32)
      s->dig_min = INT_MIN, s->dig_max = INT_MAX;
    lo = v->format == VHDR_FLOAT32 ? -FLT_MAX * res : s->dig_min * res;
    hi = v->format == VHDR_FLOAT32 ? FLT_MAX * res : s->dig_max * res;
    s->phys_min = lo < hi ? lo : hi;
    s->phys_max = lo < hi ? hi : lo;
  }
  r->records = (long long)((v->nsamples + (size_t)spr - 1) / (size_t)spr);
  r->duration = samples_to_time((long long)v->nsamples, r->record_duration, spr);

  if (marker_file && *marker_file) {
    mpath = beside(path, marker_file);
    SF_CHECK(mpath, SF_ERR_NOMEM, "out of memory opening %s", path);
    SF_CALL(read_markers(r, mpath, r->record_duration, spr, v->nsamples));
  }
  *out = r;
  r = NULL;

cleanup:
  free(seen);
  free(chnum);
  free(chline);
  free(dpath);
  free(mpath);
  text_free(&t);
  sf_eeg_close(&r);
  return status;
}

/* Raw sample at p in the file's byte order and format, as a double. */
static inline double decode(const unsigned char *p, int format, int big) {
  uint32_t u;
  if (format == VHDR_INT16) {
    uint16_t h = big ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
    return (double)(int16_t)h;
  }
  u = big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
          : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
  if (format == VHDR_INT32) return (double)(int32_t)u;
  float f;
  memcpy(&f, &u, sizeof f);
  return (double)f;
}

/* Reads n bytes at off, retrying short reads. 0, or -1 at an error or the end of the file. */
static int pread_all(int fd, unsigned char *buf, size_t n, off_t off) {
  while (n > 0) {
    ssize_t got = pread(fd, buf, n, off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    buf += got;
    n -= (size_t)got;
    off += got;
  }
  return 0;
}

int sf_eeg_vhdr_read(const sf_eeg_rec *r, int sig, size_t first, size_t n, double *out) {
  int status = 0;
  unsigned char *buf = NULL;
  const struct sf_eeg_vhdr *v = r->vhdr_;
  SF_CHECK(sig >= 0 && sig < r->nsignals, SF_ERR_USAGE, "%s: no signal %d (the file has %d)",
           r->path, sig, r->nsignals);
  const sf_eeg_signal *s = &r->signals[sig];
  SF_CHECK(first <= s->samples && n <= s->samples - first, SF_ERR_USAGE,
           "%s: samples %zu..%zu of signal %d (%s) lie past its %zu samples", r->path, first,
           first + n, sig, s->label, s->samples);
  if (n == 0) return 0;
  const size_t b = (size_t)v->bytes, frame = b * (size_t)r->nsignals;
  const double res = v->resolution[sig];
  /* multiplexed: whole frames, the channel picked from each; vectorized: its own samples */
  const size_t stride = v->vectorized ? b : frame;
  size_t per = VHDR_BLOCK / stride;
  if (per == 0) per = 1;
  if (per > n) per = n;
  SF_ALLOC(buf, per * stride);
  off_t base = v->vectorized ? (off_t)(((size_t)sig * v->nsamples + first) * b)
                             : (off_t)(first * frame + (size_t)sig * b);
  for (size_t done = 0; done < n;) {
    size_t m = n - done < per ? n - done : per;
    /* a multiplexed block ends at this channel's last sample, not at its frame's end */
    size_t len = (m - 1) * stride + b;
    SF_CHECK(pread_all(v->fd, buf, len, base + (off_t)(done * stride)) == 0, SF_ERR_IO,
             "%s: read failure in %s at sample %zu of signal %d (%s)", r->path, v->data_path,
             first + done, sig, s->label);
    for (size_t i = 0; i < m; i++)
      out[done + i] = decode(buf + i * stride, v->format, v->big) * res;
    done += m;
  }
cleanup:
  free(buf);
  return status;
}

void sf_eeg_vhdr_free(struct sf_eeg_vhdr *v) {
  if (!v) return;
  if (v->fd >= 0) close(v->fd);
  free(v->data_path);
  free(v->resolution);
  free(v);
}
