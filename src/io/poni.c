/* pyFAI PONI files, versions 1 and 2 (specs/integrate.md A1): "key: value" lines, keys
 * case-insensitive, '#' comments; version 2 names the detector and carries its pixel sizes
 * and shape in a JSON Detector_config. */
#include "io/poni.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sf_error.h"

#define PONI_MAX_BYTES (1u << 20) /* a PONI file is a few hundred bytes; more is not one */

/* Detectors pyFAI 0.21 defines (detectors/_dectris.py): pixel sizes and max_shape. */
static const struct {
  const char *name; /* pyFAI's class name; aliases differ only in case, '_', '-', ' ' */
  double pixel;
  size_t rows, cols;
} poni_detectors[] = {
    {"Eiger500k", 75e-6, 514, 1030},   {"Eiger1M", 75e-6, 1065, 1030},
    {"Eiger4M", 75e-6, 2167, 2070},    {"Eiger9M", 75e-6, 3269, 3110},
    {"Eiger16M", 75e-6, 4371, 4150},   {"Pilatus100k", 172e-6, 195, 487},
    {"Pilatus300k", 172e-6, 619, 487}, {"Pilatus1M", 172e-6, 1043, 981},
    {"Pilatus2M", 172e-6, 1679, 1475}, {"Pilatus6M", 172e-6, 2527, 2463},
};

/* The keys slabflow reads; a later line with the same key replaces an earlier one, as in
 * pyFAI (it reads the lines into a dict). */
enum {
  K_VERSION,
  K_DETECTOR,
  K_CONFIG,
  K_DIST,
  K_DIST_SHORT,
  K_PONI1,
  K_PONI2,
  K_ROT1,
  K_ROT2,
  K_ROT3,
  K_WAVELENGTH,
  K_PIXEL1,
  K_PIXEL2,
  K_NKEYS
};
static const char *const poni_keys[K_NKEYS] = {"poni_version", "detector",   "detector_config",
                                               "distance",     "dist",       "poni1",
                                               "poni2",        "rot1",       "rot2",
                                               "rot3",         "wavelength", "pixelsize1",
                                               "pixelsize2"};
/* As the messages name them (the spelling pyFAI writes). */
static const char *const poni_key_names[K_NKEYS] = {"poni_version", "Detector",   "Detector_config",
                                                    "Distance",     "Dist",       "Poni1",
                                                    "Poni2",        "Rot1",       "Rot2",
                                                    "Rot3",         "Wavelength", "PixelSize1",
                                                    "PixelSize2"};

/* Lower-case name without ' ', '_' and '-', as pyFAI's names and aliases are matched. */
static void poni_norm_name(const char *s, char *out, size_t n) {
  size_t k = 0;
  for (; *s && k + 1 < n; s++)
    if (*s != ' ' && *s != '_' && *s != '-') out[k++] = (char)tolower((unsigned char)*s);
  out[k] = '\0';
}

/* Index in poni_detectors of a detector name, or -1. */
static int poni_detector_find(const char *name) {
  char a[80], b[80];
  poni_norm_name(name, a, sizeof a);
  for (size_t i = 0; i < sizeof poni_detectors / sizeof poni_detectors[0]; i++) {
    poni_norm_name(poni_detectors[i].name, b, sizeof b);
    if (strcmp(a, b) == 0) return (int)i;
  }
  return -1;
}

/* A whole value as a finite double (surrounding blanks allowed); 0 or -1. */
static int poni_number(const char *s, double *v) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || errno == ERANGE) return -1;
  while (isspace((unsigned char)*end))
    end++;
  if (*end || !isfinite(x)) return -1;
  *v = x;
  return 0;
}

/* ---- a small JSON reader for Detector_config: one object, its top-level pixel1, pixel2
 * and max_shape; any other value is checked for syntax and skipped. ---------------------- */

typedef struct {
  const char *s;
  int depth;
} poni_json;

static void json_ws(poni_json *j) {
  while (*j->s == ' ' || *j->s == '\t' || *j->s == '\r' || *j->s == '\n')
    j->s++;
}

/* A string: copies up to n-1 bytes of it into out (escapes kept as written; keys of
 * interest have none); 0 or -1. */
static int json_string(poni_json *j, char *out, size_t n) {
  size_t k = 0;
  if (*j->s != '"') return -1;
  for (j->s++; *j->s != '"'; j->s++) {
    if (!*j->s || (unsigned char)*j->s < 0x20) return -1;
    if (*j->s == '\\') {
      if (!j->s[1]) return -1;
      if (out && k + 1 < n) out[k++] = *j->s;
      j->s++;
    }
    if (out && k + 1 < n) out[k++] = *j->s;
  }
  j->s++;
  if (out) out[k] = '\0';
  return 0;
}

static int json_number(poni_json *j, double *v) {
  char *end;
  if (*j->s != '-' && !isdigit((unsigned char)*j->s)) return -1;
  double x = strtod(j->s, &end);
  if (end == j->s || !isfinite(x)) return -1;
  j->s = end;
  if (v) *v = x;
  return 0;
}

static int json_value(poni_json *j);

/* '[' values ']' or '{' "key": value '}' without looking inside. */
static int json_container(poni_json *j) {
  char close = *j->s == '[' ? ']' : '}';
  if (++j->depth > 32) return -1;
  j->s++;
  json_ws(j);
  if (*j->s == close) {
    j->s++;
    j->depth--;
    return 0;
  }
  for (;;) {
    json_ws(j);
    if (close == '}') {
      if (json_string(j, NULL, 0) < 0) return -1;
      json_ws(j);
      if (*j->s++ != ':') return -1;
    }
    if (json_value(j) < 0) return -1;
    json_ws(j);
    if (*j->s == ',') {
      j->s++;
      continue;
    }
    if (*j->s++ != close) return -1;
    j->depth--;
    return 0;
  }
}

static int json_value(poni_json *j) {
  json_ws(j);
  if (*j->s == '"') return json_string(j, NULL, 0);
  if (*j->s == '[' || *j->s == '{') return json_container(j);
  if (strncmp(j->s, "null", 4) == 0 || strncmp(j->s, "true", 4) == 0) return j->s += 4, 0;
  if (strncmp(j->s, "false", 5) == 0) return j->s += 5, 0;
  return json_number(j, NULL);
}

/* max_shape: [rows, cols] of positive integers, or null (left as is). */
static int json_shape(poni_json *j, size_t shape[2], int *seen) {
  double v[2];
  json_ws(j);
  if (strncmp(j->s, "null", 4) == 0) return j->s += 4, 0;
  if (*j->s++ != '[') return -1;
  for (int d = 0; d < 2; d++) {
    json_ws(j);
    if (json_number(j, &v[d]) < 0 || v[d] < 1 || v[d] > 1e9 || v[d] != floor(v[d])) return -1;
    json_ws(j);
    if (*j->s++ != (d == 0 ? ',' : ']')) return -1;
  }
  shape[0] = (size_t)v[0];
  shape[1] = (size_t)v[1];
  *seen = 1;
  return 0;
}

/* Parses Detector_config text; sets the fields it finds (seen flags: pixel1, pixel2, shape).
 * 0, or -1 with *why set. */
static int json_config(const char *text, double *pixel1, double *pixel2, size_t shape[2],
                       int seen[3], const char **why) {
  poni_json j = {text, 1};
  char key[32];
  json_ws(&j);
  *why = "is not a JSON object";
  if (*j.s != '{') return -1;
  j.s++;
  json_ws(&j);
  if (*j.s == '}') {
    j.s++;
  } else {
    for (;;) {
      json_ws(&j);
      *why = "is not valid JSON";
      if (json_string(&j, key, sizeof key) < 0) return -1;
      json_ws(&j);
      if (*j.s++ != ':') return -1;
      json_ws(&j);
      if (strcmp(key, "pixel1") == 0 || strcmp(key, "pixel2") == 0) {
        double v;
        *why = strcmp(key, "pixel1") == 0 ? "has a pixel1 that is not a number"
                                          : "has a pixel2 that is not a number";
        if (json_number(&j, &v) < 0) return -1;
        *(key[5] == '1' ? pixel1 : pixel2) = v;
        seen[key[5] == '1' ? 0 : 1] = 1;
      } else if (strcmp(key, "max_shape") == 0) {
        *why = "has a max_shape that is not two positive integers";
        if (json_shape(&j, shape, &seen[2]) < 0) return -1;
      } else {
        if (json_value(&j) < 0) return -1;
      }
      json_ws(&j);
      *why = "is not valid JSON";
      if (*j.s == ',') {
        j.s++;
        continue;
      }
      if (*j.s++ != '}') return -1;
      break;
    }
  }
  json_ws(&j);
  *why = "has text after the JSON object";
  return *j.s ? -1 : 0;
}

/* Reads the whole file (text only) into a NUL-terminated buffer. */
static int poni_slurp(const char *path, char **text) {
  int status = 0;
  char *buf = NULL;
  size_t n = 0;
  FILE *f = fopen(path, "rb");
  SF_CHECK(f, SF_ERR_INPUT, "%s: cannot open PONI file: %s", path, strerror(errno));
  SF_ALLOC(buf, PONI_MAX_BYTES + 1);
  n = fread(buf, 1, PONI_MAX_BYTES + 1, f);
  SF_CHECK(!ferror(f), SF_ERR_INPUT, "%s: cannot read PONI file: %s", path, strerror(errno));
  SF_CHECK(n <= PONI_MAX_BYTES, SF_ERR_INPUT, "%s: not a PONI file (larger than %u bytes)", path,
           PONI_MAX_BYTES);
  SF_CHECK(n > 0, SF_ERR_INPUT, "%s: not a PONI file (empty)", path);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)buf[i];
    SF_CHECK(c >= 0x20 || c == '\n' || c == '\r' || c == '\t' || c == '\f', SF_ERR_INPUT,
             "%s: not a PONI file (binary byte 0x%02x at offset %zu)", path, c, i);
  }
  buf[n] = '\0';
  *text = buf;
  buf = NULL;
cleanup:
  if (f) fclose(f);
  free(buf);
  return status;
}

int sf_poni_read(const char *path, sf_poni *p) {
  int status = 0, any = 0;
  char *text = NULL;
  const char *val[K_NKEYS] = {0};
  int line_of[K_NKEYS] = {0};
  memset(p, 0, sizeof *p);
  SF_CALL(poni_slurp(path, &text));

  /* Split into lines in place; record the value of each known key (the last one wins). */
  int line = 0;
  for (char *s = text, *next; s && *s; s = next) {
    line++;
    next = strchr(s, '\n');
    if (next) *next++ = '\0';
    char *colon = strchr(s, ':');
    if (s[0] == '#' || !colon) continue;
    *colon = '\0';
    char *k = s, *v = colon + 1, *e;
    while (isspace((unsigned char)*k))
      k++;
    for (e = colon; e > k && isspace((unsigned char)e[-1]); e--)
      ;
    *e = '\0';
    while (isspace((unsigned char)*v))
      v++;
    for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]); e--)
      ;
    *e = '\0';
    for (int i = 0; i < K_NKEYS; i++)
      if (strcasecmp(k, poni_keys[i]) == 0) {
        val[i] = v;
        line_of[i] = line;
        any = 1;
      }
  }
  SF_CHECK(any, SF_ERR_INPUT, "%s: not a PONI file (no 'Distance:', 'Poni1:', ... lines)", path);

  /* Version: pyFAI writes 2 (newer ones 2.1, which adds detector orientation; slabflow reads
   * the same fields); no line means 1. */
  p->version = 1;
  if (val[K_VERSION]) {
    double v;
    SF_CHECK(poni_number(val[K_VERSION], &v) == 0 && (v == 1 || (v >= 2 && v < 3)), SF_ERR_INPUT,
             "%s:%d: unsupported poni_version '%s' (slabflow reads 1 and 2)", path,
             line_of[K_VERSION], val[K_VERSION]);
    p->version = (int)v;
  }

  /* Geometry. */
  struct {
    int key;
    double *dst;
  } geo[] = {{K_DIST, &p->dist}, {K_PONI1, &p->poni1}, {K_PONI2, &p->poni2},
             {K_ROT1, &p->rot1}, {K_ROT2, &p->rot2},   {K_ROT3, &p->rot3}};
  if (!val[K_DIST] && val[K_DIST_SHORT]) {
    val[K_DIST] = val[K_DIST_SHORT];
    line_of[K_DIST] = line_of[K_DIST_SHORT];
  }
  for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++) {
    int k = geo[i].key;
    SF_CHECK(val[k], SF_ERR_INPUT, "%s: no %s line (not a complete PONI file)", path,
             poni_key_names[k]);
    SF_CHECK(poni_number(val[k], geo[i].dst) == 0, SF_ERR_INPUT, "%s:%d: %s '%s' is not a number",
             path, line_of[k], poni_key_names[k], val[k]);
  }
  SF_CHECK(p->dist > 0, SF_ERR_INPUT, "%s:%d: Distance %g m is not positive", path, line_of[K_DIST],
           p->dist);
  if (val[K_WAVELENGTH] && strcasecmp(val[K_WAVELENGTH], "none") != 0) {
    SF_CHECK(poni_number(val[K_WAVELENGTH], &p->wavelength) == 0, SF_ERR_INPUT,
             "%s:%d: Wavelength '%s' is not a number", path, line_of[K_WAVELENGTH],
             val[K_WAVELENGTH]);
    SF_CHECK(p->wavelength >= 0, SF_ERR_INPUT, "%s:%d: Wavelength %g m is negative", path,
             line_of[K_WAVELENGTH], p->wavelength);
  }

  /* Detector: the table's values first, then what the file says. */
  const char *name = val[K_DETECTOR] && val[K_DETECTOR][0] ? val[K_DETECTOR] : "Detector";
  SF_CHECK(strlen(name) < sizeof p->detector, SF_ERR_INPUT,
           "%s:%d: detector name of %zu characters (at most %zu)", path, line_of[K_DETECTOR],
           strlen(name), sizeof p->detector - 1);
  snprintf(p->detector, sizeof p->detector, "%s", name);
  int det = poni_detector_find(name), seen[3] = {0, 0, 0};
  if (det >= 0) {
    p->pixel1 = p->pixel2 = poni_detectors[det].pixel;
    p->shape[0] = poni_detectors[det].rows;
    p->shape[1] = poni_detectors[det].cols;
  }
  if (p->version == 1) {
    for (int i = 0; i < 2; i++) {
      int k = i ? K_PIXEL2 : K_PIXEL1;
      if (!val[k]) continue;
      SF_CHECK(poni_number(val[k], i ? &p->pixel2 : &p->pixel1) == 0, SF_ERR_INPUT,
               "%s:%d: %s '%s' is not a number", path, line_of[k], poni_key_names[k], val[k]);
      seen[i] = 1;
    }
  } else if (val[K_CONFIG]) {
    const char *why = NULL;
    SF_CHECK(json_config(val[K_CONFIG], &p->pixel1, &p->pixel2, p->shape, seen, &why) == 0,
             SF_ERR_INPUT, "%s:%d: Detector_config %s", path, line_of[K_CONFIG], why);
  }
  SF_CHECK(det >= 0 || (seen[0] && seen[1]), SF_ERR_INPUT,
           "%s: %s detector '%s' without pixel sizes (%s)", path,
           strcasecmp(name, "detector") == 0 ? "generic" : "unknown", name,
           p->version == 1 ? "PixelSize1/PixelSize2 lines" : "pixel1/pixel2 in Detector_config");
  SF_CHECK(isfinite(p->pixel1) && p->pixel1 > 0 && isfinite(p->pixel2) && p->pixel2 > 0,
           SF_ERR_INPUT, "%s: pixel size %g x %g m is not positive", path, p->pixel1, p->pixel2);
cleanup:
  free(text);
  return status;
}

/* The shortest %g form of x that reads back as x (pyFAI writes Python's repr). */
static void poni_fmt(char *buf, size_t n, double x) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) return;
  }
}

int sf_poni_write(const char *path, const sf_poni *p) {
  int status = 0;
  char v[7][32];
  FILE *f = fopen(path, "w");
  SF_CHECK(f, SF_ERR_IO, "%s: cannot create PONI file: %s", path, strerror(errno));
  poni_fmt(v[0], sizeof v[0], p->pixel1);
  poni_fmt(v[1], sizeof v[1], p->pixel2);
  fprintf(f,
          "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis \n"
          "# Written by slabflow\n"
          "poni_version: 2\n"
          "Detector: %s\n"
          "Detector_config: {\"pixel1\": %s, \"pixel2\": %s",
          p->detector[0] ? p->detector : "Detector", v[0], v[1]);
  if (p->shape[0] && p->shape[1])
    fprintf(f, ", \"max_shape\": [%zu, %zu]", p->shape[0], p->shape[1]);
  const double g[6] = {p->dist, p->poni1, p->poni2, p->rot1, p->rot2, p->rot3};
  for (int i = 0; i < 6; i++)
    poni_fmt(v[i], sizeof v[i], g[i]);
  fprintf(f, "}\nDistance: %s\nPoni1: %s\nPoni2: %s\nRot1: %s\nRot2: %s\nRot3: %s\n", v[0], v[1],
          v[2], v[3], v[4], v[5]);
  if (p->wavelength > 0) {
    poni_fmt(v[6], sizeof v[6], p->wavelength);
    fprintf(f, "Wavelength: %s\n", v[6]);
  }
  SF_CHECK(!ferror(f), SF_ERR_IO, "%s: cannot write PONI file: %s", path, strerror(errno));
cleanup:
  if (f && fclose(f) != 0 && status == 0)
    status = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                             "%s: cannot write PONI file: %s", path, strerror(errno));
  return status;
}
