"""Final model files: generator.{h5,keras} with generator.json beside them, and the
discriminator likewise. Generators and image discriminators are saved with stock
Keras layers only, so `keras.models.load_model` opens them without gancli; train-dist's
discriminator may hold gancli's registered layers (import gancli.models.layers first)."""
from __future__ import annotations

import json
import os

from gancli import __version__, rundir


def versions() -> dict:
    import keras
    import tensorflow as tf

    return {"gancli": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}


def save_model(model, path: str) -> None:
    """model.save through a temporary name, so `path` is always complete."""
    with rundir.atomic_path(path) as tmp:
        model.save(tmp)


def stock(model):
    """`model` as stock Keras layers, what export saves: every layer that defines
    stock_layers() (gancli.models.layers.StockForm: UpConv2D, FastGradConv2D,
    TransposedDense, which gancli.models.speedups swapped in) replaced by the stock
    layers it returns, applied in order -- the same function holding the same weights.
    Other models come back as they are."""
    import keras

    if not any(hasattr(layer, "stock_layers") for layer in model.layers):
        return model

    def clone(layer):
        if hasattr(layer, "stock_layers"):
            return layer  # `call` asks it for its stock layers
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        if not hasattr(layer, "stock_layers"):
            return layer(*args, **kwargs)
        (x,) = args
        for stock_layer in layer.stock_layers():  # built, holding the layer's weights
            x = stock_layer(x)
        return x

    stocked = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for layer in model.layers:
        if layer.weights and not hasattr(layer, "stock_layers"):
            stocked.get_layer(layer.name).set_weights(layer.get_weights())
    return stocked


def save_models(trainer, out: str, sidecar: dict) -> None:
    meta = dict(sidecar, versions=versions())
    for name, model in (("generator", stock(trainer.sampler)),
                        ("discriminator", stock(trainer.D))):
        save_model(model, os.path.join(out, f"{name}.keras"))
        save_model(model, os.path.join(out, f"{name}.h5"))
        rundir.write_text(os.path.join(out, f"{name}.json"),
                          json.dumps(dict(meta, model=name), indent=2) + "\n")


def save_best(model, folder: str, meta: dict) -> None:
    """The best generator so far (--eval_every): folder/generator.keras + generator.json."""
    os.makedirs(folder, exist_ok=True)
    save_model(stock(model), os.path.join(folder, "generator.keras"))
    rundir.write_text(os.path.join(folder, "generator.json"),
                      json.dumps(dict(meta, model="generator", versions=versions()), indent=2)
                      + "\n")


def read_best(folder: str) -> dict | None:
    """{'step', 'metric', 'value'} of the generator in folder (save_best), or None."""
    try:
        with open(os.path.join(folder, "generator.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
        return {"step": int(meta["step"]), "metric": meta["metric"], "value": float(meta["value"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None
