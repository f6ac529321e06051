/* `slabflow synth <kind>`: realistic synthetic inputs with known ground truth. */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_args.h"
#include "io/synth_video.h"
#include "mpi/h5_output.h"
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
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
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
      SF_CALL(sf_cli_usage_error(verbose, "synth video: unknown or incomplete option '%s'", argv[optind - 1]));
    }
  }
  if (optind < argc) SF_CALL(sf_cli_usage_error(verbose, "synth video: unexpected argument '%s'", argv[optind]));
  if (!out) SF_CALL(sf_cli_usage_error(verbose, "synth video: no output file given (-o FILE.h5)"));
  SF_CALL(sf_output_check_path(MPI_COMM_WORLD, out, NULL));
  if (rank == 0) status = sf_synth_video_write(out, &o);
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (status == 0 && verbose)
    printf("slabflow synth video: %s (%zu frames of %zux%zux%zu, %s motion up to %g px, %g dB)\n",
           out, o.frames, o.height, o.width, o.channels, motions[mot], o.max_shift, o.noise_db);
cleanup:
  return status;
}

int sf_cmd_synth(int argc, char **argv) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    if (rank == 0) printf("usage: slabflow synth video [options]   (see slabflow synth video --help)\n");
    return argc < 2 ? SF_ERR_USAGE : 0;
  }
  if (strcmp(argv[1], "video") == 0) return synth_video(argc - 1, argv + 1, rank == 0);
  return sf_cli_usage_error(rank == 0, "synth: unknown kind '%s' (available: video)", argv[1]);
}
