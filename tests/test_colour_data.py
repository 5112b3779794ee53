"""Colour data as people have it: transparency composited onto --background, non-square
images made square by --crop, odd files (16-bit, CMYK, zero-byte, too small) skipped in
one line, CIFAR-10 in its own pickle format (folder and .tar.gz), all through the CLI too."""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import types
import warnings

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, main

from gancli import evaluation
from gancli.data import cifar10
from gancli.data import images as images_mod
from gancli.data.images import load_images
from gancli.errors import ConfigError, DataError

STORED = (146, 119, 87)  # what these files keep under fully transparent pixels


def rgba_icon(path, size=8, alpha=255):
    """A red square on a transparent ground whose RGB is STORED."""
    a = np.zeros((size, size, 4), np.uint8)
    a[..., :3] = STORED
    a[2:6, 2:6] = (255, 0, 0, alpha)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(a, "RGBA").save(path)


# ------------------------------------------------------------------ transparency

@pytest.mark.parametrize("background, ground", [("white", (255, 255, 255)),
                                                ("black", (0, 0, 0)),
                                                ("#102030", (16, 32, 48))])
def test_rgba_composited_onto_background(tmp_path, background, ground):
    rgba_icon(str(tmp_path / "a.png"))
    rgba_icon(str(tmp_path / "b.png"), alpha=128)
    d = load_images("folder", data=str(tmp_path), background=background)
    assert d.images.shape == (2, 8, 8, 3)
    assert tuple(d.images[0, 0, 0]) == ground  # never the stored colour
    assert tuple(d.images[0, 3, 3]) == (255, 0, 0)
    half = (np.array([255, 0, 0]) * 128 + np.array(ground) * 127) / 255
    np.testing.assert_allclose(d.images[1, 3, 3], half, atol=1.5)


def test_gray_with_alpha_stays_gray_on_a_gray_ground(tmp_path):
    la = Image.new("LA", (6, 6), (40, 0))
    la.paste((40, 255), (0, 0, 3, 6))
    la.save(tmp_path / "g.png")
    d = load_images("folder", data=str(tmp_path))
    assert d.images.shape == (1, 6, 6, 1)
    assert d.images[0, 0, 0, 0] == 40 and d.images[0, 0, 5, 0] == 255
    d = load_images("folder", data=str(tmp_path), background="#ff0000")
    assert d.images.shape == (1, 6, 6, 3) and tuple(d.images[0, 0, 5]) == (255, 0, 0)


def test_palette_with_transparent_index_no_library_warning(tmp_path, capsys):
    p = Image.new("P", (6, 6), 0)
    p.putpalette([0, 255, 0, 9, 9, 9] + [0] * 762)
    p.paste(1, (0, 0, 6, 3))
    p.save(tmp_path / "p.png", transparency=b"\x00\xff" + b"\xff" * 254)  # index 0 clear
    p.save(tmp_path / "q.gif", transparency=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any Pillow warning fails the test
        d = load_images("folder", data=str(tmp_path), background="black")
    assert capsys.readouterr().err == ""
    for img in d.images:
        assert tuple(img[0, 0]) == (9, 9, 9)   # the opaque index
        assert tuple(img[5, 5]) == (0, 0, 0)   # index 0 was transparent: the background


def test_every_common_format(tmp_path):
    colour = (200, 40, 10)
    for ext in ("png", "jpg", "webp", "gif", "bmp"):
        Image.new("RGB", (8, 8), colour).save(tmp_path / f"a.{ext}")
    d = load_images("folder", data=str(tmp_path))
    assert d.images.shape == (5, 8, 8, 3)
    np.testing.assert_allclose(d.images[:, 4, 4].astype(int), [colour] * 5, atol=12)


# ------------------------------------------------------------------ shapes

def bands(path):
    """12x6: 3 blue columns, 6 green, 3 red."""
    a = np.zeros((6, 12, 3), np.uint8)
    a[:, :3] = (0, 0, 255)
    a[:, 3:9] = (0, 255, 0)
    a[:, 9:] = (255, 0, 0)
    Image.fromarray(a).save(path)


def test_crop_center_and_none(tmp_path):
    bands(tmp_path / "wide.png")
    d = load_images("folder", data=str(tmp_path), image_size=6)
    assert d.images.shape == (1, 6, 6, 3)
    assert np.all(d.images[0, :, :, 1] > 240) and np.all(d.images[0, :, :, [0, 2]] < 15)
    d = load_images("folder", data=str(tmp_path), image_size=6, crop="none")
    assert d.images[0, 3, 0, 2] > 200 and d.images[0, 3, 5, 0] > 200  # squeezed, all kept


def test_odd_files_skipped_in_one_line(tmp_path, capsys):
    Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / "a_rgb.png")
    Image.new("RGB", (20, 12), (4, 5, 6)).save(tmp_path / "b_wide.jpg")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c_cmyk.jpg")
    Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(tmp_path / "d_16bit.png")
    Image.new("RGB", (5, 5), (0, 0, 0)).save(tmp_path / "e_tiny.png")
    (tmp_path / "f_empty.png").write_bytes(b"")
    d = load_images("folder", data=str(tmp_path), image_size=16)
    assert d.images.shape == (4, 16, 16, 3)
    assert tuple(d.images[2, 8, 8]) [0] > 240  # CMYK (0, 255, 255, 0) is red
    assert tuple(d.images[3, 8, 8]) == (255, 255, 255)  # 16-bit white, scaled not clipped
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "skipped 2 file(s)" in err[0] and "f_empty.png" in err[0]
    assert "e_tiny.png: 5x5" in err[0] and "--image_size" in err[0]


def test_bad_background_is_one_line(tmp_path):
    rgba_icon(str(tmp_path / "a.png"))
    with pytest.raises(ConfigError, match="background"):
        load_images("folder", data=str(tmp_path), background="ivory")


def test_one_class_folder_trains_unconditionally(tmp_path, capsys):
    for i in range(20):
        rgba_icon(str(tmp_path / "only" / f"{i}.png"))
    code, err = main(["train-mnist", "--dataset", "folder", "--data", tmp_path, "--out",
                      tmp_path / "run", "--steps", "1", "--batch_size", "8", "--quiet",
                      "--image_size", "16", "--latent_dim", "8", "--grid_size", "4",
                      "--clusters", "0"], capsys)
    assert code == 0, err
    text = (tmp_path / "run" / "config.yaml").read_text()
    assert "preset: folder" in text and "conditional: none" in text  # the folder default


# ------------------------------------------------------------------ CIFAR-10

def cifar_batch(n, seed, label_offset=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return {b"batch_label": b"training batch", b"data": data,
            b"labels": [(i + label_offset) % 10 for i in range(n)],
            b"filenames": [b"x.png"] * n}


def write_cifar(root, n=4):
    """cifar-10-batches-py as the real download lays it out: pickled dicts with
    bytes keys (protocol 2, as the Python 2 originals)."""
    folder = root / cifar10.FOLDER
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": cifar_batch(n, i, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(n, 9)
    batches["batches.meta"] = {b"label_names": [c.encode() for c in cifar10.CLASSES],
                               b"num_vis": 3072}
    for name, d in batches.items():
        with open(folder / name, "wb") as fh:
            pickle.dump(d, fh, protocol=2)
    return folder, batches


def test_cifar_folder_and_archive(tmp_path):
    folder, batches = write_cifar(tmp_path)
    archive = tmp_path / cifar10.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=cifar10.FOLDER)
    first = batches["data_batch_1"][b"data"][0]
    for path in (folder, tmp_path, archive):
        d = load_images("cifar10", data=str(path))
        assert d.images.shape == (20, 32, 32, 3) and d.num_classes == 10
        assert d.class_names == cifar10.CLASSES
        # row = 1024 red, 1024 green, 1024 blue, each 32x32 row-major
        assert tuple(d.images[0, 0, 1]) == (first[1], first[1025], first[2049])
        assert d.images[0, 31, 31, 2] == first[3071]
        assert list(d.labels[:6]) == [1, 2, 3, 4, 2, 3]  # batch i starts at label i
    split = evaluation.real_split("cifar10", str(folder))
    assert split.test.shape == (4, 32, 32, 3) and "test_batch" in split.heldout
    assert list(split.test_labels) == [0, 1, 2, 3]


def test_cifar_refuses_a_pickle_that_runs_code(tmp_path, capsys):
    folder, _ = write_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": Evil()}, fh, protocol=2)
    code, err = main(["train-mnist", "--dataset", "cifar10", "--data", folder, "--out",
                      tmp_path / "run", "--steps", "1"], capsys)
    assert_one_line_error(code, err, "data_batch_3", "not a CIFAR-10 batch",
                          prefix="gancli train-mnist: error:")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "run").exists()


def test_cifar_missing_batch_and_offline_say_where_the_file_goes(tmp_path, monkeypatch,
                                                                 capsys):
    folder, _ = write_cifar(tmp_path)
    os.remove(folder / "data_batch_5")
    with pytest.raises(DataError, match="no data_batch_5.*cifar-10-python.tar.gz"):
        load_images("cifar10", data=str(folder))

    def offline():
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/x: None")  # noqa: TRY002

    ds = types.SimpleNamespace(cifar10=types.SimpleNamespace(load_data=offline))
    monkeypatch.setitem(__import__("sys").modules, "keras", types.SimpleNamespace(datasets=ds))
    code, err = main(["train-mnist", "--dataset", "cifar10", "--out", tmp_path / "run",
                      "--steps", "1"], capsys)
    assert_one_line_error(code, err, "could not download CIFAR-10", cifar10.ARCHIVE, "--data",
                          prefix="gancli train-mnist: error:")


def test_cifar_trains_conditionally_through_the_cli(tmp_path, capsys):
    folder, _ = write_cifar(tmp_path, n=8)
    code, err = main(["train-mnist", "--dataset", "cifar10", "--data", folder, "--out",
                      tmp_path / "run", "--steps", "2", "--batch_size", "8", "--quiet",
                      "--latent_dim", "8", "--grid_size", "4", "--sample_every", "1",
                      "--conditional"], capsys)  # the folder preset's default: clusters
    assert code == 0, err
    import json
    meta = json.loads((tmp_path / "run" / "generator.json").read_text())
    assert meta["image_shape"] == [32, 32, 3]
    assert meta.get("num_classes") == 10 or meta.get("classes") in (10, cifar10.CLASSES)


def test_download_used_without_data(monkeypatch):
    x = np.zeros((3, 32, 32, 3), np.uint8)
    ds = types.SimpleNamespace(cifar10=types.SimpleNamespace(
        load_data=lambda: ((x, np.array([[1], [2], [3]])), (x, np.array([[0], [0], [0]])))))
    monkeypatch.setitem(__import__("sys").modules, "keras", types.SimpleNamespace(datasets=ds))
    d = load_images("cifar10")
    assert d.images.shape == (3, 32, 32, 3) and list(d.labels) == [1, 2, 3]
    assert d.num_classes == 10 and d.name == "cifar10"
    assert images_mod.download("cifar10", "test")[1].shape == (3,)


def test_pickle_bytes_roundtrip_is_the_format():  # the reader takes protocol 0-5 alike
    buf = io.BytesIO()
    pickle.dump(cifar_batch(2, 0), buf, protocol=0)
    assert cifar10._unpickle(buf.getvalue(), "x")[b"data"].shape == (2, 3072)
