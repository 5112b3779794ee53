"""The small CNN classifier whose predictions and features the image metrics use.

gancli trains it itself on a dataset's labeled training images (no downloaded weights)
and caches it under the user's cache folder, keyed by a hash of those images and labels:
`$GANCLI_CACHE`, else `$XDG_CACHE_HOME/gancli`, else `~/.cache/gancli`. By default it
trains on ~150,000 images' worth of epochs (3 epochs of full MNIST, 7 of a 22,699-image
subset): ~99% held-out accuracy on MNIST in about two minutes on 2 CPU cores.

Images go in as float in [-1, 1]; uint8 arrays are converted with x / 127.5 - 1.
Keras is imported inside the functions, so importing this module stays cheap.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import weakref
from typing import Callable

import numpy as np

from gancli.data.images import ImageData
from gancli.errors import DataError

FEATURES = "features"  # name of the penultimate Dense layer
BATCH = 32
SAMPLES_SEEN = 150_000  # default training length, in images
ARCH_VERSION = 1  # part of the cache key: bump when build() or training changes


def auto_epochs(n_images: int) -> int:
    """Epochs to see about SAMPLES_SEEN images, at least 3 and at most 20."""
    return int(min(max(math.ceil(SAMPLES_SEEN / max(n_images, 1)), 3), 20))


def _log(msg: str) -> None:
    print(f"gancli: {msg}", file=sys.stderr, flush=True)


def cache_dir() -> str:
    """$GANCLI_CACHE, else $XDG_CACHE_HOME/gancli, else ~/.cache/gancli."""
    if os.environ.get("GANCLI_CACHE"):
        return os.path.expanduser(os.environ["GANCLI_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gancli")


def data_hash(images: np.ndarray, labels: np.ndarray) -> str:
    """First 16 hex digits of sha256 over the image shape, pixels and labels (and
    ARCH_VERSION, so a changed network never loads an old cache file)."""
    h = hashlib.sha256(f"v{ARCH_VERSION} {tuple(images.shape)}".encode())
    h.update(np.ascontiguousarray(images, np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, np.int64).tobytes())
    return h.hexdigest()[:16]


def cache_path(data: ImageData, folder: str | None = None) -> str:
    return os.path.join(folder or cache_dir(), f"classifier-{data_hash(data.images, data.labels)}"
                        ".keras")


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W[, C]) -> float32 in [-1, 1]; float input is taken as already so."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 127.5 - 1 if x.dtype == np.uint8 else x.astype(np.float32)
    return x[..., None] if x.ndim == 3 else x


def build(image_shape: tuple[int, int, int], num_classes: int, seed: int = 0):
    """Conv32-pool-Conv64-pool[-Conv128-pool ...]-Dense128(features)-dropout-softmax.

    3x3 'same' convs with batchnorm and ReLU, each followed by 2x2 max-pooling, until
    both sides are <= 8 (two blocks for 28x28 or 32x32). All weights and dropout are
    seeded here, so building never touches global random state (training may be
    running)."""
    import keras
    from keras import layers

    init = [keras.initializers.GlorotUniform(seed=seed + i) for i in range(8)]
    model = keras.Sequential(name="gancli_classifier")
    model.add(keras.Input(tuple(image_shape)))
    h, w, filters, i = image_shape[0], image_shape[1], 32, 0
    while i < 2 or (max(h, w) > 8 and min(h, w) >= 2):
        model.add(layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                kernel_initializer=init[min(i, 5)]))
        model.add(layers.BatchNormalization(momentum=0.9))  # short runs need fresh stats
        model.add(layers.ReLU())
        model.add(layers.MaxPooling2D())
        h, w, filters, i = h // 2, w // 2, min(filters * 2, 256), i + 1
    model.add(layers.Flatten())
    model.add(layers.Dense(128, activation="relu", kernel_initializer=init[6], name=FEATURES))
    model.add(layers.Dropout(0.3, seed=seed))
    model.add(layers.Dense(num_classes, activation="softmax", kernel_initializer=init[7],
                           name="probs"))
    return model


def train_classifier(images_uint8: np.ndarray, labels: np.ndarray, num_classes: int,
                     epochs: int | None = None, seed: int = 0,
                     log: Callable[[str], None] | None = _log):
    """Train a fresh classifier (Adam 1e-3 with cosine decay, batch 32) and return the
    keras.Model. epochs None: auto_epochs(len(images)).

    Shuffling uses a NumPy generator seeded with `seed`; the global TF/Keras seeds are
    left alone."""
    import keras
    import tensorflow as tf

    x = np.asarray(images_uint8)
    x = x[..., None] if x.ndim == 3 else x
    y = np.asarray(labels, np.int64).reshape(-1)
    if len(x) != len(y) or not len(x):
        raise DataError(f"classifier: {len(x)} images and {len(y)} labels")
    epochs = epochs or auto_epochs(len(x))
    model = build(tuple(int(d) for d in x.shape[1:]), num_classes, seed)
    steps = epochs * -(-len(x) // BATCH)
    lr = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        t0, perm = time.time(), rng.permutation(len(x))
        ds = (tf.data.Dataset.from_tensor_slices((x[perm], y[perm])).batch(BATCH)
              .map(lambda a, b: (tf.cast(a, tf.float32) / 127.5 - 1.0, b)).prefetch(2))
        hist = model.fit(ds, epochs=1, verbose=0, shuffle=False).history
        if log:
            log(f"classifier epoch {epoch}/{epochs}: loss {hist['loss'][-1]:.4f}, "
                f"accuracy {hist['accuracy'][-1]:.4f} ({time.time() - t0:.0f} s)")
    return model


def save(model, path: str, meta: dict | None = None) -> None:
    """model.keras (atomically) plus a small JSON note beside it."""
    from gancli import rundir
    from gancli.training.export import save_model

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_model(model, path)
    if meta is not None:
        rundir.write_text(os.path.splitext(path)[0] + ".json", json.dumps(meta, indent=2) + "\n")


def load_or_train(data: ImageData, cache_dir: str | None = None, epochs: int | None = None,
                  log: Callable[[str], None] | None = _log):
    """The cached classifier for these training images and labels, else a newly trained
    one (saved to the cache; a cache that cannot be written only costs a warning)."""
    import keras

    if data.labels is None or data.num_classes < 2:
        raise DataError(f"{data.name} has no class labels: the classifier metrics need a "
                        "labeled dataset (a folder with one subfolder per class)")
    path = cache_path(data, cache_dir)
    if os.path.isfile(path):
        try:
            model = keras.models.load_model(path, compile=False)
            if model.output_shape[-1] == data.num_classes:
                return model
        except Exception as e:  # noqa: BLE001 - a corrupt cache file: train again
            if log:
                log(f"warning: ignoring unreadable cached classifier {path} ({type(e).__name__})")
    if log:
        log(f"training the feature classifier on {len(data.images)} images of {data.name} "
            f"(once; cached as {path})")
    model = train_classifier(data.images, data.labels, data.num_classes, epochs, log=log)
    try:
        save(model, path, meta={"dataset": data.name, "images": len(data.images),
                                "image_shape": list(data.images.shape[1:]),
                                "num_classes": data.num_classes,
                                "epochs": epochs or auto_epochs(len(data.images))})
    except OSError as e:
        if log:
            log(f"warning: could not cache the classifier in {path}: {e.strerror or e}")
    return model


_HEADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _heads(model):
    """A model returning (features, probabilities) in one pass, built once per model."""
    import keras

    heads = _HEADS.get(model)
    if heads is None:
        heads = keras.Model(model.inputs, [model.get_layer(FEATURES).output, model.outputs[0]])
        _HEADS[model] = heads  # not an attribute: Keras would track it as a sublayer
    return heads


def features_and_proba(model, images: np.ndarray, batch_size: int = 500
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 128) penultimate activations and (N, K) class probabilities."""
    feats, probs = _heads(model).predict(to_float(images), batch_size=batch_size, verbose=0)
    return np.asarray(feats, np.float64), np.asarray(probs, np.float64)
