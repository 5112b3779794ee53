"""Small assertions and readers shared by the CLI tests."""
import csv


def run_cli(argv, capsys=None):
    """gancli.cli.main(argv) in-process -> (exit code, stdout, stderr). Arguments may be
    paths or numbers; argparse's exits become their codes; without capsys the output
    is not captured ("", "")."""
    from gancli import cli

    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


def main(argv, capsys=None):
    """run_cli -> (exit code, stderr)."""
    code, _, err = run_cli(argv, capsys)
    return code, err


def assert_one_line_error(code, err, *needles, prefix):
    """The CLI failed the way a user error must: exit 2, one line, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])


def read_csv(path):
    """(fieldnames, rows as dicts) of a CSV file."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def derivatives(model, x):
    """model(x); d loss / d x and d loss / d weights; d ||d loss / d x||^2 / d weights
    (the second order a gradient penalty, wgan-gp, takes). loss = sum(sin(3 y))."""
    import tensorflow as tf

    @tf.function
    def run():
        with tf.GradientTape() as outer:
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                y = model(x)
                loss = tf.reduce_sum(tf.sin(3.0 * y))
            dx = tape.gradient(loss, x)
            dw = tape.gradient(loss, model.trainable_variables)
            penalty = tf.reduce_sum(dx * dx)
        return y, dx, dw, outer.gradient(penalty, model.trainable_variables)

    return run()


def seed_classic_trainer(seed, batch_size, steps, layers="stock"):
    """train-mnist's seed-classic trainer on 64 random 28x28 images. layers: "stock"
    (the builders' layers), "gpu" or "cpu" (models.speedups' swaps as train-mnist makes
    them with / without a GPU: the "cpu" D also has FastGradConv2D)."""
    import numpy as np

    from gancli import config
    from gancli.config import ImageConfig
    from gancli.data.image_source import ImageSource
    from gancli.data.images import ImageData
    from gancli.models.images import build_discriminator, build_generator
    from gancli.models.speedups import speed_up
    from gancli.presets import PRESETS
    from gancli.training.setup import make_trainer, seed_everything

    cfg = config.resolve(ImageConfig, PRESETS["train-mnist"], "seed-classic",
                         preset="seed-classic",
                         overrides={"seed": seed, "batch_size": batch_size})
    images = np.random.default_rng(1).integers(0, 255, (64, 28, 28, 1), np.uint8)
    seed_everything(cfg.seed)
    G = build_generator(cfg.model, cfg.latent_dim, (28, 28, 1))
    D = build_discriminator(cfg.model, (28, 28, 1))
    if layers != "stock":
        G, D = (speed_up(m, gpu=layers == "gpu") for m in (G, D))
    return make_trainer(cfg, G, D, ImageSource(ImageData(images, None, 0, "t")),
                        steps=steps)


def assert_close_to_scale(got, want, tol):
    """Each array in `got` equals its twin in `want` to within tol x the largest
    magnitude in the twin (which must not be all zeros)."""
    import numpy as np

    for g, w in zip(got, want):
        scale = float(np.max(np.abs(w)))
        assert scale > 0
        np.testing.assert_allclose(g, w, atol=tol * scale, rtol=0)
