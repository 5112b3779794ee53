"""Evaluation pipeline behind `gancli eval` (and usable from training loops):

- real_split: a dataset's training images (for the classifier and the copies check)
  and held-out real images (x_test, t10k-*, or a seeded held-out slice).
- ImageEvaluator: reference data and classifier prepared once, then
  evaluate(fake_uint8) -> flat dict of metrics, as many times as needed.
- evaluate_values: 1-D samples against a target spec (gancli.distmetrics).

NumPy at import time; Keras / TensorFlow only inside the functions that need them.
"""
from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

from gancli.data import cifar10, mnist_files
from gancli.data import images as image_data
from gancli.errors import DataError

HOLDOUT = 10000  # held-out images taken from the training set when there is no test set


def _log(msg: str) -> None:
    print(f"gancli: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- real data

@dataclasses.dataclass
class RealSplit:
    """train: labeled (or not) training images for the classifier; test / test_labels:
    held-out real images; heldout: where they came from; gan_train: the images the GAN
    trained on (first n_train), minus any held-out ones, for the copies check."""

    train: image_data.ImageData
    test: np.ndarray
    test_labels: np.ndarray | None
    heldout: str
    gan_train: np.ndarray


def _idx_test(folder: str, train_name: str | None) -> tuple | None:
    names = sorted(n for n in os.listdir(folder) if mnist_files.IDX_IMAGES_RE.match(n)
                   and n != train_name and not n.startswith("train"))
    if not names:
        return None
    path = os.path.join(folder, names[0])
    x, y = mnist_files.load_idx_pair(path)
    return x, y, path


def _load_test(dataset: str, data: str | None) -> tuple | None:
    """(x_test, y_test or None, description) from the same source as the training set."""
    if data is None:
        if dataset == "folder":
            return None
        if dataset == "fashion_mnist" and mnist_files.find_idx_images(
                image_data.FASHION_MNIST_DIR):
            folder = image_data.FASHION_MNIST_DIR
            return _idx_test(folder, os.path.basename(mnist_files.find_idx_images(folder)))
        # the training images just came through the same (cached) loader
        x, y = image_data.download(dataset, "test")
        return x, y, f"{dataset} test set"
    path = os.path.abspath(os.path.expanduser(data))
    if dataset == "folder":
        return None
    if dataset == "cifar10":
        x, y, _ = cifar10.load_cifar10(path, "test")
        return x, y, f"test_batch of {path}"
    if path.lower().endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            if "x_test" not in f.files:
                return None
            x = mnist_files.as_uint8(f["x_test"], path)
            y = f["y_test"].reshape(-1) if "y_test" in f.files else None
        return x, y, f"x_test of {path}"
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    train = mnist_files.find_idx_images(folder) if os.path.isdir(path) else path
    return _idx_test(folder, os.path.basename(train or ""))


def real_split(dataset: str = "mnist", data: str | None = None, channels: int = 0,
               image_size: int = 0, n_train: int = 0, holdout: int = HOLDOUT,
               background: str = "white", crop: str = "center") -> RealSplit:
    """Training images plus held-out reals: the source's own test set when it has one
    (npz x_test, an IDX t10k-* file beside the training file, CIFAR-10's test_batch,
    Keras' test split), else a seeded random `holdout` images (at most a fifth) taken
    out of the training set. background / crop: as the GAN's folder was read."""
    full = image_data.load_images(dataset, data, 0, channels, image_size, background, crop)
    test = _load_test(dataset, data)
    if test is not None:
        x, y, where = test
        t = image_data._finish(x, y, where, where, 0, channels, image_size, None)
        if t.images.shape[1:] != full.images.shape[1:]:
            raise DataError(f"{where}: test images are {t.images.shape[1:]} but the training "
                            f"images are {full.images.shape[1:]}")
        y_test = t.labels if full.labels is not None else None
        gan = full.images[:n_train] if n_train else full.images
        return RealSplit(full, t.images, y_test, where, gan)
    n = len(full.images)
    h = min(holdout, n // 5)
    if h < 10:
        raise DataError(f"{full.name}: {n} images are too few to evaluate against (a fifth "
                        "is held out and at least 10 are needed: give 50 or more)")
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(0).permutation(n)[:h]] = True
    gan = np.zeros(n, bool)
    gan[:n_train or n] = True
    lab = full.labels
    train = dataclasses.replace(full, images=full.images[~mask],
                                labels=None if lab is None else lab[~mask])
    return RealSplit(train, full.images[mask], None if lab is None else lab[mask],
                     f"{h} random training images of {full.name} held out (no test set)",
                     full.images[gan & ~mask])


# ---------------------------------------------------------------------------- images

class ImageEvaluator:
    """Classifier, real features and nearest-neighbour references computed once.

    Args:
        split: from real_split.
        n_real: held-out real images used (a seeded random subset when there are more).
        n_copies: generated and real images in the copies check.
        max_train: training images searched for nearest neighbours (a seeded subset).
    Without labels only the label-free metrics (SWD, copies) are computed.
    `reference` holds the same metrics for the held-out reals (for two-set metrics:
    one half of them against the other).
    """

    def __init__(self, split: RealSplit, n_real: int = 10000, seed: int = 0,
                 cache_dir: str | None = None, epochs: int | None = None, n_copies: int = 1000,
                 max_train: int = 30000, log=_log):
        from gancli.evaluation import image_metrics as im

        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(split.test))[:n_real]  # random order: halves are alike
        self.real = split.test[idx]
        self.seed, self.n_copies = seed, n_copies
        self.num_classes = split.train.num_classes if split.train.labels is not None else 0
        self.model = self.classifier_path = None
        self.reference: dict[str, float] = {}
        self.real_hist = None
        if self.num_classes >= 2:
            from gancli.evaluation import classifier

            self.model = classifier.load_or_train(split.train, cache_dir, epochs, log)
            self.classifier_path = classifier.cache_path(split.train, cache_dir)
            self.real_feat, probs = classifier.features_and_proba(self.model, self.real)
            self.reference, self.real_hist = self._class_metrics(probs)
            if split.test_labels is not None:
                self.reference["accuracy"] = float(
                    np.mean(np.argmax(probs, 1) == split.test_labels[idx]))
        self._real_halves()
        gan = split.gan_train
        self.copy_ref = gan[np.sort(rng.permutation(len(gan))[:max_train])]
        self.real_nn = im.nearest_distances(self.real[:n_copies], self.copy_ref)
        self.reference["nn_train"] = float(self.real_nn.mean())

    def _real_halves(self) -> None:
        """Reference values of the two-set metrics: one half of the reals against the
        other (what real data scores; half-size sets read a little worse)."""
        from gancli.evaluation import image_metrics as im

        h = len(self.real) // 2
        if h < 10:
            return
        if self.model is not None:
            a, b = self.real_feat[:h], self.real_feat[h:2 * h]
            p, r = im.precision_recall(a, b)
            self.reference.update(frechet_distance=im.frechet_distance(a, b), precision=p,
                                  recall=r)
        levels = im.sliced_wasserstein(self.real[:h], self.real[h:2 * h], seed=self.seed)
        self.reference["swd"] = float(np.mean(levels))

    @property
    def main_metric(self) -> str:
        """The metric to minimize when keeping the best generator."""
        return "frechet_distance" if self.model is not None else "swd"

    def _class_metrics(self, probs: np.ndarray) -> tuple[dict, np.ndarray]:
        from gancli.evaluation import image_metrics as im

        hist = im.class_histogram(probs, self.num_classes)
        return {"classifier_score": im.classifier_score(probs),
                "mean_confidence": im.mean_confidence(probs),
                "modes_covered": im.modes_covered(hist), "class_entropy": im.entropy(hist)}, hist

    def evaluate(self, fakes: np.ndarray) -> dict:
        """Metrics of generated uint8 images (N, H, W, C) against the held-out reals:
        a flat dict of numbers, plus 'class_histogram' and 'swd_levels' lists."""
        from gancli.evaluation import image_metrics as im

        if fakes.shape[1:] != self.real.shape[1:]:
            raise DataError(f"generated images are {_shape(fakes)} but the real images are "
                            f"{_shape(self.real)}")
        out: dict = {}
        if self.model is not None:
            from gancli.evaluation import classifier

            feat, probs = classifier.features_and_proba(self.model, fakes)
            metrics, hist = self._class_metrics(probs)
            m = min(len(feat), len(self.real_feat))
            prec, rec = im.precision_recall(self.real_feat[:m], feat[:m], k=3)
            out.update(metrics, frechet_distance=im.frechet_distance(self.real_feat, feat),
                       precision=prec, recall=rec, class_histogram=hist.tolist())
        levels = im.sliced_wasserstein(self.real, fakes, seed=self.seed)
        out.update(swd=float(np.mean(levels)), swd_levels=levels)
        fake_nn = im.nearest_distances(fakes[:self.n_copies], self.copy_ref)
        stats = im.copy_stats(fake_nn, self.real_nn)
        out.update(nn_train=stats["nn_train_fake"], copies_ratio=stats["copies_ratio"],
                   copies_fraction=stats["copies_fraction"])
        return out


def _shape(x: np.ndarray) -> str:
    return "x".join(str(d) for d in x.shape[1:])


# ---------------------------------------------------------------------------- values

def evaluate_values(values: np.ndarray, target: str, seed: int = 0) -> tuple[dict, dict]:
    """(metrics of the values, the same metrics of as many draws of the target itself):
    W1, KS, mean/std and their errors, per-component mass for mixtures."""
    from gancli import distmetrics
    from gancli.config import parse_target

    comps = parse_target(target)
    mu, sd = distmetrics.target_moments(comps)

    def row(v):
        s = distmetrics.summarize(v, comps)
        return dict(s, mean_error=s["fake_mean"] - mu, std_error=s["fake_std"] - sd)

    draws = distmetrics.sample(comps, len(values), np.random.default_rng(seed))
    return row(values), row(draws)
