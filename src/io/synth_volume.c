/* Synthetic abdominal CT-like volumes with organ labels, in nnU-Net v2 raw layout. */
#include "io/synth_volume.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "io/synth_rng.h"
#include "sf_error.h"

/* Anatomy lives in normalised coordinates (u, v, w) in (-1, 1): u = (2i+1)/nx - 1 towards
 * the subject's right (RAS +x), v likewise towards anterior, w towards superior. Shapes
 * scale with the grid, so every size gives the same picture, stretched where nx != ny. */

#define VOL_NDEF 3         /* smooth boundary-deformation terms per shape */
#define VOL_DEF_MAX 0.2    /* bound of the sum of their amplitudes (relative radius) */
#define VOL_DEF_LIVER 0.12 /* the liver is large: less deformation keeps it in the body */
#define VOL_NGAS 4         /* bowel gas pockets */
#define VOL_NPRIM (12 + VOL_NGAS)
#define VOL_NLF 3 /* low-frequency shading terms */
#define VOL_HU_AIR -1000.0
#define VOL_HU_MIN -1024.0 /* the usual stored range of CT */
#define VOL_HU_MAX 3071.0

const double sf_synth_volume_spacing[3] = {0.8, 0.8, 2.5};

enum { ST_CASE = 1, ST_NOISE = 2 };
enum { PR_BLOB = 0, PR_TUBE = 1 };

/* One shape painted over what is below it: a deformed ellipsoid (blob) or a deformed
 * elliptic cylinder cut at w0, w1 (tube). s > 0 inside; partial-volume weight 0.5 + s. */
typedef struct {
  int kind, label; /* label 0: the shape clears labels below it (fat, vessels, lungs) */
  double hu;
  double c[3], ia[3], cs, sn; /* centre, inverse semi-axes, rotation about w */
  double amp[VOL_NDEF], f[VOL_NDEF][3], ph[VOL_NDEF];
  double w0, w1;     /* tube: extent along w */
  double scale;      /* voxels per unit of relative radius: edge sharpness */
  double rcut;       /* relative radius beyond which the weight is 0 */
  long lo[3], hi[3]; /* bounding box in voxels, inclusive (lo > hi: empty) */
} vol_prim;

typedef struct {
  double cu, cv, iau, iav;   /* body cross-section: centre, inverse semi-axes */
  double a2, a3, az, gz, pz; /* boundary 1 + a2 cos 2t + a3 cos 3t + az sin(gz w + pz) */
  double fat, scale;         /* subcutaneous fat layer (relative), voxels per unit */
  double kcv, kiau, kiav;    /* abdominal cavity (fat and bowel inside the muscle wall):
                                centre v, inverse semi-axes; centre u is cu */
  double hu_soft, hu_fat, hu_cav;
} vol_body;

typedef struct {
  size_t n[3];
  vol_body body;
  vol_prim prim[VOL_NPRIM];
  int nprim;
  double sigma;                                          /* noise standard deviation, HU */
  double lfa[VOL_NLF], lfg[VOL_NLF][3], lfp[VOL_NLF][3]; /* shading: amplitude, freq, phase */
} vol_case;


static inline double clamp01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }

/* Normalised coordinate of voxel index x on an axis of n voxels, and back. */
static inline double to_norm(double x, size_t n) { return (2.0 * x + 1.0) / (double)n - 1.0; }
static inline double to_index(double t, size_t n) { return ((t + 1.0) * (double)n - 1.0) * 0.5; }

/* Random smooth deformation: amplitudes sum to at most max_sum, spatial frequencies
 * 1.5..4 radians per unit of relative radius in a random direction. */
static void prim_deform(vol_prim *p, syn_rng *r, double max_sum) {
  for (int t = 0; t < VOL_NDEF; t++) {
    double z = rng_range(r, -1.0, 1.0), az = rng_range(r, 0.0, 6.283185307179586);
    double s = sqrt(1.0 - z * z), k = rng_range(r, 1.5, 4.0);
    p->amp[t] = rng_range(r, 0.4, 1.0) * max_sum / VOL_NDEF;
    p->f[t][0] = k * s * cos(az);
    p->f[t][1] = k * s * sin(az);
    p->f[t][2] = k * z;
    p->ph[t] = rng_range(r, 0.0, 6.283185307179586);
  }
}

/* Fills scale, cut-off and bounding box once the geometry is set. */
static void prim_finish(vol_prim *p, const size_t n[3]) {
  double a0 = 1.0 / p->ia[0], a1 = 1.0 / p->ia[1], dsum = 0.0;
  for (int t = 0; t < VOL_NDEF; t++)
    dsum += p->amp[t];
  double s0 = a0 * (double)n[0] * 0.5, s1 = a1 * (double)n[1] * 0.5;
  p->scale = s0 < s1 ? s0 : s1;
  p->rcut = 1.0 + dsum + 0.5 / p->scale; /* weight 0.5 + s is 0 from here on */
  double half[3], lo[3], hi[3];
  half[0] = p->rcut * hypot(a0 * p->cs, a1 * p->sn);
  half[1] = p->rcut * hypot(a0 * p->sn, a1 * p->cs);
  half[2] = p->rcut / p->ia[2];
  for (int d = 0; d < 3; d++) {
    lo[d] = p->c[d] - half[d];
    hi[d] = p->c[d] + half[d];
  }
  if (p->kind == PR_TUBE) {
    lo[2] = p->w0 - 1.0 / (double)n[2]; /* half a voxel of edge beyond each cut */
    hi[2] = p->w1 + 1.0 / (double)n[2];
  }
  for (int d = 0; d < 3; d++) {
    double a = floor(to_index(lo[d], n[d])), b = ceil(to_index(hi[d], n[d]));
    p->lo[d] = a < 0.0 ? 0 : (long)a;
    p->hi[d] = b > (double)n[d] - 1.0 ? (long)n[d] - 1 : (long)b;
  }
}

/* Signed inside-ness of p at (u, v, w), in voxels (> 0 inside). */
static inline double prim_inside(const vol_prim *p, double u, double v, double w, size_t nz) {
  double du = u - p->c[0], dv = v - p->c[1];
  double q[3] = {(p->cs * du + p->sn * dv) * p->ia[0], (p->cs * dv - p->sn * du) * p->ia[1],
                 (w - p->c[2]) * p->ia[2]};
  double r2 = q[0] * q[0] + q[1] * q[1] + (p->kind == PR_BLOB ? q[2] * q[2] : 0.0);
  if (r2 >= p->rcut * p->rcut) return -1.0;
  if (p->kind == PR_TUBE) q[2] = w; /* the wobble of a tube runs along w */
  double def = 0.0;
  for (int t = 0; t < VOL_NDEF; t++)
    def += p->amp[t] * sin(p->f[t][0] * q[0] + p->f[t][1] * q[1] + p->f[t][2] * q[2] + p->ph[t]);
  double s = (1.0 + def - sqrt(r2)) * p->scale;
  if (p->kind == PR_TUBE) {
    double sz = (w - p->w0 < p->w1 - w ? w - p->w0 : p->w1 - w) * (double)nz * 0.5;
    s = sz < s ? sz : s;
  }
  return s;
}

static vol_prim *prim_add(vol_case *cs, int kind, int label, double hu) {
  vol_prim *p = &cs->prim[cs->nprim++];
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->label = label;
  p->hu = hu;
  p->cs = 1.0;
  return p;
}

static void prim_axes(vol_prim *p, double cu, double cv, double cw, double au, double av, double aw,
                      double rot) {
  p->c[0] = cu;
  p->c[1] = cv;
  p->c[2] = cw;
  p->ia[0] = 1.0 / au;
  p->ia[1] = 1.0 / av;
  p->ia[2] = 1.0 / aw;
  p->cs = cos(rot);
  p->sn = sin(rot);
}

/* Draws one case's anatomy from its own stream. Every labelled shape is kept inside
 * |w| <= 0.7 (centre + (1 + deformation bound) * semi-axis, or the tube's cuts) and, in the
 * plane, roughly inside the body's inner (non-fat) boundary, whose relative radius is at
 * least 0.95 * (1 - 0.09) = 0.86. */
static void case_build(vol_case *cs, const sf_synth_volume_opts *o, size_t index) {
  syn_rng r = {rng_key(o->seed, ST_CASE, index, 0)};
  memset(cs, 0, sizeof *cs);
  for (int d = 0; d < 3; d++)
    cs->n[d] = o->dim[d];
  double asp = (double)o->dim[0] / (double)o->dim[1]; /* equal in-plane spacing */
  vol_body *b = &cs->body;
  double bu = rng_range(&r, 0.80, 0.90), bv = rng_range(&r, 0.62, 0.72);
  b->cu = rng_range(&r, -0.02, 0.02);
  b->cv = rng_range(&r, -0.05, 0.02);
  b->iau = 1.0 / bu;
  b->iav = 1.0 / bv;
  b->a2 = rng_range(&r, -0.015, 0.015);
  b->a3 = rng_range(&r, -0.015, 0.015);
  b->az = rng_range(&r, 0.0, 0.02);
  b->gz = rng_range(&r, 1.0, 3.0);
  b->pz = rng_range(&r, 0.0, 6.283185307179586);
  b->fat = rng_range(&r, 0.05, 0.09);
  double s0 = bu * (double)o->dim[0] * 0.5, s1 = bv * (double)o->dim[1] * 0.5;
  b->scale = s0 < s1 ? s0 : s1;
  b->kcv = b->cv + bv * rng_range(&r, 0.08, 0.14);
  b->kiau = 1.0 / (bu * rng_range(&r, 0.72, 0.78));
  b->kiav = 1.0 / (bv * rng_range(&r, 0.62, 0.70));
  b->hu_cav = rng_range(&r, -60.0, -20.0);
  b->hu_soft = rng_range(&r, 35.0, 45.0);
  b->hu_fat = rng_range(&r, -110.0, -80.0);
  cs->sigma = rng_range(&r, 10.0, 20.0);
  for (int t = 0; t < VOL_NLF; t++) {
    cs->lfa[t] = rng_range(&r, 3.0, 7.0);
    for (int d = 0; d < 3; d++) {
      cs->lfg[t][d] = rng_range(&r, 0.8, 3.0);
      cs->lfp[t][d] = rng_range(&r, 0.0, 6.283185307179586);
    }
  }

  /* Painted in this order, each over the ones before. Lungs (unlabelled) fill the top of
   * the body: all-background planes that are not empty. */
  for (int side = -1; side <= 1; side += 2) {
    vol_prim *p = prim_add(cs, PR_BLOB, 0, rng_range(&r, -870.0, -820.0));
    prim_axes(p, b->cu + side * bu * rng_range(&r, 0.40, 0.48),
              b->cv + bv * rng_range(&r, -0.05, 0.10), rng_range(&r, 0.95, 1.10),
              bu * rng_range(&r, 0.24, 0.30), bv * rng_range(&r, 0.50, 0.60),
              rng_range(&r, 0.30, 0.45), side * rng_range(&r, 0.0, 0.2));
    prim_deform(p, &r, VOL_DEF_MAX);
  }
  /* Bowel gas (unlabelled): small pockets in the lower anterior abdomen. */
  for (int g = 0; g < VOL_NGAS; g++) {
    vol_prim *p = prim_add(cs, PR_BLOB, 0, rng_range(&r, -950.0, -850.0));
    double ra = bu * rng_range(&r, 0.04, 0.08);
    prim_axes(p, b->cu + bu * rng_range(&r, -0.5, 0.3), b->cv + bv * rng_range(&r, 0.2, 0.55),
              rng_range(&r, -0.6, 0.0), ra, ra * asp * rng_range(&r, 0.7, 1.0),
              rng_range(&r, 0.03, 0.08), rng_range(&r, -1.5, 1.5));
    prim_deform(p, &r, 0.15);
  }
  /* Spleen (unlabelled): left, posterior-lateral, upper abdomen. */
  {
    vol_prim *p = prim_add(cs, PR_BLOB, 0, rng_range(&r, 45.0, 55.0));
    prim_axes(p, b->cu - bu * rng_range(&r, 0.45, 0.55), b->cv - bv * rng_range(&r, 0.05, 0.20),
              rng_range(&r, 0.2, 0.4), bu * rng_range(&r, 0.12, 0.16),
              bv * rng_range(&r, 0.22, 0.28), rng_range(&r, 0.15, 0.22), rng_range(&r, 0.3, 0.7));
    prim_deform(p, &r, 0.15);
  }
  /* Liver (1): large, on the subject's right, upper abdomen, under the right lung. */
  {
    const double kl = 1.0 + VOL_DEF_LIVER;
    vol_prim *p = prim_add(cs, PR_BLOB, 1, rng_range(&r, 50.0, 70.0));
    double aw = rng_range(&r, 0.30, 0.38);
    double cw = rng_range(&r, 0.05, 0.70 - kl * aw);
    prim_axes(p, b->cu + bu * rng_range(&r, 0.26, 0.34), b->cv + bv * rng_range(&r, 0.02, 0.12), cw,
              bu * rng_range(&r, 0.36, 0.42), bv * rng_range(&r, 0.48, 0.58), aw,
              rng_range(&r, -0.2, 0.2));
    prim_deform(p, &r, VOL_DEF_LIVER);
  }
  /* Kidneys (2), each with a sinus of fat on its medial side (unlabelled): bean shapes. */
  for (int side = -1; side <= 1; side += 2) {
    vol_prim *p = prim_add(cs, PR_BLOB, 2, rng_range(&r, 130.0, 180.0));
    double au = bu * rng_range(&r, 0.11, 0.14), av = bv * rng_range(&r, 0.18, 0.23);
    double aw = rng_range(&r, 0.20, 0.28), cw = rng_range(&r, -0.30, -0.05);
    double cu = b->cu + side * bu * rng_range(&r, 0.36, 0.44);
    prim_axes(p, cu, b->cv - bv * rng_range(&r, 0.30, 0.40), cw, au, av, aw,
              -side * rng_range(&r, 0.2, 0.5));
    prim_deform(p, &r, VOL_DEF_MAX);
    vol_prim *sinus = prim_add(cs, PR_BLOB, 0, b->hu_fat + rng_range(&r, 0.0, 20.0));
    prim_axes(sinus, cu - side * 0.55 * au, p->c[1], cw, 0.45 * au, 0.40 * av, 0.55 * aw,
              -side * 0.3);
    prim_deform(sinus, &r, 0.1);
  }
  /* Spine: a vertebral column with muscle behind it, cortical ring (3) around marrow (3),
   * end plates capping the marrow; round in voxels (asp turns a u radius into v units). */
  double sr = bu * rng_range(&r, 0.13, 0.16), su = b->cu + rng_range(&r, -0.03, 0.03);
  double sv = b->cv - bv * rng_range(&r, 0.62, 0.70) + 1.1 * asp * sr;
  double sw0 = rng_range(&r, -0.68, -0.50), sw1 = rng_range(&r, 0.50, 0.68);
  /* Aorta (unlabelled, contrast-filled) runs through every plane, left-anterior of the spine. */
  {
    double ar = sr * rng_range(&r, 0.40, 0.5);
    vol_prim *p = prim_add(cs, PR_TUBE, 0, rng_range(&r, 140.0, 200.0));
    prim_axes(p, su - 0.7 * sr, sv + asp * (0.9 * sr + ar), 0.0, ar, ar * asp, 1.0, 0.0);
    prim_deform(p, &r, 0.08);
    p->w0 = -2.0;
    p->w1 = 2.0;
  }
  {
    vol_prim *p = prim_add(cs, PR_TUBE, 3, rng_range(&r, 600.0, 800.0));
    prim_axes(p, su, sv, 0.0, sr, sr * asp, 1.0, 0.0);
    prim_deform(p, &r, 0.1);
    p->w0 = sw0;
    p->w1 = sw1;
    vol_prim *m = prim_add(cs, PR_TUBE, 3, rng_range(&r, 180.0, 280.0));
    prim_axes(m, su, sv, 0.0, 0.7 * sr, 0.7 * sr * asp, 1.0, 0.0);
    prim_deform(m, &r, 0.1);
    m->w0 = sw0 + 0.04;
    m->w1 = sw1 - 0.04;
  }
  for (int t = 0; t < cs->nprim; t++)
    prim_finish(&cs->prim[t], cs->n);
}

/* One k-plane: body and fat, shapes painted in order, shading, noise; rounded to HU. As
 * scanners do, voxels outside the reconstruction circle (the ellipse inscribed in the grid)
 * hold the padding value -1024, so "foreground = above the volume minimum" means something. */
static void render_plane(const vol_case *cs, uint64_t noise_key, size_t k, int16_t *img,
                         uint8_t *lab, const double *lfu, const double *lfv) {
  const size_t nx = cs->n[0], ny = cs->n[1], nz = cs->n[2];
  const vol_body *b = &cs->body;
  double w = to_norm((double)k, nz), lfw[VOL_NLF];
  double bz = b->az * sin(b->gz * w + b->pz);
  int act[VOL_NPRIM], nact = 0;
  for (int t = 0; t < cs->nprim; t++)
    if ((long)k >= cs->prim[t].lo[2] && (long)k <= cs->prim[t].hi[2]) act[nact++] = t;
  for (int t = 0; t < VOL_NLF; t++)
    lfw[t] = cs->lfa[t] * cos(cs->lfg[t][2] * w + cs->lfp[t][2]);
  syn_rng rn = {noise_key};
  double z[2] = {0.0, 0.0};
  int have = 0;
  for (size_t j = 0; j < ny; j++) {
    double v = to_norm((double)j, ny), dv = (v - b->cv) * b->iav, lfvw[VOL_NLF];
    double kv = (v - b->kcv) * b->kiav;
    int ract[VOL_NPRIM], nr = 0;
    for (int a = 0; a < nact; a++)
      if ((long)j >= cs->prim[act[a]].lo[1] && (long)j <= cs->prim[act[a]].hi[1])
        ract[nr++] = act[a];
    for (int t = 0; t < VOL_NLF; t++)
      lfvw[t] = lfw[t] * lfv[t * ny + j];
    int16_t *irow = img + j * nx;
    uint8_t *lrow = lab + j * nx;
    for (size_t i = 0; i < nx; i++) {
      double u = to_norm((double)i, nx), du = (u - b->cu) * b->iau;
      if (u * u + v * v > 1.0) { /* outside the reconstruction circle: padding, no noise */
        irow[i] = (int16_t)VOL_HU_MIN;
        lrow[i] = 0;
        continue;
      }
      double r2 = du * du + dv * dv, r = sqrt(r2), c2 = 0.0, c3 = 0.0;
      if (r2 > 0.0) {
        c2 = (du * du - dv * dv) / r2;
        c3 = du * (du * du - 3.0 * dv * dv) / (r2 * r);
      }
      double edge = 1.0 + b->a2 * c2 + b->a3 * c3 + bz;
      double wb = clamp01(0.5 + (edge - r) * b->scale);
      double wi = clamp01(0.5 + (edge * (1.0 - b->fat) - r) * b->scale);
      double val = VOL_HU_AIR + wb * (b->hu_fat - VOL_HU_AIR);
      val += wi * (b->hu_soft - val);
      double ku = (u - b->cu) * b->kiau;
      val += clamp01(0.5 + (1.0 - sqrt(ku * ku + kv * kv)) * b->scale) * (b->hu_cav - val);
      int l = 0;
      for (int a = 0; a < nr; a++) {
        const vol_prim *p = &cs->prim[ract[a]];
        if ((long)i < p->lo[0] || (long)i > p->hi[0]) continue;
        double s = prim_inside(p, u, v, w, nz);
        if (s <= -0.5) continue;
        val += (s >= 0.5 ? 1.0 : 0.5 + s) * (p->hu - val);
        if (s > 0.0) l = p->label;
      }
      double shade = 0.0;
      for (int t = 0; t < VOL_NLF; t++)
        shade += lfvw[t] * lfu[t * nx + i];
      if (!have) rng_normal2(&rn, &z[0], &z[1]);
      val += wb * shade + cs->sigma * z[have];
      have ^= 1;
      val = floor(val + 0.5);
      irow[i] = (int16_t)(val < VOL_HU_MIN ? VOL_HU_MIN : val > VOL_HU_MAX ? VOL_HU_MAX : val);
      lrow[i] = (uint8_t)l;
    }
  }
}

const char *sf_synth_volume_label_name(int label) {
  static const char *const names[SF_SYNTH_VOLUME_NLABELS + 1] = {"background", "liver", "kidney",
                                                                 "bone"};
  return label >= 0 && label <= SF_SYNTH_VOLUME_NLABELS ? names[label] : "?";
}

int sf_synth_volume_case_name(const sf_synth_volume_opts *opts, size_t index, char *buf, size_t n) {
  int width = 1;
  for (size_t m = opts->ncases > 1 ? opts->ncases - 1 : 0; m >= 10; m /= 10)
    width++;
  width = width < 3 ? 3 : width;
  int len = snprintf(buf, n, "case_%0*zu", width, index);
  if (len < 0 || (size_t)len >= n)
    return sf_error_report(SF_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                           "case name buffer of %zu bytes is too small", n);
  return 0;
}

void sf_synth_volume_affine(const sf_synth_volume_opts *opts, double aff[4][4]) {
  memset(aff, 0, 16 * sizeof(double));
  for (int d = 0; d < 3; d++) {
    aff[d][d] = sf_synth_volume_spacing[d];
    aff[d][3] = -0.5 * ((double)opts->dim[d] - 1.0) * sf_synth_volume_spacing[d];
  }
  aff[3][3] = 1.0;
}

int sf_synth_volume_render(const sf_synth_volume_opts *opts, size_t index, int16_t *img,
                           uint8_t *lab) {
  int status = 0;
  vol_case cs;
  double *lfu = NULL;
  case_build(&cs, opts, index);
  const size_t nx = cs.n[0], ny = cs.n[1], nz = cs.n[2];
  SF_ALLOC(lfu, VOL_NLF * (nx + ny)); /* shading is separable: per-axis cosine tables */
  double *lfv = lfu + VOL_NLF * nx;
  for (int t = 0; t < VOL_NLF; t++) {
    for (size_t i = 0; i < nx; i++)
      lfu[t * nx + i] = cos(cs.lfg[t][0] * to_norm((double)i, nx) + cs.lfp[t][0]);
    for (size_t j = 0; j < ny; j++)
      lfv[t * ny + j] = cos(cs.lfg[t][1] * to_norm((double)j, ny) + cs.lfp[t][1]);
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (long k = 0; k < (long)nz; k++)
    render_plane(&cs, rng_key(opts->seed, ST_NOISE, index, (uint64_t)k), (size_t)k,
                 img + (size_t)k * nx * ny, lab + (size_t)k * nx * ny, lfu, lfv);
cleanup:
  free(lfu);
  return status;
}

/* Writes one 3-D NIfTI-1 file (gzip when path ends in .gz) through libnifti2. libnifti's
 * nifti_image_write does the same steps but reports no status, so the header goes out with
 * nifti_image_write_hdr_img (file left open) and the voxels with a checked znzwrite/znzclose. */
static int nifti_write(const char *path, const sf_synth_volume_opts *o, int datatype,
                       const void *data, size_t nbytes) {
  int status = 0, created = 0;
  int64_t dims[8] = {3, (int64_t)o->dim[0], (int64_t)o->dim[1], (int64_t)o->dim[2], 1, 1, 1, 1};
  nifti_image *nim = nifti_make_new_nim(dims, datatype, 0);
  znzFile fp = NULL;
  double aff[4][4], dx, dy, dz;
  SF_CHECK(nim, SF_ERR_NOMEM, "%s: libnifti could not make a header", path);
  sf_synth_volume_affine(o, aff);
  nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
  nim->dx = nim->pixdim[1] = sf_synth_volume_spacing[0];
  nim->dy = nim->pixdim[2] = sf_synth_volume_spacing[1];
  nim->dz = nim->pixdim[3] = sf_synth_volume_spacing[2];
  nim->xyz_units = NIFTI_UNITS_MM;
  nim->time_units = NIFTI_UNITS_UNKNOWN;
  nim->scl_slope = 1.0;
  nim->scl_inter = 0.0;
  nim->qform_code = nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      nim->sto_xyz.m[r][c] = aff[r][c];
  nim->sto_ijk = nifti_dmat44_inverse(nim->sto_xyz);
  nifti_dmat44_to_quatern(nim->sto_xyz, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d,
                          &nim->qoffset_x, &nim->qoffset_y, &nim->qoffset_z, &dx, &dy, &dz,
                          &nim->qfac);
  nim->qto_xyz =
      nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                              nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
  nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
  snprintf(nim->descrip, sizeof nim->descrip, "slabflow synth volumes");
  SF_CHECK(nifti_set_filenames(nim, path, 0, 1) == 0, SF_ERR_IO, "%s: libnifti rejects the name",
           path);
  errno = 0;
  fp = nifti_image_write_hdr_img(nim, 2, "wb");
  SF_CHECK(!znz_isnull(fp), SF_ERR_IO, "%s: cannot create the file: %s", path,
           errno ? strerror(errno) : "libnifti error");
  created = 1;
  errno = 0;
  SF_CHECK(znzwrite(data, 1, nbytes, fp) == nbytes, SF_ERR_IO, "%s: cannot write the voxels: %s",
           path, errno ? strerror(errno) : "short write");
  int rc = znzclose(fp);
  SF_CHECK(rc == 0, SF_ERR_IO, "%s: cannot finish the file: %s", path,
           errno ? strerror(errno) : "close failed");
cleanup:
  if (!znz_isnull(fp)) znzclose(fp);
  if (status < 0 && created) remove(path); /* no half-written files */
  if (nim) nifti_image_free(nim);          /* nim->data is NULL: the voxels stay ours */
  return status;
}

/* mkdir -p for path: an existing directory is fine, anything else in the way is an error. */
static int make_dirs(const char *path) {
  int status = 0;
  char buf[4096];
  struct stat st;
  size_t n = strlen(path);
  SF_CHECK(n > 0 && n < sizeof buf, SF_ERR_INPUT, "'%s': not a usable directory name", path);
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char keep = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      SF_CHECK(0, SF_ERR_IO, "%s: cannot create the directory: %s", buf, strerror(errno));
    buf[i] = keep;
  }
  SF_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), SF_ERR_INPUT, "%s: not a directory", path);
cleanup:
  return status;
}

/* Fails when sub holds a NIfTI file that is not one of this dataset's cases. */
static int check_stale(const char *sub, const sf_synth_volume_opts *o, int image) {
  int status = 0;
  DIR *d = opendir(sub);
  struct dirent *e;
  char name[64], want[96];
  SF_CHECK(d, SF_ERR_IO, "%s: cannot list the directory: %s", sub, strerror(errno));
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    int nii = (len > 4 && !strcmp(e->d_name + len - 4, ".nii")) ||
              (len > 7 && !strcmp(e->d_name + len - 7, ".nii.gz"));
    if (!nii) continue;
    int ours = 0;
    unsigned long long idx = 0;
    if (sscanf(e->d_name, "case_%llu", &idx) == 1 && idx < o->ncases) {
      SF_CALL(sf_synth_volume_case_name(o, (size_t)idx, name, sizeof name));
      snprintf(want, sizeof want, "%s%s.nii.gz", name, image ? "_0000" : "");
      ours = strcmp(e->d_name, want) == 0;
    }
    SF_CHECK(ours, SF_ERR_INPUT,
             "%s/%s is not one of the %zu cases written now and would be read with them; "
             "remove it or choose an empty directory",
             sub, e->d_name, o->ncases);
  }
cleanup:
  if (d) closedir(d);
  return status;
}

int sf_synth_volume_prepare(const char *dir, const sf_synth_volume_opts *opts) {
  int status = 0;
  char path[4352];
  FILE *f = NULL;
  static const char *const sub[2] = {"imagesTr", "labelsTr"};
  SF_CALL(make_dirs(dir));
  for (int s = 0; s < 2; s++) {
    snprintf(path, sizeof path, "%s/%s", dir, sub[s]);
    SF_CALL(make_dirs(path));
    SF_CALL(check_stale(path, opts, s == 0));
  }
  /* As nnU-Net v2's generate_dataset_json writes it (json.dump, indent 4, keys in this order,
   * no final newline); name and description are its optional fields. */
  snprintf(path, sizeof path, "%s/dataset.json", dir);
  f = fopen(path, "w");
  SF_CHECK(f, SF_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  fprintf(f, "{\n    \"channel_names\": {\n        \"0\": \"CT\"\n    },\n    \"labels\": {\n");
  for (int l = 0; l <= SF_SYNTH_VOLUME_NLABELS; l++)
    fprintf(f, "        \"%s\": %d%s\n", sf_synth_volume_label_name(l), l,
            l < SF_SYNTH_VOLUME_NLABELS ? "," : "");
  fprintf(
      f,
      "    },\n    \"numTraining\": %zu,\n    \"file_ending\": \".nii.gz\",\n"
      "    \"name\": \"slabflow synthetic CT\",\n"
      "    \"description\": \"slabflow synth volumes --cases %zu --size %zu %zu %zu --seed %llu: "
      "CT-like int16 HU volumes (spacing %g x %g x %g mm, RAS) with liver, kidney and bone "
      "labels\"\n}",
      opts->ncases, opts->ncases, opts->dim[0], opts->dim[1], opts->dim[2],
      (unsigned long long)opts->seed, sf_synth_volume_spacing[0], sf_synth_volume_spacing[1],
      sf_synth_volume_spacing[2]);
  int bad = ferror(f);
  bad |= fclose(f) != 0;
  f = NULL;
  SF_CHECK(!bad, SF_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
cleanup:
  if (f) fclose(f);
  return status;
}

int sf_synth_volume_write_case(const char *dir, const sf_synth_volume_opts *opts, size_t index) {
  int status = 0, image_done = 0;
  size_t nvox = opts->dim[0] * opts->dim[1] * opts->dim[2];
  int16_t *img = NULL;
  uint8_t *lab = NULL;
  char name[64], ipath[4352], lpath[4352];
  SF_CALL(sf_synth_volume_case_name(opts, index, name, sizeof name));
  snprintf(ipath, sizeof ipath, "%s/imagesTr/%s_0000.nii.gz", dir, name);
  snprintf(lpath, sizeof lpath, "%s/labelsTr/%s.nii.gz", dir, name);
  SF_ALLOC(img, nvox);
  SF_ALLOC(lab, nvox);
  SF_CALL(sf_synth_volume_render(opts, index, img, lab));
  SF_CALL(nifti_write(ipath, opts, DT_INT16, img, nvox * sizeof *img));
  image_done = 1;
  SF_CALL(nifti_write(lpath, opts, DT_UINT8, lab, nvox));
cleanup:
  if (status < 0 && image_done) remove(ipath); /* no image without its label */
  free(img);
  free(lab);
  return status;
}
