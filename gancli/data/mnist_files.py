"""The two file formats MNIST-style datasets come in: IDX files (raw or gzipped, as
published and as the Debian package dataset-fashion-mnist installs them) and Keras-layout
.npz archives (x_train, y_train, x_test, y_test). NumPy only.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib

import numpy as np

from gancli.errors import DataError

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dims (N, H, W)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dim (N,)
# "train-images-idx3-ubyte.gz", and the "train-images.idx3-ubyte" spelling some mirrors use.
IDX_IMAGES_RE = re.compile(r"^(.*)images[-.]idx3-ubyte(\.gz)?$")
_IDX_LABELS_RE = re.compile(r"^(.*)labels[-.]idx1-ubyte(\.gz)?$")
_GZIP_MAGIC = b"\x1f\x8b"


# ---------------------------------------------------------------------------- IDX files

def _read_bytes(path: str) -> bytes:
    """Whole file contents, gunzipped when the name ends in .gz or the data is gzip."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if path.endswith(".gz") or raw[:2] == _GZIP_MAGIC:
            return gzip.decompress(raw)
        return raw
    except EOFError:
        raise DataError(f"{path}: truncated gzip file (download it again)") from None
    except (zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: corrupt gzip data ({e})") from None
    except OSError as e:
        raise DataError(f"cannot read {name}: {e.strerror or e} ({path})") from None


def read_idx(path: str, magic: int) -> np.ndarray:
    """Parse one IDX file (raw or .gz) whose big-endian header must start with `magic`.

    Returns:
        uint8 array shaped by the header's dimensions.
    """
    buf = _read_bytes(path)
    kind = "image" if magic == IDX_IMAGES_MAGIC else "label"
    if len(buf) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(buf)} bytes)")
    found = int.from_bytes(buf[:4], "big")
    if found != magic:
        raise DataError(f"{path}: wrong magic number 0x{found:08x} (expected 0x{magic:08x} "
                        f"for an IDX {kind} file)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{path}: truncated IDX header ({len(buf)} bytes)")
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(buf) - header
    if got != expected:
        raise DataError(f"{path}: header says {' x '.join(map(str, dims))} = {expected} bytes "
                        f"of data but the file holds {got}")
    return np.frombuffer(buf, np.uint8, count=expected, offset=header).reshape(dims)


def find_idx_images(folder: str) -> str | None:
    """The images file to use in `folder`: a "train*" one first, else any (e.g. t10k)."""
    try:
        names = sorted(n for n in os.listdir(folder) if IDX_IMAGES_RE.match(n))
    except OSError:
        return None
    if not names:
        return None
    train = [n for n in names if n.startswith("train")]
    return os.path.join(folder, (train or names)[0])


def load_idx_folder(folder: str) -> tuple[np.ndarray, np.ndarray | None]:
    images_path = find_idx_images(folder)
    if images_path is None:
        if not os.access(folder, os.R_OK | os.X_OK):
            raise DataError(f"cannot read folder {folder}")
        raise DataError(f"no IDX image file (*-images-idx3-ubyte[.gz]) in {folder}; for a "
                        "folder of PNG/JPEG images use --dataset folder")
    return load_idx_pair(images_path)


def load_idx_pair(images_path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """An IDX images file plus its matching labels file when one sits beside it."""
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    folder, name = os.path.split(images_path)
    prefix = IDX_IMAGES_RE.match(name).group(1)
    candidates = sorted(n for n in os.listdir(folder)
                        if (m := _IDX_LABELS_RE.match(n)) and m.group(1) == prefix)
    if not candidates:
        return images, None
    labels_path = os.path.join(folder, candidates[0])
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in "
                        f"{name}")
    return images, labels


# ---------------------------------------------------------------------------- npz

def load_npz(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """x_train (and y_train when present) from a Keras-layout mnist.npz."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x_train" not in f.files:
                raise DataError(f"{path}: no x_train array (found: "
                                f"{', '.join(f.files) or 'nothing'}); expected Keras layout "
                                "x_train, y_train, x_test, y_test")
            x = f["x_train"]
            y = f["y_train"] if "y_train" in f.files else None
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - BadZipFile, ValueError (pickles), OSError...
        if isinstance(e, ValueError) and "pickle" in str(e):  # numpy's guess for non-zips
            raise DataError(f"{path}: not a readable .npz file (no zip archive inside: "
                            "another kind of file?)") from None
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: "
                        f"{' '.join(str(e).split())})") from None
    x = as_uint8(x, path)
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
            raise DataError(f"{path}: y_train must be integer class labels of shape (N,), got "
                            f"{y.dtype} {y.shape}")
        if len(y) != len(x):
            raise DataError(f"{path}: y_train has {len(y)} labels for {len(x)} images in "
                            "x_train")
        if len(y) and y.min() < 0:
            raise DataError(f"{path}: y_train holds negative labels")
    return x, y


def as_uint8(x: np.ndarray, path: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    # Integer pixels in 0..255 are unambiguous; floats could be 0..1 or -1..1, so refuse.
    if np.issubdtype(x.dtype, np.integer) and (x.size == 0 or (x.min() >= 0 and x.max() <= 255)):
        return x.astype(np.uint8)
    raise DataError(f"{path}: x_train has dtype {x.dtype}; expected uint8 pixels 0..255")
