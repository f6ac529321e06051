/* EDF/EDF+/BDF/BDF+ recordings through EDFlib (Debian libedf-dev; specs/eeg.md decision 5).
 * EDFlib parses the header, checks the file size against the record count and reads the
 * annotations at 100 ns resolution. It refuses every EDF+D/BDF+D file; for those we read each
 * record's time-keeping annotation so the message says whether the file really has gaps. */
#include "io/eeg_edf.h"

#include <edflib.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/eeg_vhdr_impl.h"
#include "sf_error.h"

/* EDFlib's open error (in hdr.filetype) as a status and a phrase. */
static int edf_open_error(int code, const char **what) {
  switch (code) {
  case EDFLIB_MALLOC_ERROR: *what = "out of memory"; return SF_ERR_NOMEM;
  case EDFLIB_NO_SUCH_FILE_OR_DIRECTORY: *what = "cannot open the file"; return SF_ERR_IO;
  case EDFLIB_FILE_READ_ERROR: *what = "read error"; return SF_ERR_IO;
  case EDFLIB_MAXFILES_REACHED: *what = "too many EDF files open"; return SF_ERR_NOMEM;
  case EDFLIB_FILE_ALREADY_OPENED:
    *what = "the file is already open in this process (EDFlib opens a path once)";
    return SF_ERR_USAGE;
  case EDFLIB_FILE_IS_DISCONTINUOUS:
    *what = "discontinuous EDF+D/BDF+D recording: EDFlib reads only continuous files";
    return SF_ERR_INPUT;
  case EDFLIB_FILETYPE_ERROR:
    *what = "not an EDF/EDF+/BDF/BDF+ file (or an unsupported variant)";
    return SF_ERR_INPUT;
  case EDFLIB_FILE_CONTAINS_FORMAT_ERRORS:
  default:
    *what = "not a valid EDF/BDF file: corrupt or truncated header, records or annotations";
    return SF_ERR_INPUT;
  }
}

/* Header field at [off, off + len) of the fixed header, NUL-terminated into buf. */
static int read_field(FILE *f, long off, size_t len, char *buf) {
  if (fseek(f, off, SEEK_SET) != 0 || fread(buf, 1, len, f) != len) return -1;
  buf[len] = '\0';
  return 0;
}

/* Parses a TAL onset "+12.3456789" / "-1.5" into 100 ns units; -1 if malformed. */
static int parse_onset(const char *s, size_t len, long long *t) {
  size_t i = 0;
  int neg = 0;
  if (i >= len || (s[i] != '+' && s[i] != '-')) return -1;
  neg = s[i++] == '-';
  long long sec = 0, frac = 0, scale = EDFLIB_TIME_DIMENSION;
  int digits = 0;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
    if (sec > LLONG_MAX / 100 / EDFLIB_TIME_DIMENSION) return -1;
    sec = sec * 10 + (s[i] - '0');
  }
  if (!digits) return -1;
  if (i < len && s[i] == '.') {
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      if (scale > 1) {
        scale /= 10;
        frac += (s[i] - '0') * scale;
      }
    }
  }
  if (i != len) return -1;
  *t = (neg ? -1 : 1) * (sec * EDFLIB_TIME_DIMENSION + frac);
  return 0;
}

/* Trims trailing spaces of a header field in place. */
static char *rtrim(char *s) {
  size_t k = strlen(s);
  while (k > 0 && s[k - 1] == ' ')
    s[--k] = '\0';
  return s;
}

/* An EDF+D/BDF+D file (which EDFlib refuses whole): each record's first TAL, in the first
 * annotation signal, holds its start time; the file has no gap when record i starts at
 * start0 + i * record duration. Sets *gap to 1 and *gap_record at the first record that
 * does not. 0, or -1 when the file cannot be read that far or its header is malformed. */
static int edfd_check_contiguous(const char *path, int *gap, long long *gap_record) {
  FILE *f = fopen(path, "rb");
  char buf[96];
  char *tal = NULL;
  int rc = -1;
  *gap = 0;
  if (!f || read_field(f, 0, 1, buf) != 0) goto out;
  int bdf = (unsigned char)buf[0] == 0xff;
  if (read_field(f, 252, 4, buf) != 0) goto out;
  int ns = atoi(buf);
  if (ns <= 0 || ns > 4096) goto out;
  if (read_field(f, 236, 8, buf) != 0) goto out;
  long long records = atoll(buf);
  buf[0] = '+';
  long long duration;
  if (read_field(f, 244, 8, buf + 1) != 0 || parse_onset(buf, strlen(rtrim(buf)), &duration) != 0 ||
      records <= 0 || duration <= 0)
    goto out;
  int bps = bdf ? 3 : 2;
  long long rec_bytes = 0, annot_off = -1, annot_bytes = 0;
  for (int i = 0; i < ns; i++) {
    char label[17], spr[9];
    if (read_field(f, 256 + 16L * i, 16, label) != 0 ||
        read_field(f, 256 + 216L * ns + 8L * i, 8, spr) != 0)
      goto out;
    long long n = atoll(spr);
    if (n <= 0) goto out;
    if (annot_off < 0 && strncmp(label, bdf ? "BDF Annotations" : "EDF Annotations", 15) == 0) {
      annot_off = rec_bytes;
      annot_bytes = n * bps;
    }
    rec_bytes += n * bps;
  }
  if (annot_off < 0 || annot_bytes < 4) goto out;
  tal = malloc((size_t)annot_bytes);
  if (!tal) goto out;
  long long hdr = 256LL * (ns + 1), start0 = 0;
  for (long long i = 0; i < records; i++) {
    if (fseeko(f, (off_t)(hdr + i * rec_bytes + annot_off), SEEK_SET) != 0 ||
        fread(tal, 1, (size_t)annot_bytes, f) != (size_t)annot_bytes)
      goto out;
    size_t end = 0;
    while (end < (size_t)annot_bytes && tal[end] != 20)
      end++;
    long long t;
    if (end == (size_t)annot_bytes || parse_onset(tal, end, &t) != 0) goto out;
    if (i == 0) {
      start0 = t;
    } else if (t - start0 != i * duration) {
      *gap = 1;
      *gap_record = i;
      break;
    }
  }
  rc = 0;
out:
  free(tal);
  if (f) fclose(f);
  return rc;
}

/* The size the header promises (header + records x record bytes) and the file's size; 0, or
 * -1 when the header's fields cannot be read as numbers. */
static int edf_sizes(const char *path, long long *expect, long long *size) {
  FILE *f = fopen(path, "rb");
  char buf[16];
  int rc = -1;
  if (!f || read_field(f, 0, 8, buf) != 0) goto out;
  int bps = (unsigned char)buf[0] == 0xff ? 3 : 2;
  if (strcmp(buf + 1, bps == 3 ? "BIOSEMI" : "       ") != 0 || (bps == 2 && buf[0] != '0'))
    goto out; /* neither EDF's "0" nor BDF's 0xff "BIOSEMI" version field */
  if (read_field(f, 252, 4, buf) != 0) goto out;
  char *end;
  long ns = strtol(buf, &end, 10);
  if (ns <= 0 || ns > 4096 || *rtrim(end)) goto out;
  if (read_field(f, 236, 8, buf) != 0) goto out;
  long long records = strtoll(buf, &end, 10);
  if (records <= 0 || *rtrim(end)) goto out;
  long long rec_bytes = 0;
  for (long i = 0; i < ns; i++) {
    if (read_field(f, 256 + 216L * ns + 8L * i, 8, buf) != 0) goto out;
    long long n = strtoll(buf, &end, 10);
    if (n <= 0 || *rtrim(end)) goto out;
    rec_bytes += n * bps;
  }
  if (fseeko(f, 0, SEEK_END) != 0) goto out;
  *size = (long long)ftello(f);
  *expect = 256LL * (ns + 1) + records * rec_bytes;
  rc = 0;
out:
  if (f) fclose(f);
  return rc;
}

/* Copies an EDFlib string field with trailing spaces removed. */
static void copy_trimmed(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src);
  size_t k = strlen(dst);
  while (k > 0 && dst[k - 1] == ' ')
    dst[--k] = '\0';
}

int sf_eeg_open(const char *path, sf_eeg_rec **out) {
  int status = 0;
  sf_eeg_rec *r = NULL;
  struct edf_hdr_struct *hdr = NULL;
  *out = NULL;
  size_t plen = strlen(path);
  if (plen >= 5 && strcasecmp(path + plen - 5, ".vhdr") == 0) return sf_eeg_vhdr_open(path, out);
  SF_ALLOC(r, 1);
  r->handle_ = -1;
  SF_ALLOC(hdr, 1);
  SF_ALLOC(r->path, strlen(path) + 1);
  memcpy(r->path, path, strlen(path) + 1);
  {
    /* EDFlib says "read error" for a file shorter than its header; that is bad input */
    char ns[5] = "";
    FILE *f = fopen(path, "rb");
    SF_CHECK(f, SF_ERR_IO, "%s: cannot open EEG recording: %s", path, strerror(errno));
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    int rc = size >= 256 ? read_field(f, 252, 4, ns) : 0;
    fclose(f);
    SF_CHECK(size >= 0 && rc == 0, SF_ERR_IO, "%s: cannot read EEG recording", path);
    SF_CHECK(size >= 256, SF_ERR_INPUT,
             "%s: not an EDF/BDF file: %ld bytes, shorter than the 256-byte header", path, size);
    long nsig = atol(ns);
    SF_CHECK(nsig <= 0 || size >= 256 * (nsig + 1), SF_ERR_INPUT,
             "%s: truncated EDF/BDF header: %ld bytes, the header of %ld signals needs %ld", path,
             size, nsig, 256 * (nsig + 1));
  }
  if (edfopen_file_readonly(path, hdr, EDFLIB_READ_ALL_ANNOTATIONS) != 0) {
    const char *what = NULL;
    int code = edf_open_error(hdr->filetype, &what);
    if (hdr->filetype == EDFLIB_FILE_IS_DISCONTINUOUS) {
      /* EDFlib reads no EDF+D file; say whether this one has gaps at all */
      int gap = 0;
      long long at = 0;
      if (edfd_check_contiguous(path, &gap, &at) == 0 && !gap)
        SF_CHECK(0, SF_ERR_INPUT,
                 "%s: an EDF+D/BDF+D (discontinuous) header, although its records are "
                 "contiguous: EDFlib reads only continuous files; mark it EDF+C (or BDF+C)",
                 path);
      if (gap)
        SF_CHECK(0, SF_ERR_INPUT,
                 "%s: discontinuous EDF+D/BDF+D recording (a gap before data record %lld) is "
                 "not supported; split it into continuous files first",
                 path, at);
    }
    long long expect = 0, size = 0;
    if (hdr->filetype == EDFLIB_FILE_CONTAINS_FORMAT_ERRORS &&
        edf_sizes(path, &expect, &size) == 0 && expect != size)
      SF_CHECK(0, SF_ERR_INPUT,
               "%s: %lld bytes, but the header's record count and sizes make %lld: truncated, "
               "or a wrong number of data records in the header",
               path, size, expect);
    SF_CHECK(0, code, "%s: %s", path, what);
  }
  r->handle_ = hdr->handle;
  r->filetype = hdr->filetype;
  r->nsignals = hdr->edfsignals;
  r->records = hdr->datarecords_in_file;
  r->record_duration = hdr->datarecord_duration;
  r->duration = hdr->file_duration;
  SF_CHECK(r->nsignals > 0, SF_ERR_INPUT, "%s: the recording has no signals", path);
  SF_CHECK(r->records > 0 && r->record_duration > 0, SF_ERR_INPUT,
           "%s: the recording has no data records", path);

  r->start_year = hdr->startdate_year;
  r->start_month = hdr->startdate_month;
  r->start_day = hdr->startdate_day;
  r->start_hour = hdr->starttime_hour;
  r->start_minute = hdr->starttime_minute;
  r->start_second = hdr->starttime_second;
  r->start_subsecond = hdr->starttime_subsecond;
  copy_trimmed(r->patient, sizeof r->patient, hdr->patient);
  copy_trimmed(r->recording, sizeof r->recording, hdr->recording);
  copy_trimmed(r->patientcode, sizeof r->patientcode, hdr->patientcode);
  copy_trimmed(r->gender, sizeof r->gender, hdr->gender);
  copy_trimmed(r->patient_name, sizeof r->patient_name, hdr->patient_name);
  copy_trimmed(r->patient_additional, sizeof r->patient_additional, hdr->patient_additional);
  r->birth_year = hdr->birthdate_year;
  r->birth_month = hdr->birthdate_month;
  r->birth_day = hdr->birthdate_day;
  copy_trimmed(r->admincode, sizeof r->admincode, hdr->admincode);
  copy_trimmed(r->technician, sizeof r->technician, hdr->technician);
  copy_trimmed(r->equipment, sizeof r->equipment, hdr->equipment);
  copy_trimmed(r->recording_additional, sizeof r->recording_additional, hdr->recording_additional);

  SF_ALLOC(r->signals, r->nsignals);
  r->same_rate = 1;
  for (int i = 0; i < r->nsignals; i++) {
    const struct edf_param_struct *p = &hdr->signalparam[i];
    sf_eeg_signal *s = &r->signals[i];
    copy_trimmed(s->label, sizeof s->label, p->label);
    copy_trimmed(s->dimension, sizeof s->dimension, p->physdimension);
    copy_trimmed(s->prefilter, sizeof s->prefilter, p->prefilter);
    copy_trimmed(s->transducer, sizeof s->transducer, p->transducer);
    s->samples_per_record = p->smp_in_datarecord;
    SF_CHECK(s->samples_per_record > 0 && p->smp_in_file >= 0, SF_ERR_INPUT,
             "%s: signal %d (%s) has no samples per data record", path, i, s->label);
    s->rate = (double)s->samples_per_record * EDFLIB_TIME_DIMENSION / (double)r->record_duration;
    s->samples = (size_t)p->smp_in_file;
    s->phys_min = p->phys_min;
    s->phys_max = p->phys_max;
    s->dig_min = p->dig_min;
    s->dig_max = p->dig_max;
    if (s->samples_per_record != r->signals[0].samples_per_record) r->same_rate = 0;
  }

  r->nannotations = hdr->annotations_in_file > 0 ? (size_t)hdr->annotations_in_file : 0;
  SF_ALLOC(r->annotations, r->nannotations);
  for (size_t k = 0; k < r->nannotations; k++) {
    struct edf_annotation_struct a;
    SF_CHECK(edf_get_annotation(r->handle_, (int)k, &a) == 0, SF_ERR_INPUT,
             "%s: cannot read annotation %zu", path, k);
    sf_eeg_annotation *d = &r->annotations[k];
    d->onset = a.onset;
    d->duration = a.duration_l >= 0 ? a.duration_l : -1;
    SF_ALLOC(d->text, strlen(a.annotation) + 1);
    memcpy(d->text, a.annotation, strlen(a.annotation) + 1);
  }
  *out = r;
  r = NULL;

cleanup:
  free(hdr);
  sf_eeg_close(&r);
  return status;
}

int sf_eeg_read_channel(sf_eeg_rec *r, int sig, size_t first, size_t n, double *out) {
  int status = 0;
  if (r->filetype == SF_EEG_BRAINVISION) return sf_eeg_vhdr_read(r, sig, first, n, out);
  SF_CHECK(sig >= 0 && sig < r->nsignals, SF_ERR_USAGE, "%s: no signal %d (the file has %d)",
           r->path, sig, r->nsignals);
  const sf_eeg_signal *s = &r->signals[sig];
  SF_CHECK(first <= s->samples && n <= s->samples - first, SF_ERR_USAGE,
           "%s: samples %zu..%zu of signal %d (%s) lie past its %zu samples", r->path, first,
           first + n, sig, s->label, s->samples);
  if (n == 0) return 0;
  SF_CHECK(edfseek(r->handle_, sig, (long long)first, EDFSEEK_SET) == (long long)first, SF_ERR_IO,
           "%s: cannot seek to sample %zu of signal %d (%s)", r->path, first, sig, s->label);
  size_t done = 0;
  while (done < n) {
    int want = n - done > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)(n - done);
    int got = edfread_physical_samples(r->handle_, sig, want, out + done);
    SF_CHECK(got == want, SF_ERR_IO, "%s: read failure at sample %zu of signal %d (%s)", r->path,
             first + done + (got > 0 ? (size_t)got : 0), sig, s->label);
    done += (size_t)got;
  }
cleanup:
  return status;
}

long long sf_eeg_time_to_sample(const sf_eeg_rec *r, int sig, long long t) {
  /* t * rate / 1e7 = t * samples_per_record / record_duration, rounded half away from zero */
  __int128 num = (__int128)(t < 0 ? -t : t) * r->signals[sig].samples_per_record;
  __int128 den = r->record_duration;
  long long k = (long long)((2 * num + den) / (2 * den));
  return t < 0 ? -k : k;
}

void sf_eeg_close(sf_eeg_rec **r) {
  if (!r || !*r) return;
  sf_eeg_rec *p = *r;
  if (p->handle_ >= 0) edfclose_file(p->handle_);
  sf_eeg_vhdr_free(p->vhdr_);
  for (size_t k = 0; p->annotations && k < p->nannotations; k++)
    free(p->annotations[k].text);
  free(p->annotations);
  free(p->signals);
  free(p->path);
  free(p);
  *r = NULL;
}
