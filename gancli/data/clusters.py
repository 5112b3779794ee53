"""Pseudo-classes for training without labels: k-means clusters of the images.

A GAN without labels must map one continuous noise space onto images of several
disconnected kinds (digits, emoji categories), and the noise between two kinds
gives malformed in-between samples. Conditioning G and D on clusters of the
training images, as on classes, gives G a discrete choice of kind first
(Self-Conditioned GAN, Liu et al. 2020; clustered logo GANs, Sage et al. 2018).

The clusters come from k-means (k-means++ start, Lloyd iterations) on a PCA of
thumbnails (the images area-averaged to 16 px or less), NumPy only: a few seconds
for 60,000 images. The same images and seed give the same clusters; cluster 0 is
the largest.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from gancli.data.images import ImageData

MIN_IMAGES = 20  # per cluster, when a preset's count is cut to fit a small dataset
THUMB_SIDE = 16  # images are averaged down to at most this side before clustering
PCA_DIMS = 32


def count_for(k: int, n: int) -> int:
    """A preset's k for n images: at most n // MIN_IMAGES clusters, and 0 (a plain
    unconditional pair) when that leaves fewer than 2."""
    k = min(k, n // MIN_IMAGES)
    return k if k >= 2 else 0


def _thumbnails(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, h*w*C) float32 in [0, 1], h, w <= THUMB_SIDE by an
    integer area average (edge rows and columns beyond a multiple are dropped)."""
    n, h, w, c = images.shape
    f = max(1, -(-max(h, w) // THUMB_SIDE))
    hh, ww = h // f, w // f
    x = images[:, :hh * f, :ww * f].astype(np.float32) / 255
    return x.reshape(n, hh, f, ww, f, c).mean(axis=(2, 4)).reshape(n, -1)


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
    x = x - x.mean(axis=0)
    cov = x.T @ x / len(x)
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    return x @ vecs[:, ::-1][:, :dims]


def _sq_dists(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ centers.T + (centers * centers).sum(1)[None]
    return np.maximum(d, 0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Labels (N,) int32 of k clusters of the rows of x; none is empty (an emptied
    cluster restarts at the point farthest from its center)."""
    rng = np.random.default_rng(seed)
    centers = [x[rng.integers(len(x))]]
    d = _sq_dists(x, centers[0][None])[:, 0]
    for _ in range(1, k):  # k-means++: far points are likelier starts
        p = d / d.sum() if d.sum() > 0 else None
        centers.append(x[rng.choice(len(x), p=p)])
        d = np.minimum(d, _sq_dists(x, centers[-1][None])[:, 0])
    centers = np.stack(centers)
    labels = np.full(len(x), -1)
    for _ in range(iters):
        dist = _sq_dists(x, centers)
        new = dist.argmin(1)
        counts = np.bincount(new, minlength=k)
        err = dist[np.arange(len(x)), new]
        for j in np.flatnonzero(counts == 0):  # take the worst-fit point of a bigger cluster
            err = np.where(counts[new] > 1, err, -1.0)
            far = int(err.argmax())
            counts[new[far]] -= 1
            new[far], counts[j], err[far] = j, 1, -1.0
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            centers[j] = x[labels == j].mean(0)
    return labels.astype(np.int32)


def cluster(data: ImageData, k: int, seed: int = 0) -> ImageData:
    """The images with k k-means clusters as their labels, largest first, named
    cluster0 ... cluster{k-1}."""
    x = _thumbnails(data.images)
    labels = kmeans(_pca(x, min(PCA_DIMS, x.shape[1])), k, seed)
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, np.int32)
    rank[order] = np.arange(k)
    return dataclasses.replace(data, labels=rank[labels], num_classes=k,
                               class_names=[f"cluster{i}" for i in range(k)])
