import numpy as np
import pytest
from PIL import Image

from spoofguard.data.dataset import SampleDataset
from spoofguard.data.manifest import Sample
from spoofguard.errors import SpoofguardError
from spoofguard.modalities import Preprocessing


def _faces(tmp_path, n=6):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(p)
        samples.append(Sample(str(p), "bona_fide" if i % 2 == 0 else "attack", "" if i % 2 == 0 else "print"))
    return samples


def test_attack_simulation_turns_bona_fide_into_labelled_attacks(tmp_path):
    samples = _faces(tmp_path)
    pre = Preprocessing("face", 64)
    plain = SampleDataset(samples, ["bona_fide", "attack"], pre)
    np.random.seed(0)  # the dataset draws its generator from numpy's global state (seeded per worker in training): fixed here
    sim = SampleDataset(samples, ["bona_fide", "attack"], pre, attack_simulation=0.999)
    for i in range(len(samples)):
        x0, y0 = plain[i]
        x1, y1 = sim[i]
        assert x1.shape == x0.shape == (64, 64, 3)
        if y0 == 0:  # bona fide: simulated into an attack, image changed
            assert y1 == 1 and not np.array_equal(x0.numpy(), x1.numpy())
        else:  # real attacks are left alone
            assert y1 == y0 and np.array_equal(x0.numpy(), x1.numpy())


def test_attack_simulation_options_are_checked(tmp_path):
    from spoofguard.training.train import TrainConfig, validate

    with pytest.raises(SpoofguardError, match="needs --modality face"):
        validate(TrainConfig(data="x", out="y", modality="fingerprint", attack_simulation=0.3))
    with pytest.raises(SpoofguardError, match="probability"):
        validate(TrainConfig(data="x", out="y", modality="face", attack_simulation=1.5))
    with pytest.raises(SpoofguardError, match="species-as-classes"):
        validate(TrainConfig(data="x", out="y", modality="face", attack_simulation=0.3, species_as_classes=True))
