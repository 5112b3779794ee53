"""Image datasets for train-mnist: MNIST, Fashion-MNIST, CIFAR-10, IDX files, .npz and
image folders.

Front door: load_images picks the reader (mnist_files: IDX and .npz; cifar10: CIFAR's
pickled batches; image_folder: PNG/JPEG/...) and converts the result to uint8
(N, H, W, C) at the requested size.

NumPy and Pillow only at import time: Keras (and with it TensorFlow) is imported only
when a dataset has to be downloaded. Every problem with the user's data raises
DataError with one line naming the file and what is wrong with it.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image

from gancli.config import parse_color
from gancli.data import cifar10
from gancli.data.image_folder import load_image_folder
from gancli.data.mnist_files import (IDX_IMAGES_RE, find_idx_images, load_idx_folder,
                                     load_idx_pair, load_npz)
from gancli.datasets import CLASS_NAMES, DATASETS, TITLES
from gancli.errors import DataError

# Where the Debian package dataset-fashion-mnist puts its IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


@dataclasses.dataclass
class ImageData:
    """Training images as uint8 (N, H, W, C) with optional integer class labels."""

    images: np.ndarray
    labels: np.ndarray | None
    num_classes: int
    name: str
    # Folder datasets with class subfolders: the sorted subfolder names, label i = name i.
    class_names: list[str] | None = None

    def class_info(self, dataset: str) -> dict:
        """generator.json's class keys for a conditional model trained on these images:
        class_names (the data's own, else the dataset's, else "0", "1", ...) and
        class_frequencies (the fraction of training images in each class, from the labels
        kept after n_train; they sum to 1); {} without labels."""
        if self.labels is None or not self.num_classes:
            return {}
        names = self.class_names or CLASS_NAMES.get(dataset)
        if names is None or len(names) != self.num_classes:
            names = [str(i) for i in range(self.num_classes)]
        return {"class_names": list(names),
                "class_frequencies": self.class_frequencies().tolist()}

    def class_frequencies(self) -> np.ndarray:
        """The fraction of the images in each of the num_classes classes (sums to 1);
        what generator.json stores and G's training labels are drawn with."""
        counts = np.bincount(self.labels, minlength=self.num_classes)[: self.num_classes]
        return counts / counts.sum()


def load_images(dataset: str = "mnist", data: str | None = None, n_train: int = 0,
                channels: int = 0, image_size: int = 0, background: str = "white",
                crop: str = "center") -> ImageData:
    """Load a training image set.

    Args:
        dataset: "mnist", "fashion_mnist", "cifar10" or "folder" (a folder of
            PNG/JPEG/... images).
        data: local source: a Keras-layout .npz, a folder of IDX files, (with "cifar10")
            cifar-10-batches-py or cifar-10-python.tar.gz, or (with "folder") a folder of
            images. None downloads MNIST / Fashion-MNIST / CIFAR-10 through Keras.
        n_train: keep only the first n_train images (0 = all).
        channels: 0 keeps the source's channels, 1 = grayscale, 3 = RGB.
        image_size: 0 keeps the source size, else images are resized to this square size.
        background: folders: the colour transparent pixels are composited onto
            (white, black, #RRGGBB).
        crop: folders: "center" crops non-square images to their middle square, "none"
            resizes them (distorting).

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
    ground = parse_color(background)  # ConfigError naming 'background'

    if data is None:
        if dataset == "folder":
            raise DataError("dataset 'folder' needs --data PATH, a folder of images")
        if dataset == "fashion_mnist" and find_idx_images(FASHION_MNIST_DIR):
            images, labels = load_idx_folder(FASHION_MNIST_DIR)
        else:
            images, labels = download(dataset)
        name, source = dataset, dataset
        class_names = list(cifar10.CLASSES) if dataset == "cifar10" else None
    else:
        path = os.path.abspath(os.path.expanduser(data))
        if not os.path.exists(path):
            raise DataError(f"data path {data} does not exist")
        class_names = None
        if dataset == "folder":
            if not os.path.isdir(path):
                raise DataError(f"--dataset folder needs a folder of images; {data} is a file")
            images, labels, class_names = load_image_folder(path, n_train, channels,
                                                            image_size, ground, crop)
            name = f"folder:{path}"
        elif dataset == "cifar10":
            images, labels, class_names = cifar10.load_cifar10(path)
            name = f"cifar10:{path}"
        elif os.path.isdir(path):
            images, labels = load_idx_folder(path)
            name = f"idx:{path}"
        elif path.lower().endswith(".npz"):
            images, labels = load_npz(path)
            name = f"npz:{path}"
        elif IDX_IMAGES_RE.match(os.path.basename(path)):
            images, labels = load_idx_pair(path)  # a single IDX file is accepted too
            name = f"idx:{path}"
        else:
            raise DataError(f"{data}: expected a .npz file (Keras layout) or a folder of IDX "
                            "files (train-images-idx3-ubyte.gz ...)")
        source = data
    return _finish(images, labels, name, source, n_train, channels, image_size, class_names)


# ---------------------------------------------------------------------------- download

def download(dataset: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST / Fashion-MNIST / CIFAR-10 through Keras' loader (downloads once, cached by
    Keras): (x, y) of the train or test split."""
    from gancli.tfenv import import_quietly

    import_quietly()  # Keras pulls in TensorFlow: only needed when downloading
    import keras

    try:
        train, test = getattr(keras.datasets, dataset).load_data()
    except Exception as e:  # noqa: BLE001 - keras wraps network errors in a bare Exception
        reason = " ".join(str(e).split()) or type(e).__name__
        if len(reason) > 160:
            reason = reason[:157] + "..."
        if dataset == "cifar10":
            where = (f"download {cifar10.ARCHIVE} from "
                     f"{cifar10.URL} and pass --data PATH (the .tar.gz or "
                     "its extracted cifar-10-batches-py folder)")
        else:
            hint = "install the Debian package dataset-fashion-mnist, or " \
                if dataset == "fashion_mnist" else ""
            where = (f"{hint}download it elsewhere and point --data at a local {dataset}.npz "
                     "or a folder of IDX files (train-images-idx3-ubyte.gz ...)")
        raise DataError(f"could not download {TITLES[dataset]} ({reason}); {where}") from None
    x, y = train if split == "train" else test
    return np.asarray(x), np.asarray(y).reshape(-1)


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
