"""The benchmark's arithmetic (not its timings): paired per-round ratios and the table."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))

import _common  # noqa: E402
import bench_train  # noqa: E402


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
