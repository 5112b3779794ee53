"""gancli.latents: seeded noise from a --noise spec and class labels, the one host-side
sampler behind the training grids, reports, --eval_every, generate and eval."""
import numpy as np
import pytest

from gancli.config import parse_noise
from gancli.errors import ConfigError
from gancli.latents import check_truncate, draw_inputs, draw_labels, draw_noise


@pytest.mark.parametrize("spec", ["uniform:-1,1", "normal:4,1.25"])
def test_noise_follows_the_spec_string_or_its_parsed_form(spec):
    z = draw_noise(np.random.default_rng(3), (4000, 5), spec)
    assert z.dtype == np.float32 and z.shape == (4000, 5)
    np.testing.assert_array_equal(z, draw_noise(np.random.default_rng(3), (4000, 5),
                                                parse_noise(spec)))
    kind, a, b = parse_noise(spec)
    if kind == "uniform":
        assert a <= z.min() and z.max() <= b and abs(z.mean()) < 0.02
    else:
        assert abs(z.mean() - a) < 0.05 and abs(z.std() - b) < 0.05


def test_normal_noise_is_numpys_normal_draw():
    # the stream the fixed grids and reports drew before they shared this sampler:
    # rng.normal(MU, SD) (float64, then float32); a + b * z may round differently
    want = np.random.default_rng([9, 2]).normal(4.0, 1.25, (64, 16)).astype(np.float32)
    got = draw_noise(np.random.default_rng([9, 2]), (64, 16), "normal:4,1.25")
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_labels_cycle_are_fixed_or_absent():
    assert draw_labels(5, 0) is None
    y = draw_labels(7, 3)
    assert y.dtype == np.int32 and y.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert draw_labels(4, 10, label=6).tolist() == [6] * 4


def test_labels_with_class_frequencies():
    probs = [0.7, 0.0, 0.2, 0.1]
    y = draw_labels(20000, 4, np.random.default_rng(0), probs=probs)
    assert y.dtype == np.int32
    np.testing.assert_allclose(np.bincount(y, minlength=4) / len(y), probs, atol=0.015)
    # weights need not sum to 1; the same seed gives the same labels
    again = draw_labels(20000, 4, np.random.default_rng(0), probs=[7, 0, 2, 1])
    np.testing.assert_array_equal(y, again)
    for bad in ([0.5, 0.5], [1, -1, 1, 1], [0, 0, 0, 0]):
        with pytest.raises(ValueError):
            draw_labels(10, 4, np.random.default_rng(0), probs=bad)


def test_inputs_are_seeded_noise_then_labels():
    z, y = draw_inputs(6, 3, "uniform:0,1", 4, [5, 3])
    np.testing.assert_array_equal(z, draw_noise(np.random.default_rng([5, 3]), (6, 3),
                                                "uniform:0,1"))
    assert y.tolist() == [0, 1, 2, 3, 0, 1]
    # labels drawn with frequencies come after the noise: the noise does not change
    z2, y2 = draw_inputs(6, 3, "uniform:0,1", 4, [5, 3], probs=[0, 0, 1, 0])
    np.testing.assert_array_equal(z2, z)
    assert y2.tolist() == [2] * 6


def test_check_truncate():
    check_truncate(None, "uniform:0,1")
    check_truncate(1.0, "uniform:0,1")
    check_truncate(2.5, "normal:0,1")
    for bad, spec, words in ((0.0, "normal:0,1", "positive"),
                             (float("nan"), "normal:0,1", "positive"),
                             (1.5, "uniform:-1,1", "(0, 1]")):
        with pytest.raises(ConfigError, match="--truncate") as e:
            check_truncate(bad, spec)
        assert words in str(e.value)
