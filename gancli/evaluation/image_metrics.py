"""Image quality metrics, NumPy only: callers pass classifier probabilities, classifier
features or uint8 images as arrays.

- classifier_score: exp(E_x KL(p(y|x) || p(y))), TF-GAN's "MNIST score" (the Inception
  score with a small dataset-specific classifier). Ranges from 1 to num_classes.
- frechet_distance: FID's formula in any feature space.
- class_histogram / modes_covered / entropy / mean_confidence: mode coverage by class.
- precision_recall: Kynkäänniemi et al. 2019 (k-NN manifolds in feature space).
- sliced_wasserstein: a label-free metric on Laplacian-pyramid patches (ProGAN-style).
- nearest_distances / copy_stats: are samples copies of training images?
- down_up: real images blurred by a down-and-up resize, a reference for the others.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-12


# ---------------------------------------------------------------------------- class-based

def classifier_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) over rows of class probabilities (N, K).

    K for confident predictions spread evenly over K classes, 1 when every sample gets
    the same prediction (or predictions carry no information)."""
    p = np.asarray(probs, np.float64)
    p_y = p.mean(axis=0, keepdims=True)
    kl = np.sum(p * (np.log(p + _EPS) - np.log(p_y + _EPS)), axis=1)
    return float(np.exp(kl.mean()))


def class_histogram(probs: np.ndarray, num_classes: int) -> np.ndarray:
    """Fraction of samples whose most probable class is k, for k = 0..num_classes-1."""
    top = np.argmax(np.asarray(probs), axis=1)
    return np.bincount(top, minlength=num_classes)[:num_classes] / max(len(top), 1)


def modes_covered(hist: np.ndarray, threshold: float = 0.05) -> int:
    """Number of classes holding at least `threshold` of the samples."""
    return int(np.sum(np.asarray(hist) >= threshold))


def entropy(hist: np.ndarray) -> float:
    """Shannon entropy of a histogram in nats (ln K for K equally full classes)."""
    h = np.asarray(hist, np.float64)
    h = h[h > 0] / h.sum()
    return float(max(-np.sum(h * np.log(h)), 0.0)) + 0.0  # + 0.0: never print -0


def mean_confidence(probs: np.ndarray) -> float:
    """Mean top-class probability: how sure the classifier is that samples are objects."""
    return float(np.mean(np.max(np.asarray(probs), axis=1)))


# ---------------------------------------------------------------------------- feature-based

def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigh, negatives -> 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(feat_a: np.ndarray, feat_b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) between two sets of
    feature rows, each fitted by a Gaussian (FID's formula; no SciPy: the trace of the
    matrix square root is the sum of square roots of a symmetric PSD matrix's
    eigenvalues)."""
    a, b = np.asarray(feat_a, np.float64), np.asarray(feat_b, np.float64)
    mu = a.mean(0) - b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    r = _sqrtm_psd(s_a)
    m = r @ s_b @ r
    tr_cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))
    return float(max(mu @ mu + np.trace(s_a) + np.trace(s_b) - 2 * tr_cross, 0.0))


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared L2 distances between the rows of a and b (float32, clipped at 0)."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)
    return np.maximum(d, 0)


def _knn_radii(x: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """Squared distance from each row of x to its k-th nearest other row."""
    k = min(k, len(x) - 1)
    out = np.empty(len(x), np.float32)
    for i in range(0, len(x), chunk):
        d = _sq_dists(x[i:i + chunk], x)
        out[i:i + chunk] = np.partition(d, k, axis=1)[:, k]  # index 0 is the row itself
    return out


def precision_recall(real_feat: np.ndarray, fake_feat: np.ndarray, k: int = 3,
                     chunk: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its samples reaching their k-th
    nearest neighbour. Precision: fraction of fakes inside the real manifold (quality);
    recall: fraction of reals inside the fake manifold (coverage). Distance matrices
    are built `chunk` rows at a time, so 10,000 x 10,000 needs ~40 MB at a time."""
    real = np.asarray(real_feat, np.float32)
    fake = np.asarray(fake_feat, np.float32)
    r_real, r_fake = _knn_radii(real, k, chunk), _knn_radii(fake, k, chunk)
    fake_in = np.zeros(len(fake), bool)
    real_in = np.zeros(len(real), bool)
    for i in range(0, len(fake), chunk):
        d = _sq_dists(fake[i:i + chunk], real)  # (chunk fakes, all reals)
        fake_in[i:i + chunk] = (d <= r_real[None, :]).any(axis=1)
        real_in |= (d <= r_fake[i:i + chunk, None]).any(axis=0)
    return float(fake_in.mean()), float(real_in.mean())


# ---------------------------------------------------------------------------- label-free

_BINOMIAL = np.array([1, 4, 6, 4, 1], np.float32) / 16


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial blur of (N, H, W, C) with reflected borders."""
    for axis in (1, 2):
        n = x.shape[axis]
        pad = [(0, 0)] * 4
        pad[axis] = (2, 2)
        xp = np.moveaxis(np.pad(x, pad, mode="reflect" if n > 2 else "edge"), axis, 0)
        x = np.moveaxis(sum(w * xp[i:i + n] for i, w in enumerate(_BINOMIAL)), 0, axis)
    return x


def _upsample(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Zero-insertion upsampling by 2 (cropped to `shape`) + blur x4: pyrUp."""
    up = np.zeros((x.shape[0], 2 * x.shape[1], 2 * x.shape[2], x.shape[3]), np.float32)
    up[:, ::2, ::2] = x
    return 4 * _blur(up[:, :shape[0], :shape[1]])


def laplacian_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """Band-pass levels, finest first, the last one the low-pass residual."""
    g = np.asarray(images, np.float32)
    out = []
    for _ in range(levels - 1):
        small = _blur(g)[:, ::2, ::2]
        out.append(g - _upsample(small, g.shape[1:3]))
        g = small
    return out + [g]


def _descriptors(level: np.ndarray, per_image: int, patch: int, rng) -> np.ndarray:
    """per_image random patch x patch windows of every image, flattened, normalized per
    channel by the mean and std of the whole set of windows."""
    n = len(level) * per_image
    img = np.repeat(np.arange(len(level)), per_image)
    ys = rng.integers(0, level.shape[1] - patch + 1, n)
    xs = rng.integers(0, level.shape[2] - patch + 1, n)
    o = np.arange(patch)
    d = level[img[:, None, None], ys[:, None, None] + o[None, :, None],
              xs[:, None, None] + o[None, None, :]]  # (n, patch, patch, C)
    d = (d - d.mean(axis=(0, 1, 2))) / (d.std(axis=(0, 1, 2)) + 1e-8)
    return d.reshape(n, -1)


def sliced_wasserstein(images_a: np.ndarray, images_b: np.ndarray, levels: int = 3,
                       patch: int = 7, patches_per_image: int = 16, n_proj: int = 128,
                       max_descriptors: int = 65536, seed: int = 0) -> list[float]:
    """Sliced Wasserstein distance between two image sets, per Laplacian-pyramid level.

    A simplified version of ProGAN's metric (Karras et al. 2018) that needs no labels.
    At every pyramid level (finest first, down to the low-pass residual; levels smaller
    than `patch` are skipped), `patches_per_image` random patch x patch windows are cut
    from each of up to max_descriptors / patches_per_image images per set; each set's
    windows are normalized per channel by their own mean and std (as ProGAN does), and
    the distance is the mean over `n_proj` random unit directions of the 1-D Wasserstein
    distance between the projected windows. Values are x 10^3 as in ProGAN's tables;
    lower is better; two halves of one data set give a floor set by sampling noise.
    Images: (N, H, W[, C]) of any scale (uint8 is fine: the normalization removes it);
    the fixed seed makes the metric repeatable.

    Returns:
        one SWD value per level, finest first.
    """
    rng = np.random.default_rng(seed)
    m = min(len(images_a), len(images_b), max(max_descriptors // patches_per_image, 1))

    def subset(x):
        x = np.asarray(x)
        x = x[np.sort(rng.choice(len(x), m, replace=False))].astype(np.float32)
        return x[..., None] if x.ndim == 3 else x

    a, b = subset(images_a), subset(images_b)
    out = []
    for la, lb in zip(laplacian_pyramid(a, levels), laplacian_pyramid(b, levels)):
        if min(la.shape[1:3]) < patch:
            break
        da = _descriptors(la, patches_per_image, patch, rng)
        db = _descriptors(lb, patches_per_image, patch, rng)
        proj = rng.standard_normal((n_proj, da.shape[1])).astype(np.float32)
        proj /= np.linalg.norm(proj, axis=1, keepdims=True)
        # (n_proj, n) rows: sorting along the contiguous axis is twice as fast
        pa, pb = np.sort(proj @ da.T, axis=1), np.sort(proj @ db.T, axis=1)
        out.append(float(np.abs(pa - pb).mean() * 1e3))
    return out


# ---------------------------------------------------------------------------- references

def down_up(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, H, W, C) images resized down by `factor` (area average) and back up
    (bilinear): the same pictures with detail finer than `factor` pixels gone, which is
    what slightly blurry real images score."""
    from PIL import Image

    n, h, w, c = images.shape
    small = (max(1, w // factor), max(1, h // factor))
    out = np.empty_like(images)
    for i, x in enumerate(images):
        im = Image.fromarray(x[..., 0] if c == 1 else x)
        up = np.asarray(im.resize(small, Image.BOX).resize((w, h), Image.BILINEAR))
        out[i] = up.reshape(h, w, c)
    return out


# ---------------------------------------------------------------------------- copies

def nearest_distances(queries: np.ndarray, reference: np.ndarray, chunk: int = 256
                      ) -> np.ndarray:
    """L2 distance from each query image to its nearest reference image, in pixel
    space with pixels scaled to [0, 1] (uint8 input is divided by 255)."""
    def flat(x):
        x = np.asarray(x)
        scale = 1 / 255 if x.dtype == np.uint8 else 1.0
        return x.reshape(len(x), -1).astype(np.float32) * scale

    q, r = flat(queries), flat(reference)
    out = np.empty(len(q), np.float32)
    for i in range(0, len(q), chunk):
        out[i:i + chunk] = _sq_dists(q[i:i + chunk], r).min(axis=1)
    return np.sqrt(out)


def copy_stats(fake_nn: np.ndarray, real_nn: np.ndarray) -> dict[str, float]:
    """Memorization check from nearest-training-image distances of generated samples
    (fake_nn) and of held-out real images (real_nn), both against the same training set.

    copies_ratio = mean(fake_nn) / mean(real_nn): ~1 or more when samples are new
    images, << 1 when they are copies of training images. copies_fraction: share of
    samples closer to a training image than 99% of held-out reals are (~0.01 when
    nothing is copied)."""
    fake_nn, real_nn = np.asarray(fake_nn, np.float64), np.asarray(real_nn, np.float64)
    return {"nn_train_fake": float(fake_nn.mean()), "nn_train_real": float(real_nn.mean()),
            "copies_ratio": float(fake_nn.mean() / max(real_nn.mean(), _EPS)),
            "copies_fraction": float(np.mean(fake_nn < np.percentile(real_nn, 1)))}
