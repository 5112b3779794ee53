"""gancli.latents: seeded noise from a --noise spec and class labels, the one host-side
sampler behind the training grids, reports, --eval_every, generate and eval; and the
latent walks of generate --interpolate (slerp, lerp, walk)."""
import numpy as np
import pytest

from gancli.config import parse_noise
from gancli.errors import ConfigError
from gancli.latents import (check_truncate, draw_inputs, draw_labels, draw_noise, lerp,
                            slerp, walk)


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


# ---------------------------------------------------------------------------- walks

def test_slerp_endpoints_are_exact_and_the_path_runs_on_the_arc():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 5, 64)).astype(np.float32)  # 5 pairs
    np.testing.assert_array_equal(slerp(a, b, 0.0), a)
    np.testing.assert_array_equal(slerp(a, b, 1.0), b)
    t = np.linspace(0, 1, 11)[:, None, None]  # (11, 1, 1) against (5, 64)
    b = b * (np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1))[:, None]  # |a| = |b|
    p = slerp(a, b, t).astype(np.float64)  # (11, 5, 64)
    norm = np.linalg.norm(a, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(p, axis=-1), np.broadcast_to(norm, (11, 5)),
                               rtol=1e-5)  # on the sphere of |a|
    cos = lambda u, v: np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1)  # noqa: E731
                                            * np.linalg.norm(v, axis=-1))
    omega = np.arccos(cos(a, b))
    np.testing.assert_allclose(np.arccos(np.clip(cos(p, a), -1, 1)), t[..., 0] * omega,
                               atol=1e-3)  # turning from a at a constant rate
    # in the plane of a and b: nothing left after projecting out a and b
    basis, _ = np.linalg.qr(np.stack([a, b], -1))  # (5, 64, 2)
    rest = p - np.einsum("pdk,tpk->tpd", basis, np.einsum("pdk,tpd->tpk", basis, p))
    assert np.abs(rest).max() < 1e-4 * norm.max()
    # a straight line would cut through the middle: 0.71 x the norm for orthogonal draws
    mid = lerp(a, b, 0.5)
    assert np.median(np.linalg.norm(mid, axis=-1) / norm) < 0.8


def test_slerp_of_parallel_points_is_the_straight_line():
    a = np.array([1.0, 2.0, 2.0], np.float32)
    np.testing.assert_allclose(slerp(a, 3 * a, 0.5), 2 * a, rtol=1e-6)
    np.testing.assert_allclose(slerp(a, -a, 0.25), 0.5 * a, rtol=1e-6)
    assert np.all(np.isfinite(slerp(np.zeros(3), a, 0.5)))


def test_lerp_stays_in_the_noise_range_and_hits_its_endpoints():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, (2, 200, 16)).astype(np.float32)
    a[0] = b[0] = 1.0  # the edge of the range: rounding must not step past it
    a[1], b[1] = -1.0, 1.0
    t = np.linspace(0, 1, 33)[:, None, None]
    p = lerp(a, b, t)
    assert p.dtype == np.float32 and p.min() >= -1.0 and p.max() <= 1.0
    np.testing.assert_array_equal(p[0], a)
    np.testing.assert_array_equal(p[-1], b)
    np.testing.assert_array_equal(p[:, 0], np.ones((33, 16), np.float32))
    np.testing.assert_allclose(p[16], (a + b) / 2, atol=1e-7)


@pytest.mark.parametrize("noise", ["normal:0,1", "normal:2,0.5", "uniform:0,4"])
def test_walk_passes_every_point_and_loops(noise):
    pts = draw_noise(np.random.default_rng(2), (3, 4, 10), noise)  # 3 walks, K = 4
    loop = walk(pts, 5, noise, loop=True)
    assert loop.shape == (3, 20, 10) and loop.dtype == np.float32
    np.testing.assert_array_equal(loop[:, ::5], pts)  # point k at frame 5k, exactly
    strip = walk(pts, 2, noise, loop=False)
    assert strip.shape == (3, 7, 10)
    np.testing.assert_array_equal(strip[:, ::2], pts)  # ends on the last point
    # the loop's last segment is the path from the last point back to the first
    back = walk(pts[:, [3, 0]], 5, noise, loop=False)
    np.testing.assert_allclose(loop[:, 15:], back[:, :5], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(strip[:, 2:5], walk(pts[:, 1:3], 2, noise, loop=False),
                               rtol=1e-6, atol=1e-6)
    if noise.startswith("uniform"):
        assert loop.min() >= 0 and loop.max() <= 4
    else:  # slerp about the mean: the distance to MU stays between the endpoints'
        mu = float(noise.split(":")[1].split(",")[0])
        r = np.linalg.norm(loop - mu, axis=-1)
        rk = np.linalg.norm(pts - mu, axis=-1)
        assert r.min() >= rk.min() * 0.9 and r.max() <= rk.max() * 1.1
    with pytest.raises(ValueError):
        walk(pts[:, :1], 5, noise, loop=True)
