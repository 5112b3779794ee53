"""gancli eval: how good are a generator's samples? One table on stdout, eval.json on disk."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from gancli import tfenv
from gancli.commands import _args
from gancli.datasets import DATASETS
from gancli.errors import ConfigError, DataError

NAME = "eval"

IMAGE_ROWS = (
    ("classifier_score", "classifier score (1 to K)"),
    ("mean_confidence", "mean top-class confidence"),
    ("modes_covered", "classes with >= 5% of samples"),
    ("class_entropy", "class entropy (nats; ln K = even)"),
    ("class_histogram", "class histogram (%)"),
    ("accuracy", "classifier accuracy"),
    ("frechet_distance", "Frechet distance (classifier features)"),
    ("precision", "precision (k=3)"),
    ("recall", "recall (k=3)"),
    ("swd", "sliced Wasserstein x1e3 (mean of levels)"),
    ("nn_train", "mean L2 to nearest training image"),
    ("copies_ratio", "copies ratio (~1 new, << 1 copies)"),
    ("copies_fraction", "copies fraction (~0.01 new)"),
)
VALUE_ROWS = (
    ("w1", "Wasserstein-1"), ("ks", "KS statistic"), ("fake_mean", "mean"),
    ("fake_std", "std"), ("mean_error", "mean error"), ("std_error", "std error"),
)


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="measure a generator's samples against real data",
                       description="Score a generator (file or run folder) or saved samples. "
                       "Images: classifier score, Frechet distance, precision/recall in the "
                       "feature space of a small classifier gancli trains on the dataset "
                       "(cached; see train-classifier), class histogram, sliced Wasserstein "
                       "distance (no labels needed) and a copies check against the training "
                       "images, next to the same numbers for held-out real images. 1-D: W1, "
                       "KS, mean/std error against the target. Prints one table and writes "
                       "eval.json.")
    p.add_argument("generator", nargs="?", metavar="FILE|RUN_DIR", default=None,
                   help="generator .keras/.h5 file or run folder")
    p.add_argument("--weights", metavar="FILE|RUN_DIR", default=None,
                   help="same as the positional argument")
    p.add_argument("--samples", metavar="FILE.npz", default=None,
                   help="evaluate saved samples instead: 'images' (N, H, W[, C]) uint8 0-255 "
                        "or float in [-1, 1], or 'values' (1-D)")
    p.add_argument("--blurred", type=int, default=None, metavar="F",
                   help="score real images instead of a generator: the GAN's training images "
                        "(not the held-out ones) resized down by F and back up, i.e. what "
                        "slightly blurry real pictures score, a reference for a generator's "
                        "numbers. Real data from the run folder given, else --dataset/--data/"
                        "--image_size; writes eval-blurredF.json")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="real data to compare with (default: the run's, else mnist)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="local real data: mnist.npz, a folder of IDX files or of images, "
                        "cifar-10-batches-py (default: the run's)")
    p.add_argument("--background", default=None, metavar="COLOR",
                   help="folder images with transparency are composited onto white, black "
                        "or #RRGGBB (default: the run's, else white)")
    p.add_argument("--crop", choices=("center", "none"), default=None,
                   help="non-square folder images: center crop or none (resize) (default: "
                        "the run's, else center)")
    p.add_argument("--channels", type=int, choices=(0, 1, 3), default=None,
                   help="convert the real images: 1 gray, 3 RGB (default: the run's, else 0 = "
                        "as they come)")
    p.add_argument("--image_size", "--image-size", type=int, default=None, metavar="SIZE",
                   help="resize the real images to SIZE x SIZE (default: the run's)")
    p.add_argument("--target", default=None, metavar="SPEC",
                   help="1-D target, e.g. normal:4,1.25 (default: from generator.json)")
    p.add_argument("--n", type=int, default=10000,
                   help="samples to draw / use, and held-out reals to compare (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="noise and subset seed (default: 0)")
    _args.add_label_flags(p)
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for eval.json (default: the run folder, or the folder of the "
                        "generator / samples file; --blurred without a run: this folder)")
    p.add_argument("--classifier_epochs", "--classifier-epochs", type=int, default=None,
                   metavar="N", help="epochs when the classifier must be trained first "
                   "(default: as train-classifier)")
    _args.add_gpu_memory_flag(p)
    p.set_defaults(func=run)


@dataclasses.dataclass
class _Source:
    """What is evaluated: saved samples, or a generator drawn from on demand."""

    samples: object = None  # the array read from --samples
    path: str | None = None  # the generator file
    meta: dict = dataclasses.field(default_factory=dict)  # its generator.json
    run_dir: str | None = None  # the run folder holding it
    model: object = None
    info: object = None  # saved_models.GeneratorInfo once the model is loaded
    drawn: list | None = None  # conditional: the fraction of samples given each label
    labels: tuple = (None, None, "none")  # generation.labels_for's (label, probs, phrase)
    blurred: int | None = None  # --blurred F: the real training images, down-and-up by F

    def load(self, label: str | None = None, mode: str = "data") -> None:
        """Load the generator and resolve --label / --labels against it."""
        from gancli import generation, saved_models

        if self.model is None:
            self.model = saved_models.load_model(self.path)
            self.info = saved_models.describe(self.model, self.path, self.meta or None)
            self.labels = generation.labels_for(self.info, label, mode)
            for note in self.info.notes:
                print(f"gancli: {note}", file=sys.stderr)

    def get(self, n: int, seed: int):
        """The samples: uint8 images (n, H, W, C) or n float values. A generator's come
        from the same noise and labels as `gancli generate --n N --seed S` draws."""
        if self.samples is not None:
            return self.samples
        import numpy as np

        from gancli import generation
        from gancli.sampling import to_uint8

        self.load()
        info = self.info
        rows = n if info.kind == "images" else -(-n // info.output_shape[0])
        label, probs, _ = self.labels
        x, y, _ = generation.sample(self.model, info, rows, seed, label, probs=probs)
        if y is not None:
            self.drawn = (np.bincount(y, minlength=info.num_classes) / len(y)).tolist()
        if info.kind == "values":
            return x.reshape(-1)[:n].astype(np.float64)
        return to_uint8(x, info.value_range)


def run(args: argparse.Namespace) -> int:
    from gancli import __version__, rundir

    t0 = time.time()
    given = [s for s in (args.generator, args.weights, args.samples) if s]
    if args.blurred is not None:
        if args.blurred < 2:
            raise ConfigError(f"--blurred must be a factor of 2 or more, got {args.blurred}")
        if args.samples or len(given) > 1 or args.label is not None or args.labels != "data":
            raise ConfigError("--blurred scores real images: give a run folder for its data, "
                              "or --dataset/--data, and no --samples or label flags")
    elif len(given) != 1:
        raise ConfigError("give exactly one of: a generator file or run folder (positional "
                          "or --weights), or --samples FILE.npz")
    if args.n < 10:
        raise ConfigError(f"--n must be at least 10, got {args.n}")
    tfenv.set_gpu_memory(args.gpu_memory)  # applied as TensorFlow loads
    tfenv.import_quietly()  # TensorFlow loads only once the flags are good
    if args.blurred is not None:
        src, kind, out = _Source(blurred=args.blurred), "images", args.out or os.getcwd()
        if given:  # a run folder (or its generator file): its real data, no generator
            _, folder, src.meta, src.run_dir = _locate(given[0])
            if src.meta.get("kind") == "values":
                raise ConfigError("--blurred blurs real images; this generator makes 1-D values")
            out = args.out or folder
    elif args.samples:
        if args.label is not None or args.labels != "data":
            raise ConfigError("--label / --labels choose a generator's class labels; "
                              "--samples are evaluated as they are")
        kind, samples = _read_samples(args.samples, args.n)
        src = _Source(samples=samples)
        out = args.out or os.path.dirname(os.path.abspath(args.samples))
    else:
        path, folder, meta, run_dir = _locate(given[0])
        src = _Source(path=path, meta=meta, run_dir=run_dir)
        src.load(args.label, args.labels)  # the label flags are checked before any data
        kind = src.info.kind
        out = args.out or src.run_dir or folder
    report = {"kind": kind, "generator": src.path,
              "samples": args.samples and os.path.abspath(args.samples), "seed": args.seed}
    evaluate = _values if kind == "values" else _images
    metrics, reference, rows, header = evaluate(args, src, report)
    if src.info is not None and src.info.num_classes:
        report.update(labels=src.labels[2], label_fractions=src.drawn)
    report.update(metrics=metrics, reference=reference, seconds=round(time.time() - t0, 1),
                  gancli=__version__)
    name = "eval.json" if args.blurred is None else f"eval-blurred{args.blurred}.json"
    path = os.path.join(os.path.abspath(out), name)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rundir.write_text(path, json.dumps(report, indent=2) + "\n")
    except OSError as e:
        raise DataError(f"cannot write {path}: {e.strerror or e}") from None
    print(_table(rows, metrics, reference, header))
    if src.blurred:
        print(f"generated = {report['n_generated']} training images resized down "
              f"{src.blurred}x and back up (a reference, not a generator)")
    if report.get("labels"):
        mix = "" if not src.drawn else f" ({_fmt(src.drawn)} %)"
        if src.drawn and len(src.drawn) > 20:  # e.g. 100 clusters: their spread
            mix = (f" ({len(src.drawn)} classes, {100 * min(src.drawn):.1f} to "
                   f"{100 * max(src.drawn):.1f} % each)")
        print(f"labels given: {report['labels']}{mix}")
    print(f"eval.json: {path}")
    return 0


def _locate(given: str) -> tuple:
    """A generator file or run folder -> (the generator's path, its folder, its
    generator.json or {}, the folder if it is a run folder (has config.yaml) else None)."""
    from gancli import saved_models

    path = os.path.abspath(saved_models.find_weights(given))
    folder = os.path.dirname(path)
    run_dir = folder if os.path.isfile(os.path.join(folder, "config.yaml")) else None
    return path, folder, saved_models.read_sidecar(path) or {}, run_dir


def _values(args, src: _Source, report: dict):
    """1-D: W1, KS, moments and component masses vs the target, and vs target draws."""
    import numpy as np

    from gancli import evaluation

    target = args.target or src.meta.get("target") or (src.info and src.info.target)
    if not target:
        raise ConfigError("1-D samples need --target SPEC (e.g. normal:4,1.25)")
    values = src.get(args.n, args.seed)
    if not np.all(np.isfinite(values)):
        raise DataError("the generated values are not all finite (a diverged generator?)")
    metrics, reference = evaluation.evaluate_values(values, target, args.seed)
    report.update(target=target, n_generated=len(values), main_metric="w1")
    rows = list(VALUE_ROWS) + [(k, f"mass of component {k[5:]} (1/k ideal)")
                               for k in metrics if k.startswith("mass_")]
    return metrics, reference, rows, "target draws"


def _images(args, src: _Source, report: dict):
    """Images: classifier and label-free metrics vs held-out reals (see ImageEvaluator)."""
    from gancli import evaluation

    meta = dict(src.meta)
    if src.info is not None:
        meta.setdefault("image_shape", list(src.info.image_shape))
    real = _real_source(args, src.run_dir, meta)
    split = evaluation.real_split(**real)
    want = src.samples.shape[1:] if src.samples is not None else meta.get("image_shape")
    if want and tuple(want) != split.test.shape[1:]:
        raise DataError(_mismatch(tuple(want), split.test.shape[1:], real))
    evaluator = evaluation.ImageEvaluator(split, n_real=args.n, seed=args.seed,
                                          epochs=args.classifier_epochs)
    if src.blurred:
        import numpy as np

        from gancli.evaluation.image_metrics import down_up

        pick = np.random.default_rng(args.seed).permutation(len(split.gan_train))[:args.n]
        images = down_up(split.gan_train[np.sort(pick)], src.blurred)
        report.update(blurred=src.blurred)
    else:
        images = src.get(args.n, args.seed)
    metrics = evaluator.evaluate(images)
    reference = dict(evaluator.reference)
    if evaluator.real_hist is not None:
        reference["class_histogram"] = evaluator.real_hist.tolist()
    report.update(kind="images", dataset=split.train.name, heldout=split.heldout,
                  n_generated=len(images), n_real=len(evaluator.real),
                  classifier=evaluator.classifier_path, main_metric=evaluator.main_metric)
    return metrics, reference, IMAGE_ROWS, "real"


def _read_samples(path: str, n: int):
    """('images', uint8 (N, H, W, C)) or ('values', float (N,)) from an .npz file."""
    import numpy as np

    from gancli.sampling import to_uint8

    if not os.path.isfile(path):
        raise DataError(f"samples file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            key = next((k for k in ("images", "values") if k in f.files), None)
            if key is None:
                raise DataError(f"{path}: no 'images' or 'values' array (found: "
                                f"{', '.join(f.files) or 'nothing'})")
            x = f[key][:n]
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - BadZipFile, ValueError (pickles), OSError...
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__})") from None
    if len(x) < 10:
        raise DataError(f"{path}: '{key}' holds {len(x)} samples; need at least 10")
    if key == "values":
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(f"{path}: 'values' must be numbers, got {x.dtype}")
        return "values", x.astype(np.float64).reshape(-1)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise DataError(f"{path}: 'images' must be (N, H, W) or (N, H, W, C) with C 1 or 3, "
                        f"got {x.shape}")
    if np.issubdtype(x.dtype, np.integer) and x.min() >= 0 and x.max() <= 255:
        return "images", x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating) and np.all(np.isfinite(x)) \
            and x.min() >= -1.001 and x.max() <= 1.001:
        return "images", to_uint8(x, (-1.0, 1.0))
    raise DataError(f"{path}: 'images' must be uint8 0..255 or float in [-1, 1] (got {x.dtype} "
                    f"from {x.min()} to {x.max()})")


def _real_source(args, run_dir: str | None, sidecar: dict) -> dict:
    """real_split arguments: flags, else the run's config.yaml, else the sidecar, else
    MNIST. channels / image_size: flags, else the run's, else the generator's shape."""
    from gancli import config

    cfg: dict = {}
    if run_dir:
        cfg = config.load_yaml(os.path.join(run_dir, "config.yaml"))
    if args.dataset or args.data:
        dataset, data = args.dataset or "mnist", args.data
    elif cfg.get("dataset"):
        dataset, data = cfg["dataset"], cfg.get("data")
        if data and not os.path.exists(data) and os.path.exists(os.path.join(run_dir, data)):
            data = os.path.join(run_dir, data)
    else:  # generator.json's "dataset": mnist, fashion_mnist, idx:PATH, npz:PATH, folder:PATH
        name = str(sidecar.get("dataset") or "mnist")
        kind, _, data = name.partition(":")
        if data:
            dataset = kind if kind in ("folder", "cifar10") else "mnist"
        else:
            dataset, data = (name if name in DATASETS else "mnist"), None
    shape = sidecar.get("image_shape") or [0, 0, 0]
    channels = args.channels if args.channels is not None else cfg.get(
        "channels", shape[2] if sidecar else 0)
    size = args.image_size if args.image_size is not None else cfg.get(
        "image_size", shape[0] if sidecar and shape[0] == shape[1] else 0)
    return {"dataset": dataset, "data": data, "channels": int(channels or 0),
            "image_size": int(size or 0), "n_train": int(cfg.get("n_train") or 0),
            "background": args.background or cfg.get("background") or "white",
            "crop": args.crop or cfg.get("crop") or "center"}


def _mismatch(want, have, real: dict) -> str:
    hint = []
    if want[0] != have[0] or want[1] != have[1]:
        hint.append(f"--image_size {want[0]}" if want[0] == want[1] else "same-size data")
    if want[2] != have[2]:
        hint.append(f"--channels {want[2]}")
    return (f"samples are {'x'.join(map(str, want))} but the real images ({real['dataset']}"
            f"{', ' + real['data'] if real['data'] else ''}) are {'x'.join(map(str, have))}; "
            f"pass {' '.join(hint)} or other --dataset/--data")


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return " ".join(f"{100 * x:.0f}" for x in v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def _table(rows, metrics: dict, reference: dict, header: str) -> str:
    lines = [(label, _fmt(metrics.get(k)), _fmt(reference.get(k))) for k, label in rows
             if metrics.get(k) is not None or reference.get(k) is not None]
    lines.insert(0, ("metric", "generated", header))
    w = [max(len(r[i]) for r in lines) for i in range(3)]
    out = [f"{a:<{w[0]}}  {b:>{w[1]}}  {c:>{w[2]}}" for a, b, c in lines]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)
