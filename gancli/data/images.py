"""Image datasets for train-mnist: MNIST, Fashion-MNIST, IDX files, .npz and image folders.

NumPy and Pillow only at import time: Keras (and with it TensorFlow) is imported only
when a dataset has to be downloaded. Every problem with the user's data raises
DataError with one line naming the file and what is wrong with it.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import re
import sys
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from gancli.errors import DataError

DATASETS = ("mnist", "fashion_mnist", "folder")
# Where the Debian package dataset-fashion-mnist puts its IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dims (N, H, W)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dim (N,)
# "train-images-idx3-ubyte.gz", and the "train-images.idx3-ubyte" spelling some mirrors use.
_IDX_IMAGES_RE = re.compile(r"^(.*)images[-.]idx3-ubyte(\.gz)?$")
_IDX_LABELS_RE = re.compile(r"^(.*)labels[-.]idx1-ubyte(\.gz)?$")
_GZIP_MAGIC = b"\x1f\x8b"
_GRAY_MODES = ("1", "L", "LA", "La", "I", "F")


@dataclasses.dataclass
class ImageData:
    """Training images as uint8 (N, H, W, C) with optional integer class labels."""

    images: np.ndarray
    labels: np.ndarray | None
    num_classes: int
    name: str
    # Folder datasets with class subfolders: the sorted subfolder names, label i = name i.
    class_names: list[str] | None = None


def load_images(dataset: str = "mnist", data: str | None = None, n_train: int = 0,
                channels: int = 0, image_size: int = 0) -> ImageData:
    """Load a training image set.

    Args:
        dataset: "mnist", "fashion_mnist" or "folder" (a folder of PNG/JPEG/... images).
        data: local source: a Keras-layout .npz, a folder of IDX files, or (with "folder")
            a folder of images. None downloads MNIST / Fashion-MNIST through Keras.
        n_train: keep only the first n_train images (0 = all).
        channels: 0 keeps the source's channels, 1 = grayscale, 3 = RGB.
        image_size: 0 keeps the source size, else images are resized to this square size.

    Returns:
        ImageData with uint8 images of shape (N, H, W, C).

    Raises:
        DataError: bad arguments, a missing or malformed source, or a failed download.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if channels not in (0, 1, 3):
        raise DataError(f"channels must be 0 (keep), 1 (grayscale) or 3 (RGB), not {channels}")
    if n_train < 0 or image_size < 0:
        raise DataError("n_train and image_size must be >= 0 (0 = keep all / keep size)")

    if data is None:
        if dataset == "folder":
            raise DataError("dataset 'folder' needs --data PATH, a folder of images")
        if dataset == "fashion_mnist" and _find_idx_images(FASHION_MNIST_DIR):
            images, labels = _load_idx_folder(FASHION_MNIST_DIR)
        else:
            images, labels = _download(dataset)
        name, source, class_names = dataset, dataset, None
    else:
        path = os.path.abspath(os.path.expanduser(data))
        if not os.path.exists(path):
            raise DataError(f"data path {data} does not exist")
        class_names = None
        if dataset == "folder":
            if not os.path.isdir(path):
                raise DataError(f"--dataset folder needs a folder of images; {data} is a file")
            images, labels, class_names = _load_image_folder(path, n_train, channels,
                                                             image_size)
            name = f"folder:{path}"
        elif os.path.isdir(path):
            images, labels = _load_idx_folder(path)
            name = f"idx:{path}"
        elif path.lower().endswith(".npz"):
            images, labels = _load_npz(path)
            name = f"npz:{path}"
        elif _IDX_IMAGES_RE.match(os.path.basename(path)):
            images, labels = _load_idx_pair(path)  # a single IDX file is accepted too
            name = f"idx:{path}"
        else:
            raise DataError(f"{data}: expected a .npz file (Keras layout) or a folder of IDX "
                            "files (train-images-idx3-ubyte.gz ...)")
        source = data
    return _finish(images, labels, name, source, n_train, channels, image_size, class_names)


# ---------------------------------------------------------------------------- download

def _download(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST / Fashion-MNIST through Keras' loader (downloads once, cached by Keras)."""
    import keras  # lazy: pulls in TensorFlow, only needed when downloading

    title = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}[dataset]
    try:
        (x, y), _ = getattr(keras.datasets, dataset).load_data()
    except Exception as e:  # noqa: BLE001 - keras wraps network errors in a bare Exception
        reason = " ".join(str(e).split()) or type(e).__name__
        if len(reason) > 160:
            reason = reason[:157] + "..."
        hint = "install the Debian package dataset-fashion-mnist, or " \
            if dataset == "fashion_mnist" else ""
        raise DataError(f"could not download {title} ({reason}); {hint}download it elsewhere "
                        f"and point --data at a local {dataset}.npz or a folder of IDX files "
                        "(train-images-idx3-ubyte.gz ...)") from None
    return np.asarray(x), np.asarray(y)


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


def _find_idx_images(folder: str) -> str | None:
    """The images file to use in `folder`: a "train*" one first, else any (e.g. t10k)."""
    try:
        names = sorted(n for n in os.listdir(folder) if _IDX_IMAGES_RE.match(n))
    except OSError:
        return None
    if not names:
        return None
    train = [n for n in names if n.startswith("train")]
    return os.path.join(folder, (train or names)[0])


def _load_idx_folder(folder: str) -> tuple[np.ndarray, np.ndarray | None]:
    images_path = _find_idx_images(folder)
    if images_path is None:
        if not os.access(folder, os.R_OK | os.X_OK):
            raise DataError(f"cannot read folder {folder}")
        raise DataError(f"no IDX image file (*-images-idx3-ubyte[.gz]) in {folder}; for a "
                        "folder of PNG/JPEG images use --dataset folder")
    return _load_idx_pair(images_path)


def _load_idx_pair(images_path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """An IDX images file plus its matching labels file when one sits beside it."""
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    folder, name = os.path.split(images_path)
    prefix = _IDX_IMAGES_RE.match(name).group(1)
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

def _load_npz(path: str) -> tuple[np.ndarray, np.ndarray | None]:
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
    x = _as_uint8(x, path)
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


def _as_uint8(x: np.ndarray, path: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    # Integer pixels in 0..255 are unambiguous; floats could be 0..1 or -1..1, so refuse.
    if np.issubdtype(x.dtype, np.integer) and (x.size == 0 or (x.min() >= 0 and x.max() <= 255)):
        return x.astype(np.uint8)
    raise DataError(f"{path}: x_train has dtype {x.dtype}; expected uint8 pixels 0..255")


# ---------------------------------------------------------------------------- image folder

def _load_image_folder(root: str, n_train: int, channels: int, image_size: int
                       ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Every readable image under `root` (recursive, sorted paths), all at one size.

    Class subfolders (root holds folders and no images of its own) become labels.
    """
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Hidden entries (.DS_Store, .ipynb_checkpoints, .git) are never data.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        paths += [os.path.join(dirpath, f) for f in filenames if not f.startswith(".")]
    paths.sort()
    if not paths:
        raise DataError(f"no image files in folder {root}")
    subdirs = sorted(d for d in os.listdir(root)
                     if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))

    size = (image_size, image_size) if image_size else None
    arrays, rel_paths, skipped = [], [], []
    for p in paths:
        if n_train and len(arrays) >= n_train:
            break  # no need to decode images that would be dropped anyway
        try:
            arr = _read_image(p, channels, size)
        except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
            skipped.append((p, e))
            continue
        if size is None:
            size = (arr.shape[1], arr.shape[0])  # first readable image sets (W, H)
        arrays.append(arr)
        rel_paths.append(os.path.relpath(p, root))
    if not arrays:
        raise DataError(f"no readable images in folder {root} ({len(paths)} file(s) skipped)")
    if skipped:
        p, e = skipped[0]
        reason = ("not an image" if isinstance(e, UnidentifiedImageError)
                  else " ".join(str(e).split()) or type(e).__name__)
        print(f"gancli: warning: skipped {len(skipped)} file(s) in {root} that are not readable "
              f"images (e.g. {os.path.relpath(p, root)}: {reason})", file=sys.stderr)

    # Channels 0 = keep: grayscale only if every image is; else gray ones are widened to RGB.
    want = channels or (1 if all(a.shape[2] == 1 for a in arrays) else 3)
    images = np.stack([np.repeat(a, 3, axis=2) if a.shape[2] < want else a for a in arrays])

    labels = class_names = None
    # Like Keras' image_dataset_from_directory: class subfolders and no loose images beside
    # them. Loose non-image files (a README) do not count.
    if subdirs and not any(_is_image(p) for p in paths if os.path.dirname(p) == root):
        class_names = subdirs
        index = {d: i for i, d in enumerate(subdirs)}
        labels = np.array([index[r.split(os.sep, 1)[0]] for r in rel_paths], np.int64)
    return images, labels, class_names


def _is_image(path: str) -> bool:
    try:
        with Image.open(path):  # reads the header only
            return True
    except Exception:  # noqa: BLE001 - anything unreadable is not an image
        return False


def _read_image(path: str, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """One image file as uint8 (H, W, 1|3), converted and resized with Pillow."""
    with Image.open(path) as img:
        img.load()  # decode now so a truncated file fails here, not later
        if img.mode.startswith("I") or img.mode == "F":
            img = Image.fromarray(_deep_to_uint8(np.asarray(img)), "L")
        gray = img.mode in _GRAY_MODES or (img.mode == "P" and _gray_palette(img))
        # Alpha is dropped, as Keras' image_dataset_from_directory does for RGB.
        img = img.convert("L" if channels == 1 or (channels == 0 and gray) else "RGB")
        if size is not None and img.size != size:
            img = img.resize(size, Image.Resampling.LANCZOS)
        arr = np.asarray(img, np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _gray_palette(img: Image.Image) -> bool:
    """True for a palette image (GIF, some PNGs) whose colours are all shades of gray."""
    pal = img.getpalette()  # RGB triples, or None
    if not pal or (img.palette is not None and img.palette.mode != "RGB"):
        return False
    rgb = np.asarray(pal, np.int32).reshape(-1, 3)
    return bool(np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]))


def _deep_to_uint8(arr: np.ndarray) -> np.ndarray:
    """16/32-bit or float grayscale to uint8: Pillow's convert("L") would clip at 255."""
    is_float = arr.dtype.kind == "f"
    arr = np.nan_to_num(arr.astype(np.float64))
    top = arr.max() if arr.size else 0
    if top > 255:  # 16-bit data (e.g. 16-bit PNG): scale the full range down
        arr = arr * (255.0 / (65535.0 if top <= 65535 else top))
    elif is_float and 0 < top <= 1:  # float images in 0..1
        arr = arr * 255.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- common

def _finish(images: np.ndarray, labels: np.ndarray | None, name: str, source: str,
            n_train: int, channels: int, image_size: int,
            class_names: list[str] | None) -> ImageData:
    """Check shape, slice to n_train, convert channels, resize; labels to int64."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DataError(f"{source}: images must have shape (N, H, W) or (N, H, W, C) with "
                        f"C = 1 or 3, got {tuple(images.shape)}")
    if len(images) == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{source}: holds no images (shape {tuple(images.shape)})")
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        # From the full set, so a short n_train never shrinks the class count.
        num_classes = len(class_names) if class_names else int(labels.max()) + 1
    else:
        num_classes = 0
    if n_train:
        images = images[:n_train]
        labels = None if labels is None else labels[:n_train]
    if channels == 3 and images.shape[3] == 1:
        images = np.repeat(images, 3, axis=3)
    elif channels == 1 and images.shape[3] == 3:
        # ITU-R 601-2 luma, the same weights Pillow's convert("L") uses.
        luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        images = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    if image_size and images.shape[1:3] != (image_size, image_size):
        images = _resize_all(images, image_size)
    # Own, writable, contiguous memory (np.frombuffer views are read-only).
    if not (images.flags.writeable and images.flags.c_contiguous):
        images = images.copy()
    return ImageData(images, labels, num_classes, name, class_names)


def _resize_all(images: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((len(images), size, size, images.shape[3]), np.uint8)
    for i, im in enumerate(images):
        pil = Image.fromarray(im[..., 0] if im.shape[2] == 1 else im)
        arr = np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS))
        out[i] = arr[..., None] if arr.ndim == 2 else arr
    return out


# ---------------------------------------------------------------------------- in-graph source

class ImageSource:
    """Training images resident on the device (uint8), shuffled once per epoch inside
    the graph; each call returns the next batch of the current permutation, scaled to
    [-1, 1]. The permutation and cursor are variables, so checkpoints carry them."""

    def __init__(self, data: ImageData, conditional: bool = False):
        import tensorflow as tf

        self.n = len(data.images)
        self.num_classes = data.num_classes if conditional else 0
        self.x = tf.constant(data.images)
        self.y = tf.constant(data.labels, tf.int32) if self.num_classes else None
        self.perm = tf.Variable(tf.range(self.n, dtype=tf.int32), trainable=False, name="perm")
        self.cursor = tf.Variable(self.n, trainable=False, name="cursor")  # shuffle first
        self.variables = [self.perm, self.cursor]

    def sample(self, rng, n):
        import tensorflow as tf

        def shuffle():
            # an epoch ends when the next batch would run past the end (drop remainder)
            self.perm.assign(tf.cast(tf.argsort(rng.uniform([self.n])), tf.int32))
            self.cursor.assign(0)
            return tf.constant(0)

        tf.cond(self.cursor + n > self.n, shuffle, lambda: tf.constant(0))
        idx = self.perm[self.cursor:self.cursor + n]
        self.cursor.assign_add(n)
        x = tf.cast(tf.gather(self.x, idx), tf.float32) / 127.5 - 1.0
        y = None if self.y is None else tf.gather(self.y, idx)
        return x, y
