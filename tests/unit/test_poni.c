/* CUnit tests of the PONI reader and writer (src/io/poni.h): version 1 and 2 files as pyFAI
 * writes and reads them (made by Debian's pyFAI 0.21.3 when it imports, and copies of its
 * output otherwise), named and generic detectors, a write -> read round trip, and a clean
 * SF_ERR_INPUT naming the file for every malformed file. Usage: test_poni WORKDIR. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/poni.h"
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
  size_t w = fwrite(data, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

static int write_text(const char *name, const char *text) {
  return write_bytes(name, text, strlen(text));
}

/* ---- copies of pyFAI 0.21.3's output (ai.write) and of the version-1 layout it reads ------ */

static const char *const v2_eiger = "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis \n"
                                    "# Calibration done at Sat Dec  5 08:08:58 2026\n"
                                    "poni_version: 2\n"
                                    "Detector: Eiger4M\n"
                                    "Detector_config: {}\n"
                                    "Distance: 0.1234\n"
                                    "Poni1: 0.05\n"
                                    "Poni2: 0.06\n"
                                    "Rot1: 0.01\n"
                                    "Rot2: -0.02\n"
                                    "Rot3: 0.03\n"
                                    "Wavelength: 1e-10\n";

static const char *const v2_generic =
    "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis \n"
    "# Calibration done at Sat Dec  5 08:08:58 2026\n"
    "poni_version: 2\n"
    "Detector: Detector\n"
    "Detector_config: {\"pixel1\": 0.0001, \"pixel2\": 0.0002, \"max_shape\": [300, 400]}\n"
    "Distance: 0.2\n"
    "Poni1: 0.01\n"
    "Poni2: 0.02\n"
    "Rot1: 0\n"
    "Rot2: 0\n"
    "Rot3: 0\n"
    "Wavelength: 1.5e-10\n";

/* Version 1 (pyFAI before 0.20): pixel sizes as lines, an optional Detector line. */
static const char *const v1_generic = "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis \n"
                                      "# Calibration done at Mon Mar  2 10:00:00 2015\n"
                                      "PixelSize1: 0.000172\n"
                                      "PixelSize2: 0.000172\n"
                                      "Distance: 0.3015\n"
                                      "Poni1: 0.0852\n"
                                      "Poni2: 0.0841\n"
                                      "Rot1: 0.0012\n"
                                      "Rot2: -0.0034\n"
                                      "Rot3: 0\n"
                                      "SplineFile: None\n"
                                      "Wavelength: 6.888e-11\n";

static const char *const v1_pilatus = "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis \n"
                                      "Detector: Pilatus1M\n"
                                      "Distance: 0.5\n"
                                      "Poni1: 0.09\n"
                                      "Poni2: 0.08\n"
                                      "Rot1: 0\n"
                                      "Rot2: 0\n"
                                      "Rot3: 0\n";

/* Expected values, as pyFAI 0.21.3 reads those files. */
typedef struct {
  const char *name, *text;
  const char *detector;
  int version;
  double pixel1, pixel2;
  size_t rows, cols;
  double dist, poni1, poni2, rot1, rot2, rot3, wavelength;
} poni_case;

static const poni_case g_cases[] = {
    {"v2_eiger.poni", NULL, "Eiger4M", 2, 7.5e-05, 7.5e-05, 2167, 2070, 0.1234, 0.05, 0.06, 0.01,
     -0.02, 0.03, 1e-10},
    {"v2_generic.poni", NULL, "Detector", 2, 1e-4, 2e-4, 300, 400, 0.2, 0.01, 0.02, 0, 0, 0,
     1.5e-10},
    {"v1_generic.poni", NULL, "Detector", 1, 172e-6, 172e-6, 0, 0, 0.3015, 0.0852, 0.0841, 0.0012,
     -0.0034, 0, 6.888e-11},
    {"v1_pilatus.poni", NULL, "Pilatus1M", 1, 172e-6, 172e-6, 1043, 981, 0.5, 0.09, 0.08, 0, 0, 0,
     0},
};

static void check_poni(const char *what, const sf_poni *p, const poni_case *c) {
  int ok = p->version == c->version && strcmp(p->detector, c->detector) == 0 &&
           p->pixel1 == c->pixel1 && p->pixel2 == c->pixel2 && p->shape[0] == c->rows &&
           p->shape[1] == c->cols && p->dist == c->dist && p->poni1 == c->poni1 &&
           p->poni2 == c->poni2 && p->rot1 == c->rot1 && p->rot2 == c->rot2 && p->rot3 == c->rot3 &&
           p->wavelength == c->wavelength;
  if (!ok)
    fprintf(stderr,
            "\n%s: got v%d %s %.17g %.17g [%zu, %zu] %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n"
            "%*s expected v%d %s %.17g %.17g [%zu, %zu] %.17g %.17g %.17g %.17g %.17g %.17g "
            "%.17g\n",
            what, p->version, p->detector, p->pixel1, p->pixel2, p->shape[0], p->shape[1], p->dist,
            p->poni1, p->poni2, p->rot1, p->rot2, p->rot3, p->wavelength, (int)strlen(what), "",
            c->version, c->detector, c->pixel1, c->pixel2, c->rows, c->cols, c->dist, c->poni1,
            c->poni2, c->rot1, c->rot2, c->rot3, c->wavelength);
  CU_ASSERT(ok);
}

static void test_copies(void) {
  const char *texts[] = {v2_eiger, v2_generic, v1_generic, v1_pilatus};
  for (size_t i = 0; i < sizeof g_cases / sizeof g_cases[0]; i++) {
    sf_poni p;
    CU_ASSERT_FATAL(write_text(g_cases[i].name, texts[i]) == 0);
    CU_ASSERT_EQUAL(sf_poni_read(wpath(g_cases[i].name), &p), 0);
    check_poni(g_cases[i].name, &p, &g_cases[i]);
  }
}

/* Detector names as pyFAI matches them: case, '_', '-' and ' ' do not matter; Detector_config
 * values win over the table's. */
static void test_names(void) {
  static const struct {
    const char *name;
    double pixel;
    size_t rows, cols;
  } names[] = {{"eiger_4m", 75e-6, 2167, 2070},    {"EIGER 500K", 75e-6, 514, 1030},
               {"eiger1m", 75e-6, 1065, 1030},     {"Eiger_9M", 75e-6, 3269, 3110},
               {"eiger16m", 75e-6, 4371, 4150},    {"pilatus_100k", 172e-6, 195, 487},
               {"Pilatus 300k", 172e-6, 619, 487}, {"pilatus2m", 172e-6, 1679, 1475},
               {"PILATUS6M", 172e-6, 2527, 2463}};
  char text[512];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    sf_poni p;
    snprintf(text, sizeof text,
             "poni_version: 2\nDetector: %s\nDetector_config: {}\nDistance: 1\nPoni1: 0\n"
             "Poni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
             names[i].name);
    CU_ASSERT_FATAL(write_text("name.poni", text) == 0);
    CU_ASSERT_EQUAL_FATAL(sf_poni_read(wpath("name.poni"), &p), 0);
    CU_ASSERT_STRING_EQUAL(p.detector, names[i].name);
    CU_ASSERT(p.pixel1 == names[i].pixel && p.pixel2 == names[i].pixel);
    CU_ASSERT(p.shape[0] == names[i].rows && p.shape[1] == names[i].cols);
    CU_ASSERT(p.wavelength == 0);
  }
  sf_poni p;
  CU_ASSERT_FATAL(write_text("cfg.poni",
                             "poni_version: 2\nDetector: Eiger4M\nDetector_config: {\"pixel1\": "
                             "1e-4, \"orientation\": 3, \"splineFile\": null, \"x\": [1, {\"a\": "
                             "\"b\\\"}\"}], \"pixel2\": 2e-4, \"max_shape\": [10, 20]}\n"
                             "Dist: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n") == 0);
  CU_ASSERT_EQUAL_FATAL(sf_poni_read(wpath("cfg.poni"), &p), 0);
  CU_ASSERT(p.pixel1 == 1e-4 && p.pixel2 == 2e-4 && p.shape[0] == 10 && p.shape[1] == 20);
  CU_ASSERT(p.dist == 1);
  /* An unknown detector with pixel sizes is read as a generic one. */
  CU_ASSERT_FATAL(write_text("unk.poni", "poni_version: 2\nDetector: MyCamera\nDetector_config: "
                                         "{\"pixel1\": 5e-5, \"pixel2\": 5e-5}\nDistance: 1\n"
                                         "Poni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n") == 0);
  CU_ASSERT_EQUAL(sf_poni_read(wpath("unk.poni"), &p), 0);
  CU_ASSERT(p.pixel1 == 5e-5 && p.shape[0] == 0 && p.shape[1] == 0);
}

/* Every field equal (memcmp would see the padding). */
static int same_poni(const sf_poni *a, const sf_poni *b) {
  return a->version == b->version && strcmp(a->detector, b->detector) == 0 &&
         a->pixel1 == b->pixel1 && a->pixel2 == b->pixel2 && a->shape[0] == b->shape[0] &&
         a->shape[1] == b->shape[1] && a->dist == b->dist && a->poni1 == b->poni1 &&
         a->poni2 == b->poni2 && a->rot1 == b->rot1 && a->rot2 == b->rot2 && a->rot3 == b->rot3 &&
         a->wavelength == b->wavelength;
}

static void test_roundtrip(void) {
  sf_poni a = {0}, b;
  a.version = 2;
  snprintf(a.detector, sizeof a.detector, "Eiger4M");
  a.pixel1 = 75e-6;
  a.pixel2 = 75e-6;
  a.shape[0] = 2167;
  a.shape[1] = 2070;
  a.dist = 0.1 + 0.2; /* 0.30000000000000004: needs 17 digits */
  a.poni1 = 0.08112345678901234;
  a.poni2 = -1e-3 / 3;
  a.rot1 = 0.05235987755982989;
  a.rot2 = -0.03490658503988659;
  a.rot3 = 1e-300;
  a.wavelength = 1e-10;
  CU_ASSERT_EQUAL_FATAL(sf_poni_write(wpath("rt.poni"), &a), 0);
  CU_ASSERT_EQUAL_FATAL(sf_poni_read(wpath("rt.poni"), &b), 0);
  CU_ASSERT(same_poni(&a, &b));
  /* Without wavelength and shape. */
  a.wavelength = 0;
  a.shape[0] = a.shape[1] = 0;
  snprintf(a.detector, sizeof a.detector, "Detector");
  a.pixel2 = 1e-4;
  CU_ASSERT_EQUAL_FATAL(sf_poni_write(wpath("rt2.poni"), &a), 0);
  CU_ASSERT_EQUAL_FATAL(sf_poni_read(wpath("rt2.poni"), &b), 0);
  CU_ASSERT(same_poni(&a, &b));
  /* An unwritable path is SF_ERR_IO. */
  char msg[512];
  sf_error_defer(msg, sizeof msg);
  CU_ASSERT_EQUAL(sf_poni_write(wpath("no/such/dir/x.poni"), &a), SF_ERR_IO);
  sf_error_defer(NULL, 0);
  CU_ASSERT(strstr(msg, "x.poni") != NULL);
}

/* Each malformed file: SF_ERR_INPUT with one message naming the file and the problem. */
static void test_malformed(void) {
  static const char *const head = "poni_version: 2\nDetector: Eiger4M\nDetector_config: {}\n";
  static const struct {
    const char *name, *body, *want;
  } bad[] = {
      {"nodist", "Poni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n", "no Distance"},
      {"rot2", "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: abc\nRot3: 0\n", "Rot2 'abc'"},
      {"rot2b", "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0.1x\nRot3: 0\n", "Rot2"},
      {"rot2nan", "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: nan\nRot3: 0\n", "Rot2"},
      {"negdist", "Distance: -0.1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
       "not positive"},
      {"zerodist", "Distance: 0\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n", "not positive"},
      {"norot3", "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\n", "no Rot3"},
      {"wl", "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: -1e-10\n",
       "Wavelength"},
  };
  char text[1024], msg[1024];
  sf_poni p;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(text, sizeof text, "%s%s", head, bad[i].body);
    CU_ASSERT_FATAL(write_text(bad[i].name, text) == 0);
    sf_error_defer(msg, sizeof msg);
    int rc = sf_poni_read(wpath(bad[i].name), &p);
    sf_error_defer(NULL, 0);
    CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
    CU_ASSERT(strstr(msg, wpath(bad[i].name)) != NULL && strstr(msg, bad[i].want) != NULL);
    if (rc != SF_ERR_INPUT || !strstr(msg, bad[i].want))
      fprintf(stderr, "\n%s: rc %d, '%s'\n", bad[i].name, rc, msg);
  }
  /* Whole-file cases. */
  unsigned char garbage[4096];
  unsigned s = 12345;
  for (size_t i = 0; i < sizeof garbage; i++)
    garbage[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
  static const struct {
    const char *name, *text, *want;
  } files[] = {
      {"empty", "", "empty"},
      {"garbage", NULL, "not a PONI file"},
      {"prose", "This is not a calibration.\nJust text.\n", "not a PONI file"},
      {"unknown",
       "poni_version: 2\nDetector: Frelon9000\nDetector_config: {}\nDistance: 1\n"
       "Poni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
       "unknown detector 'Frelon9000'"},
      {"generic",
       "poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 1e-4}\n"
       "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
       "without pixel sizes"},
      {"v1nopix", "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
       "without pixel sizes"},
      {"json",
       "poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 1e-4,\n"
       "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
       "Detector_config"},
      {"shape",
       "poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 1e-4, "
       "\"pixel2\": 1e-4, \"max_shape\": [10.5, 3]}\n"
       "Distance: 1\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
       "max_shape"},
      {"negpix",
       "PixelSize1: -1e-4\nPixelSize2: 1e-4\nDistance: 1\nPoni1: 0\nPoni2: 0\n"
       "Rot1: 0\nRot2: 0\nRot3: 0\n",
       "pixel size"},
      {"version",
       "poni_version: 7\nDetector: Eiger4M\nDetector_config: {}\nDistance: 1\n"
       "Poni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n",
       "poni_version"},
      {"missing", NULL, "cannot open"},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (strcmp(files[i].name, "garbage") == 0) {
      CU_ASSERT_FATAL(write_bytes(files[i].name, garbage, sizeof garbage) == 0);
    } else if (files[i].text) {
      CU_ASSERT_FATAL(write_text(files[i].name, files[i].text) == 0);
    }
    sf_error_defer(msg, sizeof msg);
    int rc = sf_poni_read(wpath(files[i].name), &p);
    sf_error_defer(NULL, 0);
    CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
    CU_ASSERT(strstr(msg, wpath(files[i].name)) != NULL && strstr(msg, files[i].want) != NULL);
    if (rc != SF_ERR_INPUT || !strstr(msg, files[i].want))
      fprintf(stderr, "\n%s: rc %d, '%s'\n", files[i].name, rc, msg);
  }
}

/* Mutations of a valid file (bytes changed, inserted, deleted; truncations): every one reads
 * as a PONI file or fails with SF_ERR_INPUT, and nothing crashes (the ASan build runs it). */
static void test_fuzz(void) {
  char buf[1024], msg[512];
  size_t len0 = strlen(v2_generic);
  unsigned s = 2024;
  int ok = 0, bad = 0;
  for (int it = 0; it < 3000; it++) {
    memcpy(buf, v2_generic, len0);
    size_t len = len0;
    int nmut = 1 + (int)((s = s * 1103515245u + 12345u) >> 16) % 4;
    for (int m = 0; m < nmut && len > 1; m++) {
      unsigned r = (s = s * 1103515245u + 12345u) >> 8;
      size_t at = r % len;
      unsigned char c = (unsigned char)(r >> 12);
      static const char pick[] = ":{}[],\"#\n 0123456789e.-xN";
      switch (r % 5) {
      case 0: buf[at] = (char)c; break;                     /* any byte */
      case 1: buf[at] = pick[c % (sizeof pick - 1)]; break; /* a syntax byte */
      case 2:
        memmove(buf + at, buf + at + 1, len - at - 1);
        len--;
        break; /* delete */
      case 3:
        if (len + 1 < sizeof buf) {
          memmove(buf + at + 1, buf + at, len - at);
          buf[at] = pick[c % (sizeof pick - 1)];
          len++;
        }
        break;
      default: len = at + 1; break; /* truncate */
      }
    }
    CU_ASSERT_FATAL(write_bytes("fuzz.poni", buf, len) == 0);
    sf_poni p;
    sf_error_defer(msg, sizeof msg);
    int rc = sf_poni_read(wpath("fuzz.poni"), &p);
    sf_error_defer(NULL, 0);
    CU_ASSERT(rc == 0 || rc == SF_ERR_INPUT);
    if (rc == 0) {
      ok++;
      CU_ASSERT(p.dist > 0 && p.pixel1 > 0 && p.pixel2 > 0 && isfinite(p.rot1));
    } else {
      bad++;
      CU_ASSERT(strstr(msg, "fuzz.poni") != NULL);
    }
  }
  CU_ASSERT(ok > 0 && bad > 0);
}

/* pyFAI itself (when /usr/bin/python3 imports it): writes files, reads ours and the copies
 * above, and prints what it read; our reader must agree exactly. */
static const char *const py_script =
    "import sys, os, logging\n"
    "logging.disable(logging.WARNING)\n"
    "import pyFAI, pyFAI.detectors as D\n"
    "from pyFAI.azimuthalIntegrator import AzimuthalIntegrator as AI\n"
    "d = sys.argv[1]\n"
    "AI(dist=0.1234, poni1=0.05, poni2=0.06, rot1=0.01, rot2=-0.02, rot3=0.03,\n"
    "   detector=D.detector_factory('Eiger4M'), wavelength=1e-10).write(d + '/py_eiger.poni')\n"
    "AI(dist=0.35, poni1=0.091, poni2=0.087, rot1=-0.0123, rot2=0.0456, rot3=-1.5,\n"
    "   detector=D.detector_factory('pilatus_1m'), wavelength=7.293e-11).write(d + "
    "'/py_pilatus.poni')\n"
    "AI(dist=0.2, poni1=0.01, poni2=0.02, detector=D.Detector(pixel1=1e-4, pixel2=2e-4,\n"
    "   max_shape=(300, 400)), wavelength=1.5e-10).write(d + '/py_generic.poni')\n"
    "AI(dist=0.5, poni1=0.02, poni2=0.03, detector=D.Detector(pixel1=5e-5, pixel2=5e-5))"
    ".write(d + '/py_nowl.poni')\n"
    "with open(d + '/py_expect.txt', 'w') as out:\n"
    "    for n in sys.argv[2:]:\n"
    "        ai = pyFAI.load(d + '/' + n)\n"
    "        det = ai.detector\n"
    "        sh = det.max_shape if det.max_shape is not None else (0, 0)\n"
    "        wl = ai.wavelength if ai.wavelength else 0.0\n"
    "        out.write('%s %r %r %d %d %r %r %r %r %r %r %r\\n' % (n, det.pixel1, det.pixel2,\n"
    "                  sh[0], sh[1], ai.dist, ai.poni1, ai.poni2, ai.rot1, ai.rot2, ai.rot3, "
    "wl))\n";

static void test_pyfai(void) {
  if (system("/usr/bin/python3 -c 'import pyFAI' >/dev/null 2>&1") != 0) {
    printf("\n  pyFAI does not import: the copies of its output stand in (test_copies)\n");
    return;
  }
  /* Our own file for pyFAI to read back. */
  sf_poni a = {0};
  a.version = 2;
  snprintf(a.detector, sizeof a.detector, "Eiger4M");
  a.pixel1 = a.pixel2 = 75e-6;
  a.shape[0] = 2167;
  a.shape[1] = 2070;
  a.dist = 0.1 + 0.2;
  a.poni1 = 0.08112345678901234;
  a.poni2 = 0.0771;
  a.rot1 = 0.05235987755982989;
  a.rot2 = -0.03490658503988659;
  a.rot3 = 0.0123;
  a.wavelength = 1e-10;
  CU_ASSERT_EQUAL_FATAL(sf_poni_write(wpath("ours.poni"), &a), 0);
  a.shape[0] = a.shape[1] = 0;
  snprintf(a.detector, sizeof a.detector, "Detector");
  a.pixel2 = 1e-4;
  CU_ASSERT_EQUAL_FATAL(sf_poni_write(wpath("ours_generic.poni"), &a), 0);
  CU_ASSERT_FATAL(write_text("v1_generic.poni", v1_generic) == 0);
  CU_ASSERT_FATAL(write_text("v1_pilatus.poni", v1_pilatus) == 0);
  CU_ASSERT_FATAL(write_text("py_script.py", py_script) == 0);
  char cmd[8192];
  static const char *const names[] = {"py_eiger.poni", "py_pilatus.poni",  "py_generic.poni",
                                      "py_nowl.poni",  "v1_generic.poni",  "v1_pilatus.poni",
                                      "ours.poni",     "ours_generic.poni"};
  int k = snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", wpath("py_script.py"), g_dir);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    k += snprintf(cmd + k, sizeof cmd - (size_t)k, " %s", names[i]);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  FILE *f = fopen(wpath("py_expect.txt"), "r");
  CU_ASSERT_FATAL(f != NULL);
  char name[256];
  poni_case c;
  int n = 0;
  while (fscanf(f, "%255s %lf %lf %zu %zu %lf %lf %lf %lf %lf %lf %lf", name, &c.pixel1, &c.pixel2,
                &c.rows, &c.cols, &c.dist, &c.poni1, &c.poni2, &c.rot1, &c.rot2, &c.rot3,
                &c.wavelength) == 12) {
    sf_poni p;
    n++;
    CU_ASSERT_EQUAL(sf_poni_read(wpath(name), &p), 0);
    /* Names and versions are ours to check: pyFAI reports classes, not what was written. */
    c.version = p.version;
    c.detector = p.detector;
    CU_ASSERT_EQUAL(p.version, strncmp(name, "v1", 2) == 0 ? 1 : 2);
    check_poni(name, &p, &c);
  }
  fclose(f);
  CU_ASSERT_EQUAL(n, (int)(sizeof names / sizeof names[0]));
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_poni WORKDIR\n");
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[1]);
  if (mkdir(g_dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "test_poni: cannot create %s: %s\n", g_dir, strerror(errno));
    return 1;
  }
  static const sf_test tests[] = {{"pyFAI output copies, v1 and v2", test_copies},
                                  {"detector names and Detector_config", test_names},
                                  {"write -> read round trip", test_roundtrip},
                                  {"malformed files -> SF_ERR_INPUT", test_malformed},
                                  {"mutated files", test_fuzz},
                                  {"agreement with pyFAI 0.21.3", test_pyfai},
                                  {NULL, NULL}};
  return sf_cunit_run("poni", tests);
}
