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
