/* Multi-page TIFF stacks through libtiff: an indexed reader (any page in O(1)) and a streaming
 * writer that switches to BigTIFF by itself when a classic TIFF would grow past its 4 GiB limit. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* pread, O_CLOEXEC under -std=c11 */
#endif

#include "io/tiff_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

#include "sf_error.h"

/* Classic TIFF offsets are 32-bit; past this many bytes the writer moves the file to BigTIFF.
 * Overridable at compile time so tests can exercise the switch with small files. */
#ifndef SF_TIFF_CLASSIC_LIMIT
#define SF_TIFF_CLASSIC_LIMIT (3584ULL << 20) /* 3.5 GiB */
#endif

/* Target size of one strip the writer emits. */
#define SF_TIFF_STRIP_BYTES 65536u

/* The last libtiff diagnostic of this thread, captured instead of printed so that our single
 * message can carry libtiff's reason. An error always replaces the text; a warning only replaces
 * another warning, because libtiff sometimes fails with no error but a warning saying why (an IFD
 * loop). Thread-local: handles used on different threads do not clobber each other's reasons. */
static _Thread_local struct {
  char text[512];
  int is_error;
} tiff_msg;

struct sf_tiff {
  TIFF *tif;
  char *path;
  uint64_t *offsets; /* directory offset of every page, in file order */
  size_t frames, height, width, channels;
  sf_dtype dtype;
  size_t frame_bytes;     /* H * W * C * element size */
  unsigned char *scratch; /* one strip or tile, for tiled or planar-separate pages */
  size_t scratch_bytes;
};

struct sf_tiff_writer {
  TIFF *tif;
  char *path;
  size_t height, width, channels;
  sf_dtype dtype;
  size_t frame_bytes, row_bytes, rows_per_strip;
  size_t frames;   /* pages written so far */
  uint64_t bytes;  /* file size after the last page */
  int big;         /* 1 once the file is BigTIFF */
  uint16_t *extra; /* channels - 1 EXTRASAMPLE_UNSPECIFIED values */
};

/* libtiff error handler: keeps the formatted message for the next report. */
static void tiff_error_handler(const char *module, const char *fmt, va_list ap) {
  (void)module; /* usually the file name or a libtiff function: our message names the file */
  vsnprintf(tiff_msg.text, sizeof tiff_msg.text, fmt, ap);
  tiff_msg.is_error = 1;
}

/* libtiff warning handler: never prints (unknown private tags, e.g. ScanImage's, are routine),
 * only keeps the text in case the call then fails without an error of its own. */
static void tiff_warning_handler(const char *module, const char *fmt, va_list ap) {
  (void)module;
  if (!tiff_msg.is_error) vsnprintf(tiff_msg.text, sizeof tiff_msg.text, fmt, ap);
}

/* Routes libtiff diagnostics to the handlers above (idempotent, so every entry point calls it). */
static void install_handlers(void) {
  TIFFSetErrorHandler(tiff_error_handler);
  TIFFSetWarningHandler(tiff_warning_handler);
}

/* Forgets the captured libtiff message before a call whose failure we want to explain. */
static void msg_clear(void) {
  tiff_msg.text[0] = '\0';
  tiff_msg.is_error = 0;
}

/* libtiff's reason for the last failure, or a placeholder when it gave none. */
static const char *msg_reason(void) {
  return tiff_msg.text[0] ? tiff_msg.text : "libtiff gave no reason";
}

/* Copy of a C string, or NULL when out of memory. */
static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Product a * b * c * d, or 0 when it overflows size_t. */
static size_t mul4(size_t a, size_t b, size_t c, size_t d) {
  size_t r = a;
  size_t f[3] = {b, c, d};
  for (int i = 0; i < 3; i++) {
    if (f[i] && r > SIZE_MAX / f[i]) return 0;
    r *= f[i];
  }
  return r;
}

/* slabflow dtype of a (bits per sample, sample format) pair, or SF_DTYPE_NONE. */
static sf_dtype dtype_of(unsigned bits, unsigned format) {
  if (format == SAMPLEFORMAT_UINT || format == SAMPLEFORMAT_VOID) {
    if (bits == 8) return SF_DTYPE_U8;
    if (bits == 16) return SF_DTYPE_U16;
    if (bits == 32) return SF_DTYPE_U32;
    if (bits == 64) return SF_DTYPE_U64;
  } else if (format == SAMPLEFORMAT_INT) {
    if (bits == 8) return SF_DTYPE_I8;
    if (bits == 16) return SF_DTYPE_I16;
    if (bits == 32) return SF_DTYPE_I32;
    if (bits == 64) return SF_DTYPE_I64;
  } else if (format == SAMPLEFORMAT_IEEEFP) {
    if (bits == 32) return SF_DTYPE_F32;
    if (bits == 64) return SF_DTYPE_F64;
  }
  return SF_DTYPE_NONE;
}

/* Human name of a TIFF sample type, e.g. "32-bit unsigned integer", into buf. */
static const char *describe_type(unsigned bits, unsigned format, char *buf, size_t n) {
  const char *kind;
  switch (format) {
  case SAMPLEFORMAT_UINT: kind = "unsigned integer"; break;
  case SAMPLEFORMAT_INT: kind = "signed integer"; break;
  case SAMPLEFORMAT_IEEEFP: kind = "IEEE float"; break;
  case SAMPLEFORMAT_VOID: kind = "untyped"; break;
  case SAMPLEFORMAT_COMPLEXINT: kind = "complex integer"; break;
  case SAMPLEFORMAT_COMPLEXIEEEFP: kind = "complex IEEE float"; break;
  default: kind = NULL; break;
  }
  if (kind)
    snprintf(buf, n, "%u-bit %s", bits, kind);
  else
    snprintf(buf, n, "%u-bit, sample format %u", bits, format);
  return buf;
}

/* Name of a TIFF compression scheme, for messages. */
static const char *compression_name(uint16_t c) {
  const TIFFCodec *codec = TIFFFindCODEC(c);
  return codec && codec->name ? codec->name : "an unknown";
}

/* Validates the current directory as page `page` of t (page 0 sets the stack's shape and type),
 * checks its pixel data lies inside a file of fsize bytes, and grows t->scratch_bytes to what
 * reading it needs. Reports and returns SF_ERR_INPUT on any problem. */
static int check_page(sf_tiff *t, size_t page, uint64_t fsize) {
  int status = 0;
  TIFF *tif = t->tif;
  const char *path = t->path;
  uint32_t w = 0, h = 0, depth = 1;
  uint16_t spp = 1, bits = 1, format = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG;
  uint16_t photometric = PHOTOMETRIC_MINISBLACK, compression = COMPRESSION_NONE;
  char tbuf[64];

  SF_CHECK(TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) && TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h),
           SF_ERR_INPUT, "%s: page %zu has no image width or height", path, page);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_IMAGEDEPTH, &depth);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
  TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);

  SF_CHECK(w > 0 && h > 0 && spp > 0, SF_ERR_INPUT, "%s: page %zu is empty (%ux%u, %u samples)",
           path, page, (unsigned)w, (unsigned)h, (unsigned)spp);
  sf_dtype dt = dtype_of(bits, format);
  if (page == 0) {
    SF_CHECK(dt != SF_DTYPE_NONE, SF_ERR_INPUT,
             "%s: unsupported sample type (%s); slabflow reads 8- to 64-bit integers, "
             "float32 and float64",
             path, describe_type(bits, format, tbuf, sizeof tbuf));
    t->width = w;
    t->height = h;
    t->channels = spp;
    t->dtype = dt;
    t->frame_bytes = mul4(w, h, spp, sf_dtype_size(dt));
    SF_CHECK(t->frame_bytes > 0, SF_ERR_INPUT, "%s: page size %ux%ux%u does not fit in memory",
             path, (unsigned)w, (unsigned)h, (unsigned)spp);
  } else {
    SF_CHECK(w == t->width && h == t->height, SF_ERR_INPUT,
             "%s: page %zu is %ux%u, page 0 is %zux%zu", path, page, (unsigned)w, (unsigned)h,
             t->width, t->height);
    SF_CHECK(spp == t->channels, SF_ERR_INPUT,
             "%s: page %zu has %u samples per pixel, page 0 has %zu", path, page, (unsigned)spp,
             t->channels);
    SF_CHECK(dt == t->dtype, SF_ERR_INPUT, "%s: page %zu is %s, page 0 is %s", path, page,
             dt == SF_DTYPE_NONE ? describe_type(bits, format, tbuf, sizeof tbuf)
                                 : sf_dtype_name(dt),
             sf_dtype_name(t->dtype));
  }
  SF_CHECK(depth == 1, SF_ERR_INPUT,
           "%s: page %zu is a 3-D image (depth %u), which slabflow does not read", path, page,
           (unsigned)depth);
  SF_CHECK(planar == PLANARCONFIG_CONTIG || planar == PLANARCONFIG_SEPARATE, SF_ERR_INPUT,
           "%s: page %zu has an invalid planar configuration (%u)", path, page, (unsigned)planar);
  if (photometric == PHOTOMETRIC_YCBCR) {
    uint16_t sub_h = 1, sub_v = 1;
    TIFFGetFieldDefaulted(tif, TIFFTAG_YCBCRSUBSAMPLING, &sub_h, &sub_v);
    SF_CHECK(sub_h == 1 && sub_v == 1, SF_ERR_INPUT,
             "%s: page %zu is chroma-subsampled YCbCr (%ux%u), which slabflow does not read", path,
             page, (unsigned)sub_h, (unsigned)sub_v);
  }
  SF_CHECK(TIFFIsCODECConfigured(compression), SF_ERR_INPUT,
           "%s: page %zu uses %s compression (code %u), which this libtiff cannot decode", path,
           page, compression_name(compression), (unsigned)compression);

  /* Layout sanity, so that reading can trust libtiff's sizes to match the frame geometry. */
  int separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
  size_t es = sf_dtype_size(dt);
  size_t pix = (separate ? 1 : (size_t)spp) * es;
  size_t block = 0;
  if (TIFFIsTiled(tif)) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    tmsize_t ts = TIFFTileSize(tif);
    SF_CHECK(tw > 0 && th > 0 && ts > 0 && (size_t)TIFFTileRowSize(tif) == (size_t)tw * pix &&
                 (size_t)ts >= (size_t)th * tw * pix,
             SF_ERR_INPUT, "%s: page %zu has an invalid tile layout (%ux%u tiles)", path, page,
             (unsigned)tw, (unsigned)th);
    block = (size_t)ts;
  } else {
    msg_clear();
    tmsize_t ss = TIFFStripSize(tif);
    SF_CHECK(ss > 0 && (size_t)TIFFScanlineSize(tif) == (size_t)w * pix, SF_ERR_INPUT,
             "%s: page %zu has an invalid strip layout (%s)", path, page, msg_reason());
    if (separate)
      block = (size_t)ss; /* contiguous strips are decoded straight into the caller's buffer */
  }
  if (block > t->scratch_bytes) t->scratch_bytes = block;

  /* A truncated file whose directories precede their data still indexes cleanly; catch it here
   * rather than as a read error hours into a run. A zero byte count (sparse block) is left for
   * the decoder to judge. */
  uint32_t nblocks = TIFFIsTiled(tif) ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
  for (uint32_t i = 0; i < nblocks; i++) {
    uint64_t off = TIFFGetStrileOffset(tif, i), cnt = TIFFGetStrileByteCount(tif, i);
    SF_CHECK(cnt == 0 || (off <= fsize && cnt <= fsize - off), SF_ERR_INPUT,
             "%s: page %zu is truncated: its pixel data ends at byte %llu but the file has %llu "
             "bytes",
             path, page, (unsigned long long)(off + cnt), (unsigned long long)fsize);
  }
cleanup:
  return status;
}

/* First-IFD offset from a TIFF header at the start of fd (classic or BigTIFF, either byte
 * order), or -1 when the header is not a TIFF header. */
static long long header_first_ifd(int fd) {
  unsigned char b[16];
  if (pread(fd, b, sizeof b, 0) < 8) return -1;
  int le = b[0] == 'I' && b[1] == 'I';
  if (!le && !(b[0] == 'M' && b[1] == 'M')) return -1;
  unsigned magic = le ? b[2] | b[3] << 8 : b[3] | b[2] << 8;
  unsigned long long off = 0;
  if (magic == 42) {
    for (int i = 0; i < 4; i++)
      off |= (unsigned long long)b[le ? 4 + i : 7 - i] << (8 * i);
  } else if (magic == 43) {
    for (int i = 0; i < 8; i++)
      off |= (unsigned long long)b[le ? 8 + i : 15 - i] << (8 * i);
  } else {
    return -1;
  }
  return (long long)(off > (unsigned long long)LLONG_MAX ? LLONG_MAX : off);
}

int sf_tiff_open(const char *path, sf_tiff **out) {
  int status = 0;
  sf_tiff *t = NULL;
  int fd = -1;
  size_t cap = 0;
  struct stat st;

  SF_CHECK(path && out, SF_ERR_INTERNAL, "sf_tiff_open: NULL argument");
  *out = NULL;
  install_handlers();
  SF_ALLOC(t, 1);
  t->path = dup_string(path);
  SF_CHECK(t->path, SF_ERR_NOMEM, "out of memory");

  fd = open(path, O_RDONLY | O_CLOEXEC);
  SF_CHECK(fd >= 0, SF_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
  SF_CHECK(fstat(fd, &st) == 0, SF_ERR_IO, "%s: cannot stat (%s)", path, strerror(errno));
  SF_CHECK(!S_ISDIR(st.st_mode), SF_ERR_IO, "%s: is a directory, not a TIFF file", path);

  /* "m": plain reads, no mmap, so a file shrunk under us gives an error instead of SIGBUS.
   * "c": no strip chopping, so an uncompressed single-strip page (ScanImage) is one read()
   * straight into the caller's buffer instead of ~8 KiB pieces (about 2x faster from cache). */
  msg_clear();
  t->tif = TIFFFdOpen(fd, path, "rmc");
  if (!t->tif) {
    /* libtiff also fails here on a well-formed header with no directory: say so plainly. */
    SF_CHECK(header_first_ifd(fd) != 0, SF_ERR_INPUT, "%s: the TIFF file has no pages", path);
    SF_CHECK(0, SF_ERR_INPUT, "%s: not a readable TIFF file (%s)", path, msg_reason());
  }
  fd = -1; /* owned by libtiff from here; TIFFClose closes it */

  for (;;) {
    if (t->frames == cap) {
      size_t ncap = cap ? 2 * cap : 256;
      uint64_t *p = realloc(t->offsets, ncap * sizeof *p);
      SF_CHECK(p, SF_ERR_NOMEM, "out of memory indexing %s (%zu pages)", path, ncap);
      t->offsets = p;
      cap = ncap;
    }
    t->offsets[t->frames] = TIFFCurrentDirOffset(t->tif);
    SF_CALL(check_page(t, t->frames, (uint64_t)st.st_size));
    t->frames++;
    if (TIFFLastDirectory(t->tif)) break;
    msg_clear();
    SF_CHECK(TIFFReadDirectory(t->tif), SF_ERR_INPUT,
             "%s: cannot read page %zu, the file is truncated or corrupt (%s)", path, t->frames,
             msg_reason());
  }
  if (t->scratch_bytes) SF_ALLOC(t->scratch, t->scratch_bytes);
  *out = t;
  t = NULL;
cleanup:
  if (fd >= 0) close(fd);
  sf_tiff_close(&t);
  return status;
}

void sf_tiff_info(const sf_tiff *t, size_t *frames, size_t *height, size_t *width, size_t *channels,
                  sf_dtype *dtype) {
  if (frames) *frames = t->frames;
  if (height) *height = t->height;
  if (width) *width = t->width;
  if (channels) *channels = t->channels;
  if (dtype) *dtype = t->dtype;
}

/* Scatters n elements of size es, packed in src, to every stride-th element of dst. */
static void scatter_samples(unsigned char *dst, const unsigned char *src, size_t n, size_t es,
                            size_t stride) {
  size_t step = stride * es;
  switch (es) {
  case 1:
    for (size_t i = 0; i < n; i++)
      dst[i * step] = src[i];
    break;
  case 2:
    for (size_t i = 0; i < n; i++)
      memcpy(dst + i * step, src + 2 * i, 2);
    break;
  case 4:
    for (size_t i = 0; i < n; i++)
      memcpy(dst + i * step, src + 4 * i, 4);
    break;
  default:
    for (size_t i = 0; i < n; i++)
      memcpy(dst + i * step, src + i * es, es);
    break;
  }
}

/* Reads the current directory's contiguous strips straight into dst (the common, fast case). */
static int read_strips_direct(sf_tiff *t, size_t page, unsigned char *dst) {
  int status = 0;
  uint32_t n = TIFFNumberOfStrips(t->tif);
  tmsize_t ss = TIFFStripSize(t->tif);
  size_t done = 0;
  for (uint32_t s = 0; s < n && done < t->frame_bytes; s++) {
    size_t want = t->frame_bytes - done;
    if ((size_t)ss < want) want = (size_t)ss;
    msg_clear();
    tmsize_t got = TIFFReadEncodedStrip(t->tif, s, dst + done, (tmsize_t)want);
    SF_CHECK(got > 0, SF_ERR_IO, "%s: cannot read page %zu, strip %u (%s)", t->path, page,
             (unsigned)s, msg_reason());
    done += (size_t)got;
  }
  SF_CHECK(done == t->frame_bytes, SF_ERR_IO, "%s: page %zu decoded to %zu bytes, expected %zu",
           t->path, page, done, t->frame_bytes);
cleanup:
  return status;
}

/* Reads the current directory block by block (tiles, or strips of separate planes) through the
 * scratch buffer, placing each block's samples at their (row, column, channel) in dst. */
static int read_blocks(sf_tiff *t, size_t page, unsigned char *dst) {
  int status = 0;
  TIFF *tif = t->tif;
  uint16_t planar = PLANARCONFIG_CONTIG;
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
  int tiled = TIFFIsTiled(tif);
  int separate = planar == PLANARCONFIG_SEPARATE && t->channels > 1;
  size_t es = sf_dtype_size(t->dtype), C = t->channels, H = t->height, W = t->width;
  size_t planes = separate ? C : 1, spb = separate ? 1 : C; /* samples per block pixel */
  uint32_t bw = (uint32_t)W, bh = 0;
  tmsize_t bsize;
  if (tiled) {
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &bw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &bh);
    bsize = TIFFTileSize(tif);
  } else {
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &bh);
    if (bh == 0 || bh > H) bh = (uint32_t)H;
    bsize = TIFFStripSize(tif);
  }
  SF_CHECK(bsize > 0 && (size_t)bsize <= t->scratch_bytes, SF_ERR_INTERNAL,
           "%s: page %zu block size %lld exceeds the %zu bytes planned at open", t->path, page,
           (long long)bsize, t->scratch_bytes);
  for (size_t p = 0; p < planes; p++) {
    for (size_t y0 = 0; y0 < H; y0 += bh) {
      for (size_t x0 = 0; x0 < W; x0 += bw) {
        size_t rows = H - y0 < bh ? H - y0 : bh, cols = W - x0 < bw ? W - x0 : bw;
        uint32_t idx = tiled ? TIFFComputeTile(tif, (uint32_t)x0, (uint32_t)y0, 0, (uint16_t)p)
                             : TIFFComputeStrip(tif, (uint32_t)y0, (uint16_t)p);
        msg_clear();
        tmsize_t got = tiled ? TIFFReadEncodedTile(tif, idx, t->scratch, bsize)
                             : TIFFReadEncodedStrip(tif, idx, t->scratch, bsize);
        SF_CHECK(got >= 0, SF_ERR_IO, "%s: cannot read page %zu, %s %u (%s)", t->path, page,
                 tiled ? "tile" : "strip", (unsigned)idx, msg_reason());
        SF_CHECK((size_t)got >= ((rows - 1) * bw + cols) * spb * es, SF_ERR_IO,
                 "%s: page %zu, %s %u decoded to only %lld bytes", t->path, page,
                 tiled ? "tile" : "strip", (unsigned)idx, (long long)got);
        for (size_t r = 0; r < rows; r++) {
          const unsigned char *src = t->scratch + r * bw * spb * es;
          unsigned char *d = dst + (((y0 + r) * W + x0) * C + p) * es;
          if (separate)
            scatter_samples(d, src, cols, es, C);
          else
            memcpy(d, src, cols * C * es);
        }
      }
    }
  }
cleanup:
  return status;
}

int sf_tiff_read_frames(sf_tiff *t, size_t first, size_t count, void *buf) {
  int status = 0;
  SF_CHECK(t && (buf || count == 0), SF_ERR_INTERNAL, "sf_tiff_read_frames: NULL argument");
  SF_CHECK(first <= t->frames && count <= t->frames - first, SF_ERR_INTERNAL,
           "%s: frames [%zu, %zu) requested, the file has %zu", t->path, first, first + count,
           t->frames);
  for (size_t i = 0; i < count; i++) {
    size_t page = first + i;
    unsigned char *dst = (unsigned char *)buf + i * t->frame_bytes;
    msg_clear();
    SF_CHECK(TIFFSetSubDirectory(t->tif, t->offsets[page]), SF_ERR_IO,
             "%s: cannot read page %zu (%s)", t->path, page, msg_reason());
    uint16_t planar = PLANARCONFIG_CONTIG;
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_PLANARCONFIG, &planar);
    if (!TIFFIsTiled(t->tif) && (planar == PLANARCONFIG_CONTIG || t->channels == 1))
      SF_CALL(read_strips_direct(t, page, dst));
    else
      SF_CALL(read_blocks(t, page, dst));
  }
cleanup:
  return status;
}

void sf_tiff_close(sf_tiff **t) {
  if (!t || !*t) return;
  if ((*t)->tif) TIFFClose((*t)->tif);
  free((*t)->offsets);
  free((*t)->scratch);
  free((*t)->path);
  free(*t);
  *t = NULL;
}

/* Creates (truncating) path as a classic or BigTIFF file for writing; reports SF_ERR_IO. */
static int create_tiff(const char *path, int big, TIFF **out) {
  int status = 0;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  SF_CHECK(fd >= 0, SF_ERR_IO, "%s: cannot create (%s)", path, strerror(errno));
  msg_clear();
  *out = TIFFFdOpen(fd, path, big ? "w8" : "w");
  SF_CHECK(*out, SF_ERR_IO, "%s: cannot start a TIFF file (%s)", path, msg_reason());
  fd = -1; /* owned by libtiff */
cleanup:
  if (fd >= 0) close(fd);
  return status;
}

/* Writes one frame (H,W,C) in w's shape and dtype as the next page of tif (file name `path`,
 * page number `page`, for messages), then closes the page's directory. */
static int write_page(const sf_tiff_writer *w, TIFF *tif, const char *path, size_t page,
                      const unsigned char *frame) {
  int status = 0;
  size_t es = sf_dtype_size(w->dtype);
  uint16_t format = w->dtype == SF_DTYPE_I16                               ? SAMPLEFORMAT_INT
                    : w->dtype == SF_DTYPE_F32 || w->dtype == SF_DTYPE_F64 ? SAMPLEFORMAT_IEEEFP
                                                                           : SAMPLEFORMAT_UINT;
  msg_clear();
  int ok = TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)w->width) &&
           TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)w->height) &&
           TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)w->channels) &&
           TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(8 * es)) &&
           TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, format) &&
           TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
           TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK) &&
           TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE) &&
           TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, (uint32_t)w->rows_per_strip) &&
           TIFFSetField(tif, TIFFTAG_SOFTWARE, "slabflow");
  if (ok && w->channels > 1)
    ok = TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)(w->channels - 1), w->extra);
  SF_CHECK(ok, SF_ERR_IO, "%s: cannot set the tags of page %zu (%s)", path, page, msg_reason());

  size_t nstrips = (w->height + w->rows_per_strip - 1) / w->rows_per_strip;
  for (size_t s = 0; s < nstrips; s++) {
    size_t row = s * w->rows_per_strip;
    size_t rows = w->height - row < w->rows_per_strip ? w->height - row : w->rows_per_strip;
    tmsize_t bytes = (tmsize_t)(rows * w->row_bytes);
    msg_clear();
    /* libtiff only modifies the data when it must byte-swap; we write native byte order. */
    tmsize_t put =
        TIFFWriteEncodedStrip(tif, (uint32_t)s, (void *)(frame + row * w->row_bytes), bytes);
    SF_CHECK(put == bytes, SF_ERR_IO, "%s: cannot write page %zu (%s)", path, page, msg_reason());
  }
  msg_clear();
  SF_CHECK(TIFFWriteDirectory(tif), SF_ERR_IO, "%s: cannot write the directory of page %zu (%s)",
           path, page, msg_reason());
cleanup:
  return status;
}

/* Rewrites the classic file written so far as BigTIFF (via a temporary file renamed over it) and
 * continues on that; called once, when the next page would push a classic file past its limit. */
static int promote_to_bigtiff(sf_tiff_writer *w) {
  int status = 0;
  sf_tiff *r = NULL;
  TIFF *big = NULL;
  unsigned char *frame = NULL;
  char *tmp = NULL;

  TIFFClose(w->tif); /* every page is already complete on disk */
  w->tif = NULL;
  if (w->frames == 0) {
    SF_CALL(create_tiff(w->path, 1, &w->tif));
    w->big = 1;
    goto cleanup;
  }
  size_t n = strlen(w->path) + sizeof ".bigtiff.tmp";
  SF_ALLOC(tmp, n);
  snprintf(tmp, n, "%s.bigtiff.tmp", w->path);
  SF_CALL(create_tiff(tmp, 1, &big));
  SF_CALL(sf_tiff_open(w->path, &r));
  SF_ALLOC(frame, w->frame_bytes);
  for (size_t i = 0; i < w->frames; i++) {
    SF_CALL(sf_tiff_read_frames(r, i, 1, frame));
    SF_CALL(write_page(w, big, tmp, i, frame));
  }
  sf_tiff_close(&r);
  SF_CHECK(rename(tmp, w->path) == 0, SF_ERR_IO, "%s: cannot replace it with %s (%s)", w->path, tmp,
           strerror(errno));
  w->tif = big;
  big = NULL;
  w->big = 1;
cleanup:
  if (big) {
    TIFFClose(big);
    unlink(tmp);
  }
  sf_tiff_close(&r);
  free(frame);
  free(tmp);
  return status;
}

int sf_tiff_writer_open(const char *path, size_t height, size_t width, size_t channels,
                        sf_dtype dtype, sf_tiff_writer **out) {
  int status = 0;
  sf_tiff_writer *w = NULL;

  SF_CHECK(path && out, SF_ERR_INTERNAL, "sf_tiff_writer_open: NULL argument");
  *out = NULL;
  SF_CHECK(height > 0 && width > 0 && channels > 0 && height <= UINT32_MAX && width <= UINT32_MAX &&
               channels <= UINT16_MAX && sf_dtype_size(dtype) > 0,
           SF_ERR_INTERNAL, "%s: cannot write a %zux%zux%zu %s TIFF stack", path, height, width,
           channels, sf_dtype_name(dtype));
  install_handlers();
  SF_ALLOC(w, 1);
  w->path = dup_string(path);
  SF_CHECK(w->path, SF_ERR_NOMEM, "out of memory");
  w->height = height;
  w->width = width;
  w->channels = channels;
  w->dtype = dtype;
  w->row_bytes = mul4(width, channels, sf_dtype_size(dtype), 1);
  w->frame_bytes = mul4(height, width, channels, sf_dtype_size(dtype));
  SF_CHECK(w->row_bytes > 0 && w->frame_bytes > 0, SF_ERR_INTERNAL,
           "%s: frame size %zux%zux%zu overflows", path, height, width, channels);
  w->rows_per_strip = SF_TIFF_STRIP_BYTES / w->row_bytes;
  if (w->rows_per_strip == 0) w->rows_per_strip = 1;
  if (w->rows_per_strip > height) w->rows_per_strip = height;
  if (channels > 1) {
    SF_ALLOC(w->extra, channels - 1);
    for (size_t c = 0; c + 1 < channels; c++)
      w->extra[c] = EXTRASAMPLE_UNSPECIFIED;
  }
  SF_CALL(create_tiff(path, 0, &w->tif));
  *out = w;
  w = NULL;
cleanup:
  if (w) sf_tiff_writer_close(&w);
  return status;
}

int sf_tiff_writer_append(sf_tiff_writer *w, const void *frames, size_t count) {
  int status = 0;
  struct stat st;
  SF_CHECK(w && (frames || count == 0), SF_ERR_INTERNAL, "sf_tiff_writer_append: NULL argument");
  SF_CHECK(w->tif, SF_ERR_IO, "%s: the writer failed earlier and cannot continue", w->path);
  size_t nstrips = (w->height + w->rows_per_strip - 1) / w->rows_per_strip;
  uint64_t overhead = 4096 + 8 * (uint64_t)w->channels + 8 * (uint64_t)nstrips; /* IFD, generous */
  for (size_t i = 0; i < count; i++) {
    if (!w->big && w->bytes + w->frame_bytes + overhead > SF_TIFF_CLASSIC_LIMIT)
      SF_CALL(promote_to_bigtiff(w));
    SF_CALL(write_page(w, w->tif, w->path, w->frames,
                       (const unsigned char *)frames + i * w->frame_bytes));
    w->frames++;
    if (!w->big) {
      SF_CHECK(fstat(TIFFFileno(w->tif), &st) == 0, SF_ERR_IO, "%s: cannot stat (%s)", w->path,
               strerror(errno));
      w->bytes = (uint64_t)st.st_size;
    }
  }
cleanup:
  return status;
}

int sf_tiff_writer_close(sf_tiff_writer **pw) {
  int status = 0;
  if (!pw || !*pw) return 0;
  sf_tiff_writer *w = *pw;
  if (w->tif) {
    msg_clear();
    int ok = TIFFFlush(w->tif);
    TIFFClose(w->tif);
    w->tif = NULL;
    SF_CHECK(ok, SF_ERR_IO, "%s: cannot finish the TIFF file (%s)", w->path, msg_reason());
  }
cleanup:
  free(w->extra);
  free(w->path);
  free(w);
  *pw = NULL;
  return status;
}
