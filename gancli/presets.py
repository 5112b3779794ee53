"""Named presets as decisions: each lists only what it changes from its command's
defaults (the schema in config.py), every value with the reason for it.

configs/<name>.yaml are written from this table, reasons as comments (a test keeps
them equal): `python -m gancli.presets configs`. Nothing branches on a preset name.
"""
from __future__ import annotations

import dataclasses
import sys

from gancli.config import DistConfig, ImageConfig

SCHEMAS = {"train-dist": DistConfig, "train-mnist": ImageConfig}


@dataclasses.dataclass(frozen=True)
class Preset:
    about: str                            # what the preset is, for the yaml's header
    decisions: dict[str, tuple[object, str]]  # config key -> (value, why)

    @property
    def values(self) -> dict:
        return {k: v for k, (v, _) in self.decisions.items()}


def _preset(about: str, **decisions: tuple[object, str]) -> Preset:
    return Preset(about, decisions)


_DCGAN_ADAM = dict(  # DCGAN (Radford et al. 2015): Adam 2e-4 (the default), beta1 0.5
    d_beta1=(0.5, "DCGAN paper: beta1 0.9 oscillated, 0.5 stabilized training"),
    g_beta1=(0.5, "as D"),
)
_IMAGE_RUN = dict(  # the image presets' reporting
    sample_every=(500, "a grid and a metrics row every 500 steps"),
    checkpoint_every=(2000, "a checkpoint every few CPU minutes"),
)

TABLE: dict[str, dict[str, Preset]] = {
    "train-dist": {
        "seed-normal": _preset(
            "seed 000/004's N(4, 1.25) machine (uniform noise, vectors of 100, "
            "decorate-layer D, Conv1D(k=1) G, Adam 2e-4, batch 10, 30,000 steps: "
            "train-dist's defaults) with what it takes to settle where the seed's mean "
            "wandered 3.35..5.28. The seed's exact machine: --no-sort_values --real_label 1 "
            "--g_lr 2e-4 --g_activation relu,sigmoid --ema 0 --no-normalize.",
            sort_values=(True, "D sees quantiles: unsorted, G fit mean/std only (W1 0.13)"),
            g_lr=(1e-3, "at 2e-4 G sat collapsed 10k-22k steps vs sorted D; 1e-3: ~3k"),
            g_activation=(["leaky_relu", "sigmoid"], "keeps G's first-layer units alive while "
                          "D leads"),
            real_label=(0.9, "one-sided label smoothing (seed 001, Salimans et al. 2016)"),
            ema=(0.999, "samples from G's weight average settle on the shape"),
            reuse_fake=(False, "fresh noise for G, as the seed (seed 3: W1 0.022, shared 0.069)"),
        ),
        "mixture": _preset(
            "seed 001: an equal mixture of N(0,1) and N(5,2), Dense nets on uniform(-1,1) "
            "noise, RMSprop, label smoothing 0.9 / 0.1.",
            target=("mixture:0,1;5,2", "seed 001's target"),
            vector_len=(1, "seed 001's D sees one value at a time"),
            latent_dim=(32, "seed 001's latent is 16-32 wide"),
            noise=("uniform:-1,1", "seed 001's noise"),
            g_arch=("mlp", "seed 001's Dense G"),
            g_hidden=([64], "one hidden Dense layer, as seed 001 (which had 32 units)"),
            g_activation=(["relu"], "seed 001"),
            d_hidden=([64], "one hidden Dense layer, as seed 001 (which had 32 units)"),
            decorate=(False, "seed 001's D has no decorate layer"),
            real_label=(0.9, "seed 001's label smoothing"),
            fake_label=(0.1, "seed 001's label smoothing"),
            d_optimizer=("rmsprop", "seed 001"),
            d_lr=(1e-3, "seed 001"),
            g_optimizer=("rmsprop", "seed 001"),
            g_lr=(5e-4, "seed 001"),
            batch_size=(400, "the seed asks for its batch count at run time; gancli's pick"),
            steps=(7500, "gancli's pick: ~20 s on 2 CPU cores"),
            sample_every=(250, "30 reports over the run"),
            ema=(0.999, "samples from G's weight average, as seed-normal"),
            reuse_fake=(False, "fresh noise for the G step, as the seed"),
        ),
    },
    "train-mnist": {
        "dcgan": _preset(
            "seed 002 / DCGAN guidelines: strided convs, batchnorm and ReLU in G, tanh out, "
            "LeakyReLU in D (model dcgan); Adam 2e-4, latent 100 (train-mnist's defaults).",
            noise=("uniform:-1,1", "DCGAN paper and seed 003: uniform noise in [-1, 1]"),
            **_DCGAN_ADAM,
            batch_size=(64, "seed 003's Keras GANs"),
            **_IMAGE_RUN,
            ema=(0.999, "grids and the saved G from G's weight average"),
        ),
        "cdcgan": _preset(
            "the default: dcgan made class-conditional (label embedding in G, projection D). "
            "Same nets and cost per step; on 22,699 MNIST digits 4,000 steps reach a "
            "classifier score of 9.74 against dcgan's 7.02. Data without labels (or "
            "--no-conditional) trains on 100 k-means clusters of the images instead.",
            conditional=("projection", "far better samples per minute than dcgan (score 9.74 "
                         "vs 7.02)"),
            clusters=(100, "without labels: 10 min on 22,699 digits scored 9.37 (25: 9.07, "
                      "64: 9.27; plain dcgan at 4,000 steps: 7.01)"),
            noise=("uniform:-1,1", "as dcgan"),
            **_DCGAN_ADAM,
            batch_size=(64, "as dcgan"),
            **_IMAGE_RUN,
            ema=(0.999, "as dcgan"),
        ),
        "folder": _preset(
            "the default for --dataset folder and cifar10: your own colour pictures, often "
            "a few thousand, labelled or not. dcgan-deep (G from 4x4, D mirroring it, "
            "widths by --image_size) on k-means clusters, with what the A/B on 3,781 emoji "
            "at 32 px chose (README, 'Your own images').",
            model=("dcgan-deep", "grows with the resolution; the MNIST-sized dcgan does not"),
            clusters=(50, "G and D conditioned on k-means clusters, also where class "
                      "subfolders exist (--conditional uses those): 20 min on 3,781 emoji, FD "
                      "13.9 vs 63.5 conditioned on the 9 categories, which are no visual kinds"),
            noise=("uniform:-1,1", "as cdcgan"),
            **_DCGAN_ADAM,
            batch_size=(64, "as cdcgan"),
            **_IMAGE_RUN,
            ema=(0.999, "as cdcgan"),
            augment=("color,translation,cutout", "the ops ADA raises while D overfits"),
            augment_p=(0.0, "ADA starts without augmentation: at p 1 (DiffAugment) G learned "
                       "slower, 3,000 steps: FD 66, recall 0.39 vs 32, 0.68 without"),
            ada_target=(0.6, "StyleGAN2-ADA's target; tied with no augmentation at 3,000 steps "
                        "(FD 46 / recall 0.67 vs 31 / 0.68) and guards longer runs"),
        ),
        "seed-classic": _preset(
            "seed 000's MNIST GAN: tanh/upsampling G, max-pool D, SGD Nesterov, "
            "--batch_size 16 --epochs 1000 (the seed's latent was 10; gancli keeps 100).",
            model=("seed-classic", "seed 000's networks"),
            noise=("uniform:-1,1", "seed 000's noise"),
            d_optimizer=("sgd", "seed 000: SGD, lr 5e-4, momentum 0.9, Nesterov"),
            d_lr=(5e-4, "seed 000"),
            d_momentum=(0.9, "seed 000"),
            d_nesterov=(True, "seed 000"),
            g_optimizer=("sgd", "seed 000: as D"),
            g_lr=(5e-4, "seed 000"),
            g_momentum=(0.9, "seed 000"),
            g_nesterov=(True, "seed 000"),
            batch_size=(16, "seed 000's argparse default"),
            epochs=(1000, "seed 000's argparse default"),
            sample_every=(500, "a grid and a metrics row every 500 steps"),
        ),
        "wgan": _preset(
            "seed 003's WGAN: linear critic, weight clipping 0.01 (the default), RMSprop "
            "5e-5, n_critic 5, batch 64, latent 100, uniform noise, 40,000 steps.",
            model=("wgan", "seed 003's critic: no sigmoid"),
            loss=("wgan", "seed 003"),
            noise=("uniform:-1,1", "seed 003"),
            d_optimizer=("rmsprop", "seed 003: RMSprop 5e-5 (WGAN paper)"),
            d_lr=(5e-5, "seed 003"),
            g_optimizer=("rmsprop", "seed 003"),
            g_lr=(5e-5, "seed 003"),
            n_critic=(5, "seed 003"),
            batch_size=(64, "seed 003"),
            epochs=(1000, "high, so seed 003's --steps decides"),
            steps=(40000, "seed 003"),
            sample_every=(500, "a grid and a metrics row every 500 steps"),
        ),
        "wgan-gp": _preset(
            "WGAN-GP (Gulrajani et al. 2017): gradient penalty 10 (the default), Adam 1e-4 "
            "(0.5, 0.9), n_critic 5, on seed 003's critic.",
            model=("wgan", "seed 003's critic"),
            loss=("wgan-gp", "gradient penalty instead of clipping"),
            noise=("uniform:-1,1", "seed 003"),
            d_lr=(1e-4, "WGAN-GP paper"),
            d_beta1=(0.5, "WGAN-GP paper"),
            d_beta2=(0.9, "WGAN-GP paper"),
            g_lr=(1e-4, "WGAN-GP paper"),
            g_beta1=(0.5, "WGAN-GP paper"),
            g_beta2=(0.9, "WGAN-GP paper"),
            n_critic=(5, "WGAN-GP paper"),
            batch_size=(64, "seed 003"),
            epochs=(100, "5 critic batches a step: on MNIST ~18,750 steps"),
            sample_every=(500, "a grid and a metrics row every 500 steps"),
            ema=(0.999, "grids and the saved G from G's weight average"),
        ),
        "dcgan-cifar": _preset(
            "seed 002's DCGAN on CIFAR-10 (the notebook it studies: mafda/"
            "generative_adversarial_networks_101, 02_DCGAN_CIFAR10): G Dense 2x2x512 -> "
            "256, 128, 64 -> 3 transposed convs 5x5 stride 2 with BatchNorm and "
            "LeakyReLU(0.2), tanh out; D 64-128-256-512 convs 5x5 stride 2 with "
            "LeakyReLU(0.2), BatchNorm after all but the first, Flatten, Dense(1); bce, "
            "Adam 3e-4 (beta1 0.5), batch 64, normal noise, 100 epochs.",
            model=("dcgan-cifar", "seed 002's CIFAR-10 layer stack (gancli.models.stages)"),
            dataset=("cifar10", "seed 002 trains on CIFAR-10"),
            noise=("normal:0,1", "the notebook's z ~ N(0, 1)"),
            d_lr=(3e-4, "the notebook: Adam(lr=0.0003, beta_1=0.5)"),
            g_lr=(3e-4, "as D"),
            **_DCGAN_ADAM,
            batch_size=(64, "the notebook's batch_size"),
            epochs=(100, "the notebook's epochs"),
            **_IMAGE_RUN,
        ),
        "lsgan": _preset(
            "seed 003's LSGAN: least-squares loss on the DCGAN pair.",
            loss=("lsgan", "seed 003"),
            noise=("uniform:-1,1", "seed 003"),
            **_DCGAN_ADAM,
            batch_size=(64, "seed 003"),
            **_IMAGE_RUN,
            ema=(0.999, "grids and the saved G from G's weight average"),
        ),
    },
}

PRESETS: dict[str, dict[str, dict]] = {
    command: {name: p.values for name, p in table.items()} for command, table in TABLE.items()}
DEFAULT_PRESET = {"train-dist": "seed-normal", "train-mnist": "cdcgan"}
# the default preset instead, when --dataset (flag or --config file) is one of these
DATASET_PRESET = {"train-mnist": {"folder": "folder", "cifar10": "folder"}}


def yaml_text(command: str, name: str, path: str) -> str:
    """configs/<name>.yaml: the preset's decisions, each with its why as a comment."""
    import textwrap

    import yaml

    preset = TABLE[command][name]
    lines = [f"# gancli {command} preset {name!r}: " + preset.about]
    head = textwrap.wrap(lines[0], 88, subsequent_indent="# ")
    head += [f"# Below: what it changes from {command}'s built-in defaults (gancli/config.py)"
             " and why.", f"# This file is --preset {name}; edit a value to change it:",
             f"#   gancli {command} --config {path}"]
    body = [(f"preset: {name}", "")] + [
        (yaml.safe_dump({k: v}, default_flow_style=True, width=1000).strip()[1:-1], why)
        for k, (v, why) in preset.decisions.items()]
    width = max(len(kv) for kv, _ in body)
    return "\n".join(head + [f"{kv:<{width}}  # {why}" if why else kv
                             for kv, why in body]) + "\n"


def write_configs(folder: str) -> list[str]:
    """Write configs/<name>.yaml for every preset; return the paths."""
    import os

    paths = []
    for command, table in TABLE.items():
        for name in table:
            path = os.path.join(folder, f"{name}.yaml")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(yaml_text(command, name, path))
            paths.append(path)
    return paths


if __name__ == "__main__":
    print("\n".join(write_configs(sys.argv[1] if len(sys.argv) > 1 else "configs")))
