/* EDF+/BDF+ copy of an EEG recording with replaced signals, through EDFlib's writer. Copied
 * EDF/BDF signals go digital to digital (bit-identical); replaced ones are converted with the
 * header's own scaling (the same formula EDFlib's reader inverts) and rounded, never truncated. */
#include "io/eeg_edf_write.h"

#include <edflib.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sf_error.h"

#define EW_MAX_ANNOT_SIGNALS 64 /* EDFlib */

/* One output signal: samples per record and the scaling. */
typedef struct {
  int spr;
  double pmin, pmax;
  int dmin, dmax;
  double bitv, offs;         /* phys = bitv * (offs + dig), with the values the reader sees */
  double edf_pmin, edf_pmax; /* handed to EDFlib (see ew_phys_field) */
} ew_sig;

static int ew_is_edf(int filetype) {
  return filetype == SF_EEG_EDF || filetype == SF_EEG_EDFPLUS || filetype == SF_EEG_BDF ||
         filetype == SF_EEG_BDFPLUS;
}

/* EDFlib (1.23) reads a header number as atoi of the integer part plus, for d decimals,
 * sign * atoi(decimals) / 10^d. */
static double ew_edf_atof(const char *s) {
  int i = 0, sign = 1, dec = 0;
  long long ip = 0, fr = 0, p = 1;
  if (s[i] == '-' || s[i] == '+') sign = s[i++] == '-' ? -1 : 1;
  for (; s[i] >= '0' && s[i] <= '9'; i++)
    ip = ip * 10 + (s[i] - '0');
  if (s[i] == '.')
    for (i++; s[i] >= '0' && s[i] <= '9'; i++, dec++)
      fr = fr * 10 + (s[i] - '0');
  double v = (double)(sign * ip);
  if (dec) {
    while (dec--)
      p *= 10;
    v += (double)(sign * fr) / (double)p;
  }
  return v;
}

/* EDFlib (1.23) prints a header number as the integer part and 9 truncated (not rounded)
 * decimals, trailing zeros removed: 3276.7, one ulp under, prints 3276.699999999. */
static void ew_edf_print(double val, char *dest, size_t n) {
  int q = (int)val;
  double var = val - q;
  int f = (int)(var * 1e9);
  int j = snprintf(dest, n, "%s%d", val < 0.0 ? "-" : "", q < 0 ? -q : q);
  if (f < 0) f = -f;
  if (f && j + 11 < (int)n) {
    j += snprintf(dest + j, n - (size_t)j, ".%09d", f);
    while (dest[j - 1] == '0')
      dest[--j] = '\0';
  }
}

/* A physical minimum/maximum for EDF's 8-character field: the value the reader will see
 * (*read_val) and the double to hand EDFlib (*edf_val) so that its truncating printer writes
 * those digits (the decimal nudged 2 ulps away from zero). dir 0: exactly v (a copied header);
 * dir > 0: the smallest such value >= v; dir < 0: the largest <= v. 0, or -1 when none fits. */
static int ew_phys_field(double v, int dir, double *edf_val, double *read_val) {
  char s[64], t[64];
  for (int d = 7; d >= 0; d--) {
    double p = pow(10.0, d), x = dir > 0 ? ceil(v * p) / p : dir < 0 ? floor(v * p) / p : v;
    snprintf(s, sizeof s, "%.*f", d, x);
    if (strlen(s) > 8) continue;
    double r = ew_edf_atof(s);
    if (dir == 0 ? r != v : dir > 0 ? r < v : r > v) continue;
    /* the digits EDFlib must print: s without trailing zeros (and point) */
    size_t k = strlen(s);
    if (strchr(s, '.')) {
      while (s[k - 1] == '0')
        s[--k] = '\0';
      if (s[k - 1] == '.') s[--k] = '\0';
    }
    if (strcmp(s, "-0") == 0) snprintf(s, sizeof s, "0");
    double e = r;
    for (int u = 0; u < 6; u++) {
      ew_edf_print(e, t, sizeof t);
      if (strcmp(s, t) == 0) {
        *edf_val = e;
        *read_val = r;
        return 0;
      }
      e = nextafter(e, r < 0 ? -INFINITY : INFINITY);
    }
  }
  return -1;
}

/* Physical to digital: nearest step, clipped to the physical and digital range; *clip counts
 * samples outside the physical range. */
static void ew_to_digital(const ew_sig *s, const double *x, int n, int *dig, size_t *clip) {
  double lo = fmin(s->pmin, s->pmax), hi = fmax(s->pmin, s->pmax);
  for (int i = 0; i < n; i++) {
    double v = x[i];
    if (v < lo || v > hi) {
      v = v < lo ? lo : hi;
      (*clip)++;
    }
    double q = nearbyint(v / s->bitv - s->offs);
    if (q < s->dmin) q = s->dmin;
    if (q > s->dmax) q = s->dmax;
    dig[i] = (int)q;
  }
}

/* Samples [first, first + n) of input signal sig as physical values: the callback's (*repl = 1)
 * or the input's. */
static int ew_physical(sf_eeg_rec *in, int sig, size_t first, size_t n, sf_eeg_sample_fn fn,
                       void *ctx, double *x, int *repl) {
  int status = 0;
  *repl = 0;
  if (fn) {
    int rc = fn(ctx, sig, first, n, x);
    if (rc < 0) return rc;
    *repl = rc > 0;
  }
  if (!*repl) SF_CALL(sf_eeg_read_channel(in, sig, first, n, x));
cleanup:
  return status;
}

/* Whether a record of d x 10 us holds whole samples of every signal of in. */
static int ew_whole(const sf_eeg_rec *in, long long d) {
  for (int i = 0; i < in->nsignals; i++) {
    double x = in->signals[i].rate * (double)d * 1e-5;
    if (nearbyint(x) < 1.0 || fabs(x - nearbyint(x)) >= 1e-6) return 0;
  }
  return 1;
}

/* BrainVision (or any non-EDF) input: a record duration in 10 us units holding whole samples
 * of every signal: the fewest whole seconds (1 s at integer rates, 3 s at 333.33 Hz), else the
 * shortest in 10 ms steps, else in 10 us steps (EDFlib 1.23 cannot read back some such files,
 * which the check after writing reports). 0, or -1 when none up to 60 s does. */
static long long ew_record_units(const sf_eeg_rec *in) {
  for (long long d = 100000; d <= 6000000; d += 100000)
    if (ew_whole(in, d)) return d;
  for (long long d = 1000; d <= 6000000; d += 1000)
    if (ew_whole(in, d)) return d;
  for (long long d = 100; d <= 6000000; d++)
    if (ew_whole(in, d)) return d;
  return -1;
}

/* Sets the header fields EDFlib lets us set from the input's; nonzero when EDFlib refused one. */
static int ew_set_header(int h, const sf_eeg_rec *in) {
  int e = 0;
  if (in->start_year >= 1985 && in->start_year <= 2084 && in->start_month >= 1 &&
      in->start_day >= 1)
    e |= edf_set_startdatetime(h, in->start_year, in->start_month, in->start_day, in->start_hour,
                               in->start_minute, in->start_second);
  if (in->start_subsecond > 0 && in->start_subsecond < EDFLIB_TIME_DIMENSION)
    e |= edf_set_subsecond_starttime(h, (int)in->start_subsecond);
  if (in->filetype == SF_EEG_EDFPLUS || in->filetype == SF_EEG_BDFPLUS) {
    if (in->patientcode[0]) e |= edf_set_patientcode(h, in->patientcode);
    if (in->gender[0] == 'M' || in->gender[0] == 'm') e |= edf_set_gender(h, 1);
    if (in->gender[0] == 'F' || in->gender[0] == 'f') e |= edf_set_gender(h, 0);
    if (in->birth_year > 0 && in->birth_month > 0 && in->birth_day > 0)
      e |= edf_set_birthdate(h, in->birth_year, in->birth_month, in->birth_day);
    if (in->patient_name[0]) e |= edf_set_patientname(h, in->patient_name);
    if (in->patient_additional[0]) e |= edf_set_patient_additional(h, in->patient_additional);
    if (in->admincode[0]) e |= edf_set_admincode(h, in->admincode);
    if (in->technician[0]) e |= edf_set_technician(h, in->technician);
    if (in->equipment[0]) e |= edf_set_equipment(h, in->equipment);
    if (in->recording_additional[0]) e |= edf_set_recording_additional(h, in->recording_additional);
  } else {
    if (in->patient[0]) e |= edf_set_patient_additional(h, in->patient);
    if (in->recording[0]) e |= edf_set_recording_additional(h, in->recording);
  }
  return e;
}

/* Onset or duration in 100 ns to EDFlib's writing unit of 100 us, rounded half away from 0. */
static long long ew_100us(long long t) { return t >= 0 ? (t + 500) / 1000 : -((-t + 500) / 1000); }

/* Re-opens the written file with EDFlib's reader (not sf_eeg_open, whose messages would name
 * the temporary) and checks what EDFlib may have changed: signals, scaling, annotations. */
static int ew_verify(const char *tmp, const char *out_path, const sf_eeg_rec *in, const ew_sig *os,
                     long long nrec) {
  int status = 0, h = -1;
  struct edf_hdr_struct *w = NULL;
  SF_ALLOC(w, 1);
  SF_CHECK(edfopen_file_readonly(tmp, w, EDFLIB_READ_ALL_ANNOTATIONS) == 0, SF_ERR_INTERNAL,
           "%s: the file EDFlib wrote does not read back (EDFlib error %d)", out_path, w->filetype);
  h = w->handle;
  SF_CHECK(w->edfsignals == in->nsignals && w->datarecords_in_file == nrec, SF_ERR_INTERNAL,
           "%s: EDFlib wrote %d signals and %lld records, not %d and %lld", out_path, w->edfsignals,
           w->datarecords_in_file, in->nsignals, nrec);
  for (int i = 0; i < w->edfsignals; i++) {
    const struct edf_param_struct *p = &w->signalparam[i];
    SF_CHECK(p->smp_in_datarecord == os[i].spr && p->dig_min == os[i].dmin &&
                 p->dig_max == os[i].dmax && p->phys_min == os[i].pmin && p->phys_max == os[i].pmax,
             SF_ERR_INTERNAL,
             "%s: signal %d (%s): EDFlib wrote the physical range %.17g..%.17g, not %.17g..%.17g",
             out_path, i, in->signals[i].label, p->phys_min, p->phys_max, os[i].pmin, os[i].pmax);
  }
  SF_CHECK(w->annotations_in_file == (long long)in->nannotations, SF_ERR_INPUT,
           "%s: EDFlib kept %lld of the %zu annotations (more annotations per data record than "
           "its %d annotation signals hold)",
           out_path, w->annotations_in_file, in->nannotations, EW_MAX_ANNOT_SIGNALS);
  for (size_t k = 0; k < in->nannotations; k++) {
    const sf_eeg_annotation *a = &in->annotations[k];
    struct edf_annotation_struct b;
    SF_CHECK(edf_get_annotation(h, (int)k, &b) == 0, SF_ERR_INTERNAL,
             "%s: annotation %zu does not read back", out_path, k);
    SF_CHECK(strcmp(a->text, b.annotation) == 0, SF_ERR_INPUT,
             "%s: annotation %zu: EDFlib writes at most 40 bytes of text (\"%s\")", out_path, k,
             a->text);
    SF_CHECK(ew_100us(a->onset) * 1000 == b.onset, SF_ERR_INTERNAL,
             "%s: annotation %zu (%s) at %lld x 100 ns written at %lld", out_path, k, a->text,
             a->onset, b.onset);
  }
cleanup:
  if (h >= 0) edfclose_file(h);
  free(w);
  return status;
}

int sf_eeg_write_like(const char *out_path, sf_eeg_rec *in, sf_eeg_sample_fn fn, void *ctx,
                      size_t *clipped) {
  int status = 0, hdl = -1, made = 0;
  char *tmp = NULL;
  ew_sig *os = NULL;
  double *x = NULL;
  int *dig = NULL, *last = NULL;
  size_t clip = 0;
  if (clipped) *clipped = 0;
  SF_CHECK(out_path && in && in->nsignals > 0, SF_ERR_USAGE, "%s: nothing to write",
           out_path ? out_path : "(no EEG output path)");
  {
    struct stat a, b;
    SF_CHECK(strcmp(out_path, in->path) != 0 &&
                 !(stat(out_path, &a) == 0 && stat(in->path, &b) == 0 && a.st_dev == b.st_dev &&
                   a.st_ino == b.st_ino),
             SF_ERR_USAGE, "%s: the EEG output would overwrite its input", out_path);
  }
  const int edf = ew_is_edf(in->filetype);
  const int bdf = !edf || in->filetype == SF_EEG_BDF || in->filetype == SF_EEG_BDFPLUS;
  const int ns = in->nsignals;
  SF_ALLOC(os, ns);

  /* Record duration (100 ns) and the number of records. */
  long long rec_dur, nrec = 0;
  int max_spr = 0;
  if (edf) {
    rec_dur = in->record_duration;
    nrec = in->records;
    SF_CHECK(
        (rec_dur % 100 == 0 && rec_dur >= 10000 && rec_dur <= 600000000LL) ||
            (rec_dur % 10 == 0 && rec_dur >= 10 && rec_dur < 100000),
        SF_ERR_INPUT,
        "%s: EDFlib cannot write the input's data record duration of %lld x 100 ns (1 ms..60 s "
        "in steps of 10 us, or 1 us..10 ms in steps of 1 us)",
        out_path, rec_dur);
    for (int i = 0; i < ns; i++) {
      const sf_eeg_signal *s = &in->signals[i];
      ew_sig *o = &os[i];
      o->spr = s->samples_per_record;
      SF_CHECK(ew_phys_field(s->phys_min, 0, &o->edf_pmin, &o->pmin) == 0 &&
                   ew_phys_field(s->phys_max, 0, &o->edf_pmax, &o->pmax) == 0,
               SF_ERR_INPUT,
               "%s: signal %d (%s): EDFlib cannot write its physical range %.17g..%.17g back",
               out_path, i, s->label, s->phys_min, s->phys_max);
      o->dmin = s->dig_min;
      o->dmax = s->dig_max;
    }
  } else {
    long long units = ew_record_units(in);
    SF_CHECK(units > 0, SF_ERR_INPUT,
             "%s: no data record of 1 ms..60 s (in 10 us steps) holds whole samples at %.17g Hz",
             out_path, in->signals[0].rate);
    rec_dur = units * 100;
    for (int i = 0; i < ns; i++) {
      const sf_eeg_signal *s = &in->signals[i];
      ew_sig *o = &os[i];
      o->spr = (int)nearbyint(s->rate * (double)units * 1e-5);
      long long r = ((long long)s->samples + o->spr - 1) / o->spr;
      if (r > nrec) nrec = r;
      o->dmin = -8388608;
      o->dmax = 8388607;
    }
  }
  for (int i = 0; i < ns; i++)
    if (os[i].spr > max_spr) max_spr = os[i].spr;
  SF_CHECK(nrec > 0, SF_ERR_INPUT, "%s: the input has no samples", out_path);
  SF_ALLOC(x, max_spr);
  SF_ALLOC(dig, max_spr);
  SF_ALLOC(last, ns);

  if (!edf) {
    /* First pass: the physical range of what will be written, widened by 0.1 %. */
    for (int i = 0; i < ns; i++) {
      const sf_eeg_signal *s = &in->signals[i];
      double lo = INFINITY, hi = -INFINITY;
      for (size_t first = 0; first < s->samples; first += (size_t)os[i].spr) {
        size_t n = s->samples - first < (size_t)os[i].spr ? s->samples - first : (size_t)os[i].spr;
        int repl;
        SF_CALL(ew_physical(in, i, first, n, fn, ctx, x, &repl));
        for (size_t k = 0; k < n; k++) {
          SF_CHECK(isfinite(x[k]), SF_ERR_INPUT, "%s: signal %d (%s) sample %zu is not finite",
                   out_path, i, s->label, first + k);
          lo = fmin(lo, x[k]);
          hi = fmax(hi, x[k]);
        }
      }
      if (!(hi >= lo)) lo = hi = 0.0;
      double pad = hi > lo ? 1e-3 * (hi - lo) : fmax(1.0, 1e-3 * fabs(hi));
      SF_CHECK(ew_phys_field(lo - pad, -1, &os[i].edf_pmin, &os[i].pmin) == 0 &&
                   ew_phys_field(hi + pad, 1, &os[i].edf_pmax, &os[i].pmax) == 0,
               SF_ERR_INPUT, "%s: signal %d (%s): the range %g..%g does not fit EDF's 8 characters",
               out_path, i, s->label, lo, hi);
    }
  }
  for (int i = 0; i < ns; i++) {
    ew_sig *o = &os[i];
    SF_CHECK(o->pmax != o->pmin && o->dmax > o->dmin, SF_ERR_INPUT,
             "%s: signal %d (%s) has an empty physical or digital range", out_path, i,
             in->signals[i].label);
    o->bitv = (o->pmax - o->pmin) / (double)(o->dmax - o->dmin);
    o->offs = o->pmax / o->bitv - (double)o->dmax;
  }

  /* Annotation signals: as many as the busiest data record has annotations (EDFlib stores one
   * annotation per annotation signal and record). */
  int nann = 1;
  if (in->nannotations > 0) {
    long long *per = NULL;
    SF_ALLOC(per, nrec);
    for (size_t k = 0; k < in->nannotations; k++) {
      long long on = ew_100us(in->annotations[k].onset) * 1000, r = on / rec_dur;
      if (on < 0) {
        free(per);
        SF_CHECK(0, SF_ERR_INPUT, "%s: annotation %zu (%s) has a negative onset", out_path, k,
                 in->annotations[k].text);
      }
      if (r >= nrec) r = nrec - 1;
      if (++per[r] > nann) nann = per[r] < 1000 ? (int)per[r] : 1000;
    }
    free(per);
    if (nann > EW_MAX_ANNOT_SIGNALS) nann = EW_MAX_ANNOT_SIGNALS;
  }

  {
    size_t len = strlen(out_path) + 32;
    SF_ALLOC(tmp, len);
    snprintf(tmp, len, "%s.part%ld", out_path, (long)getpid());
  }
  errno = 0;
  hdl = edfopen_file_writeonly(tmp, bdf ? EDFLIB_FILETYPE_BDFPLUS : EDFLIB_FILETYPE_EDFPLUS, ns);
  SF_CHECK(hdl >= 0, SF_ERR_IO, "%s: EDFlib cannot create %s (error %d)%s%s", out_path, tmp, hdl,
           errno ? ": " : "", errno ? strerror(errno) : "");
  made = 1;
  int e = edf_set_number_of_annotation_signals(hdl, nann);
  if (rec_dur % 100 == 0 && rec_dur >= 10000)
    e |= edf_set_datarecord_duration(hdl, (int)(rec_dur / 100));
  else
    e |= edf_set_micro_datarecord_duration(hdl, (int)(rec_dur / 10));
  SF_CHECK(e == 0, SF_ERR_INPUT, "%s: EDFlib refused the data record duration of %lld x 100 ns",
           out_path, rec_dur);
  for (int i = 0; i < ns; i++) {
    const sf_eeg_signal *s = &in->signals[i];
    const ew_sig *o = &os[i];
    e = edf_set_samplefrequency(hdl, i, o->spr);
    e |= edf_set_physical_maximum(hdl, i, o->edf_pmax);
    e |= edf_set_physical_minimum(hdl, i, o->edf_pmin);
    e |= edf_set_digital_maximum(hdl, i, o->dmax);
    e |= edf_set_digital_minimum(hdl, i, o->dmin);
    e |= edf_set_label(hdl, i, s->label);
    if (s->dimension[0]) e |= edf_set_physical_dimension(hdl, i, s->dimension);
    if (s->transducer[0]) e |= edf_set_transducer(hdl, i, s->transducer);
    if (s->prefilter[0]) e |= edf_set_prefilter(hdl, i, s->prefilter);
    SF_CHECK(e == 0, SF_ERR_INPUT,
             "%s: EDFlib refused the header of signal %d (%s): %d samples per record, physical "
             "%g..%g, digital %d..%d",
             out_path, i, s->label, o->spr, o->pmin, o->pmax, o->dmin, o->dmax);
  }
  SF_CHECK(ew_set_header(hdl, in) == 0, SF_ERR_INPUT,
           "%s: EDFlib refused the patient, recording or start-time fields of the input", out_path);

  /* Data records, one at a time. */
  for (long long r = 0; r < nrec; r++) {
    for (int i = 0; i < ns; i++) {
      const sf_eeg_signal *s = &in->signals[i];
      const ew_sig *o = &os[i];
      size_t first = (size_t)r * (size_t)o->spr, n = (size_t)o->spr;
      if (first >= s->samples) { /* padding past the end (non-EDF input) */
        for (size_t k = 0; k < n; k++)
          dig[k] = last[i];
        n = 0;
      } else if (s->samples - first < n) {
        n = s->samples - first;
      }
      if (n > 0) {
        int repl = 0;
        if (fn) {
          int rc = fn(ctx, i, first, n, x);
          if (rc < 0) SF_CALL(rc);
          repl = rc > 0;
        }
        if (repl) {
          for (size_t k = 0; k < n; k++)
            SF_CHECK(isfinite(x[k]), SF_ERR_INPUT, "%s: signal %d (%s) sample %zu is not finite",
                     out_path, i, s->label, first + k);
          ew_to_digital(o, x, (int)n, dig, &clip);
        } else if (edf) {
          SF_CHECK(edfseek(in->handle_, i, (long long)first, EDFSEEK_SET) == (long long)first &&
                       edfread_digital_samples(in->handle_, i, (int)n, dig) == (int)n,
                   SF_ERR_IO, "%s: cannot read record %lld of signal %d (%s) of %s", out_path, r, i,
                   s->label, in->path);
        } else {
          size_t dummy = 0;
          SF_CALL(sf_eeg_read_channel(in, i, first, n, x));
          ew_to_digital(o, x, (int)n, dig, &dummy);
        }
        for (size_t k = n; k < (size_t)o->spr; k++)
          dig[k] = dig[n - 1];
        last[i] = dig[n - 1];
      }
      SF_CHECK(edfwrite_digital_samples(hdl, dig) == 0, SF_ERR_IO,
               "%s: EDFlib cannot write data record %lld (signal %d)", out_path, r, i);
    }
  }
  for (size_t k = 0; k < in->nannotations; k++) {
    const sf_eeg_annotation *a = &in->annotations[k];
    SF_CHECK(edfwrite_annotation_utf8(hdl, ew_100us(a->onset),
                                      a->duration >= 0 ? ew_100us(a->duration) : -1, a->text) == 0,
             SF_ERR_IO, "%s: EDFlib cannot add annotation %zu (%s)", out_path, k, a->text);
  }
  int rc = edfclose_file(hdl);
  hdl = -1;
  SF_CHECK(rc == 0, SF_ERR_IO, "%s: EDFlib cannot finish %s", out_path, tmp);
  SF_CALL(ew_verify(tmp, out_path, in, os, nrec));
  SF_CHECK(rename(tmp, out_path) == 0, SF_ERR_IO, "%s: cannot rename %s to it: %s", out_path, tmp,
           strerror(errno));
  made = 0;
  if (clipped) *clipped = clip;

cleanup:
  if (hdl >= 0) edfclose_file(hdl);
  if (made && tmp) remove(tmp);
  free(tmp);
  free(os);
  free(x);
  free(dig);
  free(last);
  return status;
}
