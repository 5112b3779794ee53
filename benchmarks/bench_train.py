"""Training speed: gancli's compiled loop vs the seeds' Keras loop, same models, same batch.

For each configuration a fresh worker process builds, from the same builders and
config the CLI uses, (a) the seed-style reference loop (benchmarks/_common.py:
G.predict, D.train_on_batch on [real; fake], stacked GD.train_on_batch with
D.trainable = False) and (b) gancli's loop (GANTrainer.train(n) from
gancli.training.setup.make_trainer, one compiled call of n steps) at each requested
precision. In that ONE process it alternates timed rounds of about --seconds each
(reference, gancli fp32, gancli bf16, ...) and reports the median steps/s per loop,
so load from other processes hits every loop alike. "x seed" is the median over
rounds of the loop's rate over the reference's rate in the same round (paired, so
a drift in the machine's speed cancels), "rounds" the lowest and highest of those
per-round ratios; "x seed" is the figure to quote, absolute rates depend on the
machine's load.

Reported per loop: steps/s (one step = n_critic D updates + n_gen G updates), real
samples/s (images, or values for train-dist: batch x vector_len), the process's peak
RSS during that loop's rounds (VmHWM, reset before each round; the rise over the RSS
at round start in brackets: the loop's own working memory), the ratio to the
reference, GFLOP/s and the % of the CPU's float32 and bfloat16 peaks reached.

FLOPs per step (benchmarks/_common.step_flops), from forward FLOPs per sample F_G and
F_D counted from layer shapes by benchmarks/_flops.flops_by_kind (Dense, Conv1D,
Conv2D, Conv2DTranspose; 2 x multiply-adds): b (4 F_G + 8 F_D) for one D and one G
update at batch b -- D update: G forward + D forward/backward on [real; fake]
(b F_G + 6 b F_D); G update: G forward/backward + D forward/backward to its input
(3 b F_G + 2 b F_D). seed-classic: F_G 95.8 M, F_D 50.0 M -> 784 MFLOP per image;
dcgan: F_G 22.0 M, F_D 20.7 M -> 254 MFLOP per image; dcgan-deep at 32 x 32 x 3 (default
width 64): F_G 35.9 M, F_D 35.1 M -> 425 MFLOP per image, at 64 x 64 x 3: F_G 209.3 M,
F_D 207.6 M -> 2,498 MFLOP per image. Peaks: measured on this machine
by each configuration's process just before and after its timed rounds, the better
of the two, so they see the same load as the loops (_common.measure_peaks: best
GFLOP/s of a 2048^3 matmul and of a 64 x 14x14x128 -> 128 5x5 conv, float32 and
bfloat16; printed under each configuration); --no_peaks uses issue 5's figures
for its Xeon (float32 matmul 190 / conv 220, bfloat16 385 / 445). A step's % of peak
is the time it would take with each kind of FLOP at its peak over the time it took.

seed-classic: the reference runs seed 000's layers (UpSampling2D + Conv2D in G,
Conv2D in D), as the builders make them; gancli trains the same functions with the
layers gancli.models.speedups swaps in, as train-mnist does: its UpConv2D layer,
which computes each upsample-then-conv at the lower resolution (~0.36 of those FLOPs,
same weights, gancli.models.layers), and, when no GPU is seen, D's convs as
FastGradConv2D (stock forward, faster gradient routes: gancli.models.fastconv); its D
also applies each tanh after the max-pool (they commute) and stores the Dense kernel
transposed (TransposedDense).
The row "gancli fp32+seed layers" is gancli's loop on the seed's stock layers, so
the table splits the gain into loop and layers. gancli's image
presets also share one G forward pass between the D and the G step (reuse_fake:
b F_G less per step). FLOPs are always counted for the seed's layers and the seed's
two G forward passes: for gancli's rows GFLOP/s and % of peak are the useful work
done per second, not the FLOPs executed.

Both loops run with the TensorFlow settings the CLI uses (gancli.tfenv: oneDNN
kernels on x86). The seed-style loop keeps Keras's own SGD / Adam; gancli's uses its
fused update kernels (gancli.training.optimizers).

Data: synthetic uint8 images of MNIST's shape (60,000 x 28 x 28 x 1), or 4,000 colour
ones of the configuration's size (dcgan-deep32: 32 x 32 x 3, dcgan-deep64: 64 x 64 x 3,
unconditional, the dcgan preset's recipe) -- no dataset needed; train-dist draws its
normal target in-graph (gancli) or with NumPy (seed).

    python benchmarks/bench_train.py                      # every configuration
    python benchmarks/bench_train.py --quick              # short rounds, for a smoke run
    python benchmarks/bench_train.py --configs seed-classic/64,dcgan/64 --precision fp32,bf16
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (imports gancli: TensorFlow's environment, before it loads)

MNIST_SHAPE = (28, 28, 1)
# name -> (command, preset, batch size, config overrides, image shape); the colour rows
# train the dcgan preset's recipe on dcgan-deep, the model that grows with the size
CONFIGS = {
    "seed-normal/10": ("train-dist", "seed-normal", 10, {}, None),
    "seed-normal/256": ("train-dist", "seed-normal", 256, {}, None),
    "seed-classic/16": ("train-mnist", "seed-classic", 16, {}, MNIST_SHAPE),
    "seed-classic/64": ("train-mnist", "seed-classic", 64, {}, MNIST_SHAPE),
    "seed-classic/128": ("train-mnist", "seed-classic", 128, {}, MNIST_SHAPE),
    "dcgan/64": ("train-mnist", "dcgan", 64, {}, MNIST_SHAPE),
    "dcgan-deep32/64": ("train-mnist", "dcgan", 64, {"model": "dcgan-deep"}, (32, 32, 3)),
    "dcgan-deep64/64": ("train-mnist", "dcgan", 64, {"model": "dcgan-deep"}, (64, 64, 3)),
}
# synthetic images: MNIST's count, fewer in colour (the seed loop keeps a float32 copy:
# 4,000 x 64 x 64 x 3 is 197 MB)
N_IMAGES, N_COLOUR = 60000, 4000
REFERENCE = "seed-style"
SEED_LAYERS = "seed layers"  # gancli's loop on the seed's stock layers (no UpConv2D,
# no FastGradConv2D, the seed's D stack)


# --- building what the CLI builds -------------------------------------------------------

def make_cfg(name: str):
    from gancli import config
    from gancli.config import DistConfig, ImageConfig
    from gancli.presets import PRESETS

    command, preset, batch, overrides, _ = CONFIGS[name]
    cls = DistConfig if command == "train-dist" else ImageConfig
    return command, config.resolve(cls, PRESETS[command], preset, preset=preset,
                                   overrides={**overrides, "seed": 0, "batch_size": batch})


def build_models(command: str, cfg, shape=None, speed_up: bool = True):
    """G and D as the command builds them (its build_models). speed_up=False, for
    train-mnist: the builders' stock layers without gancli.models.speedups' swaps (the
    seed's layers: UpSampling2D + Conv2D in G, Conv2D(tanh) before each max-pool and
    a Dense in D)."""
    if command == "train-dist":
        from gancli.commands import train_dist

        return train_dist.build_models(cfg)
    from gancli.commands import train_mnist

    return train_mnist.build_models(cfg, shape, 0, speed_up=speed_up)


def synthetic_images(name: str):
    """Random uint8 images of configuration `name`'s shape, or None for train-dist."""
    import numpy as np

    shape = CONFIGS[name][4]
    if shape is None:
        return None
    n = N_IMAGES if shape == MNIST_SHAPE else N_COLOUR
    return np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8)


class GancliLoop:
    """GANTrainer.train(n) as the CLI sets it up, at one precision (and XLA or not)."""

    def __init__(self, command, cfg, prec: str, jit: bool, pixels=None, speed_up=True):
        from gancli.training import precision
        from gancli.training.setup import make_trainer, seed_everything

        seed_everything(cfg.seed)
        with precision.policy(prec):
            G, D = build_models(command, cfg, None if pixels is None else pixels.shape[1:],
                                speed_up)
            if command == "train-dist":
                from gancli.config import parse_target
                from gancli.data.dist import DistSource

                source = DistSource(parse_target(cfg.target), cfg.vector_len)
            else:
                from gancli.data.image_source import ImageSource
                from gancli.data.images import ImageData

                source = ImageSource(ImageData(pixels, None, 0, "synthetic"))
            self.trainer = make_trainer(cfg, G, D, source, steps=cfg.steps or 1000,
                                        jit_compile=jit)
        self.G, self.D = G, D

    def train(self, n):
        self.trainer.train(n)


def seed_loop(command, cfg, pixels=None) -> _common.SeedStyleLoop:
    import numpy as np

    from gancli.config import parse_noise, parse_target
    from gancli.training.setup import seed_everything
    from gancli.training.optimizers import make_optimizer

    seed_everything(cfg.seed)
    G, D = build_models(command, cfg, None if pixels is None else pixels.shape[1:],
                        speed_up=False)  # the seed's own layers
    if command == "train-dist":
        mu, sd = parse_target(cfg.target)[0]
        shape = (cfg.vector_len,)

        def real_fn(rng, n):
            return rng.normal(mu, sd, (n, *shape)).astype(np.float32)
    else:
        # the seeds scaled the whole training set to float32 in [-1, 1] up front
        scaled = pixels.astype(np.float32) / 127.5 - 1.0

        def real_fn(rng, n):
            return scaled[rng.integers(0, len(scaled), n)]
    d_opt = make_optimizer(cfg.d_optimizer, cfg.d_lr, beta1=cfg.d_beta1,
                           beta2=cfg.d_beta2, momentum=cfg.d_momentum, nesterov=cfg.d_nesterov,
                           fused=False)
    g_opt = make_optimizer(cfg.g_optimizer, cfg.g_lr, beta1=cfg.g_beta1,
                           beta2=cfg.g_beta2, momentum=cfg.g_momentum, nesterov=cfg.g_nesterov,
                           fused=False)
    return _common.SeedStyleLoop(G, D, real_fn, cfg.latent_dim, parse_noise(cfg.noise),
                                 cfg.batch_size, d_opt, g_opt)


# --- one configuration, in its own process ----------------------------------------------

def build_loop(label: str, command: str, cfg, pixels):
    if label == REFERENCE:
        return seed_loop(command, cfg, pixels)
    prec, _, extra = label.removeprefix("gancli ").partition("+")
    return GancliLoop(command, cfg, prec, extra == "xla", pixels,
                      speed_up=extra != SEED_LAYERS)


def _max_peaks(a: dict, b: dict) -> dict:
    return {p: {k: max(a[p][k], b[p][k]) for k in a[p]} for p in a}


def worker(name: str, labels: list[str], rounds: int, seconds: float,
           peaks: bool = True) -> dict:
    """Time every loop of configuration `name`, interleaved, in this process; with
    `peaks`, measure the CPU's peaks here too, just before and after the rounds (the
    better of the two), so they are taken under the same load as the loops."""
    command, cfg = make_cfg(name)
    pixels = synthetic_images(name)
    if not (command == "train-mnist" and cfg.model == "seed-classic"):
        labels = [k for k in labels if not k.endswith(SEED_LAYERS)]  # the same models there
    loops = {label: build_loop(label, command, cfg, pixels) for label in labels}
    ref = loops[REFERENCE]
    flops = _common.step_flops(ref.G, ref.D, cfg.batch_size, cfg.n_critic, cfg.n_gen)
    samples = cfg.batch_size * cfg.n_critic * (cfg.vector_len if command == "train-dist"
                                               else 1)
    before = _common.measure_peaks(0.5) if peaks else _common.PEAK
    results = _common.interleave(loops, rounds, seconds,
                                 log=lambda line: print(line, file=sys.stderr, flush=True))
    after = _common.measure_peaks(0.5) if peaks else _common.PEAK
    return {"name": name, "unit": "values" if command == "train-dist" else "images",
            "samples_per_step": samples, "flops": flops, "peaks": _max_peaks(before, after),
            "loops": {k: {"steps/s": v["steps/s"], "rates": v["rates"]}
                      for k, v in results.items()}}


def memory_worker(name: str, label: str, seconds: float) -> dict:
    """Peak RSS of a process that builds and runs only loop `label` (~`seconds`)."""
    command, cfg = make_cfg(name)
    pixels = synthetic_images(name)
    loop = build_loop(label, command, cfg, pixels)
    _common.interleave({label: loop}, 1, seconds)
    return {"peak_mb": _common.peak_mb()}


def run_worker(name: str, args, labels: list[str], memory_of: str | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name,
           "--loops", ",".join(labels), "--rounds", str(args.rounds),
           "--seconds", str(args.seconds)] + (["--memory_of", memory_of] if memory_of else []) \
        + (["--no_peaks"] if args.no_peaks else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        sys.exit(f"worker {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    if args.verbose:
        print(proc.stderr.strip(), file=sys.stderr)
    return json.loads(lines[-1])


# --- the table --------------------------------------------------------------------------

def _si(x: float) -> str:
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.1f}{suffix}"
    return f"{x:.1f}"


def table(results: list[dict]) -> list[str]:
    w = max(17, *(len(k) for res in results for k in res["loops"]))
    head = (f"{'config':<17} {'loop':<{w}} {'steps/s':>8} {'samples/s':>14} {'x seed':>7} "
            f"{'rounds':>11} {'peak MiB':>8} {'GFLOP/s':>8} {'%fp32pk':>8} {'%bf16pk':>8}")
    lines = [head, "-" * len(head)]
    for res in results:
        flops, total, peak = res["flops"], sum(res["flops"].values()), res["peaks"]
        ref_rates = res["loops"][REFERENCE]["rates"]
        unit = "img/s" if res["unit"] == "images" else "val/s"
        for i, (loop, rec) in enumerate(res["loops"].items()):
            rate = rec["steps/s"]
            ratio, lo, hi = _common.paired_ratios(rec["rates"], ref_rates)
            mem = f"{rec['peak_mb']:.0f}" if "peak_mb" in rec else "-"
            lines.append(
                f"{res['name'] if i == 0 else '':<17} {loop:<{w}} {rate:>8.1f} "
                f"{_si(rate * res['samples_per_step']) + ' ' + unit:>14} {ratio:>6.2f}x "
                f"{f'{lo:.2f}-{hi:.2f}':>11} {mem:>8} {rate * total / 1e9:>8.2f} "
                f"{_common.percent_of_peak(flops, rate, peak['fp32']):>7.1f}% "
                f"{_common.percent_of_peak(flops, rate, peak['bf16']):>7.1f}%")
        lines.append(f"{'':<17} FLOPs per step {total / 1e9:.3f} G "
                     f"({total / res['samples_per_step'] / 1e6:.1f} M per "
                     f"{res['unit'][:-1]}; matmul {flops['matmul'] / total:.0%}, "
                     f"conv {flops['conv'] / total:.0%}); peaks GFLOP/s: " + "; ".join(
                         f"{p} matmul {v['matmul']:.0f}, conv {v['conv']:.0f}"
                         for p, v in peak.items()))
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help=f"comma-separated rows to run (default: all of {', '.join(CONFIGS)})")
    p.add_argument("--precision", default="fp32",
                   help="gancli precisions to time, comma separated: fp32, bf16, fp16 "
                        "(default: fp32)")
    p.add_argument("--xla", action="store_true", help="also time gancli fp32 with "
                   "jit_compile=True (XLA)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--seconds", type=float, default=1.5,
                   help="length of one loop's round, s (default 1.5)")
    p.add_argument("--quick", action="store_true",
                   help="3 rounds of 0.4 s and no memory processes: a smoke run")
    p.add_argument("--no_memory", action="store_true",
                   help="skip the peak-memory processes (one per loop and configuration)")
    p.add_argument("--no_peaks", action="store_true", help="use issue 5's stated peaks "
                   "(a 2-core AVX512-BF16 Xeon) instead of measuring this machine's")
    p.add_argument("--verbose", action="store_true", help="show the workers' calibration")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--loops", help=argparse.SUPPRESS)
    p.add_argument("--memory_of", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        out = (memory_worker(args.worker, args.memory_of, args.seconds) if args.memory_of
               else worker(args.worker, args.loops.split(","), args.rounds, args.seconds,
                           peaks=not args.no_peaks))
        print(json.dumps(out))
        return
    if args.quick:
        args.rounds, args.seconds, args.no_memory = 3, 0.4, True
    variants = [v.strip() for v in args.precision.split(",") if v.strip()]
    if bad := [v for v in variants if v not in ("fp32", "bf16", "fp16")]:
        p.error(f"--precision: unknown {', '.join(bad)} (valid: fp32, bf16, fp16)")
    labels = [REFERENCE, f"gancli fp32+{SEED_LAYERS}"] + [f"gancli {v}" for v in variants] + (
        ["gancli fp32+xla"] if args.xla else [])
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    if bad := [n for n in names if n not in CONFIGS]:
        p.error(f"--configs: unknown {', '.join(bad)} (valid: {', '.join(CONFIGS)})")
    print(f"machine: {_common.machine()}")
    print(f"{args.rounds} interleaved rounds of ~{args.seconds:g} s per loop, medians, one "
          "process per configuration; peak MiB: VmHWM of a separate process that runs "
          "only that loop; synthetic uint8 images (MNIST-shaped, or the colour size the "
          "configuration names)", flush=True)
    t0 = time.perf_counter()
    results = []
    for name in names:
        res = run_worker(name, args, labels)
        if not args.no_memory:
            for label in res["loops"]:
                mem = run_worker(name, args, labels, memory_of=label)
                res["loops"][label]["peak_mb"] = mem["peak_mb"]
        results.append(res)
        print(f"  {name} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    print("\n".join(table(results)))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end: {load}; {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
