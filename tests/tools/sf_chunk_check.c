/* Test helper: our raw-chunk decoders and bitshuffle-LZ4 encoder against the real HDF5 filter
 * plugins (files from tests/tools/chunk_plugins.py).
 *   sf_chunk_check IN.h5 OUT.h5
 * For every dataset NAME of IN.h5 with a NAME_ref beside it (one frame per chunk): reads each
 * chunk with H5Dread_chunk, decodes it with sf_chunk_decode after the filter that
 * H5Pget_filter2 reports, and compares it byte for byte with NAME_ref (what h5py decoded
 * through the plugin); the chunk cut by one byte must fail. Then writes NAME_ref's frames
 * encoded by sf_bslz4_encode with H5Dwrite_chunk into OUT.h5 as NAME_ours (filter 32008 in
 * its dcpl, as bitshuffle declares it), for chunk_plugins.py verify to read through the plugin.
 * A dataset called `eiger` (one Eiger-4M uint32 frame) is also timed: decode of its chunk,
 * one thread, median of 11 runs after a warm-up. Exit 0 if all agree, 1 otherwise. */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/chunk_decode.h"

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "FAIL: " __VA_ARGS__);                                                       \
      fprintf(stderr, "\n");                                                                       \
      goto cleanup;                                                                                \
    }                                                                                              \
  } while (0)

typedef struct name_list {
  char name[64][128];
  int n;
} name_list;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *op) {
  name_list *l = op;
  if (l->n < 64 && strlen(name) < sizeof l->name[0]) snprintf(l->name[l->n++], 128, "%s", name);
  return 0;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Times the decode of one chunk (and the bit-unshuffle alone over the same frame). */
static void bench(const sf_chunk_codec *c, const unsigned char *chunk, size_t clen,
                  unsigned char *out, size_t frame_bytes) {
  enum { REPS = 11 };
  double t[REPS], u[REPS];
  const char *why = NULL;
  size_t s = c->elem_size, n = frame_bytes / s, B = sf_bslz4_block_elems(s);
  unsigned char *planes = malloc(frame_bytes), *back = malloc(frame_bytes);
  if (!planes || !back) goto done;
  for (size_t e = 0; e + B <= n; e += B) sf_bitshuffle(out + e * s, planes + e * s, B, s);
  for (int r = -1; r < REPS; r++) {
    double t0 = now_ms();
    if (sf_chunk_decode(c, 0, chunk, clen, out, frame_bytes, &why) < 0) goto done;
    double t1 = now_ms();
    for (size_t e = 0; e + B <= n; e += B) sf_bitunshuffle(planes + e * s, back + e * s, B, s);
    double t2 = now_ms();
    if (r >= 0) t[r] = t1 - t0, u[r] = t2 - t1;
  }
  qsort(t, REPS, sizeof *t, cmp_double);
  qsort(u, REPS, sizeof *u, cmp_double);
  printf("bench: bitshuffle-LZ4 decode of one %zu-element %zu-byte frame (%zu -> %zu bytes), "
         "1 thread: median %.2f ms (min %.2f, max %.2f), %.2f GB/s; bit-unshuffle alone "
         "median %.2f ms (min %.2f)\n",
         n, s, clen, frame_bytes, t[REPS / 2], t[0], t[REPS - 1],
         (double)frame_bytes / (t[REPS / 2] * 1e6), u[REPS / 2], u[0]);
done:
  free(planes);
  free(back);
}

/* Checks dataset `name` of fin against name_ref and writes name_ours into fout; 0 if ok. */
static int check_one(hid_t fin, hid_t fout, const char *name) {
  int ok = 0;
  hid_t d = -1, dcpl = -1, type = -1, space = -1, r = -1, d2 = -1, dcpl2 = -1, sp2 = -1;
  unsigned char *ref = NULL, *chunk = NULL, *out = NULL, *enc = NULL;
  char refname[160], oursname[160];
  snprintf(refname, sizeof refname, "%s_ref", name);
  snprintf(oursname, sizeof oursname, "%s_ours", name);

  d = H5Dopen2(fin, name, H5P_DEFAULT);
  CHECK(d >= 0, "%s: cannot open", name);
  dcpl = H5Dget_create_plist(d);
  type = H5Dget_type(d);
  space = H5Dget_space(d);
  hsize_t dims[3], cdims[3];
  CHECK(H5Sget_simple_extent_ndims(space) == 3, "%s: not 3-D", name);
  H5Sget_simple_extent_dims(space, dims, NULL);
  CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 3, cdims) == 3 &&
            cdims[0] == 1 && cdims[1] == dims[1] && cdims[2] == dims[2],
        "%s: chunks are not single frames", name);
  size_t s = H5Tget_size(type), n = (size_t)(dims[1] * dims[2]), fb = n * s;
  sf_chunk_codec codec = {0, s};
  unsigned cd[8] = {0};
  int nf = H5Pget_nfilters(dcpl);
  CHECK(nf == 0 || nf == 1, "%s: %d filters", name, nf);
  if (nf == 1) {
    unsigned flags, fcfg;
    size_t ncd = 8;
    char fname[64];
    H5Z_filter_t id = H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, sizeof fname, fname, &fcfg);
    CHECK(id == SF_FILTER_DEFLATE || id == SF_FILTER_LZ4 || id == SF_FILTER_BITSHUFFLE,
          "%s: filter %d", name, (int)id);
    codec.filter = (int)id;
    if (id == SF_FILTER_BITSHUFFLE) {
      CHECK(ncd >= 5 && cd[2] == s && cd[4] == 2, "%s: bitshuffle cd_values not LZ4 of %zu bytes",
            name, s);
    }
  }

  r = H5Dopen2(fin, refname, H5P_DEFAULT);
  CHECK(r >= 0, "%s: no %s", name, refname);
  ref = malloc(fb * dims[0]);
  out = malloc(fb);
  CHECK(ref && out, "out of memory");
  CHECK(H5Dread(r, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref) >= 0, "%s: cannot read", refname);

  for (hsize_t k = 0; k < dims[0]; k++) {
    hsize_t off[3] = {k, 0, 0}, nbytes = 0;
    uint32_t mask = 0;
    CHECK(H5Dget_chunk_storage_size(d, off, &nbytes) >= 0 && nbytes > 0, "%s: chunk %llu size",
          name, (unsigned long long)k);
    free(chunk);
    chunk = malloc(nbytes);
    CHECK(chunk, "out of memory");
    CHECK(H5Dread_chunk(d, H5P_DEFAULT, off, &mask, chunk) >= 0, "%s: H5Dread_chunk %llu", name,
          (unsigned long long)k);
    const char *why = NULL;
    int rc = sf_chunk_decode(&codec, mask, chunk, nbytes, out, fb, &why);
    CHECK(rc == 0, "%s: frame %llu: %s", name, (unsigned long long)k, why);
    CHECK(memcmp(out, ref + k * fb, fb) == 0, "%s: frame %llu differs from %s", name,
          (unsigned long long)k, refname);
    CHECK(sf_chunk_decode(&codec, mask, chunk, nbytes - 1, out, fb, &why) == -1,
          "%s: frame %llu cut by a byte decodes", name, (unsigned long long)k);
    if (k == 0 && !strcmp(name, "eiger") && codec.filter == SF_FILTER_BITSHUFFLE)
      bench(&codec, chunk, nbytes, out, fb);
  }
  printf("ok: %s (filter %d, %zu-byte elements, %llu frames) decodes as the plugin does\n", name,
         codec.filter, s, (unsigned long long)dims[0]);

  /* ours: bitshuffle-LZ4 with the same block size as the source where it has one */
  size_t B = codec.filter == SF_FILTER_BITSHUFFLE ? cd[3] : 0;
  size_t cap = sf_bslz4_bound(n, s, B);
  enc = malloc(cap);
  CHECK(cap && enc, "%s: no encoder bound", name);
  dcpl2 = H5Pcreate(H5P_DATASET_CREATE);
  CHECK(H5Pset_chunk(dcpl2, 3, cdims) >= 0, "set_chunk");
  /* The stored cd_values must read (major, minor, elem_size, block, 2 = LZ4). A loaded plugin's
   * set_local writes the first three and moves the user's (block, compression) behind them;
   * without the plugin the dcpl keeps what it is given. */
  unsigned full[5] = {0, 3, (unsigned)s, (unsigned)B, 2};
  int plugin = H5Zfilter_avail(SF_FILTER_BITSHUFFLE) > 0;
  CHECK(H5Pset_filter(dcpl2, SF_FILTER_BITSHUFFLE, H5Z_FLAG_OPTIONAL, plugin ? 2 : 5,
                      plugin ? full + 3 : full) >= 0,
        "H5Pset_filter 32008");
  sp2 = H5Screate_simple(3, dims, NULL);
  d2 = H5Dcreate2(fout, oursname, type, sp2, H5P_DEFAULT, dcpl2, H5P_DEFAULT);
  CHECK(d2 >= 0, "%s: cannot create", oursname);
  {
    hid_t p = H5Dget_create_plist(d2);
    unsigned got[8] = {0}, flags;
    size_t ng = 8;
    herr_t e = H5Pget_filter_by_id2(p, SF_FILTER_BITSHUFFLE, &flags, &ng, got, 0, NULL, NULL);
    H5Pclose(p);
    CHECK(e >= 0 && ng == 5 && got[2] == s && got[3] == B && got[4] == 2,
          "%s: stored cd_values (%zu: %u %u %u %u %u) are not bitshuffle-LZ4's", oursname, ng,
          got[0], got[1], got[2], got[3], got[4]);
  }
  for (hsize_t k = 0; k < dims[0]; k++) {
    hsize_t off[3] = {k, 0, 0};
    size_t len = sf_bslz4_encode(ref + k * fb, n, s, B, enc, cap);
    CHECK(len > 0, "%s: encode of frame %llu", name, (unsigned long long)k);
    CHECK(H5Dwrite_chunk(d2, H5P_DEFAULT, 0, off, len, enc) >= 0, "%s: H5Dwrite_chunk", oursname);
    sf_chunk_codec bs = {SF_FILTER_BITSHUFFLE, s};
    const char *why = NULL;
    CHECK(sf_chunk_decode(&bs, 0, enc, len, out, fb, &why) == 0 && !memcmp(out, ref + k * fb, fb),
          "%s: our own frame %llu does not decode back", oursname, (unsigned long long)k);
  }
  ok = 1;
cleanup:
  free(ref), free(chunk), free(out), free(enc);
  if (d2 >= 0) H5Dclose(d2);
  if (sp2 >= 0) H5Sclose(sp2);
  if (dcpl2 >= 0) H5Pclose(dcpl2);
  if (r >= 0) H5Dclose(r);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (d >= 0) H5Dclose(d);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sf_chunk_check IN.h5 OUT.h5\n");
    return 2;
  }
  hid_t fin = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fin < 0) return 1;
  hid_t fout = H5Fcreate(argv[2], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (fout < 0) return 1;
  name_list l = {.n = 0};
  H5Literate(fin, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect, &l);
  int bad = 0, checked = 0;
  for (int i = 0; i < l.n; i++) {
    size_t len = strlen(l.name[i]);
    if (len > 4 && !strcmp(l.name[i] + len - 4, "_ref")) continue;
    bad += check_one(fin, fout, l.name[i]);
    checked++;
  }
  H5Fclose(fout);
  H5Fclose(fin);
  if (!checked) fprintf(stderr, "FAIL: no dataset to check\n");
  return bad || !checked ? 1 : 0;
}
