"""Folders of image files (PNG, JPEG, GIF, 16-bit PNG, ...) for `--dataset folder`,
decoded with Pillow; class subfolders become labels.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image, UnidentifiedImageError

from gancli.errors import DataError

_GRAY_MODES = ("1", "L", "LA", "La", "I", "F")


def load_image_folder(root: str, n_train: int, channels: int, image_size: int
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
