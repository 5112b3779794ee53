"""The benchmark's arithmetic (not its timings): FLOPs from layer shapes, paired per-round
ratios and the table."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))

import _common  # noqa: E402
import bench_train  # noqa: E402
import keras  # noqa: E402
from _flops import flops_by_kind  # noqa: E402

from gancli.models.images import build_generator  # noqa: E402
from gancli.models.speedups import speed_up  # noqa: E402


def _flops(model):
    return sum(flops_by_kind(model).values())


def test_flops_by_hand():
    x = keras.Input((3,))
    tiny = keras.Model(x, keras.layers.Dense(2)(keras.layers.Dense(4)(x)))
    assert flops_by_kind(tiny) == {"matmul": 2 * (3 * 4 + 4 * 2), "conv": 0}

    x = keras.Input((4, 4, 3))
    conv = keras.layers.Conv2D(2, 3, padding="same")(x)             # 16 pixels x 27 x 2
    convt = keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same")(conv)  # 16 x 9*2*5
    assert _flops(keras.Model(x, convt)) == 2 * (16 * 27 * 2 + 16 * 9 * 2 * 5)

    # DCGAN generator on MNIST: Dense + two stride-2 transposed convs, counted by hand
    G = build_generator("dcgan", 100, (28, 28, 1))
    macs = 100 * 7 * 7 * 128 + 7 * 7 * 128 * 25 * 64 + 14 * 14 * 64 * 25 * 1
    assert _flops(G) == 2 * macs


def test_seed_classic_fast_generator_runs_a_third_of_the_conv_flops():
    stock = build_generator("seed-classic", 100, (28, 28, 1))
    fast = speed_up(stock, gpu=False)
    assert fast.count_params() == stock.count_params()
    # 7x7x128 -> 14x14x64: 9 taps x 4 phases at 7x7 instead of 25 taps at 14x14
    assert flops_by_kind(fast)["conv"] == 2 * (7 * 7 * 9 * 128 * 256 + 14 * 14 * 9 * 64 * 4)
    assert flops_by_kind(stock)["conv"] == 2 * (14 * 14 * 25 * 128 * 64 + 28 * 28 * 25 * 64)


def test_paired_ratios_follow_a_drifting_machine():
    # the machine slows down 2x between the reference's and gancli's third round:
    # the medians' ratio says 1.0x, each round's pair says 2x (once 1x)
    ref = [10.0, 10.0, 10.0, 5.0, 5.0]
    loop = [20.0, 20.0, 10.0, 10.0, 10.0]
    assert _common.paired_ratios(loop, ref) == (2.0, 1.0, 2.0)


def test_table_shows_the_paired_ratio_and_its_range():
    res = {"name": "seed-classic/16", "unit": "images", "samples_per_step": 16,
           "flops": {"matmul": 1e9, "conv": 3e9},
           "peaks": {"fp32": {"matmul": 100.0, "conv": 100.0},
                     "bf16": {"matmul": 200.0, "conv": 200.0}},
           "loops": {bench_train.REFERENCE: {"steps/s": 4.0, "rates": [4.0, 5.0, 3.0]},
                     "gancli fp32": {"steps/s": 10.0, "rates": [10.0, 10.0, 9.0]}}}
    lines = bench_train.table([res])
    row = next(line for line in lines if "gancli fp32" in line)
    assert " 2.50x " in row and "2.00-3.00" in row
    # GFLOP/s is useful work: 4 GFLOP per step x 10 steps/s; 40 % of a 100 GFLOP/s peak
    assert " 40.00 " in row and "40.0%" in row
