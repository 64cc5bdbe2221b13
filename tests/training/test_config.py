"""A run's settings (spoofguard.training.config): five parts composed into TrainConfig, taken flat;
the checks made before anything is read or written; what a resumed run may change."""

import json
from dataclasses import fields, replace

import pytest

from spoofguard.errors import SpoofguardError
from spoofguard.training import run_folder
from spoofguard.training.config import (
    PARTS,
    RESUME_MAY_CHANGE,
    DataSpec,
    FitSpec,
    Hardware,
    InputSpec,
    ModelSpec,
    TrainConfig,
    part_of,
    validate,
)
from spoofguard.training.train import resume, train

TINY = dict(model="seed-cnn", epochs=1, input_size=32, progress=False)


def test_every_setting_is_declared_once_in_its_part_and_taken_flat():
    names = [f.name for p in PARTS for f in fields(p)]
    assert len(names) == len(set(names))
    assert {f.name for f in fields(TrainConfig)} == set(names) | {"out"}
    cfg = TrainConfig(data="d", out="o", model="padnet", epochs=3, accelerator="cpu", crop="whole")
    assert cfg.part(DataSpec) == DataSpec(data="d") and cfg.part(Hardware) == Hardware(accelerator="cpu")
    assert cfg.part(InputSpec).crop == "whole" and cfg.part(FitSpec).epochs == 3 and cfg.part(ModelSpec).model == "padnet"
    assert TrainConfig(**cfg.settings()) == cfg and replace(cfg, seed=4).seed == 4
    assert part_of("epochs") is FitSpec and part_of("workers") is Hardware and part_of("out") is None
    with pytest.raises(TypeError):
        TrainConfig(data="d", out="o", colour="blue")


def test_a_resumed_run_may_change_its_epochs_and_hardware_only():
    assert set(RESUME_MAY_CHANGE) == {"epochs"} | {f.name for f in fields(Hardware)}


def test_option_checks():
    with pytest.raises(SpoofguardError, match="needs --init"):
        validate(TrainConfig(data="d", out="o", modality="face", model="padnet", l2_init=0.1))
    with pytest.raises(SpoofguardError, match="--attack-species takes some of print, replay, cutout, not mask"):
        validate(TrainConfig(data="d", out="o", modality="face", model="padnet", attack_simulation=0.3, attack_species=["print", "mask"]))
    with pytest.raises(SpoofguardError, match="cannot be negative"):
        validate(TrainConfig(data="d", out="o", modality="face", model="padnet", freeze=-1))


def test_missing_data_is_refused_by_the_library():
    with pytest.raises(SpoofguardError, match="--data is required"):
        validate(TrainConfig(out="o", model="padnet"))


@pytest.mark.parametrize("settings, message", [
    (dict(modality="face", model="padnet", input_size=1500, precropped=True), "no model file may hold"),  # 1500 x 1500 RGB views
    (dict(model="padnet", model_kwargs={"theta": 5.0}), "option theta"),
    (dict(model="padnet", crop="sideways"), "crop must be one of"),
])
def test_settings_out_of_bounds_are_refused_before_the_run_folder_exists(tiny_dataset, tmp_path, settings, message):
    with pytest.raises(SpoofguardError, match=message):
        train(data=str(tiny_dataset), out=str(tmp_path / "run"), epochs=1, progress=False, **settings)
    assert not (tmp_path / "run").exists()


def test_config_records_the_absolute_data_and_the_run_folder_is_released(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_dataset.parent)
    out = tmp_path / "run"
    train(data=tiny_dataset.name, out=str(out), **TINY)
    assert json.loads((out / "config.json").read_text())["config"]["data"] == str(tiny_dataset.resolve())
    assert str(out.resolve()) not in run_folder._HELD  # training ended: the lock is let go


def test_resume_and_overwrite_contradict_each_other(tmp_path):
    with pytest.raises(SpoofguardError, match="contradict each other"):
        resume(tmp_path / "run", overwrite=True)
