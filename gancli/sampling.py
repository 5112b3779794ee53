"""Sample images: float batches to uint8, tiled grids, PNG and animated GIF files.

NumPy and Pillow only (no TensorFlow, no matplotlib), so writing samples costs little.
Files are written through rundir.atomic_path: a kill mid-write leaves the old file.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from gancli.rundir import atomic_path


def to_uint8(x, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Map floats in `value_range` linearly to uint8 0..255.

    Values outside the range are clipped and NaN maps to 0, so a diverging generator
    still yields a viewable image. uint8 input is returned unchanged.

    Args:
        x: array-like of pixel values (a NumPy array or anything np.asarray accepts).
        value_range: (low, high) of the generator's output, e.g. (-1, 1) for tanh.
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    x = np.nan_to_num(x.astype(np.float64), nan=lo, posinf=hi, neginf=lo)
    x = (np.clip(x, lo, hi) - lo) * (255.0 / (hi - lo))
    return np.rint(x).astype(np.uint8)


def grid_shape(n: int, rows: int | None = None, cols: int | None = None
               ) -> tuple[int, int]:
    """(rows, cols) for n tiles: near-square with cols >= rows unless rows or cols
    (not both) is given."""
    if n <= 0:
        raise ValueError("need at least one image")
    if rows is not None and cols is not None:
        raise ValueError("give rows or cols, not both")
    if cols is not None:
        if cols <= 0:
            raise ValueError(f"cols must be positive, got {cols}")
        cols = min(cols, n)
        return math.ceil(n / cols), cols
    if rows is None:
        cols = math.ceil(math.sqrt(n))
        return math.ceil(n / cols), cols
    if rows <= 0:
        raise ValueError(f"rows must be positive, got {rows}")
    rows = min(rows, n)
    return rows, math.ceil(n / rows)


def make_grid(images, rows: int | None = None, cols: int | None = None, pad: int = 2,
              pad_value: int = 255) -> np.ndarray:
    """Tile images row-major into one image, with `pad`-pixel separators and border.

    Args:
        images: (N, H, W) or (N, H, W, C) array, normally uint8.
        rows: number of rows; None picks a near-square grid (64 -> 8x8, 10 -> 3x4).
        cols: number of columns instead of rows (the rows follow from it).
        pad: separator width in pixels, also used as the outer border.
        pad_value: separator colour; 255 (white) stands out on MNIST's black background.
            Unused cells of the last row get the same colour.

    Returns:
        (rows*H + (rows+1)*pad, cols*W + (cols+1)*pad, C) array, dtype of `images`.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W) or (N, H, W, C), got {images.shape}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    n, h, w, c = images.shape
    nrows, ncols = grid_shape(n, rows, cols)
    grid = np.full((nrows * h + (nrows + 1) * pad, ncols * w + (ncols + 1) * pad, c),
                   pad_value, dtype=images.dtype)
    for i, img in enumerate(images):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid


def _upscale(array: np.ndarray, scale: int, axis: int = 0) -> np.ndarray:
    """Nearest-neighbour enlargement of the (H, W) axes starting at `axis`."""
    if scale < 1 or int(scale) != scale:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    if scale == 1:
        return array
    return np.repeat(np.repeat(array, scale, axis=axis), scale, axis=axis + 1)


def _to_pil(array: np.ndarray, upscale: int = 1) -> Image.Image:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {array.dtype} (use to_uint8 first)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"expected an H x W, H x W x 1 or H x W x 3 image, got {array.shape}")
    return Image.fromarray(np.ascontiguousarray(_upscale(array, upscale)),
                           "L" if array.ndim == 2 else "RGB")


def save_png(path: str, array, upscale: int = 1) -> None:
    """Write a uint8 H x W, H x W x 1 or H x W x 3 array as a PNG, atomically.

    Args:
        path: destination file; replaced only once the new PNG is complete.
        array: the image.
        upscale: integer nearest-neighbour enlargement (2 makes 28x28 digits legible).
    """
    img = _to_pil(array, upscale)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def grid_image(images, value_range: tuple[float, float] = (-1.0, 1.0),
               rows: int | None = None, cols: int | None = None, scale: int | None = None,
               pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """to_uint8 + make_grid: the uint8 (H, W, C) grid that save_grid writes.

    Tiles are enlarged by `scale` before tiling, so the separators stay `pad` pixels
    thin; None: 2 for tiles up to 32 px (28x28 digits are too small to judge at 1x),
    else 1. rows / cols as in make_grid; cells left over in the last row get pad_value.
    """
    images = to_uint8(images, value_range)  # (N, H, W[, C])
    if scale is None:
        scale = 2 if max(images.shape[1:3]) <= 32 else 1
    return make_grid(_upscale(images, scale, axis=1), rows=rows, cols=cols, pad=pad,
                     pad_value=pad_value)


def save_grid(path: str, images, value_range: tuple[float, float] = (-1.0, 1.0),
              rows: int | None = None, cols: int | None = None, scale: int | None = None,
              pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """grid_image + save_png in one call: the one grid writer (training grids,
    reals.png, `gancli generate`); arguments as grid_image's.

    Returns:
        The uint8 grid as written (e.g. to collect frames for save_gif).
    """
    grid = grid_image(images, value_range, rows=rows, cols=cols, scale=scale, pad=pad,
                      pad_value=pad_value)
    save_png(path, grid)
    return grid


def save_walk(gif_path: str, png_path: str, frames, strip,
              value_range: tuple[float, float] = (-1.0, 1.0), cols: int | None = None,
              duration_ms: int = 60) -> None:
    """A latent walk (`generate --interpolate`) as an animated GIF and a PNG strip.

    Args:
        gif_path: the looping GIF; frame f tiles frames[f] (one tile per walk) as
            save_grid would, `cols` columns (None: near-square).
        png_path: the strip, one row per walk and one column per point on the path
            (save_grid with cols = strip.shape[1]).
        frames: (F, walks, H, W[, C]) images, in value_range or uint8.
        strip: (walks, S, H, W[, C]) images.
        duration_ms: display time of each GIF frame.
    """
    frames, strip = np.asarray(frames), np.asarray(strip)
    save_gif(gif_path, [grid_image(f, value_range, cols=cols) for f in frames], duration_ms)
    save_grid(png_path, strip.reshape(-1, *strip.shape[2:]), value_range,
              cols=strip.shape[1])


def save_gif(path: str, frames: Sequence[np.ndarray], duration_ms: int = 200,
             upscale: int = 1) -> None:
    """Write uint8 frames (all the same shape) as a looping animated GIF, atomically.

    Pillow merges consecutive identical frames into one longer frame; the total
    duration is unchanged.

    Args:
        path: destination file.
        frames: H x W, H x W x 1 or H x W x 3 uint8 arrays, e.g. grids from save_grid.
        duration_ms: display time of each frame.
        upscale: integer nearest-neighbour enlargement.
    """
    if not len(frames):
        raise ValueError("save_gif needs at least one frame")
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"all GIF frames must have the same shape, got {sorted(shapes)}")
    images = [_to_pil(f, upscale) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=duration_ms, loop=0)
