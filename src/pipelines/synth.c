/* `slabflow synth <kind>`: realistic synthetic inputs with known ground truth. */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli/cli_args.h"
#include "io/synth_detector.h"
#include "io/synth_eeg.h"
#include "io/synth_video.h"
#include "io/synth_volume.h"
#include "mpi/h5_output.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "pipelines/pipelines.h"
#include "sf_error.h"

/* Prints `slabflow synth video --help`. */
static void synth_video_help(void) {
  printf(
      "usage: slabflow synth video -o FILE.h5 [options]\n"
      "\n"
      "Writes a two-photon-like video: cell bodies (rings and discs) over a textured neuropil,\n"
      "calcium transients, Poisson-Gaussian noise, moved by a known motion. /data (T,H,W) or\n"
      "(T,H,W,C) uint16; /truth/shifts (T,2) float32 [u=x, v=y]; /truth/flow (T,H,W,2) for\n"
      "nonrigid motion; backward-warp convention: clean(y,x) = moving(y+v, x+u). The same\n"
      "arguments give the same bytes.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output FILE.h5     output file\n"
      "  --frames T               frames [200]\n"
      "  --height H, --width W    frame size [256, 256]\n"
      "  --channels C             channels [1]\n"
      "  --seed S                 random seed [1]\n"
      "  --motion rigid|nonrigid  motion model [rigid]\n"
      "  --max-shift PX           largest displacement component [8]\n"
      "  --noise-db DB            signal-to-noise ratio [30]\n"
      "  --tiff FILE.tif          also write /data as a multi-page TIFF\n");
}

/* `synth video`: parse, validate, write on rank 0 (serial HDF5). */
static int synth_video(int argc, char **argv, int verbose) {
  enum { O_FR = 256, O_H, O_W, O_C, O_SEED, O_MOT, O_MAX, O_NOISE, O_TIFF };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'}, {"frames", required_argument, 0, O_FR},
      {"height", required_argument, 0, O_H}, {"width", required_argument, 0, O_W},
      {"channels", required_argument, 0, O_C}, {"seed", required_argument, 0, O_SEED},
      {"motion", required_argument, 0, O_MOT}, {"max-shift", required_argument, 0, O_MAX},
      {"noise-db", required_argument, 0, O_NOISE}, {"tiff", required_argument, 0, O_TIFF},
      {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  static const char *const motions[] = {"rigid", "nonrigid", NULL};
  sf_synth_video_opts o = {200, 256, 256, 1, 1, SF_MOTION_RIGID, 8.0, 30.0, NULL};
  const char *out = NULL;
  int status = 0, c, rank, mot = 0;
  SF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) { /* ':': see sf_cli_bad_option */
    switch (c) {
    case 'o': out = optarg; break;
    case 'h': if (verbose) synth_video_help(); return 0;
    case O_FR: SF_CALL(sf_cli_size(verbose, "--frames", optarg, 1, (size_t)1 << 32, &o.frames)); break;
    case O_H: SF_CALL(sf_cli_size(verbose, "--height", optarg, 16, 65536, &o.height)); break;
    case O_W: SF_CALL(sf_cli_size(verbose, "--width", optarg, 16, 65536, &o.width)); break;
    case O_C: SF_CALL(sf_cli_size(verbose, "--channels", optarg, 1, 16, &o.channels)); break;
    case O_SEED: SF_CALL(sf_cli_u64(verbose, "--seed", optarg, &o.seed)); break;
    case O_MOT: SF_CALL(sf_cli_choice(verbose, "--motion", optarg, motions, &mot)); o.motion = (sf_motion_kind)mot; break;
    case O_MAX: SF_CALL(sf_cli_double(verbose, "--max-shift", optarg, 0.0, 1e4, &o.max_shift)); break;
    case O_NOISE: SF_CALL(sf_cli_double(verbose, "--noise-db", optarg, -20.0, 200.0, &o.noise_db)); break;
    case O_TIFF: o.tiff_path = optarg; break;
    default:
      SF_CALL(sf_cli_bad_option(verbose, "synth video", c, argc, argv, lo));
    }
  }
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "synth video: unexpected argument '%s'", argv[optind]));
  if (!out) SF_CALL(sf_cli_usage_error(verbose, "synth video: no output file given (-o FILE.h5)"));
  SF_CALL(sf_output_check_path(MPI_COMM_WORLD, out, NULL, 0));
  if (rank == 0) status = sf_synth_video_write(out, &o);
  SF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (status == 0 && verbose)
    printf("slabflow synth video: %s (%zu frames of %zux%zux%zu, %s motion up to %g px, %g dB)\n",
           out, o.frames, o.height, o.width, o.channels, motions[mot], o.max_shift, o.noise_db);
cleanup:
  return status;
}

/* Prints `slabflow synth volumes --help`. */
static void synth_volumes_help(void) {
  printf(
      "usage: mpirun -np N slabflow synth volumes -o DIR [options]\n"
      "\n"
      "Writes a CT-like dataset in nnU-Net v2 raw layout: DIR/imagesTr/case_NNN_0000.nii.gz\n"
      "(int16 Hounsfield units: air, body with fat and soft tissue, lungs, liver, kidneys,\n"
      "aorta, spine, smooth shading, Gaussian noise), DIR/labelsTr/case_NNN.nii.gz (uint8:\n"
      "0 background, 1 liver, 2 kidney, 3 bone, on the same grid) and DIR/dataset.json.\n"
      "NIfTI-1, RAS affine (sform = qform, code 1), spacing 0.8 x 0.8 x 2.5 mm, k axial;\n"
      "the planes near both ends of k carry no labels. Case c is written by rank c %% N from\n"
      "its own random stream: the same arguments give the same bytes for any rank and\n"
      "thread count. DIR may exist, but must hold no other cases.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output DIR       dataset directory (created with its parents)\n"
      "  --cases N              cases, 1..100000 [10]\n"
      "  --size X Y Z           voxels along i, j, k, each 8..4096 [256 256 128]\n"
      "  --seed S               random seed [1]\n");
}

/* `synth volumes`: parse, validate; rank 0 lays out the directory; cases round-robin. */
static int synth_volumes(int argc, char **argv, int verbose) {
  enum { O_CASES = 256, O_SIZE, O_SEED };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'}, {"cases", required_argument, 0, O_CASES},
      {"size", required_argument, 0, O_SIZE}, {"seed", required_argument, 0, O_SEED},
      {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  sf_synth_volume_opts o = {10, {256, 256, 128}, 1};
  const char *out = NULL;
  int status = 0, c, rank, size;
  SF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  SF_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
  opterr = 0;
  optind = 1;
  /* '+': stop at the first non-option, so --size can take its next two words itself; ':':
   * see sf_cli_bad_option. */
  while ((c = getopt_long(argc, argv, "+:o:h", lo, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'h': if (verbose) synth_volumes_help(); return 0;
    case O_CASES: SF_CALL(sf_cli_size(verbose, "--cases", optarg, 1, 100000, &o.ncases)); break;
    case O_SIZE:
      if (optind + 1 >= argc)
        SF_CALL(sf_cli_usage_error(verbose, "--size: expected three integers X Y Z"));
      SF_CALL(sf_cli_size(verbose, "--size", optarg, 8, 4096, &o.dim[0]));
      SF_CALL(sf_cli_size(verbose, "--size", argv[optind], 8, 4096, &o.dim[1]));
      SF_CALL(sf_cli_size(verbose, "--size", argv[optind + 1], 8, 4096, &o.dim[2]));
      optind += 2;
      break;
    case O_SEED: SF_CALL(sf_cli_u64(verbose, "--seed", optarg, &o.seed)); break;
    default:
      SF_CALL(sf_cli_bad_option(verbose, "synth volumes", c, argc, argv, lo));
    }
  }
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "synth volumes: unexpected argument '%s'", argv[optind]));
  if (!out) SF_CALL(sf_cli_usage_error(verbose, "synth volumes: no output directory given (-o DIR)"));
  double t0 = MPI_Wtime();
  if (rank == 0) status = sf_synth_volume_prepare(out, &o);
  SF_CALL(sf_mpi_agree(status, MPI_COMM_WORLD));
  /* Rounds of one case per rank, agreed after each, so a failure or an interrupt stops
   * every rank at the same point. */
  for (size_t first = 0; first < o.ncases; first += (size_t)size) {
    size_t cs = first + (size_t)rank;
    if (cs < o.ncases) status = sf_synth_volume_write_case(out, &o, cs);
    SF_CALL(sf_mpi_agree(status, MPI_COMM_WORLD));
    SF_CALL(sf_interrupt_agree(MPI_COMM_WORLD));
  }
  if (verbose)
    printf("slabflow synth volumes: %s (%zu cases of %zux%zux%zu, seed %llu, %.2f s)\n", out,
           o.ncases, o.dim[0], o.dim[1], o.dim[2], (unsigned long long)o.seed, MPI_Wtime() - t0);
cleanup:
  return status;
}

/* Prints `slabflow synth detector --help`. */
static void synth_detector_help(void) {
  printf(
      "usage: slabflow synth detector -o STACK.h5 [options]\n"
      "\n"
      "Writes an area-detector stack for azimuthal integration: CeO2 Debye-Scherrer rings at\n"
      "wavelength 1e-10 m over a smooth background, times the relative solid angle, with a\n"
      "per-frame flux factor and Poisson noise; the geometry (pyFAI's PONI model, 75 um pixels)\n"
      "goes to STACK.poni beside the stack. NeXus layout: /entry/data/data (T,H,W) uint32, one\n"
      "frame per chunk; /entry/instrument/detector/pixel_mask (H,W) uint32, nonzero = invalid\n"
      "(1 module gap: the Eiger 4M's for --size full, a cross otherwise; 2 dead pixel); invalid\n"
      "pixels hold 4294967295. The same seed gives the same values for every compression.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output STACK.h5          output file (the PONI file is STACK.poni)\n"
      "  --frames T                     frames [10]\n"
      "  --size full|HxW                Eiger 4M (2167x2070) or H rows x W columns, 16..8192 [full]\n"
      "  --compression none|gzip|bslz4  chunk compression (bslz4: bitshuffle-LZ4, filter 32008) [none]\n"
      "  --tilt                         tilt the detector (rot1 2, rot2 -1.5, rot3 3 deg) and move\n"
      "                                 the PONI off centre [PONI at the centre, no tilt]\n"
      "  --seed S                       random seed [1]\n");
}

/* --size: "full" (0, 0) or "HxW". */
static int synth_detector_size(int verbose, const char *s, size_t *h, size_t *w) {
  int status = 0;
  char a[32], *x;
  if (strcmp(s, "full") == 0) {
    *h = *w = 0;
    return 0;
  }
  snprintf(a, sizeof a, "%s", s);
  x = strchr(a, 'x');
  if (!x || strlen(s) >= sizeof a)
    SF_CALL(sf_cli_usage_error(verbose, "--size: expected 'full' or HxW (e.g. 256x240), got '%s'", s));
  *x = '\0';
  SF_CALL(sf_cli_size(verbose, "--size", a, 16, 8192, h));
  SF_CALL(sf_cli_size(verbose, "--size", x + 1, 16, 8192, w));
cleanup:
  return status;
}

/* `synth detector`: parse, validate, write the stack and its PONI file on rank 0 (serial HDF5). */
static int synth_detector(int argc, char **argv, int verbose) {
  enum { O_FR = 256, O_SIZE, O_COMP, O_TILT, O_SEED };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'}, {"frames", required_argument, 0, O_FR},
      {"size", required_argument, 0, O_SIZE}, {"compression", required_argument, 0, O_COMP},
      {"tilt", no_argument, 0, O_TILT}, {"seed", required_argument, 0, O_SEED},
      {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  static const char *const comps[] = {"none", "gzip", "bslz4", NULL};
  sf_synth_detector_opts o = {10, 0, 0, SF_SYNTH_COMP_NONE, 0, 1};
  const char *out = NULL;
  char poni[4096];
  int status = 0, c, rank, comp = 0;
  SF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) { /* ':': see sf_cli_bad_option */
    switch (c) {
    case 'o': out = optarg; break;
    case 'h': if (verbose) synth_detector_help(); return 0;
    case O_FR: SF_CALL(sf_cli_size(verbose, "--frames", optarg, 1, (size_t)1 << 32, &o.frames)); break;
    case O_SIZE: SF_CALL(synth_detector_size(verbose, optarg, &o.height, &o.width)); break;
    case O_COMP: SF_CALL(sf_cli_choice(verbose, "--compression", optarg, comps, &comp)); o.compression = (sf_synth_comp)comp; break;
    case O_TILT: o.tilt = 1; break;
    case O_SEED: SF_CALL(sf_cli_u64(verbose, "--seed", optarg, &o.seed)); break;
    default:
      SF_CALL(sf_cli_bad_option(verbose, "synth detector", c, argc, argv, lo));
    }
  }
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "synth detector: unexpected argument '%s'", argv[optind]));
  if (!out) SF_CALL(sf_cli_usage_error(verbose, "synth detector: no output file given (-o STACK.h5)"));
  /* STACK.poni beside STACK.h5 (.hdf5, .nxs, .h5 replaced; any other name gets .poni added). */
  const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
  size_t stem = strlen(out);
  if (dot && (!slash || dot > slash) &&
      (strcmp(dot, ".h5") == 0 || strcmp(dot, ".hdf5") == 0 || strcmp(dot, ".nxs") == 0))
    stem = (size_t)(dot - out);
  if (stem + 6 > sizeof poni)
    SF_CALL(sf_cli_usage_error(verbose, "synth detector: output path too long"));
  snprintf(poni, sizeof poni, "%.*s.poni", (int)stem, out);
  SF_CALL(sf_output_check_path(MPI_COMM_WORLD, out, NULL, 0));
  double t0 = MPI_Wtime();
  if (rank == 0) status = sf_synth_detector_write(out, poni, &o);
  SF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (status == 0 && verbose) {
    if (o.height == 0)
      printf("slabflow synth detector: %s + %s (%zu Eiger 4M frames, %s, %s, seed %llu, %.2f s)\n",
             out, poni, o.frames, comps[comp], o.tilt ? "tilted" : "untilted",
             (unsigned long long)o.seed, MPI_Wtime() - t0);
    else
      printf("slabflow synth detector: %s + %s (%zu frames of %zux%zu, %s, %s, seed %llu, %.2f s)\n",
             out, poni, o.frames, o.height, o.width, comps[comp], o.tilt ? "tilted" : "untilted",
             (unsigned long long)o.seed, MPI_Wtime() - t0);
  }
cleanup:
  return status;
}

/* Prints `slabflow synth eeg --help`. */
static void synth_eeg_help(void) {
  printf(
      "usage: slabflow synth eeg -o REC.edf|REC.bdf|REC.vhdr [options]\n"
      "\n"
      "Writes an EEG-fMRI recording: per EEG channel (10-20 labels, then 10-10) a 1/f background\n"
      "of 10-20 uV RMS, alpha bursts (8.5-11.5 Hz) on posterior and blinks on frontal channels;\n"
      "a last channel ECG with heartbeats near 1.1 Hz. During the scan (clean stretches of\n"
      "min(5 s, seconds/5) before and after) each slice of each volume adds the dG/dt of an EPI\n"
      "slice's gradients (slice select, prephasers, 32 readout lobes with phase blips, spoiler;\n"
      "per channel and axis a gain of 0.5e3..6e3 uV and a polarity), averaged over each\n"
      "sample, and a slow drift (up to 300 uV, ramped in and out within the scan). Slices fill\n"
      "the TR evenly: the slice period TR/slices need not be a whole number of samples; the\n"
      "first slice starts at a random fraction of a sample.\n"
      "REC.edf is EDF+C (16 bits, -16384..16383.5 uV: 0.5 uV resolution, as an MR amplifier);\n"
      "REC.bdf is BDF+C (24 bits, -16384..16384 uV: 0.002 uV). One data record per second.\n"
      "Annotations: one per slice, text \"1\", at the slice onset rounded to 100 us.\n"
      "REC.vhdr is BrainVision (REC.vhdr, REC.vmrk, REC.eeg: BINARY, MULTIPLEXED, INT_16 at\n"
      "0.5 uV, the very integers of the EDF output: same data, another container; MR amplifiers\n"
      "record at 0.1 uV, but these artifacts reach 16 mV); markers \"New Segment\" at sample 1,\n"
      "then \"Stimulus\",\"S  1\" per slice at its onset rounded to the nearest sample (a trigger\n"
      "regex matches the description \"S  1\"); the rate must be 2^a 5^b Hz (the sampling\n"
      "interval is stored in us).\n"
      "REC.h5 beside it holds the truth: /clean (channels, samples) float32 uV (the recording\n"
      "without the scanner), /channels, /triggers (true slice onsets in samples, float64; sample\n"
      "n is at n / rate s), attributes rate, tr, slices, volumes, seed, jitter, clean_seconds,\n"
      "resolution. With --blocks N the scan is N acquisition blocks of equal numbers of volumes\n"
      "separated by --pause seconds without gradients or triggers (a session with pauses, each\n"
      "block corrected on its own); the recording stays --seconds long, clean stretches included;\n"
      "REC.h5 then adds /trigger_block (int32, the block of each trigger) and attributes blocks,\n"
      "pause, volumes_per_block. The same arguments give the same bytes; rank 0 writes.\n"
      "\n"
      "options (default in brackets):\n"
      "  -o, --output REC.edf   output file (.edf, .bdf or .vhdr; the truth goes to REC.h5)\n"
      "  --channels N           channels, 2..64: N-1 EEG and one ECG [32]\n"
      "  --rate HZ              sampling rate, 100..20000 Hz [5000]\n"
      "  --seconds S            whole seconds [60]\n"
      "  --tr S                 volume repetition time, 0.1..60 s [2]\n"
      "  --slices N             slices per volume (at most 62 per second) [30]\n"
      "  --jitter               sub-sample trigger jitter (sd 0.15 sample, within 0.45)\n"
      "  --blocks N             acquisition blocks of equal numbers of volumes, 1..1000 [1]\n"
      "  --pause S              scanner pause between blocks (no gradients, no triggers), s [10]\n"
      "  --seed S               random seed [1]\n");
}

/* `synth eeg`: parse, validate, write the recording and its truth on rank 0. */
static int synth_eeg(int argc, char **argv, int verbose) {
  enum { O_CH = 256, O_RATE, O_SEC, O_TR, O_SL, O_JIT, O_SEED, O_BLOCKS, O_PAUSE };
  static const struct option lo[] = {
      {"output", required_argument, 0, 'o'}, {"channels", required_argument, 0, O_CH},
      {"rate", required_argument, 0, O_RATE}, {"seconds", required_argument, 0, O_SEC},
      {"tr", required_argument, 0, O_TR}, {"slices", required_argument, 0, O_SL},
      {"jitter", no_argument, 0, O_JIT}, {"seed", required_argument, 0, O_SEED},
      {"blocks", required_argument, 0, O_BLOCKS}, {"pause", required_argument, 0, O_PAUSE},
      {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  sf_synth_eeg_opts o = {32, 5000, 60, 2.0, 30, 0, 1, 1, 10.0};
  const char *out = NULL;
  char h5[4096], blk[96] = "";
  int status = 0, c, rank;
  SF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) { /* ':': see sf_cli_bad_option */
    switch (c) {
    case 'o': out = optarg; break;
    case 'h': if (verbose) synth_eeg_help(); return 0;
    case O_CH: SF_CALL(sf_cli_size(verbose, "--channels", optarg, 2, 64, &o.channels)); break;
    case O_RATE: SF_CALL(sf_cli_size(verbose, "--rate", optarg, 100, 20000, &o.rate)); break;
    case O_SEC: SF_CALL(sf_cli_size(verbose, "--seconds", optarg, 1, 86400, &o.seconds)); break;
    case O_TR: SF_CALL(sf_cli_double(verbose, "--tr", optarg, 0.1, 60.0, &o.tr)); break;
    case O_SL: SF_CALL(sf_cli_size(verbose, "--slices", optarg, 1, 1000, &o.slices)); break;
    case O_JIT: o.jitter = 1; break;
    case O_SEED: SF_CALL(sf_cli_u64(verbose, "--seed", optarg, &o.seed)); break;
    case O_BLOCKS: SF_CALL(sf_cli_size(verbose, "--blocks", optarg, 1, 1000, &o.blocks)); break;
    case O_PAUSE: SF_CALL(sf_cli_double(verbose, "--pause", optarg, 0.001, 3600.0, &o.pause)); break;
    default:
      SF_CALL(sf_cli_bad_option(verbose, "synth eeg", c, argc, argv, lo));
    }
  }
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "synth eeg: unexpected argument '%s'", argv[optind]));
  if (!out) SF_CALL(sf_cli_usage_error(verbose, "synth eeg: no output file given (-o REC.edf)"));
  size_t len = strlen(out), ext = len >= 5 && strcasecmp(out + len - 5, ".vhdr") == 0 ? 5 : 4;
  if (len < 4 || (ext == 4 && strcasecmp(out + len - 4, ".edf") != 0 &&
                  strcasecmp(out + len - 4, ".bdf") != 0))
    SF_CALL(sf_cli_usage_error(verbose, "synth eeg: %s: the name must end in .edf, .bdf or .vhdr", out));
  if (len >= sizeof h5) SF_CALL(sf_cli_usage_error(verbose, "synth eeg: output path too long"));
  snprintf(h5, sizeof h5, "%.*s.h5", (int)(len - ext), out);
  /* Rank 0 checks the combination of options (one message), every rank fails with it. */
  if (rank == 0) status = sf_synth_eeg_check(&o, NULL, NULL);
  SF_CALL(sf_mpi_agree(status, MPI_COMM_WORLD));
  SF_CALL(sf_output_check_path(MPI_COMM_WORLD, out, NULL, 0));
  double t0 = MPI_Wtime();
  if (rank == 0) status = sf_synth_eeg_write(out, h5, &o);
  SF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD));
  if (o.blocks > 1) snprintf(blk, sizeof blk, ", %zu blocks with pauses of %g s", o.blocks, o.pause);
  if (status == 0 && verbose)
    printf("slabflow synth eeg: %s + %s (%zu channels at %zu Hz, %zu s, TR %g s x %zu slices%s%s, "
           "seed %llu, %.2f s)\n", out, h5, o.channels, o.rate, o.seconds, o.tr, o.slices,
           o.jitter ? ", jitter" : "", blk, (unsigned long long)o.seed, MPI_Wtime() - t0);
cleanup:
  return status;
}

int sf_cmd_synth(int argc, char **argv) {
  int rank = 0, status = 0;
  SF_MPI_HERE(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  if (status < 0) return status;
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    if (rank == 0)
      printf("usage: slabflow synth video [options]      (see slabflow synth video --help)\n"
             "       slabflow synth volumes [options]    (see slabflow synth volumes --help)\n"
             "       slabflow synth detector [options]   (see slabflow synth detector --help)\n"
             "       slabflow synth eeg [options]        (see slabflow synth eeg --help)\n");
    return argc < 2 ? SF_ERR_USAGE : 0;
  }
  if (strcmp(argv[1], "video") == 0) return synth_video(argc - 1, argv + 1, rank == 0);
  if (strcmp(argv[1], "volumes") == 0) return synth_volumes(argc - 1, argv + 1, rank == 0);
  if (strcmp(argv[1], "detector") == 0) return synth_detector(argc - 1, argv + 1, rank == 0);
  if (strcmp(argv[1], "eeg") == 0) return synth_eeg(argc - 1, argv + 1, rank == 0);
  return sf_cli_usage_error(rank == 0, "synth: unknown kind '%s' (available: video, volumes, detector, eeg)",
                            argv[1]);
}
