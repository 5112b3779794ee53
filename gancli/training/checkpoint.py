"""Full training state in one .npz per checkpoint: both nets, EMA, both optimizers,
step counter, RNG state and data-order state, so --resume continues exactly.

We store plain arrays rather than tf.train.Checkpoint: the format is the same for
every Keras/TF version that can build the same models, and a mismatch (another
architecture, another optimizer) is reported by name instead of failing deep
inside TensorFlow.

Each array is stored under its path, GROUP/LAYER/WEIGHT for a model's weights,
GROUP/LAYER/WEIGHT/SLOT for an optimizer's slot of one (e.g. d_opt/conv1/kernel/momentum),
GROUP/NAME for an optimizer's other variables and GROUP/I for plain lists (step,
RNG, data order), and in the stock layout: a layer that stands for stock Keras
layers (gancli.models.layers.StockForm, swapped in by gancli.models.speedups) maps
its weights and their slots to and from the stock layer's. So a run trained with
the fast CPU layers and one with the stock layers read each other's checkpoints.

Precision: weights and optimizer slots are float32 in fp32, bf16 and fp16 alike, so
a checkpoint restores into any precision (`--resume --precision X`). fp16's
optimizers are LossScaleOptimizers, whose own variables are stored under
GROUP/loss_scale/NAME: restoring a checkpoint without them into fp16 leaves them as
built (the loss scale starts fresh), and restoring an fp16 one into fp32/bf16 skips
them. The metadata records the precision the checkpoint was saved in.
"""
from __future__ import annotations

import glob
import json
import os
import re
import zipfile

import numpy as np

from gancli import rundir
from gancli.errors import CheckpointError

FORMAT = 2  # arrays by stock path; checkpoints without it stored arrays by position
PATTERN = re.compile(r"ckpt-(\d+)\.npz$")
LOSS_SCALE = "/loss_scale/"  # GROUP/loss_scale/NAME: a LossScaleOptimizer's own variables


def path_for(folder: str, step: int) -> str:
    return os.path.join(folder, f"ckpt-{step:08d}.npz")


def list_checkpoints(folder: str) -> list[tuple[int, str]]:
    """(step, path) of every complete checkpoint, oldest first."""
    found = []
    for p in glob.glob(os.path.join(folder, "ckpt-*.npz")):
        m = PATTERN.search(os.path.basename(p))
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def save(groups: dict, folder: str, step: int, meta: dict, keep: int = 3) -> str:
    """Write the state atomically, then prune all but the newest `keep`. `groups` maps a
    group name to a Keras model, a Keras optimizer (whose model is in `groups` too) or
    a list of variables."""
    arrays = {key: to_stock(_value(v)) for key, (v, to_stock, _) in _paths(groups).items()}
    arrays["__meta__"] = np.frombuffer(json.dumps(dict(
        meta, step=int(step), format=FORMAT, precision=_precision(groups))).encode(),
        dtype=np.uint8)
    path = path_for(folder, step)
    with rundir.atomic_path(path) as tmp:  # a failed write leaves the older ones intact
        _write_npz(tmp, arrays)
    for _, old in list_checkpoints(folder)[:-keep]:
        os.remove(old)
    return path


def _precision(groups: dict) -> str | None:
    """fp32 | bf16 | fp16: the precision the groups' models were built in."""
    from gancli.training import precision

    models = [obj for obj in groups.values() if hasattr(obj, "dtype_policy")]
    return precision.of_model(models[0]) if models else None


def _value(v) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v)


def _same(value):
    return value


def _paths(groups: dict) -> dict:
    """{stored path: (variable, its value -> stock layout, stock layout -> its value)}."""
    weights = {}  # id(a model's variable) -> (LAYER/WEIGHT in the stock layout, to, from)
    for obj in groups.values():
        for layer in getattr(obj, "layers", ()):
            for w in layer.variables:
                weights[id(w)] = _weight_path(layer, w.name)
    out = {}
    for group, obj in groups.items():
        if hasattr(obj, "layers"):
            entries = {f"{group}/{weights[id(v)][0]}": (v, *weights[id(v)][1:])
                       for v in obj.variables}
            if len(entries) != len(obj.variables):
                raise ValueError(f"{group}: two variables share a path")
        elif hasattr(obj, "iterations"):
            entries = _optimizer_paths(group, obj, weights)
        else:
            entries = {f"{group}/{i}": (v, _same, _same) for i, v in enumerate(obj)}
        out.update(entries)
    return out


def _weight_path(layer, name: str):
    if not hasattr(layer, "to_stock"):
        return f"{layer.name}/{name}", _same, _same
    stock_name = layer.to_stock(name, np.empty(0))[0]
    return (f"{layer.name}/{stock_name}", lambda value: layer.to_stock(name, value)[1],
            lambda value: layer.from_stock(stock_name, value)[1])


def _optimizer_paths(group: str, opt, weights: dict) -> dict:
    """A Keras optimizer's variables by path. Keras names a slot
    `{its weight's path, / as _}_{slot}` (add_variable_from_reference); we store it
    as GROUP/LAYER/WEIGHT/SLOT, mapped to the stock layout as its weight is."""
    inner = getattr(opt, "inner_optimizer", None)  # LossScaleOptimizer
    if inner is not None:
        own = [v for v in opt.variables if all(v is not w for w in inner.variables)]
        return {**{f"{group}{LOSS_SCALE}{v.name}": (v, _same, _same) for v in own},
                **_optimizer_paths(group, inner, weights)}
    refs = sorted(((w.path.replace("/", "_") + "_", weights[id(w)])
                   for w in opt._trainable_variables), key=lambda r: -len(r[0]))
    out = {}
    for v in opt.variables:
        ref = next(((prefix, w) for prefix, w in refs if v.name.startswith(prefix)), None)
        if ref is None:  # iteration, learning_rate
            out[f"{group}/{v.name}"] = (v, _same, _same)
        else:
            prefix, (path, to_stock, from_stock) = ref
            out[f"{group}/{path}/{v.name[len(prefix):]}"] = (v, to_stock, from_stock)
    return out


def _write_npz(path: str, arrays: dict) -> None:
    """The one place checkpoint bytes are written (tests make it fail like a full disk)."""
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def read_meta(path: str) -> dict:
    with np.load(path) as z:
        return json.loads(bytes(z["__meta__"]).decode())


def restore(groups: dict, path: str) -> dict:
    """Assign every variable of `groups` (as save takes them) from the checkpoint at
    `path`, matched by path; return its metadata. A variable missing from either side,
    or of another shape, raises CheckpointError naming it, before anything is assigned;
    an optimizer's loss-scale variables present on one side only are a precision
    switch (fp16 <-> fp32/bf16): fresh when missing from the checkpoint, else skipped."""
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["__meta__"]).decode())
            data = {k: z[k] for k in z.files if k != "__meta__"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"checkpoint {path} is unreadable: {e}") from None
    live = _paths(groups)
    if meta.get("format") != FORMAT:
        data = _by_position(groups, live, data, meta, path)
    mismatch = f"checkpoint {os.path.basename(path)} does not match this model: "
    # fp16 <-> fp32/bf16: loss-scale variables stay fresh / are skipped
    live, data = _without_loss_scale(live, data), _without_loss_scale(data, live)
    missing = [k for k in live if k not in data]
    extra = [k for k in data if k not in live]
    problems = ([f"missing from the checkpoint: {_some(missing)}"] if missing else []) + (
        [f"not in this model: {_some(extra)}"] if extra else [])
    if problems:
        raise CheckpointError(mismatch + "; ".join(problems))
    values = {}
    for key, (v, to_stock, from_stock) in live.items():
        want = to_stock(np.empty(tuple(v.shape))).shape
        if data[key].shape != want:
            raise CheckpointError(mismatch + f"{key} is {list(data[key].shape)} there, "
                                  f"{list(want)} here")
        values[key] = from_stock(data[key])
    for key, (v, _, _) in live.items():
        v.assign(values[key])
    return meta


def _without_loss_scale(entries: dict, other: dict) -> dict:
    """`entries` without the loss-scale variables of the groups that have none in `other`."""
    def scaled(keys):
        return {k.split("/", 1)[0] for k in keys if LOSS_SCALE in k}

    alone = scaled(entries) - scaled(other)
    return {k: v for k, v in entries.items()
            if LOSS_SCALE not in k or k.split("/", 1)[0] not in alone}


def _some(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _by_position(groups: dict, live: dict, data: dict, meta: dict, path: str) -> dict:
    """A checkpoint from before FORMAT 2 ("G/0", "G/1", ... in the order of the
    model's variables, names in its metadata) keyed by this model's paths, in the stock
    layout: a stored "kernel_t" (TransposedDense's, or a slot of it) is transposed."""
    keys = {}
    for key in live:
        keys.setdefault(key.split("/", 1)[0], []).append(key)
    out = {}
    for group, names in meta.get("names", {}).items():
        paths = keys.get(group, [])
        if len(paths) != len(names):
            raise CheckpointError(
                f"checkpoint {os.path.basename(path)} does not match this model: '{group}' "
                f"has {len(names)} variables, the model {len(paths)}")
        for i, (key, name) in enumerate(zip(paths, names)):
            arr = data[f"{group}/{i}"]
            out[key] = arr.T if "kernel_t" in name and arr.ndim == 2 else arr
    return out


def latest(folder: str) -> str | None:
    """Newest readable checkpoint (a damaged newest one falls back to the one before)."""
    for _, path in reversed(list_checkpoints(folder)):
        try:
            read_meta(path)
            return path
        except Exception:  # noqa: BLE001 - any damage means: try the previous one
            continue
    return None
