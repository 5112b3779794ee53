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
        "  gancli generate --weights runs/dist/generator.keras --npz   # 1-D: histogram.png")
    p.add_argument("--weights", "-g", required=True, metavar="FILE|DIR",
                   help="generator model file (.h5 or .keras, full model), or a run folder "
                        "(uses its generator.keras, else generator.h5)")
    p.add_argument("--n", type=int, default=64, metavar="N",
                   help="number of samples (default: 64)")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="random seed; the same seed gives the same samples, from .h5 or "
                        ".keras alike (default: random, reported on stderr)")
    p.add_argument("--out", "-o", default=None, metavar="DIR|FILE.png",
                   help="a folder (gets grid.png; sample_0000.png, ... with --separate; "
                        "histogram.png for a 1-D generator; samples.npz with --npz), or a "
                        ".png file for the grid or histogram (--npz then writes FILE.npz) "
                        "(default: <weights folder>/generated/seed<SEED>/)")
    layout = p.add_mutually_exclusive_group()
    layout.add_argument("--grid", dest="separate", action="store_false",
                        help="write one grid PNG, grid.png (the default); a conditional model "
                             "without --label gets one class per column")
    layout.add_argument("--separate", dest="separate", action="store_true",
                        help="write one PNG per sample at its own size: sample_0000.png, ...")
    p.set_defaults(separate=False)
    p.add_argument("--npz", action="store_true",
                   help="also write the raw arrays: images uint8 (N,H,W,C), labels int32 (N,) "
                        "for conditional models, scores float32 (N,) with --nice; for a 1-D "
                        "(train-dist) generator, values float32 (N, vector_len)")
    p.add_argument("--label", type=int, default=None, metavar="K",
                   help="conditional models: every sample of class K (default: classes 0, "
                        "1, ..., C-1 in turn)")
    p.add_argument("--truncate", type=float, default=None, metavar="T",
                   help="truncation trick. normal:MU,SD noise: redraw every component more "
                        "than T standard deviations from MU (a normal truncated at +-T SD). "
                        "uniform:LO,HI noise: T in (0, 1] is the kept central fraction of "
                        "the range, z = C + T*(z - C) with C the midpoint (default: off)")
    p.add_argument("--nice", action="store_true",
                   help="draw 20x N candidates, keep the N the discriminator beside the "
                        "generator scores highest (D logit), best first (seed 000 / "
                        "keras-dcgan); with cyclic labels, best first within each class")
    p.add_argument("--discriminator", "-d", default=None, metavar="FILE",
                   help="discriminator for --nice (default: discriminator.keras or "
                        "discriminator.h5 in the generator's folder)")
    _args.add_gpu_memory_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"--n must be positive, got {args.n}")
    if args.discriminator and not args.nice:
        raise ConfigError("--discriminator is used only with --nice")
    tfenv.set_gpu_memory(args.gpu_memory)  # applied as TensorFlow loads
    tfenv.import_quietly()  # TensorFlow loads only once the flags are good

    from gancli import generation as gen
    from gancli import saved_models as saved
    from gancli.latents import check_truncate

    weights = saved.find_weights(args.weights)
    meta = saved.read_sidecar(weights)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    folder, png, npz = _plan(args.out, weights, seed, args.separate)

    G = saved.load_model(weights)
    info = saved.describe(G, weights, meta)
    _check_label(args.label, info)
    check_truncate(args.truncate, info.noise)
    if args.separate and info.kind != "images":
        raise ConfigError("--separate writes one PNG per image, but this generator makes 1-D "
                          "values; use the default histogram and --npz")
    D = d_idx = None
    if args.nice:
        d_path = saved.find_discriminator(weights, args.discriminator)
        D = saved.load_model(d_path, max_outputs=2)  # ACGAN: logit and class logits
        d_idx = saved.check_discriminator(D, d_path, info)
    main_png = png or os.path.join(folder, "grid.png" if info.kind == "images"
                                   else "histogram.png")
    gen.make_folder(folder)
    for note in info.notes:  # after every check, so an error stays the only line
        _note(note)
    if args.seed is None:
        _note(f"seed {seed} (pass --seed {seed} to repeat)")

    cyclic = info.num_classes > 0 and args.label is None
    x, y, scores = gen.sample(G, info, args.n, seed, args.label, args.truncate, D, d_idx)
    arrays: dict = {} if scores is None else {"scores": scores}

    written = []
    try:
        if info.kind == "images":
            from gancli.sampling import save_grid, to_uint8

            images = to_uint8(x, info.value_range)
            if args.separate:
                written += gen.save_separate(folder, images)
            else:
                save_grid(main_png, images, cols=gen.grid_cols(args.n, info.num_classes,
                                                               cyclic))
                written.append(main_png)
            arrays["images"] = images
        else:
            title = f"{os.path.basename(weights)}: {x.size} values, seed {seed}"
            gen.save_histogram(main_png, x, info.target, title)
            written.append(main_png)
            arrays["values"] = x.astype("float32")
        if y is not None:
            arrays["labels"] = y
        if args.npz:
            gen.save_npz(npz, **arrays)
            written.append(npz)
    except OSError as e:
        raise RunDirError(f"cannot write to {folder}: {e.strerror or e}") from None
    for path in written:
        print(path)
    return 0


def _plan(out: str | None, weights: str, seed: int, separate: bool
          ) -> tuple[str, str | None, str]:
    """-> (folder, the PNG named by --out or None for the folder's default, npz path)."""
    if out is None:
        folder = os.path.join(os.path.dirname(os.path.abspath(weights)), "generated",
                              f"seed{seed}")
    elif out.lower().endswith(".png"):
        if separate:
            raise ConfigError(f"--separate writes one file per sample; give --out a folder, "
                              f"not {out}")
        if os.path.isdir(out):
            raise ConfigError(f"--out {out} is a folder; name a new .png file or the folder "
                              "without .png")
        stem = os.path.splitext(out)[0]
        return os.path.dirname(os.path.abspath(out)), out, stem + ".npz"
    else:
        if os.path.exists(out) and not os.path.isdir(out):
            raise ConfigError(f"--out {out} is an existing file; give a folder or a .png file")
        folder = out
    return folder, None, os.path.join(folder, "samples.npz")


def _check_label(label: int | None, info) -> None:
    if label is None:
        return
    if not info.num_classes:
        raise ConfigError(f"--label: {os.path.basename(info.path)} is not conditional "
                          "(it takes no class label)")
    if not 0 <= label < info.num_classes:
        raise ConfigError(f"--label {label} is out of range: the model has "
                          f"{info.num_classes} classes (0..{info.num_classes - 1})")


def _note(text: str) -> None:
    print(f"gancli {NAME}: note: {text}", file=sys.stderr)
