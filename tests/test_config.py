"""Configuration: precedence, one-line errors naming the key, presets as data,
and the resolved OUT/config.yaml reproducing the run."""
import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from helpers import assert_one_line_error, main

from gancli import config
from gancli.config import DistConfig
from gancli.errors import ConfigError
from gancli.presets import DEFAULT_PRESET, PRESETS, write_configs

REPO = Path(__file__).resolve().parents[1]
TABLE = PRESETS["train-dist"]
DEFAULT = DEFAULT_PRESET["train-dist"]
PREFIX = "gancli train-dist: error:"
# keeps the --steps 0 runs (which still build the models) small
SMALL = ["--vector_len", "8", "--latent_dim", "8", "--eval_samples", "200", "--quiet"]


def resolve(**kw):
    return config.resolve(DistConfig, TABLE, DEFAULT, **kw)


def write(tmp_path, text, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def read_cfg(out):
    with open(os.path.join(out, "config.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# --- precedence ---------------------------------------------------------------------------

def test_defaults_when_preset_is_empty():
    cfg = config.resolve(DistConfig, {"bare": {}}, "bare")
    for f in dataclasses.fields(DistConfig):
        if f.name != "preset":
            assert getattr(cfg, f.name) == f.default, f.name
    assert cfg.preset == "bare"


def test_precedence_defaults_preset_file_flags(tmp_path):
    base = resolve()
    assert base.preset == "seed-normal"
    assert base.batch_size == 10 and base.ema == 0.999          # preset over defaults
    assert DistConfig.ema == 0.0
    assert base.clip_value == 0.01                               # untouched default

    mix = resolve(preset="mixture")
    assert (mix.batch_size, mix.d_optimizer, mix.real_label) == (400, "rmsprop", 0.9)

    path = write(tmp_path, "batch_size: 7\nclip_value: 0.02\nd_lr: 0.003\n")
    filed = resolve(preset="mixture", config_path=path)
    assert filed.batch_size == 7                                 # file over preset
    assert filed.clip_value == 0.02                              # file over default
    assert filed.d_lr == 0.003
    assert filed.d_optimizer == "rmsprop"                        # preset kept

    flagged = resolve(preset="mixture", config_path=path,
                      overrides={"d_lr": 0.005, "clip_value": 0.03})
    assert flagged.d_lr == 0.005 and flagged.clip_value == 0.03  # flags over file
    assert flagged.batch_size == 7 and flagged.d_optimizer == "rmsprop"


def test_file_names_its_preset_and_flag_preset_wins(tmp_path):
    path = write(tmp_path, "preset: mixture\nbatch_size: 9\n")
    cfg = resolve(config_path=path)
    assert cfg.preset == "mixture" and cfg.d_optimizer == "rmsprop" and cfg.batch_size == 9
    cfg = resolve(preset="seed-normal", config_path=path)
    assert cfg.preset == "seed-normal" and cfg.d_optimizer == "adam" and cfg.batch_size == 9


def test_precedence_through_the_cli(tmp_path, capsys):
    path = write(tmp_path, "batch_size: 7\nclip_value: 0.02\nd_lr: 0.003\n")
    out = str(tmp_path / "run")
    code, err = main(["train-dist", "--preset", "mixture", "--config", path, "--d_lr", "0.005",
                      "--n_iter_D", "2", "--show_every", "7", "--g_hidden", "16,8",
                      "--g_activation", "relu,tanh", "--no-normalize", "--out", out,
                      "--steps", "0", "--quiet"], capsys)
    assert code == 0, err
    text = Path(out, "config.yaml").read_text(encoding="utf-8")
    assert text.startswith("#")
    got = yaml.safe_load(text)
    assert got["preset"] == "mixture"
    assert got["batch_size"] == 7            # file over preset
    assert got["clip_value"] == 0.02         # file over default
    assert got["d_lr"] == 0.005              # flag over file
    assert got["d_optimizer"] == "rmsprop"   # preset over default
    assert got["g_lr"] == 0.0005             # preset
    assert got["checkpoint_every"] == 5000   # default
    assert got["n_critic"] == 2 and got["sample_every"] == 7   # seed spellings of flags
    assert got["g_hidden"] == [16, 8] and got["g_activation"] == ["relu", "tanh"]
    assert got["normalize"] is False
    assert got["steps"] == 0
    assert isinstance(got["seed"], int)      # drawn and written down
    assert set(got) == {f.name for f in dataclasses.fields(DistConfig)}


# --- unknown keys and wrong types ---------------------------------------------------------

@pytest.mark.parametrize("typo, meant", [("batchsize", "batch_size"), ("n_critc", "n_critic"),
                                         ("laten_dim", "latent_dim"), ("g_lr_", "g_lr")])
def test_unknown_key_in_file_suggests_closest(tmp_path, typo, meant):
    path = write(tmp_path, f"{typo}: 5\n")
    with pytest.raises(ConfigError) as e:
        resolve(config_path=path)
    msg = str(e.value)
    assert repr(typo) in msg and repr(meant) in msg
    assert "\n" not in msg


def test_unknown_key_through_cli_is_one_line(tmp_path, capsys):
    path = write(tmp_path, "batch_size: 5\nbatchsize: 5\n")
    out = tmp_path / "run"
    code, err = main(["train-dist", "--config", path, "--out", str(out), "--steps", "0"],
                     capsys)
    assert_one_line_error(code, err, "'batchsize'", "'batch_size'", prefix=PREFIX)
    assert not out.exists()


@pytest.mark.parametrize("text, key", [
    ('batch_size: "ten"', "batch_size"),        # string for int
    ("batch_size: true", "batch_size"),         # bool for int
    ("batch_size: 2.5", "batch_size"),          # float for int
    ("steps: 10.0", "steps"),                   # a float, even a whole one
    ("seed: 1.5", "seed"),
    ("loss: [bce, hinge]", "loss"),             # list for str
    ("target: [4, 1.25]", "target"),
    ('d_lr: "fast"', "d_lr"),                   # string for float
    ("d_lr: true", "d_lr"),                     # bool for float
    ('decorate: "yes"', "decorate"),            # string for bool
    ("decorate: 1", "decorate"),                # int for bool
    ('g_hidden: [50, "x"]', "g_hidden"),        # bad list element
    ("g_hidden: 50", "g_hidden"),               # scalar for list
    ("g_hidden: []", "g_hidden"),
    ("noise: 3", "noise"),
])
def test_wrong_types_rejected_naming_the_key(tmp_path, text, key):
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as e:
        resolve(config_path=path)
    assert key in str(e.value)


def test_good_types_accepted(tmp_path):
    # ints are fine where floats are expected; YAML lists or comma strings for lists
    path = write(tmp_path, "d_lr: 1\ng_hidden: 16,8\ng_activation: [relu, tanh]\n"
                           "decorate: false\nseed: null\n")
    cfg = resolve(config_path=path)
    assert cfg.d_lr == 1.0 and isinstance(cfg.d_lr, float)
    assert cfg.g_hidden == (16, 8) and cfg.g_activation == ("relu", "tanh")
    assert cfg.decorate is False and cfg.seed is None


@pytest.mark.parametrize("flags, key", [
    (["--batch_size", "0"], "batch_size"),
    (["--n_critic", "0"], "n_critic"),
    (["--n_iter_D", "0"], "n_critic"),
    (["--n_gen", "0"], "n_gen"),
    (["--steps", "-1"], "steps"),
    (["--vector_len", "0"], "vector_len"),
    (["--latent_dim", "0"], "latent_dim"),
    (["--sample_every", "0"], "sample_every"),
    (["--checkpoint_every", "0"], "checkpoint_every"),
    (["--keep_checkpoints", "0"], "keep_checkpoints"),
    (["--g_hidden", "0,5"], "g_hidden"),
    (["--d_hidden", "50,-1"], "d_hidden"),
    (["--eval_samples", "10"], "eval_samples"),
    (["--d_lr", "-1"], "d_lr"),
    (["--ema", "1.5"], "ema"),
    (["--batch_size", "abc"], "batch_size"),       # argparse type error
    (["--batch_size", "2.5"], "batch_size"),
    (["--loss", "nope"], "hinge"),                 # lists the valid losses
    (["--d_optimizer", "adamw"], "rmsprop"),
    (["--target", "normal:4"], "target"),
    (["--target", "mixture:0,1"], "target"),
    (["--target", "normal:4,-1"], "target"),
    (["--target", "cauchy:0,1"], "target"),
    (["--noise", "uniform:1,0"], "noise"),
    (["--noise", "gamma:1,1"], "noise"),
    (["--latent_dim", "7"], "latent_dim"),         # pointwise G needs latent == vector_len
    (["--g_activation", "relu"], "g_activation"),  # one per hidden layer
    (["--g_activation", "relu,swish"], "swish"),
    (["--real_label", "0.1", "--fake_label", "0.9"], "real_label"),
])
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, flags, key):
    out = tmp_path / "run"
    code, err = main(["train-dist", "--out", str(out), "--steps", "0", *flags], capsys)
    assert_one_line_error(code, err, key, prefix=PREFIX)
    assert not out.exists()  # nothing written for a rejected config


@pytest.mark.parametrize("typo, meant", [("--batchsize", "--batch_size"),
                                         ("--n_critc", "--n_critic")])
def test_mistyped_flag_is_one_line_suggesting_the_closest(tmp_path, capsys, typo, meant):
    out = tmp_path / "run"
    code, err = main(["train-dist", "--out", str(out), "--steps", "0", typo, "5"], capsys)
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("gancli") and "error:" in lines[0]
    assert typo in lines[0]
    assert f"did you mean {meant}" in lines[0], lines[0]
    assert not out.exists()


def test_unknown_preset_lists_valid_ones(tmp_path, capsys):
    with pytest.raises(ConfigError) as e:
        resolve(preset="bogus")
    for name in ("'bogus'", "mixture", "seed-normal"):
        assert name in str(e.value)

    code, err = main(["train-dist", "--preset", "bogus", "--out", str(tmp_path / "a")], capsys)
    assert_one_line_error(code, err, "bogus", "mixture", "seed-normal", prefix=PREFIX)

    path = write(tmp_path, "preset: bogus\n")
    code, err = main(["train-dist", "--config", path, "--out", str(tmp_path / "b")], capsys)
    assert_one_line_error(code, err, "bogus", "mixture", "seed-normal", prefix=PREFIX)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("text, needle", [
    ("batch_size: [1, 2\n", "YAML"),
    ("batch_size: 1\n  steps: 2\n", "YAML"),
    ("\tbatch_size: 1\n", "YAML"),
    ("- batch_size\n- steps\n", "mapping"),
    ("just a string\n", "mapping"),
])
def test_invalid_yaml_is_one_line(tmp_path, capsys, text, needle):
    path = write(tmp_path, text)
    code, err = main(["train-dist", "--config", path, "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, needle, "cfg.yaml", prefix=PREFIX)
    assert not (tmp_path / "run").exists()


def test_missing_config_file_is_one_line(tmp_path, capsys):
    code, err = main(["train-dist", "--config", str(tmp_path / "nope.yaml"),
                      "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "nope.yaml", prefix=PREFIX)


def test_empty_config_file_means_preset_values(tmp_path):
    assert resolve(config_path=write(tmp_path, "")) == resolve()


# --- --mean / --std shorthand -------------------------------------------------------------

@pytest.mark.parametrize("flags, target", [
    (["--mean", "2", "--std", "0.5"], "normal:2,0.5"),
    (["--mean", "3"], "normal:3,1.25"),
    (["--std", "2", "--target", "normal:1,0.5"], "normal:1,2"),
])
def test_mean_std_shorthand_edits_normal_target(tmp_path, capsys, flags, target):
    out = str(tmp_path / "run")
    code, err = main(["train-dist", *flags, "--out", out, "--steps", "0", *SMALL], capsys)
    assert code == 0, err
    assert read_cfg(out)["target"] == target
    assert config.parse_target(target)  # and it parses


def test_mean_shorthand_edits_the_config_file_target(tmp_path, capsys):
    path = write(tmp_path, "target: normal:7,2\n")
    out = str(tmp_path / "run")
    code, err = main(["train-dist", "--config", path, "--mean", "1", "--out", out,
                      "--steps", "0", *SMALL], capsys)
    assert code == 0, err
    assert read_cfg(out)["target"] == "normal:1,2"


@pytest.mark.parametrize("flags", [
    ["--preset", "mixture", "--mean", "1"],
    ["--target", "mixture:0,1;5,2", "--std", "1"],
])
def test_mean_std_rejected_for_a_mixture(tmp_path, capsys, flags):
    out = tmp_path / "run"
    code, err = main(["train-dist", *flags, "--out", str(out), "--steps", "0"], capsys)
    assert_one_line_error(code, err, "--mean/--std", "mixture", prefix=PREFIX)
    assert not out.exists()


# --- the resolved config reproduces the run -----------------------------------------------

def test_written_config_resolves_to_the_identical_config(tmp_path, capsys):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    code, err = main(["train-dist", "--preset", "mixture", "--batch_size", "12",
                      "--d_hidden", "16", "--out", a, "--steps", "0", "--quiet"], capsys)
    assert code == 0, err
    first = read_cfg(a)
    assert isinstance(first["seed"], int)  # the drawn seed is recorded ...
    code, err = main(["train-dist", "--config", os.path.join(a, "config.yaml"), "--out", b,
                      "--quiet"], capsys)
    assert code == 0, err
    assert read_cfg(b) == first            # ... and re-used, with everything else
    ca = resolve(config_path=os.path.join(a, "config.yaml"))
    cb = resolve(config_path=os.path.join(b, "config.yaml"))
    assert ca == cb
    assert config.to_dict(ca) == first
    # the header says how to reproduce it
    header = Path(b, "config.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert "--config" in header and "config.yaml" in header


def test_dump_then_load_round_trips_every_preset(tmp_path):
    for name in TABLE:
        cfg = resolve(preset=name)
        path = write(tmp_path, config.dump_yaml(cfg), f"{name}.yaml")
        assert resolve(config_path=path) == cfg


def test_repo_configs_equal_what_write_configs_writes_now(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("configs")
    written = write_configs("configs")
    names = sorted(os.path.basename(p) for p in written)
    assert names == sorted(p.name for p in (REPO / "configs").glob("*.yaml"))
    assert {"seed-normal.yaml", "mixture.yaml"} <= set(names)
    for name in names:
        fresh = Path(tmp_path, "configs", name).read_text(encoding="utf-8")
        repo = (REPO / "configs" / name).read_text(encoding="utf-8")
        assert fresh == repo, f"configs/{name} is stale: run python -m gancli.presets configs"


def test_presets_list_only_decisions_each_with_a_reason():
    from gancli.presets import SCHEMAS
    from gancli.presets import TABLE as ALL

    for command, table in ALL.items():
        fields = config.schema(SCHEMAS[command])
        for name, preset in table.items():
            assert preset.about, name
            for key, (value, why) in preset.decisions.items():
                default = fields[key].default
                assert config.coerce(key, value, fields[key].type) != default, (name, key)
                assert why.strip(), (name, key)


@pytest.mark.parametrize("command, name", [("train-dist", "seed-normal"),
                                           ("train-mnist", "wgan-gp")])
def test_repo_config_file_is_its_preset(command, name):
    """configs/NAME.yaml (decisions and comments only) resolves to --preset NAME."""
    from gancli.presets import SCHEMAS

    cls, presets = SCHEMAS[command], PRESETS[command]
    path = str(REPO / "configs" / f"{name}.yaml")
    text = Path(path).read_text(encoding="utf-8")
    assert text.count("  # ") == len(presets[name]), "one reason per decision"
    from_file = config.resolve(cls, presets, DEFAULT_PRESET[command], config_path=path)
    assert from_file == config.resolve(cls, presets, DEFAULT_PRESET[command], preset=name)
    assert from_file.preset == name


def test_the_dataset_picks_the_default_preset_unless_one_is_named(tmp_path):
    from gancli.config import ImageConfig
    from gancli.presets import DATASET_PRESET

    presets, by_data = PRESETS["train-mnist"], DATASET_PRESET["train-mnist"]

    def preset(**kw):
        return config.resolve(ImageConfig, presets, "cdcgan", dataset_presets=by_data,
                              **kw).preset

    assert preset() == preset(overrides={"dataset": "mnist"}) == "cdcgan"
    assert preset(overrides={"dataset": "folder", "data": "x"}) == "folder"
    assert preset(overrides={"dataset": "cifar10"}) == "folder"
    assert preset(preset="cdcgan", overrides={"dataset": "cifar10"}) == "cdcgan"
    path = tmp_path / "c.yaml"
    path.write_text("dataset: cifar10\n")
    assert preset(config_path=str(path)) == "folder"
    assert preset(config_path=str(path), overrides={"dataset": "mnist"}) == "cdcgan"
    path.write_text("preset: lsgan\ndataset: cifar10\n")
    assert preset(config_path=str(path)) == "lsgan"


def test_a_resumed_run_config_without_a_newer_key_keeps_the_old_behaviour(tmp_path):
    from gancli.config import ImageConfig

    path = tmp_path / "config.yaml"  # a cdcgan run written before --clusters existed
    path.write_text("preset: cdcgan\nconditional: none\nseed: 1\n")
    kw = dict(config_path=str(path))
    old = config.resolve(ImageConfig, PRESETS["train-mnist"], "cdcgan", run_config=True, **kw)
    assert old.clusters == 0 and old.preset == "cdcgan"  # not the preset's newer 100
    assert config.resolve(ImageConfig, PRESETS["train-mnist"], "cdcgan", **kw).clusters == 100


def test_config_flag_takes_a_repo_config_file(tmp_path, capsys):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    code, err = main(["train-dist", "--config", str(REPO / "configs" / "mixture.yaml"),
                      "--out", a, "--steps", "0", "--seed", "3", *SMALL], capsys)
    assert code == 0, err
    code, err = main(["train-dist", "--preset", "mixture", "--out", b, "--steps", "0",
                      "--seed", "3", *SMALL], capsys)
    assert code == 0, err
    assert read_cfg(a) == read_cfg(b)
    assert read_cfg(a)["batch_size"] == 400  # a preset value, not the default 10
