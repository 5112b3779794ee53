"""train-mnist reports: a grid PNG from ONE fixed noise batch every sample_every
steps (samples/step_000500.png), samples/reals.png, and samples/progress.gif at
the end, built from the grids on disk (so resumed runs get the whole history)."""
from __future__ import annotations

import glob
import os

import numpy as np

from gancli import sampling
from gancli.config import ImageConfig
from gancli.latents import draw_labels, draw_noise
from gancli.reporters import Background, Reporter

MAX_GIF_FRAMES = 100


class ImageReporter(Reporter):
    unit = "image"

    def __init__(self, cfg: ImageConfig, out: str, images: np.ndarray, num_classes: int):
        self.cfg, self.out = cfg, out
        self.n_images, self.num_classes = len(images), num_classes
        self.image_shape = tuple(int(d) for d in images.shape[1:])
        self.samples_per_step = cfg.batch_size * cfg.n_critic
        rng = np.random.default_rng([cfg.seed, 2])  # the fixed grid noise, from the seed alone
        self.noise = draw_noise(rng, (cfg.grid_size, cfg.latent_dim), cfg.noise)
        self.labels = draw_labels(cfg.grid_size, num_classes)  # conditional: 0, 1, ... in turn
        self.rows = sampling.grid_shape(cfg.grid_size)[0]
        self.bg = Background()
        self.grid = None  # the last report's grid (uint8), as written to step_NNNNNN.png
        reals = os.path.join(out, "samples", "reals.png")
        if not os.path.exists(reals):
            pick = rng.choice(len(images), min(cfg.grid_size, len(images)), replace=False)
            self.bg.submit(self._grid, reals, images[np.sort(pick)], (0, 255))

    def epoch(self, step: int) -> float:
        """Passes over the training images after `step` generator steps."""
        return step * self.samples_per_step / self.n_images

    def report(self, trainer, step: int) -> dict:
        fake = trainer.generate(self.noise, self.labels)
        # the grid is tiled here (NumPy, a few ms) so TensorBoard gets the PNG's pixels
        self.grid = sampling.grid_image(fake, (-1.0, 1.0), rows=self.rows, scale=2)
        path = os.path.join(self.out, "samples", f"step_{step:06d}.png")
        self.bg.submit(sampling.save_png, path, self.grid)
        return {}

    def summaries(self) -> dict:
        return {"images": {"samples/fixed_noise": self.grid}} if self.grid is not None else {}

    def _grid(self, path: str, images: np.ndarray, value_range) -> None:
        sampling.save_grid(path, images, value_range, rows=self.rows, scale=2)

    def describe(self, row: dict) -> str:
        return f"epoch {row.get('epoch', 0):.2f}  {row.get('images_per_s', 0):.0f} img/s"

    def finish(self, trainer) -> None:
        self.bg.wait()
        paths = sorted(glob.glob(os.path.join(self.out, "samples", "step_*.png")),
                       key=lambda p: int(os.path.basename(p)[5:-4]))
        if len(paths) > MAX_GIF_FRAMES:  # keep first, last and evenly spaced ones
            keep = np.linspace(0, len(paths) - 1, MAX_GIF_FRAMES).round().astype(int)
            paths = [paths[i] for i in sorted(set(keep))]
        if paths:
            from PIL import Image

            frames = [np.asarray(Image.open(p)) for p in paths]
            sampling.save_gif(os.path.join(self.out, "samples", "progress.gif"), frames)

    def sidecar(self) -> dict:
        return {"kind": "images", "latent_dim": self.cfg.latent_dim, "noise": self.cfg.noise,
                "value_range": [-1, 1], "image_shape": list(self.image_shape),
                "num_classes": self.num_classes, "preset": self.cfg.preset}
