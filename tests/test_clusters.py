"""--clusters: training without labels conditions G and D on k-means clusters of the
images (gancli.data.clusters), and what it saves draws clusters like classes."""
import json

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, main, read_csv

from gancli.data import clusters
from gancli.data.images import ImageData


def _blobs(counts, side=8, seed=0):
    """Images of len(counts) kinds: kind j is a bright square at a position of its
    own on black, with a little noise; counts[j] images of kind j, shuffled."""
    rng = np.random.default_rng(seed)
    kinds = np.repeat(np.arange(len(counts)), counts)
    rng.shuffle(kinds)
    x = rng.integers(0, 30, (len(kinds), side, side, 3)).astype(np.uint8)
    for i, j in enumerate(kinds):
        r, c = divmod(j, 2)
        x[i, 4 * r:4 * r + 4, 4 * c:4 * c + 4] = 200 + 20 * (j % 3)
    return x, kinds


def test_kmeans_finds_separated_kinds_largest_first_and_repeats():
    x, kinds = _blobs([50, 30, 20])
    data = ImageData(x, None, 0, "blobs")
    a, b = clusters.cluster(data, 3), clusters.cluster(data, 3)
    assert a.num_classes == 3 and a.class_names == ["cluster0", "cluster1", "cluster2"]
    np.testing.assert_array_equal(a.labels, b.labels)  # same images, same clusters
    assert np.bincount(a.labels).tolist() == [50, 30, 20]  # largest first
    for j in range(3):  # each cluster is one kind
        assert len(set(kinds[a.labels == j])) == 1


def test_no_cluster_is_left_empty():
    x = np.zeros((12, 8, 8, 1), np.uint8)  # 12 identical images, 5 clusters asked
    x[:2] = 255
    labels = clusters.cluster(ImageData(x, None, 0, "same"), 5).labels
    assert set(labels.tolist()) == set(range(5))


def _folder(root, counts):
    x, _ = _blobs(counts)
    (root / "all").mkdir(parents=True)
    for i, img in enumerate(x):
        Image.fromarray(img).save(root / "all" / f"{i}.png")


def test_unlabelled_folder_trains_on_clusters_and_generates_them(tmp_path, capsys):
    _folder(tmp_path / "data", [24, 16, 8])
    run = tmp_path / "run"
    argv = ["train-mnist", "--dataset", "folder", "--data", tmp_path / "data", "--out", run,
            "--width", "8", "--image_size", "16", "--clusters", "3", "--batch_size", "8",
            "--latent_dim", "8", "--grid_size", "6", "--quiet"]  # the folder preset's model
    code, err = main(argv + ["--steps", "2"], capsys)
    assert code == 0, err
    assert "training dcgan-deep on 3 k-means clusters" in err
    meta = json.loads((run / "generator.json").read_text())
    assert meta["num_classes"] == 3 and meta["class_names"] == ["cluster0", "cluster1",
                                                                "cluster2"]
    assert meta["class_frequencies"] == pytest.approx([0.5, 1 / 3, 1 / 6])
    text = (run / "config.yaml").read_text()
    assert "conditional: none" in text and "clusters: 3" in text
    # resume finds the same clusters: the run goes on with the same label input
    code, err = main(["train-mnist", "--resume", run, "--steps", "3", "--quiet"], capsys)
    assert code == 0, err
    assert read_csv(run / "metrics.csv")[1][-1]["step"] == "3"
    code, err = main(["generate", "--weights", run, "--n", "6", "--label", "cluster2",
                      "--out", tmp_path / "g"], capsys)
    assert code == 0, err


def _train_small(capsys, root, *extra):
    """One step of the folder default at 16 px on root/data -> (exit code, stderr)."""
    return main(["train-mnist", "--dataset", "folder", "--data", root / "data", "--out",
                 root / "run", "--steps", "1", "--batch_size", "8", "--width", "8",
                 "--image_size", "16", "--latent_dim", "8", "--grid_size", "4", "--quiet",
                 *extra], capsys)


def test_clusters_zero_is_a_plain_unconditional_pair(tmp_path, capsys):
    _folder(tmp_path / "data", [10, 10])
    code, err = _train_small(capsys, tmp_path, "--clusters", "0")
    assert code == 0, err
    assert "k-means" not in err
    assert json.loads((tmp_path / "run" / "generator.json").read_text())["num_classes"] == 0


def test_more_clusters_than_images_allow_is_one_line(tmp_path, capsys):
    _folder(tmp_path / "data", [5, 5])
    code, err = _train_small(capsys, tmp_path, "--clusters", "8")
    assert_one_line_error(code, err, "--clusters 8 needs at least 16 images",
                          prefix="gancli train-mnist: error:")
    assert not (tmp_path / "run").exists()


def test_a_presets_clusters_are_cut_to_fit_a_small_folder(tmp_path, capsys):
    _folder(tmp_path / "data", [30, 30])  # the folder preset's 50 clusters: 60 // 20 = 3
    code, err = _train_small(capsys, tmp_path)
    assert code == 0, err
    assert "on 3 k-means clusters" in err and "the preset's 50 cut to fit 60 images" in err
    assert "clusters: 3" in (tmp_path / "run" / "config.yaml").read_text()
    assert json.loads((tmp_path / "run" / "generator.json").read_text())["num_classes"] == 3


def test_a_labelled_folder_trains_on_clusters_unless_asked_for_its_classes(tmp_path, capsys):
    x, kinds = _blobs([30, 30])
    for i, (img, k) in enumerate(zip(x, kinds)):
        (tmp_path / "data" / f"kind{k}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "data" / f"kind{k}" / f"{i}.png")
    code, err = _train_small(capsys, tmp_path)
    assert code == 0, err
    assert "on 3 k-means clusters of the images (--conditional: its 2 classes" in err
    meta = json.loads((tmp_path / "run" / "generator.json").read_text())
    assert meta["class_names"] == ["cluster0", "cluster1", "cluster2"]
    code, err = _train_small(capsys, tmp_path, "--conditional", "--overwrite")
    assert code == 0, err
    meta = json.loads((tmp_path / "run" / "generator.json").read_text())
    assert meta["class_names"] == ["kind0", "kind1"]
