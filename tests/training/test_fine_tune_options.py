"""Fine-tuning options: frozen leading blocks (weights and batch-norm statistics), the L2-SP pull to
the starting weights, the simulated attack species. (Their checks: tests/training/test_config.py; the
warning for a perfectly separated dev: tests/training/test_stages.py.)"""

import pytest
import torch

from spoofguard.inference.bundle import load_bundle
from spoofguard.training.module import PADModule, frozen_blocks
from spoofguard.training.train import train

torch.set_num_threads(1)


def _module(freeze=0, l2_init=0.0):
    from spoofguard.models import create_model
    from spoofguard.modalities import Preprocessing
    from spoofguard.training.recipes import recipe_for

    torch.manual_seed(0)
    model = create_model("minifasnet-v2", classes=["bona_fide", "attack"])
    return PADModule(model, Preprocessing("face", 80), recipe_for("minifasnet-v2"), epochs=1, freeze=freeze, l2_init=l2_init)


def test_frozen_blocks_are_the_leading_ones_with_weights_and_get_no_gradient():
    m = _module(freeze=3)
    assert m.frozen == ["conv1", "conv2_dw", "conv_23"]
    assert not any(p.requires_grad for p in m.model.conv_23.parameters())
    assert all(p.requires_grad for p in m.model.conv_3.parameters())
    import dataclasses

    m.recipe = dataclasses.replace(m.recipe, scheduler="none")  # the optimiser alone (a schedule needs a Trainer)
    opt = m.configure_optimizers()
    trained = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not trained & {id(p) for p in m.model.conv1.parameters()}
    with pytest.raises(ValueError, match="0 to 12 blocks"):
        frozen_blocks(m.model, 13)


def test_frozen_batch_norm_statistics_do_not_move_in_training(tmp_path):
    """A frozen block in eval mode: a forward pass on new data leaves its running mean as it was."""
    m = _module(freeze=2)
    m.train()
    for name in m.frozen:  # what on_train_epoch_start does
        getattr(m.model, name).eval()
    before = m.model.conv1.bn.running_mean.clone()
    free_before = m.model.conv_3.model[0].conv.bn.running_mean.clone() if hasattr(m.model.conv_3, "model") else None
    m.model(torch.randn(4, 3, 80, 80) * 50 + 100)
    torch.testing.assert_close(m.model.conv1.bn.running_mean, before, atol=0, rtol=0)
    if free_before is not None:
        assert not torch.equal(m.model.conv_3.model[0].conv.bn.running_mean, free_before)  # the trained blocks do move


def test_l2_init_penalty_is_zero_at_the_start_and_grows_with_the_distance():
    m = _module(l2_init=0.5)
    x = torch.randint(0, 255, (2, 80, 80, 3), dtype=torch.uint8)
    y = torch.tensor([0, 1])
    m.log = lambda *a, **k: None
    m.eval()  # no dropout: the same loss on each call
    base = m.training_step((x, y), 0).item()
    with torch.no_grad():
        m.model.prob.weight.add_(0.1)  # 2 x 128 weights moved by 0.1: penalty 0.5 * 256 * 0.01 = 1.28 more (plus the loss change)
    m.l2_init = 0.0
    plain = m.training_step((x, y), 0).item()
    m.l2_init = 0.5
    assert m.training_step((x, y), 0).item() - plain == pytest.approx(1.28, rel=1e-4)
    assert base > 0


def test_attack_species_limits_what_is_simulated():
    from spoofguard.data.dataset import SampleDataset
    from spoofguard.data.manifest import Sample
    from spoofguard.modalities import Preprocessing

    ds = SampleDataset([Sample("x.png", "bona_fide")], ["bona_fide", "attack"], Preprocessing("face", 32), attack_simulation=0.5,
                       attack_species=("replay",))
    assert ds.attack_species == ("replay",)
    assert SampleDataset([], ["bona_fide", "attack"], Preprocessing("face", 32)).attack_species == ("print", "replay", "cutout")


def test_freeze_is_recorded_and_the_frozen_weights_stay_in_a_run(trained_run, tiny_dataset, tmp_path):
    result = train(data=str(tiny_dataset), out=str(tmp_path / "ft"), model="padnet", epochs=1, init=str(trained_run.out), freeze=1,
                   subject_pattern=r"^(\d+)_", progress=False, lr=1e-2)
    start, tuned = load_bundle(trained_run.bundle), load_bundle(result.bundle)
    assert tuned.metadata["training"]["freeze"] == 1
    first = next(n for n, _ in start.model.named_children())
    a = {k: v for k, v in start.model.state_dict().items() if k.startswith(first + ".")}
    b = tuned.model.state_dict()
    assert a and all(torch.equal(v, b[k]) for k, v in a.items())  # weights and batch-norm buffers of the frozen block unchanged
