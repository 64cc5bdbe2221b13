"""The CLI is a thin wrapper: check exit codes and that user errors print one line, no traceback."""

import json

from spoofguard.cli import main


def test_data_scan_writes_a_manifest_and_reports_duplicates(dataset_copy, tmp_path, capsys):
    (dataset_copy / "live" / "dup.png").write_bytes((dataset_copy / "live" / "0_0.png").read_bytes())
    out = tmp_path / "m.csv"
    assert main(["data", "scan", str(dataset_copy), "-o", str(out), "--subject-pattern", r"^(\d+|dup)"]) == 0
    text = capsys.readouterr().out
    assert "gelatine" in text and "byte-identical" in text and "dup.png" in text
    assert out.read_text().startswith("path,label,species,subject,session,device,video_id,split")


def test_user_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["data", "scan", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r"), "--epochs", "1"]) == 2
    assert "no usable images" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.safetensors"), "x.png"]) == 2
    assert "no such model file" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path, capsys):
    """--epochs many is refused by the parser itself (with every required option given, so it is not
    the missing --out that exits 2), before anything is written."""
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--epochs", "many"]) == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert "Invalid value for '--epochs'" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_predict_reports_failed_inputs_and_exits_1(trained_run, tiny_dataset, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    good = tiny_dataset / "live" / "0_0.png"
    assert main(["predict", str(trained_run.bundle), str(good), str(bad), "--json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert 0 <= rows[0]["score"] <= 1 and rows[0]["verdict"] in ("bona_fide", "attack")
    assert "empty" in rows[1]["error"]
    assert main(["predict", str(trained_run.bundle), str(good)]) == 0


def test_info_prints_metadata(trained_run, capsys):
    assert main(["info", str(trained_run.bundle)]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"]["name"] == "padnet"


def test_file_names_are_printed_as_text_not_markup(trained_run, tiny_dataset, tmp_path, capsys):
    """Issue 17: a name holding "[/y]" crashed the table (rich.errors.MarkupError); "[link=...]" became a hyperlink."""
    import shutil
    from pathlib import Path

    src = sorted(Path(tiny_dataset).rglob("*.png"))[0]
    (tmp_path / "x[").mkdir()
    for n in ("x[/y]b.png", "[link=x]c.png", "[bold]d.png"):  # the first: folder "x[", file "y]b.png"
        shutil.copy(src, tmp_path / n)
    assert main(["predict", str(trained_run.bundle), str(tmp_path / "x[" / "y]b.png"), str(tmp_path / "[bold]d.png"),
                 str(tmp_path / "[link=x]c.png")]) == 0
    out = capsys.readouterr().out.replace("\n", "").replace("│", "").replace(" ", "")
    for n in ("y]b.png", "[bold]d.png", "[link=x]c.png"):
        assert n in out


def test_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"spoofguard {version('spoofguard')}"


def test_every_option_has_help_and_flags_show_no_type():
    """Every option of every command says what it does, and an on/off flag is not shown as taking a
    value (`<bool>` made users type `--balanced true`)."""
    import typer

    from spoofguard.cli import app

    missing = []

    def walk(command, name=""):
        for sub_name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, f"{name} {sub_name}".strip())
        for p in getattr(command, "params", []):
            if getattr(p, "param_type_name", "") == "option" and not p.help:
                missing.append(f"{name} {p.opts[0]}")

    from typer.testing import CliRunner

    walk(typer.main.get_command(app))
    assert not missing, missing
    for command in (["train", "--help"], ["predict", "--help"], ["serve", "--help"]):
        assert "<bool>" not in CliRunner().invoke(app, command).output


def test_train_options_map_onto_the_settings_once_also_for_resume(tiny_dataset, tmp_path, capsys):
    """--resume states the typed options again through the same mapping as a new run: --no-augment is
    augment 'none', --threshold is threshold_rule, --theta a model option; the run's own differ, so it refuses."""
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_dataset), "--out", str(out), "--model", "seed-cnn", "--epochs", "1", "--input-size", "32",
                 "--no-augment", "--threshold", "bpcer20"]) == 0
    assert "bundle: " in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["augment"], config["threshold_rule"], config["model_kwargs"]) == ("none", "bpcer20", {})
    (out / "model.safetensors").unlink()
    assert main(["train", "--resume", "--out", str(out), "--augment", "--threshold", "eer", "--theta", "0.5"]) == 2
    err = capsys.readouterr().err
    for differs in ("augment: run 'none', now 'default'", "threshold_rule: run 'bpcer20', now 'eer'", "model_kwargs: run {}, now {'theta': 0.5}"):
        assert differs in err
    assert main(["train", "--resume", "--overwrite", "--out", str(out)]) == 2
    assert "contradict each other" in capsys.readouterr().err
