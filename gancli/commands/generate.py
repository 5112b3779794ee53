"""gancli generate: draw samples from a saved generator (seed 003's `-g generator.h5`)."""
from __future__ import annotations

import argparse
import os
import secrets
import sys

from gancli import tfenv
from gancli.commands import _args
from gancli.errors import ConfigError, RunDirError

NAME = "generate"
FRAMES = 16  # --interpolate: GIF frames per segment
STRIP_STEPS = 8  # --interpolate's PNG strip: at most this many steps per segment


def add_parser(sub) -> None:
    p = sub.add_parser(
        NAME, help="draw samples from a saved generator (seed 003)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw samples from a saved generator (.h5 or .keras) and write them as PNG\n"
        "(and, with --npz, as arrays). What the generator expects (latent size, noise,\n"
        "value range, classes) comes from the <stem>.json beside it, e.g. generator.json;\n"
        "without one it is read from the model, and uniform:-1,1 noise with outputs in\n"
        "[-1, 1] is assumed (a note on stderr says so). The written paths are printed on\n"
        "stdout, one per line.",
        epilog="examples:\n"
        "  gancli generate --weights runs/mnist                 # 64 samples, one grid\n"
        "  gancli generate --weights g.h5 --n 100 --seed 7 --out digits.png --npz\n"
        "  gancli generate --weights runs/cmnist --label 7 --nice --separate --out sevens/\n"
        "  gancli generate --weights runs/emoji --label people-body --seed 3\n"
        "  gancli generate --weights runs/mnist --interpolate 5 --seed 1   # walk.gif, walk.png\n"
        "  gancli generate --weights runs/dist/generator.keras --npz   # 1-D: histogram.png")
    p.add_argument("--weights", "-g", required=True, metavar="FILE|DIR",
                   help="generator model file (.h5 or .keras, full model), or a run folder "
                        "(uses its generator.keras, else generator.h5)")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="number of samples (default: 64); with --interpolate, the number of "
                        "walks (default: 1)")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="random seed; the same seed gives the same samples, from .h5 or "
                        ".keras alike (default: random, reported on stderr)")
    p.add_argument("--out", "-o", default=None, metavar="DIR|FILE.png",
                   help="a folder (gets grid.png; sample_0000.png, ... with --separate; "
                        "histogram.png for a 1-D generator; walk.gif and walk.png with "
                        "--interpolate; samples.npz, or walk.npz, with --npz), or a .png "
                        "file for the grid, histogram or walk strip (--interpolate then "
                        "writes FILE.gif, --npz FILE.npz) "
                        "(default: <weights folder>/generated/seed<SEED>/)")
    layout = p.add_mutually_exclusive_group()
    layout.add_argument("--grid", dest="separate", action="store_false",
                        help="write one grid PNG, grid.png (the default); a conditional model "
                             "with classes in turn (--labels uniform) gets one class per "
                             "column")
    layout.add_argument("--separate", dest="separate", action="store_true",
                        help="write one PNG per sample at its own size: sample_0000.png, ...")
    p.set_defaults(separate=False)
    p.add_argument("--npz", action="store_true",
                   help="also write the raw arrays: images uint8 (N,H,W,C), labels int32 (N,) "
                        "for conditional models, scores float32 (N,) with --nice; for a 1-D "
                        "(train-dist) generator, values float32 (N, vector_len)")
    _args.add_label_flags(p)
    p.add_argument("--truncate", type=float, default=None, metavar="T",
                   help="truncation trick. normal:MU,SD noise: redraw every component more "
                        "than T standard deviations from MU (a normal truncated at +-T SD). "
                        "uniform:LO,HI noise: T in (0, 1] is the kept central fraction of "
                        "the range, z = C + T*(z - C) with C the midpoint (default: off)")
    p.add_argument("--nice", action="store_true",
                   help="draw 20x N candidates, keep the N the discriminator beside the "
                        "generator scores highest (D logit), best first (seed 000 / "
                        "keras-dcgan); conditional: the class mix stays as drawn, best first "
                        "within each class")
    p.add_argument("--discriminator", "-d", default=None, metavar="FILE",
                   help="discriminator for --nice (default: discriminator.keras or "
                        "discriminator.h5 in the generator's folder)")
    p.add_argument("--interpolate", type=int, default=None, metavar="K",
                   help="a latent walk instead of samples: walk.gif loops through K noise "
                        "points drawn from --seed and back to the first, walk.png shows "
                        "the path from the first to the last as a strip; spherical "
                        "(slerp) for normal noise, straight for uniform noise (the cube of "
                        "uniform noise is convex, a Gaussian's mass sits on a sphere). A "
                        "conditional model walks once per class (one strip row per class, "
                        "sharing the noise; one GIF column per class), or in the --label "
                        "class. K >= 2")
    p.add_argument("--frames", type=int, default=None, metavar="N",
                   help=f"--interpolate: GIF frames from one point to the next (default: "
                        f"{FRAMES}); the strip shows min(N, {STRIP_STEPS}) steps per segment")
    _args.add_gpu_memory_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    walking = args.interpolate is not None
    _check_flags(args, walking)
    tfenv.set_gpu_memory(args.gpu_memory)  # applied as TensorFlow loads
    tfenv.import_quietly()  # TensorFlow loads only once the flags are good

    from gancli import generation as gen
    from gancli import saved_models as saved
    from gancli.latents import check_truncate

    weights = saved.find_weights(args.weights)
    meta = saved.read_sidecar(weights)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    folder, png, stem = _plan(args.out, weights, seed, args.separate, walking)

    G = saved.load_model(weights)
    info = saved.describe(G, weights, meta)
    label, probs, _ = gen.labels_for(info, args.label, args.labels)
    check_truncate(args.truncate, info.noise)
    if info.kind != "images" and (args.separate or walking):
        raise ConfigError(f"--{'separate' if args.separate else 'interpolate'} works on "
                          "images, but this generator makes 1-D values; use the default "
                          "histogram and --npz")
    D = d_idx = None
    if args.nice:
        d_path = saved.find_discriminator(weights, args.discriminator)
        D = saved.load_model(d_path, max_outputs=2)  # ACGAN: logit and class logits
        d_idx = saved.check_discriminator(D, d_path, info)
    gen.make_folder(folder)
    for note in info.notes:  # after every check, so an error stays the only line
        _note(note)
    if args.seed is None:
        _note(f"seed {seed} (pass --seed {seed} to repeat)")

    try:
        if walking:
            written = _walk(args, G, info, label, seed, png, stem)
        else:
            written = _samples(args, G, info, (label, probs), seed, png, stem, (D, d_idx))
    except OSError as e:
        raise RunDirError(f"cannot write to {folder}: {e.strerror or e}") from None
    for path in written:
        print(path)
    return 0


def _check_flags(args, walking: bool) -> None:
    """The flag checks that need no model (before TensorFlow loads)."""
    if args.n is not None and args.n < 1:
        raise ConfigError(f"--n must be positive, got {args.n}")
    if args.discriminator and not args.nice:
        raise ConfigError("--discriminator is used only with --nice")
    if not walking:
        if args.frames is not None:
            raise ConfigError("--frames is used only with --interpolate")
        return
    if args.interpolate < 2:
        raise ConfigError(f"--interpolate needs at least 2 points, got {args.interpolate}")
    if args.frames is not None and args.frames < 1:
        raise ConfigError(f"--frames must be positive, got {args.frames}")
    for flag in ("nice", "separate"):
        if getattr(args, flag):
            raise ConfigError(f"--{flag} does not apply to --interpolate (a walk is one GIF "
                              "and one strip)")


def _samples(args, G, info, labels, seed: int, png, stem: str, nice) -> list[str]:
    """--n samples: the grid (or separate PNGs, or a 1-D histogram) and the npz."""
    from gancli import generation as gen

    n = 64 if args.n is None else args.n
    label, probs = labels
    x, y, scores = gen.sample(G, info, n, seed, label, args.truncate, *nice, probs=probs)
    arrays: dict = {} if scores is None else {"scores": scores}
    folder = os.path.dirname(stem)
    written = []
    if info.kind == "images":
        from gancli.sampling import save_grid, to_uint8

        images = to_uint8(x, info.value_range)
        if args.separate:
            written += gen.save_separate(folder, images)
        else:
            main_png = png or os.path.join(folder, "grid.png")
            in_turn = info.num_classes > 0 and label is None and probs is None
            save_grid(main_png, images, cols=gen.grid_cols(n, info.num_classes, in_turn))
            written.append(main_png)
        arrays["images"] = images
    else:
        main_png = png or os.path.join(folder, "histogram.png")
        title = f"{os.path.basename(info.path)}: {x.size} values, seed {seed}"
        gen.save_histogram(main_png, x, info.target, title)
        written.append(main_png)
        arrays["values"] = x.astype("float32")
    if y is not None:
        arrays["labels"] = y
    if args.npz:
        gen.save_npz(stem + ".npz", **arrays)
        written.append(stem + ".npz")
    return written


def _walk(args, G, info, label, seed: int, png, stem: str) -> list[str]:
    """--interpolate K: STEM.gif and the strip (STEM.png or --out's .png), and the npz."""
    from gancli import generation as gen
    from gancli.sampling import save_walk, to_uint8

    frames = FRAMES if args.frames is None else args.frames
    walk = gen.interpolate(G, info, args.interpolate, frames, min(frames, STRIP_STEPS), seed,
                           walks=1 if args.n is None else args.n, label=label,
                           truncate=args.truncate)
    gif, strip = stem + ".gif", png or stem + ".png"
    per_class = info.num_classes > 0 and label is None
    save_walk(gif, strip, walk["frames"], walk["strip"], info.value_range,
              cols=info.num_classes if per_class else None)
    written = [gif, strip]
    if args.npz:
        arrays = {"frames": to_uint8(walk["frames"], info.value_range),
                  "points": walk["points"]}
        if "labels" in walk:
            arrays["labels"] = walk["labels"]
        gen.save_npz(stem + ".npz", **arrays)
        written.append(stem + ".npz")
    return written


def _plan(out: str | None, weights: str, seed: int, separate: bool, walking: bool
          ) -> tuple[str, str | None, str]:
    """-> (folder, the PNG named by --out or None for the folder's default, the stem of
    the other files: FOLDER/samples or FOLDER/walk, or --out's FILE without .png/.gif)."""
    base = "walk" if walking else "samples"
    suffixes = (".png", ".gif") if walking else (".png",)
    if out is None:
        folder = os.path.join(os.path.dirname(os.path.abspath(weights)), "generated",
                              f"seed{seed}")
    elif out.lower().endswith(suffixes):
        if separate:
            raise ConfigError(f"--separate writes one file per sample; give --out a folder, "
                              f"not {out}")
        if os.path.isdir(out):
            raise ConfigError(f"--out {out} is a folder; name a new {out[-4:]} file or the "
                              f"folder without {out[-4:]}")
        png = out if out.lower().endswith(".png") else None
        return os.path.dirname(os.path.abspath(out)), png, os.path.splitext(out)[0]
    elif out.lower().endswith(".gif"):
        raise ConfigError(f"--out {out}: a GIF is written only with --interpolate; give a "
                          "folder or a .png file")
    else:
        if os.path.exists(out) and not os.path.isdir(out):
            raise ConfigError(f"--out {out} is an existing file; give a folder or a .png file")
        folder = out
    return folder, None, os.path.join(folder, base)


def _note(text: str) -> None:
    print(f"gancli {NAME}: note: {text}", file=sys.stderr)
