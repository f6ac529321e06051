/* The order of the device flow pipeline's steps (gpu_flow.cu), written once for the device and
 * for the host test that runs it without one (unit.gpu_flow_host). The includer defines
 *   SF_GF_RUN(name, n, ...)  run element step sf_gfe_<name> (gpu_flow_elems.h) over the grid
 *                            t = 0 .. n-1 with the arguments ... (a kernel launch on the
 *                            workspace's stream, or a host loop);
 *   SF_GF_ZERO(ptr, n)       zero n floats;
 *   SF_GF_CHECK()            after a group of steps (a launch error check on the device);
 *   SF_GF_R2C(in, out, nf)   forward r2c transforms of nf cc-grid images (--cc-init; cuFFT on
 *                            the device, FFTW on the host);
 *   SF_GF_C2R(in, out, nf)   their inverse (may destroy in);
 *   SF_GF_CC_SHIFTS(shift, nf, init)  sees the nf --cc-init shifts (grid px; a host test's
 *                            hook, nothing on the device);
 * and gets functions that return 0 or a negative SF_ERR_* (they need `int status` and a
 * `cleanup:` label for the includer's macros, and sf_error.h's SF_CALL). Buffers are the
 * workspace's (sf_gf_ws, gpu_flow_elems.h); nothing is allocated here. */
#ifndef SF_GPU_FLOW_SEQ_H
#define SF_GPU_FLOW_SEQ_H

#include <string.h>

#include "gpu/gpu_flow_elems.h"
#include "kernels/flow_solver_hd.h"

/* Normalisation and spatial smoothing of read frames f0 .. f0+nf-1 (raw -> proc). */
static int sf_gf_preprocess(sf_gf_ws *g, size_t f0, size_t nf) {
  int status = 0;
  const size_t fe = g->C * g->HW;
  SF_GF_RUN(normalize, nf * fe, g->raw, g->proc, f0, nf, g->HW, g->C, g->lo_n, g->inv_n);
  SF_GF_RUN(smooth_v, nf * fe, g->proc, g->tmp, f0 * g->C, nf * g->C, (long)g->H, (long)g->W, g->ky,
            g->ry);
  SF_GF_RUN(smooth_h, nf * fe, g->tmp, g->proc, f0 * g->C, nf * g->C, (long)g->H, (long)g->W, g->kx,
            g->rx);
  SF_GF_CHECK();
  goto cleanup;
cleanup:
  return status;
}

/* The pyramid of nf frames of mov (nch planes of H x W each), from zero (init = 0) or from the
 * initial flow winit: sf_flow_execute's structure with the solver in red-black order (for
 * a_smooth != 1 the CPU's own order, flow_solver_asmooth.c); the
 * full-resolution flows into full (planes 2f: u, 2f+1: v). */
static int sf_gf_pyramid(sf_gf_ws *g, const float *mov, size_t nf, int init) {
  int status = 0;
  const size_t nch = g->C, HW = g->HW, W = g->W;
  const sf_flow_params *p = &g->p;
  size_t ph = 0, pw = 0; /* previous (coarser) level */
  for (int i = g->top; i >= g->lo; i--) {
    const sf_gf_level *L = &g->lv[i];
    const size_t h = L->h, w = L->w, S = w + 2, P = (h + 2) * S, n = h * w;
    /* both images at this level: vertical then horizontal taps, every (frame, channel) */
    SF_GF_RUN(resample_v, nf * nch * h * W, mov, W, HW, g->rt, nf * nch, h, W, L->img_y);
    SF_GF_RUN(resample_h, nf * nch * n, g->rt, W, g->f2, w, n, nf * nch, h, w, L->img_x);
    const float *f2w = g->f2;
    if (i == g->top) {
      /* the coarsest level starts from the initial flow and does not warp (§1.4 item 17) */
      if (init) {
        SF_GF_RUN(resample_v, 2 * h * W, g->winit, W, HW, g->rt, (size_t)2, h, W, L->img_y);
        SF_GF_RUN(resample_h, 2 * n, g->rt, W, g->uvtop + S + 1, S, P, (size_t)2, h, w, L->img_x);
        SF_GF_RUN(pad_edge, 2 * P, g->uvtop, (size_t)2, h, w, P);
        SF_GF_RUN(broadcast_uv, nf * 2 * P, g->uvtop, g->uv, nf, P);
      } else {
        SF_GF_ZERO(g->uv, nf * 2 * P);
      }
    } else {
      const size_t ps = pw + 2, pP = (ph + 2) * ps;
      SF_GF_RUN(resample_v, nf * 2 * h * pw, g->puv + ps + 1, ps, pP, g->rt, nf * 2, h, pw,
                L->up_y);
      SF_GF_RUN(resample_h, nf * 2 * n, g->rt, pw, g->uv + S + 1, S, P, nf * 2, h, w, L->up_x);
      SF_GF_RUN(pad_edge, nf * 2 * P, g->uv, nf * 2, h, w, P);
      SF_GF_RUN(warp_level, nf * nch * n, g->f2, g->f2w, L->ref, g->uv, nf, (int)nch, (long)h,
                (long)w, P, (float)(1.0 / L->hx), (float)(1.0 / L->hy), p->warp_q32 ? 1 : 0);
      f2w = g->f2w;
    }
    SF_GF_CHECK();
    float kk[6];
    sf_hd_tensor_consts(L->hy, L->hx, kk);
    SF_GF_RUN(tensor, nf * nch * P, L->ref, f2w, g->J, nf, (int)nch, (long)h, (long)w, P,
              p->constancy == SF_CONST_GRAY ? 1 : 0, kk[0], kk[1], kk[2], kk[3], kk[4], kk[5]);
    /* the level solver with sf_solver_execute's parameters for this level, red-black order */
    sf_solver_params sp;
    memset(&sp, 0, sizeof sp);
    sp.alpha_x = p->alpha[0] * L->alpha_scale;
    sp.alpha_y = p->alpha[1] * L->alpha_scale;
    sp.hx = L->hx;
    sp.hy = L->hy;
    sp.a_smooth = p->a_smooth;
    sp.nch = (int)nch;
    sp.iterations = p->iterations;
    sp.update_lag = p->update_lag;
    sp.omega = p->omega;
    for (size_t k = 0; k < nch; k++) {
      sp.a_data[k] = p->a_data[k];
      sp.weight[k] = p->weight[k];
    }
    sf_hd_sor_consts c;
    sf_hd_sor_consts_init(&c, &sp);
    const float wx = (float)(sp.alpha_x / (sp.hx * sp.hx)),
                wy = (float)(sp.alpha_y / (sp.hy * sp.hy));
    const float c1 = (float)(1.0 - sp.omega);
    SF_GF_ZERO(g->d, nf * 2 * P);
    const size_t nhalf = h * ((w + 1) / 2);
    if (sp.iterations > 0 && sp.a_smooth != 1.0) {
      /* flow_solver_asmooth.c's lagged-nonlinearity solver (psi_s = 1 until the first
       * refresh), red-black as the CPU's */
      const float as = (float)sp.a_smooth, es = (float)(sp.a_smooth - 1.0);
      const float ihx = (float)(1.0 / sp.hx), ihy = (float)(1.0 / sp.hy), om = (float)sp.omega;
      SF_GF_RUN(fill, nf * P, g->cuv, nf * P, 1.0f);
      for (int t = 0; t < sp.iterations; t++) {
        c.real = sf_hd_refresh_due(t, sp.update_lag);
        if (t == 0 || c.real) SF_GF_RUN(asm_coef, nf * n, g->J, g->d, g->co, nf, h, w, P, c);
        if (c.real) /* before the frame copy, as the CPU's */
          SF_GF_RUN(asm_psi, nf * (h + 2) * S, g->uv, g->d, g->cuv, nf, h, w, P, as, es, ihx, ihy);
        SF_GF_RUN(pad_edge, nf * 2 * P, g->d, nf * 2, h, w, P);
        SF_GF_RUN(asm_sweep, nf * nhalf, g->d, g->uv, g->cuv, g->co, nf, h, w, P, 0, wx, wy, om,
                  c1);
        SF_GF_RUN(asm_sweep, nf * nhalf, g->d, g->uv, g->cuv, g->co, nf, h, w, P, 1, wx, wy, om,
                  c1);
      }
    } else if (sp.iterations > 0) {
      SF_GF_RUN(sor_prep, nf * 2 * n, g->uv, g->cuv, nf, h, w, P, wx, wy);
      const size_t nfr = 2 * S + 2 * h;
      for (int t = 0; t < sp.iterations; t++) {
        c.real = sf_hd_refresh_due(t, sp.update_lag);
        if (t == 0 || c.real)
          SF_GF_RUN(sor_coef, nf * n, g->J, g->d, g->cuv, g->co, nf, h, w, P, c);
        SF_GF_RUN(sor_frame, nf * 2 * nfr, g->d, nf * 2, h, w, P);
        SF_GF_RUN(sor_sweep, nf * nhalf, g->d, g->co, nf, h, w, P, 0, wx, wy, c1);
        SF_GF_RUN(sor_sweep, nf * nhalf, g->d, g->co, nf, h, w, P, 1, wx, wy, c1);
      }
    }
    SF_GF_CHECK();
    const float *d = g->d;
    if ((h < w ? h : w) > 5) {
      /* the increments, not the accumulated flow, are median filtered (§1.4 item 22) */
      SF_GF_RUN(median, nf * 2 * n, g->d, g->med, nf * 2, (long)h, (long)w, P);
      d = g->med;
    }
    SF_GF_RUN(accumulate, nf * 2 * n, g->uv, d, nf * 2, h, w, P);
    SF_GF_CHECK();
    float *tt = g->puv;
    g->puv = g->uv;
    g->uv = tt;
    ph = h;
    pw = w;
  }
  {
    const size_t ps = pw + 2, pP = (ph + 2) * ps;
    if (g->lo > 0) {
      SF_GF_RUN(up_h, nf * 2 * ph * W, g->puv, g->ftmp, nf * 2, ph, ps, pP, W, g->fx_i, g->fx_w);
      SF_GF_RUN(up_v, nf * 2 * HW, g->ftmp, g->full, nf * 2, ph, g->H, W, g->fy_i, g->fy_w);
    } else {
      SF_GF_RUN(unpad, nf * 2 * HW, g->puv, g->full, nf * 2, g->H, W, pP);
    }
    SF_GF_CHECK();
  }
  goto cleanup;
cleanup:
  return status;
}

/* --cc-init (register_flow.c's frame_flow): nf frames of mov prealigned by phase correlation
 * from their initial flow (winit when init, else 0), the residual flow from zero by the
 * pyramid, the sum into full. */
static int sf_gf_ccinit(sf_gf_ws *g, const float *mov, size_t nf, int init) {
  int status = 0;
  sf_gf_cc *c = &g->cc;
  const size_t HW = g->HW, nch = g->C, W = g->W, n = c->h * c->w, N = c->n;
  SF_GF_RUN(cc_start, nf * 2 * HW, c->flow, init ? g->winit : (const float *)NULL, nf, HW);
  SF_GF_RUN(cc_warp, nf * nch * HW, mov, c->refp, c->flow, c->warped, nf, nch, (long)g->H, (long)W);
  SF_GF_RUN(cc_combine, nf * HW, c->warped, c->gray, nf, nch, HW, c->wch);
  SF_GF_RUN(resample_v, nf * c->h * W, c->gray, W, HW, c->warped, nf, c->h, W, c->ay);
  SF_GF_RUN(resample_h, nf * n, c->warped, W, c->real, c->w, n, nf, c->h, c->w, c->ax);
  SF_GF_RUN(cc_mean, nf, c->real, c->mean, nf, n);
  SF_GF_RUN(cc_window, nf * n, c->real, c->mean, c->win, nf, n);
  SF_GF_CHECK();
  SF_GF_R2C(c->real, c->spec, nf);
  SF_GF_RUN(cc_cross, nf * c->nsp, c->spec, c->spec2, c->ref, c->gain, nf, c->nsp);
  SF_GF_RUN(cc_flat, nf, c->spec, c->flat, nf, c->nsp);
  SF_GF_CHECK();
  SF_GF_C2R(c->spec2, c->real, nf);
  SF_GF_RUN(cc_argmax, nf, c->real, c->center, nf, c->h, c->w);
  if (c->up > 1) {
    SF_GF_RUN(cc_activate, nf, c->active, nf);
    for (int pass = 0; pass < 2; pass++) { /* pass 1 only for the peaks on the window's edge */
      SF_GF_RUN(cc_twiddle, nf * (c->wc + c->h) * N, c->center, c->active, c->exr, c->exi, c->eyr,
                c->eyi, nf, c->h, c->w, c->wc, N, c->up);
      SF_GF_RUN(cc_s1, nf * c->h * N, c->spec, c->exr, c->exi, c->s1r, c->s1i, c->active, nf, c->h,
                c->wc, N);
      SF_GF_RUN(cc_surf, nf * N * N, c->s1r, c->s1i, c->eyr, c->eyi, c->surf, c->active, nf, c->h,
                N);
      SF_GF_RUN(cc_peak, nf, c->surf, c->center, c->best, c->active, nf, N, c->up, pass);
    }
  }
  SF_GF_RUN(cc_final, nf, c->center, c->best, c->flat, c->shift, nf, c->up);
  SF_GF_CHECK();
  SF_GF_CC_SHIFTS(c->shift, nf, init);
  SF_GF_RUN(cc_shift, nf * 2 * HW, c->flow, c->shift, nf, HW, (float)W, (float)c->w, (float)g->H,
            (float)c->h);
  SF_GF_RUN(cc_warp, nf * nch * HW, mov, c->refp, c->flow, c->warped, nf, nch, (long)g->H, (long)W);
  SF_GF_CHECK();
  SF_CALL(sf_gf_pyramid(g, c->warped, nf, 0));
  SF_GF_RUN(cc_add, nf * 2 * HW, g->full, c->flow, nf * 2 * HW);
  SF_GF_CHECK();
cleanup:
  return status;
}

/* After the preprocessing of the n_read frames: the temporal smoothing of the count frames,
 * the segment's initial flow from the first n_init (decision 3), every frame's flow from it
 * (with --cc-init, g->cc.on: prealigned from it, the residual from zero),
 * the raw frames first_reg .. first_reg+count-1 warped by their flow with the reference
 * fill (valid masks when g->valid), the /flow layout when g->flowi. */
static int sf_gf_register(sf_gf_ws *g, size_t count, size_t first_reg, size_t n_init, int ntap) {
  int status = 0;
  const size_t fe = g->C * g->HW;
  SF_GF_RUN(temporal, count * fe, g->proc, g->mov, count, fe, g->tsrc, g->tw, ntap);
  SF_GF_CHECK();
  if (g->cc.on)
    SF_CALL(sf_gf_ccinit(g, g->mov, n_init, 0));
  else
    SF_CALL(sf_gf_pyramid(g, g->mov, n_init, 0));
  SF_GF_RUN(winit, 2 * g->HW, g->full, g->winit, n_init, g->HW);
  SF_GF_CHECK();
  if (g->cc.on)
    SF_CALL(sf_gf_ccinit(g, g->mov, count, 1));
  else
    SF_CALL(sf_gf_pyramid(g, g->mov, count, 1));
  SF_GF_RUN(warp_final, count * g->UE, g->raw + first_reg * g->UE, g->fill, g->full, g->out,
            g->valid, count, (long)g->H, (long)g->W, (long)g->C, g->linear ? 0 : 1);
  if (g->flowi) SF_GF_RUN(interleave, count * g->HW, g->full, g->flowi, count, g->HW);
  SF_GF_CHECK();
cleanup:
  return status;
}

#endif
