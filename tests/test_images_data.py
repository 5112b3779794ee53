"""gancli.data.images (with mnist_files, image_folder): IDX / npz / image-folder loading
and every bad-input path."""
from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

from gancli.data import images as images_mod
from gancli.data.images import ImageData, load_images
from gancli.data.mnist_files import read_idx
from gancli.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(os.path.dirname(REPO), "shared", "data", "mnist")
FASHION_DIR = images_mod.FASHION_MNIST_DIR


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.asarray(array, np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    return (struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.tobytes())


def write_idx(path, array, magic=None, gz=None) -> str:
    data = idx_bytes(array, magic)
    gz = str(path).endswith(".gz") if gz is None else gz
    with open(path, "wb") as fh:
        fh.write(gzip.compress(data) if gz else data)
    return str(path)


def make_idx_folder(folder, n=12, h=5, w=4, gz=True, prefix="train", labels=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, h, w), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.uint8)
    y[0] = 9  # so num_classes is always 10
    ext = ".gz" if gz else ""
    os.makedirs(folder, exist_ok=True)
    write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), x)
    if labels:
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), y)
    return x, y


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------ real data

@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason="shared MNIST test files not present")
def test_real_mnist_test_images():
    d = load_images("mnist", data=MNIST_DIR)
    assert d.images.shape == (10000, 28, 28, 1) and d.images.dtype == np.uint8
    assert d.labels.dtype == np.int64 and d.labels.shape == (10000,)
    assert set(np.unique(d.labels)) == set(range(10)) and d.num_classes == 10
    # The first MNIST test digits are 7, 2, 1, 0, 4 (a well-known fact of the file).
    assert list(d.labels[:5]) == [7, 2, 1, 0, 4]
    assert d.images.max() == 255 and d.images.min() == 0


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package(monkeypatch):
    # Must come from the package folder, never from Keras: make any download fail loudly.
    monkeypatch.setattr(images_mod, "download",
                        lambda ds, split="train": pytest.fail("tried to download"))
    d = load_images("fashion_mnist", n_train=100)
    assert d.images.shape == (100, 28, 28, 1) and d.images.dtype == np.uint8
    assert d.labels.shape == (100,) and d.labels.dtype == np.int64
    assert d.num_classes == 10 and 0 <= d.labels.min() and d.labels.max() <= 9
    assert d.name == "fashion_mnist"
    assert d.images.flags.writeable


# ------------------------------------------------------------------------ IDX

@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_gz_and_raw(tmp_path, gz):
    x, y = make_idx_folder(tmp_path, gz=gz)
    d = load_images("mnist", data=str(tmp_path))
    assert isinstance(d, ImageData)
    assert d.images.shape == (12, 5, 4, 1)
    np.testing.assert_array_equal(d.images[..., 0], x)
    np.testing.assert_array_equal(d.labels, y.astype(np.int64))
    assert d.labels.dtype == np.int64 and d.num_classes == 10
    assert d.name == f"idx:{tmp_path}"


def test_idx_prefers_train_and_falls_back_to_t10k(tmp_path):
    t10k, _ = make_idx_folder(tmp_path, n=3, prefix="t10k", seed=1)
    np.testing.assert_array_equal(load_images("mnist", data=str(tmp_path)).images[..., 0], t10k)
    train, _ = make_idx_folder(tmp_path, n=7, prefix="train", seed=2)
    d = load_images("mnist", data=str(tmp_path))
    np.testing.assert_array_equal(d.images[..., 0], train)


def test_single_idx_file_path_uses_matching_labels(tmp_path):
    x, y = make_idx_folder(tmp_path, n=6, prefix="t10k", gz=False)
    d = load_images("mnist", data=str(tmp_path / "t10k-images-idx3-ubyte"))
    np.testing.assert_array_equal(d.images[..., 0], x)
    np.testing.assert_array_equal(d.labels, y)


def test_idx_without_labels(tmp_path):
    make_idx_folder(tmp_path, labels=False)
    d = load_images("fashion_mnist", data=str(tmp_path))
    assert d.labels is None and d.num_classes == 0


def test_idx_uncompressed_file_with_gz_content_detected(tmp_path):
    # A gzip stream saved without the .gz suffix is still read.
    x = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    write_idx(tmp_path / "train-images-idx3-ubyte", x, gz=True)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "train-images-idx3-ubyte"),
                                           0x803), x)


def test_n_train_channels_image_size(tmp_path):
    _, y = make_idx_folder(tmp_path, n=20, h=6, w=6)
    d = load_images("mnist", data=str(tmp_path), n_train=5, channels=3, image_size=12)
    assert d.images.shape == (5, 12, 12, 3)
    np.testing.assert_array_equal(d.labels, y[:5])
    assert d.num_classes == 10
    # Gray widened to RGB: the three channels are identical.
    np.testing.assert_array_equal(d.images[..., 0], d.images[..., 2])
    # n_train larger than the set keeps everything.
    assert load_images("mnist", data=str(tmp_path), n_train=999).images.shape[0] == 20


def test_resize_of_constant_image_keeps_value(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.full((2, 4, 4), 200, np.uint8))
    d = load_images("mnist", data=str(tmp_path), image_size=9)
    assert d.images.shape == (2, 9, 9, 1)
    assert np.all(np.abs(d.images.astype(int) - 200) <= 1)


def test_truncated_gz(tmp_path):
    make_idx_folder(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "truncated" in one_line(e) and "train-images-idx3-ubyte.gz" in str(e.value)


def test_corrupt_gz(tmp_path):
    make_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "train-images-idx3-ubyte.gz" in one_line(e)


def test_wrong_magic(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 3, 3)), magic=0x00000801)
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "magic" in one_line(e) and "0x00000801" in str(e.value)
    assert "train-images-idx3-ubyte.gz" in str(e.value)


def test_wrong_magic_in_labels(tmp_path):
    make_idx_folder(tmp_path, labels=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros((12, 1, 1)))  # 0x803
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "magic" in one_line(e) and "train-labels-idx1-ubyte.gz" in str(e.value)


@pytest.mark.parametrize("extra", [-7, 5])
def test_header_payload_size_mismatch(tmp_path, extra):
    data = idx_bytes(np.zeros((4, 3, 3), np.uint8))
    data = data[:extra] if extra < 0 else data + b"\0" * extra
    (tmp_path / "train-images-idx3-ubyte").write_bytes(data)
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "4 x 3 x 3 = 36 bytes" in one_line(e)
    assert str(36 + extra) in str(e.value)


def test_file_shorter_than_header(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(struct.pack(">II", 0x803, 5))
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "header" in one_line(e)


def test_labels_count_mismatch(tmp_path):
    make_idx_folder(tmp_path, n=12, labels=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11))
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "11 labels for 12 images" in one_line(e)


def test_folder_without_idx_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "no IDX image file" in one_line(e) and "--dataset folder" in str(e.value)


def test_missing_path():
    with pytest.raises(DataError) as e:
        load_images("mnist", data="/nonexistent/mnist.npz")
    assert "/nonexistent/mnist.npz" in one_line(e) and "does not exist" in str(e.value)


def test_unreadable_file(tmp_path, monkeypatch):
    # chmod 0 does not stop root (CI runs as root): make the open itself fail as EACCES
    make_idx_folder(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    real_open = open

    def no_access(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_access)
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "cannot read" in one_line(e) and "Permission denied" in str(e.value)


def test_unreadable_file_as_directory(tmp_path):
    # Works as root too: a folder named like an IDX file cannot be opened as a file.
    (tmp_path / "train-images-idx3-ubyte.gz").mkdir()
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(tmp_path))
    assert "cannot read" in one_line(e) and "train-images-idx3-ubyte.gz" in str(e.value)


# ------------------------------------------------------------------------ npz

def test_npz_keras_layout(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (9, 6, 6), dtype=np.uint8)
    y = np.arange(9) % 4
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    d = load_images("mnist", data=str(path), n_train=8)
    assert d.images.shape == (8, 6, 6, 1)
    np.testing.assert_array_equal(d.images[..., 0], x[:8])
    np.testing.assert_array_equal(d.labels, y[:8])
    assert d.num_classes == 4 and d.name == f"npz:{path}"


def test_npz_rgb_to_gray(tmp_path):
    x = np.zeros((2, 3, 3, 3), np.uint8)
    x[0, ..., 0] = 255  # pure red
    x[1] = 255          # white
    path = tmp_path / "rgb.npz"
    np.savez(path, x_train=x)
    d = load_images("mnist", data=str(path))
    assert d.images.shape == (2, 3, 3, 3) and d.labels is None and d.num_classes == 0
    g = load_images("mnist", data=str(path), channels=1)
    assert g.images.shape == (2, 3, 3, 1)
    assert g.images[0, 0, 0, 0] == 76 and g.images[1, 0, 0, 0] == 255  # 0.299 * 255


def test_npz_missing_x_train(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(path))
    assert "x_train" in one_line(e) and "bad.npz" in str(e.value) and "images" in str(e.value)


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 3, 2), (2, 3, 3, 3, 1), (0, 3, 3)])
def test_npz_wrong_dimensionality(tmp_path, shape):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros(shape, np.uint8))
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(path))
    assert "bad.npz" in one_line(e)


def test_npz_float_pixels_refused(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, x_train=np.zeros((2, 3, 3), np.float32))
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(path))
    assert "float32" in one_line(e)


def test_npz_label_count_mismatch(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, x_train=np.zeros((4, 3, 3), np.uint8), y_train=np.zeros(3, np.int64))
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(path))
    assert "3 labels for 4 images" in one_line(e)


def test_npz_not_a_zip(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(path))
    assert "mnist.npz" in one_line(e) and "not a readable .npz" in str(e.value)


def test_truncated_npz(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, x_train=np.zeros((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(path))
    assert "mnist.npz" in one_line(e)


def test_unknown_file_type(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,3")
    with pytest.raises(DataError) as e:
        load_images("mnist", data=str(path))
    assert "data.csv" in one_line(e)


# ------------------------------------------------------------------------ image folder

def save_img(path, size, color, mode="RGB"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_folder_mixed_sizes_and_one_warning(tmp_path, capsys):
    save_img(tmp_path / "a.png", (8, 6), (255, 0, 0))        # first: sets W=8, H=6
    save_img(tmp_path / "b.jpg", (20, 20), (0, 0, 255))
    save_img(tmp_path / "c.bmp", (3, 5), 128, mode="L")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "zz.png").write_bytes(b"\x89PNG broken")
    d = load_images("folder", data=str(tmp_path))
    # the first image's shorter side sets the size; non-square ones are cropped square
    assert d.images.shape == (3, 6, 6, 3) and d.images.dtype == np.uint8
    assert d.labels is None and d.num_classes == 0 and d.name == f"folder:{tmp_path}"
    assert tuple(d.images[0, 3, 4]) == (255, 0, 0)
    assert d.images[1, 3, 4, 2] > 250 and d.images[1, 3, 4, 0] < 5
    assert tuple(d.images[2, 3, 4]) == (128, 128, 128)  # gray widened to RGB
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2 file" in err[0] and "notes.txt" in err[0]


def test_folder_grayscale_kept_and_resized(tmp_path, capsys):
    save_img(tmp_path / "x" / "1.png", (10, 10), 30, mode="L")
    save_img(tmp_path / "x" / "2.gif", (7, 7), 30, mode="L")
    d = load_images("folder", data=str(tmp_path), image_size=4)
    assert d.images.shape == (2, 4, 4, 1)  # the GIF has a gray palette: still grayscale
    assert np.all(np.abs(d.images.astype(int) - 30) <= 1)
    # One subfolder and no loose images: one class is no label (trains unconditionally).
    assert d.labels is None and d.class_names is None and d.num_classes == 0
    assert capsys.readouterr().err == ""
    d = load_images("folder", data=str(tmp_path), channels=3, n_train=1)
    assert d.images.shape == (1, 10, 10, 3)


def test_folder_class_subfolders(tmp_path):
    for cls, color in (("cat", 10), ("dog", 200)):
        for i in range(3):
            save_img(tmp_path / cls / f"{i}.png", (5, 5), (color, color, color))
    (tmp_path / "README.txt").write_text("a non-image beside the classes does not count")
    d = load_images("folder", data=str(tmp_path), channels=1)
    assert d.images.shape == (6, 5, 5, 1)
    np.testing.assert_array_equal(d.labels, [0, 0, 0, 1, 1, 1])
    assert d.labels.dtype == np.int64 and d.num_classes == 2
    assert d.class_names == ["cat", "dog"]
    assert d.images[0, 0, 0, 0] == 10 and d.images[5, 0, 0, 0] == 200


def test_folder_loose_images_mean_no_labels(tmp_path):
    save_img(tmp_path / "a.png", (4, 4), (1, 2, 3))
    save_img(tmp_path / "sub" / "b.png", (4, 4), (1, 2, 3))
    d = load_images("folder", data=str(tmp_path))
    assert d.images.shape == (2, 4, 4, 3) and d.labels is None


def test_folder_only_non_images(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.png").write_bytes(b"nope")
    with pytest.raises(DataError) as e:
        load_images("folder", data=str(tmp_path))
    assert "no readable images" in one_line(e) and str(tmp_path) in str(e.value)


def test_empty_folder(tmp_path):
    with pytest.raises(DataError) as e:
        load_images("folder", data=str(tmp_path))
    assert "no image files" in one_line(e)


def test_folder_needs_data_and_a_directory(tmp_path):
    with pytest.raises(DataError, match="needs --data"):
        load_images("folder")
    f = tmp_path / "a.png"
    save_img(f, (2, 2), (0, 0, 0))
    with pytest.raises(DataError, match="is a file"):
        load_images("folder", data=str(f))


def test_bad_arguments():
    with pytest.raises(DataError, match="unknown dataset"):
        load_images("cifar100")
    with pytest.raises(DataError, match="channels"):
        load_images("mnist", data="/x", channels=2)
    with pytest.raises(DataError, match=">= 0"):
        load_images("mnist", data="/x", n_train=-1)


# ------------------------------------------------------------------------ download

def fake_keras(monkeypatch, load_data):
    ds = types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=load_data),
                               fashion_mnist=types.SimpleNamespace(load_data=load_data))
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(datasets=ds))


def test_download_failure_is_one_line_data_error(monkeypatch):
    def offline():  # keras.utils.get_file raises a bare Exception when offline
        raise Exception(  # noqa: TRY002
            "URL fetch failure on https://storage.googleapis.com/mnist.npz: "
            "None -- [Errno -3]\nTemporary failure in name resolution")
    fake_keras(monkeypatch, offline)
    with pytest.raises(DataError) as e:
        load_images("mnist")
    msg = one_line(e)
    assert msg.startswith("could not download MNIST (URL fetch failure")
    assert "--data" in msg and "mnist.npz" in msg and "idx3-ubyte" in msg


def test_fashion_download_used_only_without_debian_package(monkeypatch, tmp_path):
    x = np.full((3, 28, 28), 7, np.uint8)
    fake_keras(monkeypatch, lambda: ((x, np.array([1, 2, 3])), (x, None)))
    monkeypatch.setattr(images_mod, "FASHION_MNIST_DIR", str(tmp_path / "absent"))
    d = load_images("fashion_mnist", channels=3)
    assert d.images.shape == (3, 28, 28, 3) and d.num_classes == 4 and d.name == "fashion_mnist"


def test_mnist_download_success_path(monkeypatch):
    x = np.zeros((5, 28, 28), np.uint8)
    fake_keras(monkeypatch, lambda: ((x, np.arange(5) % 10), (x, None)))
    d = load_images("mnist", n_train=2)
    assert d.images.shape == (2, 28, 28, 1) and list(d.labels) == [0, 1] and d.name == "mnist"


def test_import_does_not_pull_in_tensorflow():
    code = ("import sys, gancli.data.images, gancli.data.mnist_files, gancli.data.image_folder\n"
            "import gancli.data.image_source, gancli.sampling\n"
            "bad = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)

