"""Per-epoch lines when the output is not a terminal."""

import io

from spoofguard.training.epoch_log import epoch_line, wants_epoch_lines


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_lines_only_without_a_terminal_and_with_progress():
    assert wants_epoch_lines(True, io.StringIO())
    assert not wants_epoch_lines(True, Tty())
    assert not wants_epoch_lines(False, io.StringIO())


def test_the_line_says_the_epoch_and_its_figures():
    row = {"epoch": 3, "train_loss": 0.4123, "train_acc": 0.851, "dev_loss": 0.33, "dev_acc": 0.902, "dev_eer": 0.0512}
    assert epoch_line(row, 20, 12.3) == "epoch 3/20  train loss 0.412 acc 0.851  dev loss 0.330 acc 0.902 EER 0.051  12 s"
    assert "EER" not in epoch_line({**row, "dev_eer": float("nan")}, 20, 1)


def test_a_run_without_a_terminal_prints_one_line_per_epoch(tiny_dataset, tmp_path, capsys):
    import torch

    from spoofguard.training.train import train

    torch.set_num_threads(1)
    train(data=str(tiny_dataset), out=str(tmp_path / "r"), model="padnet", epochs=2, input_size=32, subject_pattern=r"^(\d+)_",
          progress=True)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1/2", "2/2"]
