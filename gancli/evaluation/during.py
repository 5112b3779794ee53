"""--eval_every: `gancli eval`'s metrics on a fixed sample set, during training.

An evaluator is called by the runner with the trainer; it generates from the
sampler generator (the EMA copy when there is one) with noise fixed at start-up,
so rows compare across steps, and returns (metrics row, main value). The main
value is minimized: the runner keeps the best generator by it.
"""
from __future__ import annotations

import time

from gancli.latents import draw_inputs


class ImageTrainEval:
    """Classifier score, Fréchet distance, precision/recall, modes, SWD of
    `n` generated images against the held-out reals (an ImageEvaluator)."""

    LABELED = ("classifier_score", "frechet_distance", "precision", "recall",
               "modes_covered", "class_entropy", "mean_confidence")

    def __init__(self, evaluator, n: int, noise: str, latent_dim: int, num_classes: int,
                 seed: int, probs=None):
        self.evaluator = evaluator
        # seed [seed, 3]: apart from the grid's and the reporter's draws; conditional:
        # labels drawn with the training class frequencies `probs`, as `gancli eval`
        # draws them, so the scores that pick best/ compare with eval's (classes in
        # turn without them)
        self.z, self.labels = draw_inputs(n, latent_dim, noise, num_classes, [seed, 3],
                                          probs=probs)
        self.main = evaluator.main_metric
        labeled = self.LABELED if evaluator.model is not None else ()
        self.columns = [*labeled, "swd", "copies_fraction", "eval_s"]

    def __call__(self, trainer) -> tuple[dict, float]:
        from gancli.sampling import to_uint8

        t0 = time.perf_counter()
        fakes = to_uint8(trainer.generate(self.z, self.labels), (-1.0, 1.0))
        out = self.evaluator.evaluate(fakes)
        row = {k: float(out[k]) for k in self.columns if k in out}
        row["eval_s"] = time.perf_counter() - t0
        return row, row[self.main]


class DistTrainEval:
    """Errors of mean and std against the target, and W1 (the main value), of
    `n` generated values."""

    columns = ["mean_error", "std_error", "eval_s"]
    main = "w1"

    def __init__(self, target: str, n: int, noise: str, latent_dim: int, vector_len: int,
                 seed: int):
        self.target, self.n = target, n
        # vectors of values, seeded as ImageTrainEval's
        self.z, _ = draw_inputs(-(-n // vector_len), latent_dim, noise, 0, [seed, 3])

    def __call__(self, trainer) -> tuple[dict, float]:
        from gancli.evaluation import evaluate_values

        t0 = time.perf_counter()
        values = trainer.generate(self.z).ravel()[: self.n]
        metrics, _ = evaluate_values(values, self.target)
        row = {"mean_error": metrics["mean_error"], "std_error": metrics["std_error"],
               "eval_s": time.perf_counter() - t0}
        return row, float(metrics["w1"])
