"""train-dist speed: gancli's compiled loop vs the seeds' Keras loop, in ONE process.

The reference loop is written the seeds' way (seed 000's Machine.train_each):
G.predict -> D.train_on_batch on [real; fake] -> stacked GD.train_on_batch with
D.trainable = False at compile time. Both loops train the same seed-normal
models (same builders, same batch). Rounds are interleaved so drift in machine
load hits both alike; the figure reported is the ratio of median steps/s.

    python benchmarks/bench_dist.py [--batch_size 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import gancli  # noqa: F401  (first: TensorFlow's environment as the CLI sets it, gancli.tfenv)
import keras
import numpy as np

from gancli import config
from gancli.commands import train_dist
from gancli.config import DistConfig, parse_target
from gancli.data.dist import DistSource
from gancli.presets import PRESETS
from gancli.training import distribute
from gancli.training.setup import make_trainer, seed_everything


def build(cfg):
    G, D = train_dist.build_models(cfg)  # as the command builds them
    return G, D, parse_target(cfg.target)


class SeedLoop:
    """Seed 000's Machine: predict, D.train_on_batch, GD.train_on_batch."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.G, self.D, comps = build(cfg)
        (self.mu, self.sd), = comps[:1]
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        self.D.compile(optimizer=keras.optimizers.Adam(cfg.d_lr, beta_1=0.9), loss=loss)
        self.D.trainable = False
        self.GD = keras.Sequential([self.G, self.D])
        self.GD.compile(optimizer=keras.optimizers.Adam(cfg.g_lr, beta_1=0.9), loss=loss)
        self.D.trainable = True
        self.rng = np.random.default_rng(0)

    def train(self, n):
        b, v = self.cfg.batch_size, self.cfg.vector_len
        for _ in range(n):
            real = self.rng.normal(self.mu, self.sd, (b, v))
            z = self.rng.random((b, self.cfg.latent_dim))
            fake = self.G.predict(z, verbose=0)
            x = np.concatenate([real, fake])
            y = np.array([1.0] * b + [0.0] * b)[:, None]
            self.D.train_on_batch(x, y)
            z = self.rng.random((b, self.cfg.latent_dim))
            self.GD.train_on_batch(z, np.ones((b, 1)))


class GancliLoop:
    def __init__(self, cfg):
        G, D, comps = build(cfg)
        # XLA as the CLI decides it (--jit auto: on for train-dist on one device)
        jit = distribute.use_jit(cfg.jit, None, on_cpu=True)
        self.trainer = make_trainer(cfg, G, D, DistSource(comps, cfg.vector_len),
                                    jit_compile=jit)

    def train(self, n):
        self.trainer.train(n)


def rate(loop, n):
    t0 = time.perf_counter()
    loop.train(n)
    return n / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch_size", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed_steps", type=int, default=60, help="seed-loop steps per round")
    p.add_argument("--gancli_steps", type=int, default=3000, help="gancli steps per round")
    args = p.parse_args()
    cfg = config.resolve(DistConfig, PRESETS["train-dist"], "seed-normal",
                         overrides={"seed": 0, "batch_size": args.batch_size})
    seed_everything(0)
    seed, ours = SeedLoop(cfg), GancliLoop(cfg)
    seed.train(5)                 # build, compile, warm up
    ours.train(50)                # trace the tf.function
    s_rates, g_rates = [], []
    for _ in range(args.rounds):  # interleaved
        s_rates.append(rate(seed, args.seed_steps))
        g_rates.append(rate(ours, args.gancli_steps))
    s, g = statistics.median(s_rates), statistics.median(g_rates)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"TF {__import__('tensorflow').__version__}, Keras {keras.__version__}")
    print(f"seed-normal, batch {args.batch_size}, {args.rounds} interleaved rounds (median)")
    print(f"  seed-style loop (predict + train_on_batch): {s:10.1f} steps/s")
    print(f"  gancli loop (compiled multi-step)          : {g:10.1f} steps/s")
    print(f"  ratio gancli / seed-style                  : {g / s:10.1f}x")
    print(f"  30,000-step run at this rate               : {30000 / g:10.1f} s of training")


if __name__ == "__main__":
    main()
