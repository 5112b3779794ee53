"""gancli.sampling: uint8 mapping, grid geometry, atomic PNG / GIF writing."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from gancli.sampling import grid_shape, make_grid, save_gif, save_grid, save_png, to_uint8


def test_to_uint8_endpoints_and_clipping():
    x = np.array([-1.0, 0.0, 1.0, -5.0, 5.0, np.nan, np.inf, -np.inf], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 128, 255, 0, 255, 0, 255, 0])
    np.testing.assert_array_equal(to_uint8([0.0, 0.5, 1.0], (0, 1)), [0, 128, 255])
    assert to_uint8(np.zeros((2, 3, 3, 1))).dtype == np.uint8
    u = np.arange(5, dtype=np.uint8)
    assert to_uint8(u) is u  # already uint8: untouched
    with pytest.raises(ValueError):
        to_uint8(x, (1, 1))


def test_to_uint8_is_monotonic():
    y = to_uint8(np.linspace(-1, 1, 1001))
    assert np.all(np.diff(y.astype(int)) >= 0) and y[0] == 0 and y[-1] == 255


@pytest.mark.parametrize("n, rows, expect", [(64, None, (8, 8)), (10, None, (3, 4)),
                                             (1, None, (1, 1)), (5, None, (2, 3)),
                                             (10, 2, (2, 5)), (3, 9, (3, 1))])
def test_grid_shape(n, rows, expect):
    assert grid_shape(n, rows) == expect


def test_make_grid_geometry_and_values():
    n, h, w = 10, 3, 2
    imgs = np.stack([np.full((h, w), i, np.uint8) for i in range(n)])
    g = make_grid(imgs, pad=1, pad_value=200)
    rows, cols = 3, 4
    assert g.shape == (rows * h + (rows + 1) * 1, cols * w + (cols + 1) * 1, 1)
    assert g.dtype == np.uint8
    for i in range(n):
        r, c = divmod(i, cols)  # row-major
        y, x = 1 + r * (h + 1), 1 + c * (w + 1)
        assert np.all(g[y:y + h, x:x + w, 0] == i)
    # Separators, border and the two unused cells of the last row are pad_value.
    assert np.all(g[0] == 200) and np.all(g[:, 0] == 200) and np.all(g[-1] == 200)
    assert np.all(g[h + 1] == 200)
    assert np.all(g[1 + 2 * (h + 1):, 1 + 2 * (w + 1):] == 200)
    assert (g != 200).sum() == n * h * w  # every image pixel is visible exactly once


def test_make_grid_rgb_no_pad_and_rows():
    imgs = np.random.default_rng(0).integers(0, 256, (6, 4, 5, 3), dtype=np.uint8)
    g = make_grid(imgs, rows=2, pad=0)
    assert g.shape == (8, 15, 3)
    np.testing.assert_array_equal(g[4:8, 5:10], imgs[4])
    with pytest.raises(ValueError):
        make_grid(np.zeros((3, 4)))


def test_save_png_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    for name, shape, mode in (("g.png", (7, 9), "L"), ("g1.png", (7, 9, 1), "L"),
                              ("c.png", (7, 9, 3), "RGB")):
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        save_png(str(tmp_path / name), a)
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.mode == mode and im.size == (9, 7)
            np.testing.assert_array_equal(np.asarray(im), a[..., 0] if shape[-1] == 1 else a)
    assert sorted(os.listdir(tmp_path)) == ["c.png", "g.png", "g1.png"]  # no temp files left


def test_save_png_upscale_and_replace(tmp_path):
    path = str(tmp_path / "s.png")
    save_png(path, np.zeros((2, 2), np.uint8))
    a = np.array([[0, 255], [10, 20]], np.uint8)
    save_png(path, a, upscale=3)  # replaces the old file
    with Image.open(path) as im:
        b = np.asarray(im)
    assert b.shape == (6, 6)
    np.testing.assert_array_equal(b[::3, ::3], a)
    assert np.all(b[3:6, 0:3] == 10)
    with pytest.raises(ValueError):
        save_png(path, a.astype(np.float32))
    with pytest.raises(ValueError):
        save_png(path, np.zeros((2, 2, 2), np.uint8))
    assert os.listdir(tmp_path) == ["s.png"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s.png"
    save_png(str(path), np.full((2, 2), 7, np.uint8))
    before = path.read_bytes()

    def boom(self, fp, *a, **k):
        with open(fp, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        save_png(str(path), np.zeros((2, 2), np.uint8))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["s.png"]


def test_save_grid(tmp_path):
    x = np.linspace(-1, 1, 4 * 28 * 28).reshape(4, 28, 28, 1)
    path = str(tmp_path / "grid.png")
    g = save_grid(path, x, value_range=(-1, 1), scale=2, pad=2)
    assert g.shape == (2 * 56 + 3 * 2, 2 * 56 + 3 * 2, 1)
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), g[..., 0])
    # The first tile starts at the darkest value, the last ends at the brightest.
    assert g[2, 2, 0] == 0 and g[-3, -3, 0] == 255
    assert np.all(g[2:4, 2:4, 0] == g[2, 2, 0])  # nearest-neighbour 2x


def test_grid_shape_from_columns():
    assert grid_shape(12, cols=10) == (2, 10)
    assert grid_shape(3, cols=10) == (1, 3)  # never more columns than tiles
    with pytest.raises(ValueError):
        grid_shape(4, rows=2, cols=2)
    with pytest.raises(ValueError):
        grid_shape(4, cols=0)


def test_save_grid_columns_and_scale(tmp_path):
    """generate's grids: exactly `cols` columns (one class per column), leftover cells
    blank; tiles up to 32 px at 2x, larger ones at 1x unless a scale is given."""
    x = np.linspace(0, 254, 12 * 28 * 28).reshape(12, 28, 28, 1).astype(np.uint8)
    g = save_grid(str(tmp_path / "a.png"), x, cols=10)
    assert g.shape == (2 * 56 + 3 * 2, 10 * 56 + 11 * 2, 1)
    np.testing.assert_array_equal(g[2:58:2, 2:58:2], x[0])  # tile 0 at 2x
    tile_11 = 2 + 58, 2 + 58  # row 1, column 1
    np.testing.assert_array_equal(g[tile_11[0]:tile_11[0] + 56:2, tile_11[1]:tile_11[1] + 56:2],
                                  x[11])
    assert np.all(g[60:116, 2 * 58 + 2:] == 255)  # the 8 cells after tile 11 stay blank
    big = np.zeros((2, 64, 64, 3), np.uint8)
    assert save_grid(str(tmp_path / "b.png"), big).shape == (68, 2 * 64 + 6, 3)
    assert save_grid(str(tmp_path / "c.png"), big, scale=2).shape == (132, 2 * 128 + 6, 3)


def test_save_gif_frames(tmp_path):
    frames = [np.full((5, 6), v, np.uint8) for v in (0, 80, 160, 240)]
    path = str(tmp_path / "progress.gif")
    save_gif(path, frames, duration_ms=150, upscale=2)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 4 and im.size == (12, 10)
        assert im.info.get("loop") == 0 and im.info.get("duration") == 150
        seen = []
        for i in range(im.n_frames):
            im.seek(i)
            seen.append(int(np.asarray(im.convert("L"))[0, 0]))
    assert seen == [0, 80, 160, 240]
    assert os.listdir(tmp_path) == ["progress.gif"]


def test_save_gif_rgb_and_errors(tmp_path):
    frames = [np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), (255, 0, 0), np.uint8)]
    path = str(tmp_path / "c.gif")
    save_gif(path, frames)
    with Image.open(path) as im:
        assert im.n_frames == 2
        im.seek(1)
        assert im.convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    with pytest.raises(ValueError):
        save_gif(path, [])
    with pytest.raises(ValueError):
        save_gif(path, [np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)])

