"""Full training state in one .npz per checkpoint: both nets, EMA, both optimizers,
step counter, RNG state and data-order state, so --resume continues exactly.

We store plain arrays rather than tf.train.Checkpoint: the format is the same for
every Keras/TF version that can build the same models, and a mismatch (another
architecture, another optimizer) is reported by name instead of failing deep
inside TensorFlow.
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

PATTERN = re.compile(r"ckpt-(\d+)\.npz$")


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


def save(groups: dict[str, list], folder: str, step: int, meta: dict, keep: int = 3) -> str:
    """Write the state atomically, then prune all but the newest `keep`."""
    arrays, names = {}, {}
    for group, variables in groups.items():
        names[group] = []
        for i, v in enumerate(variables):
            arrays[f"{group}/{i}"] = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            names[group].append(f"{_name(v)}{list(arrays[f'{group}/{i}'].shape)}")
    meta = dict(meta, step=int(step), names=names)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = path_for(folder, step)
    with rundir.atomic_path(path) as tmp:  # a failed write leaves the older ones intact
        _write_npz(tmp, arrays)
    for _, old in list_checkpoints(folder)[:-keep]:
        os.remove(old)
    return path


def _name(v) -> str:
    return getattr(v, "path", None) or getattr(v, "name", "")


# gancli.models.layers.TransposedDense stores Dense's kernel transposed, as a variable
# named "kernel_t" (and its optimizer slots "..._kernel_t_..."). A checkpoint written
# with a stock Dense in its place -- seed-classic runs before gancli had it, or the
# seed's layer stack -- restores into it transposed, and the other way round.
TRANSPOSED = "kernel_t"


def _fit(arr: np.ndarray, v, stored: str):
    """The stored array as `v` takes it, or None when it does not fit."""
    if tuple(arr.shape) == tuple(v.shape):
        return arr
    if (arr.ndim == 2 and tuple(arr.shape[::-1]) == tuple(v.shape)
            and (TRANSPOSED in _name(v)) != (TRANSPOSED in stored)):
        return arr.T
    return None


def _write_npz(path: str, arrays: dict) -> None:
    """The one place checkpoint bytes are written (tests make it fail like a full disk)."""
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def read_meta(path: str) -> dict:
    with np.load(path) as z:
        return json.loads(bytes(z["__meta__"]).decode())


def restore(groups: dict[str, list], path: str) -> dict:
    """Assign every variable from the checkpoint at `path`; return its metadata."""
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["__meta__"]).decode())
            data = {k: z[k] for k in z.files if k != "__meta__"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"checkpoint {path} is unreadable: {e}") from None
    for group, variables in groups.items():
        stored = meta["names"].get(group)
        if stored is None or len(stored) != len(variables):
            raise CheckpointError(
                f"checkpoint {os.path.basename(path)} does not match this model: '{group}' has "
                f"{0 if stored is None else len(stored)} variables, the model {len(variables)}")
        for i, v in enumerate(variables):
            arr = _fit(data[f"{group}/{i}"], v, stored[i])
            if arr is None:
                raise CheckpointError(
                    f"checkpoint {os.path.basename(path)} does not match this model: "
                    f"{stored[i]} vs shape {list(v.shape)}")
            data[f"{group}/{i}"] = arr
    for group, variables in groups.items():
        for i, v in enumerate(variables):
            v.assign(data[f"{group}/{i}"])
    return meta


def latest(folder: str) -> str | None:
    """Newest readable checkpoint (a damaged newest one falls back to the one before)."""
    for _, path in reversed(list_checkpoints(folder)):
        try:
            read_meta(path)
            return path
        except Exception:  # noqa: BLE001 - any damage means: try the previous one
            continue
    return None
