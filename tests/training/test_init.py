"""train --init: fine-tuning starts from another bundle's weights and keeps its input contract."""

import pytest
import torch

from spoofguard.errors import SpoofguardError
from spoofguard.inference.bundle import load_bundle
from spoofguard.training.train import train

torch.set_num_threads(1)


def test_init_starts_from_the_bundles_weights_and_contract(trained_run, tiny_dataset, tmp_path):
    start = load_bundle(trained_run.bundle)
    result = train(data=str(tiny_dataset), out=str(tmp_path / "ft"), model="padnet", epochs=1, init=str(trained_run.out),
                   subject_pattern=r"^(\d+)_", progress=False, lr=1e-9)  # a learning rate of ~0: the weights stay the start's
    tuned = load_bundle(result.bundle)
    assert tuned.metadata["preprocessing"] == start.metadata["preprocessing"]  # input size 32 kept, not padnet's 96
    assert tuned.metadata["training"]["init"]["weights_sha256"] == start.metadata["weights_sha256"]
    a, b = start.model.state_dict(), tuned.model.state_dict()
    conv = next(k for k in a if k.endswith("weight") and a[k].dim() == 4)
    torch.testing.assert_close(a[conv], b[conv], atol=1e-6, rtol=0)


def test_init_refuses_another_architecture_and_a_fitted_model(trained_run, tiny_dataset, tmp_path):
    with pytest.raises(SpoofguardError, match="holds a padnet model, not seed-cnn"):
        train(data=str(tiny_dataset), out=str(tmp_path / "a"), model="seed-cnn", epochs=1, init=str(trained_run.out), progress=False)
    with pytest.raises(SpoofguardError, match="no such model file"):
        train(data=str(tiny_dataset), out=str(tmp_path / "b"), model="padnet", epochs=1, init=str(tmp_path / "missing"), progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before the run folder was made


def test_init_from_an_ensemble_takes_its_first_member_with_its_contract_and_classes(tmp_path):
    """--init silent-face style: the member's weights, its crop and BGR 0-255 contract; upstream's
    3-class head [attack_0, bona_fide, attack_2] carried over row by row into [bona_fide, attack]."""
    import numpy as np
    from PIL import Image

    from spoofguard.inference.ensemble import SILENT_FACE, silent_face_bundle
    from spoofguard.models import create_model
    from tests.conftest import face_frame

    torch.manual_seed(0)
    files = {}
    for arch, name, _ in SILENT_FACE:
        m = create_model(arch, classes=["attack_0", "bona_fide", "attack_2"])
        torch.save({f"module.{k}": v for k, v in m.state_dict().items()}, tmp_path / name)
        files[name] = tmp_path / name
    start = load_bundle(silent_face_bundle(files, tmp_path / "sf.safetensors"))
    data = tmp_path / "faces"
    for i in range(8):
        for folder, tint in (("live", 0), ("print", 60)):
            (data / folder).mkdir(parents=True, exist_ok=True)
            frame = face_frame(at=(150 + 10 * i, 100)).astype(np.int16)
            Image.fromarray(np.clip(frame + tint, 0, 255).astype(np.uint8)).save(data / folder / f"{i % 4}_{i}.png")
    result = train(data=str(data), out=str(tmp_path / "ft"), modality="face", init=str(tmp_path / "sf.safetensors"), epochs=1,
                   lr=1e-9, subject_pattern=r"^(\d+)_", progress=False)
    tuned = load_bundle(result.bundle)
    assert tuned.architecture == "minifasnet-v2"
    pre = tuned.metadata["preprocessing"]
    assert pre["face_scales"] == [2.7] and pre["channel_order"] == "BGR" and pre["pixel_range"] == 255.0
    src_head = start.model.members[0].state_dict()["prob.weight"]
    head = tuned.model.state_dict()["prob.weight"]
    torch.testing.assert_close(head[0], src_head[1], atol=1e-5, rtol=0)  # bona fide row
    torch.testing.assert_close(head[1], (src_head[0] + src_head[2]) / 2, atol=1e-5, rtol=0)  # attack: the mean of the attack rows


def test_the_face_default_fine_tunes_published_weights_when_they_are_pulled(tmp_path, monkeypatch):
    from spoofguard import zoo
    from spoofguard.inference.ensemble import SILENT_FACE, silent_face_bundle
    from spoofguard.models import create_model
    from spoofguard.training.train import TrainConfig

    monkeypatch.setenv("SPOOFGUARD_HOME", str(tmp_path / "home"))
    cfg = TrainConfig(data="d", out="o", modality="face")
    assert cfg.model == "padnet" and cfg.init is None and "models pull silent-face" in cfg.default_note
    files = {}
    for arch, name, _ in SILENT_FACE:
        torch.save(create_model(arch, classes=["attack_0", "bona_fide", "attack_2"]).state_dict(), tmp_path / name)
        files[name] = tmp_path / name
    zoo.bundle_path("silent-face").parent.mkdir(parents=True)
    silent_face_bundle(files, zoo.bundle_path("silent-face"))
    cfg = TrainConfig(data="d", out="o", modality="face")
    assert (cfg.model, cfg.init) == ("minifasnet-v2", "silent-face") and "published silent-face" in cfg.default_note
    assert (cfg.freeze, cfg.epochs) == (8, 10) and "early layers frozen" in cfg.default_note  # the fine-tuning defaults measured best
    asked = TrainConfig(data="d", out="o", modality="face", init="silent-face", freeze=0, epochs=3)
    assert (asked.freeze, asked.epochs) == (0, 3)  # what the user asks for is kept
    scratch = TrainConfig(data="d", out="o", modality="face", model="padnet")
    assert (scratch.freeze, scratch.epochs) == (0, 20)
    assert TrainConfig(data="d", out="o", modality="face", model="padnet").init is None  # asked for: no switch
    assert TrainConfig(data="d", out="o", modality="fingerprint").model == "texture"

