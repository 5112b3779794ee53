"""gancli train-classifier: train (or retrain) and cache the feature classifier that
`gancli eval` uses for image metrics, and report its held-out accuracy."""
from __future__ import annotations

import argparse
import time

from gancli import tfenv
from gancli.commands import _args
from gancli.datasets import DATASETS
from gancli.errors import ConfigError, DataError

NAME = "train-classifier"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="train the classifier behind eval's image metrics",
                       description="Train the small CNN classifier whose predictions and "
                       "features `gancli eval` uses, on the labeled training images of a "
                       "dataset, and cache it (keyed by a hash of the images) under "
                       "$GANCLI_CACHE, else $XDG_CACHE_HOME/gancli, else ~/.cache/gancli. "
                       "Always trains anew and replaces a cached one; eval trains one on "
                       "first use when none is cached.")
    p.add_argument("--dataset", choices=DATASETS, default="mnist",
                   help=f"{' | '.join(DATASETS)} (folder needs class subfolders) "
                        "(default: mnist)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="local data: mnist.npz, a folder of IDX files or of class subfolders, "
                        "cifar-10-batches-py")
    p.add_argument("--background", default="white", metavar="COLOR",
                   help="folder images with transparency are composited onto white, black "
                        "or #RRGGBB, as train-mnist does (default: white)")
    p.add_argument("--crop", choices=("center", "none"), default="center",
                   help="non-square folder images: center crop or none (resize) "
                        "(default: center)")
    p.add_argument("--channels", type=int, choices=(0, 1, 3), default=0,
                   help="1 gray, 3 RGB (default: 0 = as the data comes)")
    p.add_argument("--image_size", "--image-size", type=int, default=0, metavar="SIZE",
                   help="resize images to SIZE x SIZE (default: 0 = keep)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: enough to see ~150,000 images, 3 to 20: "
                        "3 for MNIST's 60,000)")
    p.add_argument("--seed", type=int, default=0, help="weights and shuffling seed "
                   "(default: 0)")
    _args.add_gpu_memory_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gancli import evaluation
    from gancli.evaluation import classifier
    from gancli.evaluation import image_metrics as im

    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be positive, got {args.epochs}")
    tfenv.set_gpu_memory(args.gpu_memory)  # applied as TensorFlow loads
    tfenv.import_quietly()  # TensorFlow loads only once the flags are good
    split = evaluation.real_split(args.dataset, args.data, args.channels, args.image_size,
                                  background=args.background, crop=args.crop)
    data = split.train
    if data.labels is None or data.num_classes < 2:
        raise DataError(f"{data.name} has no class labels to train a classifier on (a folder "
                        "dataset needs one subfolder per class)")
    epochs = args.epochs or classifier.auto_epochs(len(data.images))
    tfenv.warn_gpus_unseen(NAME)
    t0 = time.time()
    model = classifier.train_classifier(data.images, data.labels, data.num_classes,
                                        epochs, args.seed)
    seconds = time.time() - t0
    path = classifier.cache_path(data)
    _, probs = classifier.features_and_proba(model, split.test)
    acc = None
    if split.test_labels is not None:
        acc = float((probs.argmax(1) == split.test_labels).mean())
    score = im.classifier_score(probs)
    try:
        classifier.save(model, path, meta={
            "dataset": data.name, "images": len(data.images),
            "image_shape": list(data.images.shape[1:]), "num_classes": data.num_classes,
            "epochs": epochs, "seed": args.seed, "heldout": split.heldout,
            "heldout_accuracy": acc, "heldout_classifier_score": score})
    except OSError as e:
        raise DataError(f"cannot write the classifier to {path}: {e.strerror or e}") from None
    print(f"classifier: {data.num_classes} classes, {len(data.images)} training images of "
          f"{data.name}, {epochs} epoch(s) in {seconds:.0f} s")
    if acc is not None:
        print(f"held-out accuracy: {acc:.4f} on {len(split.test)} images ({split.heldout})")
    print(f"held-out classifier score: {score:.3f} (of {data.num_classes})")
    print(f"cached: {path}")
    return 0
