"""Folders of image files (PNG, JPEG, WebP, GIF, BMP, 16-bit PNG, CMYK, ...) for
`--dataset folder`, decoded with Pillow; class subfolders become labels.

Every image is made what the net will see: transparency (RGBA, LA, a palette or RGB
with a transparent index) composited onto one background colour, so the net never
learns the arbitrary colours files keep under transparent pixels; non-square images
cropped to their middle square (or resized, distorting, with crop "none"); all
resized to one square size. Pillow's own warnings are kept from the user; what was
skipped is said in one line.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gancli.errors import DataError

_GRAY_MODES = ("1", "L", "LA", "La", "I", "F")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
MAX_UPSCALE = 2  # an image whose side is under size / MAX_UPSCALE is skipped, not blown up


class TooSmall(Exception):
    """An image too small to be scaled to the folder's size without making it a blur."""


def load_image_folder(root: str, n_train: int, channels: int, image_size: int,
                      background: tuple[int, int, int] = (255, 255, 255),
                      crop: str = "center"
                      ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Every readable image under `root` (recursive, sorted paths), all SIZE x SIZE.

    SIZE is image_size, or else the first readable image's shorter side. Class
    subfolders (root holds folders and no images of its own) become labels, unless
    there is only one: one class is no label.
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

    size = image_size or None
    arrays, rel_paths, unreadable, small = [], [], [], []
    for p in paths:
        if n_train and len(arrays) >= n_train:
            break  # no need to decode images that would be dropped anyway
        try:
            arr = _read_image(p, channels, size, background, crop)
        except TooSmall as e:
            small.append((p, e))
            continue
        except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
            unreadable.append((p, e))
            continue
        size = size or arr.shape[0]  # the first readable image sets SIZE
        arrays.append(arr)
        rel_paths.append(os.path.relpath(p, root))
    if not arrays:
        why = f"{len(unreadable)} unreadable" + (
            f", {len(small)} smaller than half of {size}x{size}" if small else "")
        raise DataError(f"no readable images in folder {root} ({len(paths)} file(s) skipped: "
                        f"{why})")
    if unreadable or small:
        print(f"gancli: warning: skipped {len(unreadable) + len(small)} file(s) in {root}: "
              f"{_skipped(unreadable, small, root, size)}", file=sys.stderr)

    # Channels 0 = keep: grayscale only if every image is; else gray ones are widened to RGB.
    want = channels or (1 if all(a.shape[2] == 1 for a in arrays) else 3)
    images = np.stack([np.repeat(a, 3, axis=2) if a.shape[2] < want else a for a in arrays])

    labels = class_names = None
    # Like Keras' image_dataset_from_directory: class subfolders and no loose images beside
    # them. Loose non-image files (a README) do not count.
    if len(subdirs) > 1 and not any(_is_image(p) for p in paths if os.path.dirname(p) == root):
        class_names = subdirs
        index = {d: i for i, d in enumerate(subdirs)}
        labels = np.array([index[r.split(os.sep, 1)[0]] for r in rel_paths], np.int64)
    return images, labels, class_names


def _skipped(unreadable: list, small: list, root: str, size: int) -> str:
    """'2 not readable images (e.g. a.png: not an image), 1 smaller than 32x32 / 2 (...)'."""
    parts = []
    if unreadable:
        p, e = unreadable[0]
        reason = ("not an image" if isinstance(e, UnidentifiedImageError)
                  else " ".join(str(e).split()) or type(e).__name__)
        parts.append(f"{len(unreadable)} not readable images (e.g. "
                     f"{os.path.relpath(p, root)}: {reason})")
    if small:
        p, e = small[0]
        parts.append(f"{len(small)} smaller than half of {size}x{size} (e.g. "
                     f"{os.path.relpath(p, root)}: {e}); a smaller --image_size keeps them")
    return "; ".join(parts)


def _is_image(path: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path):  # reads the header only
                return True
    except Exception:  # noqa: BLE001 - anything unreadable is not an image
        return False


def _read_image(path: str, channels: int, size: int | None,
                background: tuple[int, int, int], crop: str) -> np.ndarray:
    """One image file as uint8 (S, S, 1|3): transparency composited onto `background`,
    made square by `crop`, resized to S = size (or its own shorter side when None)."""
    with warnings.catch_warnings():
        # Pillow warns about palette transparency, EXIF, decompression bombs, ...:
        # everything it says about a file is handled here or reported as a skip
        warnings.simplefilter("ignore")
        with Image.open(path) as img:
            img.load()  # decode now so a truncated file fails here, not later
            img = ImageOps.exif_transpose(img)  # phone photos stored sideways
            if img.mode.startswith("I") or img.mode == "F":
                img = Image.fromarray(_deep_to_uint8(np.asarray(img)), "L")
            gray = img.mode in _GRAY_MODES or (img.mode == "P" and _gray_palette(img))
            if img.mode in _ALPHA_MODES or "transparency" in img.info:
                img = _composite(img, background)
                gray = gray and len(set(background)) == 1  # on a coloured ground: colour
            img = img.convert("L" if channels == 1 or (channels == 0 and gray) else "RGB")
            img = _square(img, size, crop)
            arr = np.asarray(img, np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _composite(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """The image as a viewer shows it on `background`: RGB, alpha blended away."""
    rgba = img.convert("RGBA")  # P/L/RGB with a transparent index get a real alpha here
    ground = Image.new("RGBA", rgba.size, tuple(background) + (255,))
    return Image.alpha_composite(ground, rgba).convert("RGB")


def _square(img: Image.Image, size: int | None, crop: str) -> Image.Image:
    """Crop to the middle square (crop 'center') and resize to size x size."""
    w, h = img.size
    side = min(w, h)
    if crop == "center" and w != h:
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    size = size or side
    if side * MAX_UPSCALE < size:
        raise TooSmall(f"{w}x{h}")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    return img


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
