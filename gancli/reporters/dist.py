"""train-dist reports: moments, W1, KS (and component mass) of generated values
against the target, and seed 000's histogram of real / generated / input values."""
from __future__ import annotations

import os

import numpy as np

from gancli import distmetrics, plotting
from gancli.config import DistConfig, parse_target
from gancli.latents import draw_noise
from gancli.reporters import Background, Reporter


class DistReporter(Reporter):
    unit = "value"

    def __init__(self, cfg: DistConfig, out: str, seed: int):
        self.cfg, self.out = cfg, out
        self.comps = parse_target(cfg.target)
        self.samples_per_step = cfg.batch_size * cfg.n_critic * cfg.vector_len
        # fixed draws for every report, so rows and histograms compare across steps
        rng = np.random.default_rng([seed, 1])
        n_vec = -(-cfg.eval_samples // cfg.vector_len)
        self.noise = draw_noise(rng, (n_vec, cfg.latent_dim), cfg.noise)
        self.real = distmetrics.sample(self.comps, cfg.eval_samples, rng)
        self.columns = ["real_mean", "real_std", "fake_mean", "fake_std", "w1", "ks"]
        if len(self.comps) > 1:
            self.columns += [f"mass_{i}" for i in range(len(self.comps))]
        self.bg = Background()
        self.values: dict = {}  # the last report's values, by TensorBoard tag

    def report(self, trainer, step: int) -> dict:
        fake = trainer.generate(self.noise).ravel()[: self.cfg.eval_samples]
        row = {"real_mean": float(self.real.mean()), "real_std": float(self.real.std())}
        row.update(distmetrics.summarize(fake, self.comps))
        path = os.path.join(self.out, "samples", f"hist_{step:06d}.png")
        noise = self.noise.ravel()[: self.cfg.eval_samples]
        self.bg.submit(plotting.dist_histogram, path, self.real, fake, noise,
                       f"step {step}: W1 {row['w1']:.3f}, KS {row['ks']:.3f}")
        self.values = {"values/real": self.real, "values/generated": fake,
                       "values/input": noise}
        return row

    def summaries(self) -> dict:
        """The histogram PNG's three sets of values."""
        return {"histograms": self.values}

    def describe(self, row: dict) -> str:
        text = (f"real {row['real_mean']:.3f}±{row['real_std']:.3f}  "
                f"fake {row['fake_mean']:.3f}±{row['fake_std']:.3f}  "
                f"W1 {row['w1']:.4f}  KS {row['ks']:.4f}")
        if "mass_0" in row:
            text += "  mass " + "/".join(f"{row[f'mass_{i}']:.2f}"
                                         for i in range(len(self.comps)))
        return text

    def finish(self, trainer) -> None:
        self.bg.wait()

    def sidecar(self) -> dict:
        return {"kind": "values", "latent_dim": self.cfg.latent_dim, "noise": self.cfg.noise,
                "target": self.cfg.target, "vector_len": self.cfg.vector_len,
                "value_range": None, "num_classes": 0, "preset": self.cfg.preset}
