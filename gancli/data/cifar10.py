"""CIFAR-10 in its own format (the "python version": pickled batches), for
`--dataset cifar10 --data PATH`, without TensorFlow.

PATH is the extracted `cifar-10-batches-py` folder (or a folder holding it) or the
`cifar-10-python.tar.gz` it comes in, read without extracting. Each batch is a pickled
dict with b"data" (N, 3072) uint8, rows of 1024 red, 1024 green and 1024 blue
values (32x32, row-major), and b"labels"; batches.meta names the classes.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib

import numpy as np

from gancli.errors import DataError

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST = "test_batch"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def load_cifar10(path: str, split: str = "train"
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,), class names) of the train
    (data_batch_1..5) or test (test_batch) split at `path`."""
    names = TRAIN if split == "train" else (TEST,)
    blobs = _read_archive(path, names) if os.path.isfile(path) else _read_folder(path, names)
    batches = [_unpickle(blobs[n], f"{path}: {n}") for n in names]
    meta = blobs.get("batches.meta")
    classes = CLASSES
    if meta is not None:
        names_in = _unpickle(meta, f"{path}: batches.meta").get(b"label_names")
        if names_in:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names_in]
    images, labels = [], []
    for name, b in zip(names, batches):
        data, lab = b.get(b"data"), b.get(b"labels")
        if data is None or lab is None:
            raise DataError(f"{path}: {name} has no data/labels: not a CIFAR-10 batch")
        data = np.asarray(data)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 \
                or len(lab) != len(data):
            raise DataError(f"{path}: {name} holds {data.dtype} {data.shape} with {len(lab)} "
                            "labels; CIFAR-10 batches are uint8 (N, 3072) with N labels")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(lab, np.int64))
    y = np.concatenate(labels)
    if y.min() < 0 or y.max() >= len(classes):
        raise DataError(f"{path}: labels outside 0..{len(classes) - 1}")
    return np.ascontiguousarray(np.concatenate(images)), y, list(classes)


def _read_folder(path: str, names: tuple[str, ...]) -> dict[str, bytes]:
    folder = path
    if not os.path.isfile(os.path.join(folder, names[0])) \
            and os.path.isdir(os.path.join(folder, FOLDER)):
        folder = os.path.join(folder, FOLDER)
    out = {}
    for n in names + ("batches.meta",):
        p = os.path.join(folder, n)
        if not os.path.isfile(p):
            if n == "batches.meta":
                continue
            raise DataError(f"{path}: no {n}; --data needs the {FOLDER} folder or {ARCHIVE} "
                            f"(from {URL})")
        with open(p, "rb") as fh:
            out[n] = fh.read()
    return out


def _read_archive(path: str, names: tuple[str, ...]) -> dict[str, bytes]:
    out = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if member.isfile() and base in names + ("batches.meta",):
                    out[base] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: not a readable {ARCHIVE} ({' '.join(str(e).split())})"
                        ) from None
    missing = [n for n in names if n not in out]
    if missing:
        raise DataError(f"{path}: the archive has no {missing[0]}; expected {ARCHIVE} "
                        f"(from {URL})")
    return out


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and NumPy arrays only: a file that names any other
    callable (a pickle can run code through one) is refused, not executed."""

    ALLOWED = {(m, f) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
               for f in ("_reconstruct", "scalar")} | {
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # how Python 3 writes bytes at protocol 2

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")
        return super().find_class(module, name)


def _unpickle(blob: bytes, where: str) -> dict:
    try:  # the batches were pickled by Python 2: their strings are bytes
        d = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - a damaged pickle raises many types
        raise DataError(f"{where} is not a CIFAR-10 batch ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise DataError(f"{where} is not a CIFAR-10 batch (a {type(d).__name__})")
    return d
