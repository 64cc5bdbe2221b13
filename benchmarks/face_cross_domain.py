"""Face PAD across domains: train on NUAA, judge on new people, another camera and simulated attacks.

    python benchmarks/face_cross_domain.py ../shared/data/face/nuaa-subjects-0001-0009 --work xdom \
        --seeds 0 1 2 --samples ../shared/data/face/samples --peers ../shared/peers \
        --config 'ft={"init": "silent-face", "epochs": 10}' \
        --config 'ft-sim={"init": "silent-face", "epochs": 10, "attack_simulation": 0.3}' \
        [--zero-shot silent-face] [--calibrate silent-face] [--fuse ft+silent-face] [--loso ft-sim]

For each seed ``s`` (a different subject-disjoint split of NUAA and a different training seed):

1. the NUAA folder is split by subject (protocol ``subject``, seed ``s``) and written as a manifest,
   so every configuration of that seed trains and is judged on the same split;
2. the domains: ``nuaa`` (the test split: new people, same webcam), ``phones`` (``--samples``: the
   three phone frames, ``T*`` bona fide, ``F*`` attacks), ``simulated`` (``spoofguard synth face`` on
   every 6th bona fide test frame: re-encoded bona fide, print, replay and cut-out of the new people);
3. each ``--config NAME=JSON`` (TrainConfig fields) is trained on the split (``WORK/runs/NAME-sS``;
   a finished run is reused, so a benchmark can be extended), each ``--zero-shot`` model (a zoo name
   or bundle; ``celebaspoof`` is imported from ``--peers`` with its spec) is used as it is;
4. every model scores the dev split and every domain (``WORK/scores/NAME-sS.csv``); rates are at the
   model's own threshold (ours: the dev split's; published ones: theirs); ``--calibrate Z`` judges a
   zero-shot model at a threshold from the dev split instead (centred EER: weights untouched, only the
   operating point adapted to the site); a ``--fuse A+B`` model is the mean of A's and B's bona fide
   probabilities with its threshold from the dev split.

``--loso NAME`` (a config with ``attack_simulation``) also trains it once per simulated species with
that species left out of the simulation and judges that species only: an attack kind never simulated.

Printed: a markdown table, mean ± sd over seeds, per domain. Never run two benchmarks side by side on
a small CPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CELEBA = ("examples/celebaspoof-minifasnet.yaml", "celebaspoof-minifasnet-se/model.onnx")
DOMAINS = ("dev", "nuaa", "phones", "simulated")


def make_split(data: str, work: Path, seed: int) -> Path:
    from spoofguard.data.manifest import write_manifest
    from spoofguard.data.protocols import split_manifest
    from spoofguard.data.sources import load_samples

    path = work / f"split-s{seed}.csv"
    if not path.exists():
        manifest, _ = split_manifest(load_samples(data, format="nuaa").manifest, "subject", seed=seed)
        write_manifest(manifest, path)
    return path


def make_domains(split: Path, samples: str | None, work: Path, seed: int) -> dict:
    from spoofguard.data.manifest import Manifest, Sample, read_manifest
    from spoofguard.data.synth.face import synthesize_faces

    m = read_manifest(split)
    domains = {"dev": m.split("dev"), "nuaa": m.split("test")}
    if samples:
        domains["phones"] = Manifest([Sample(str(p.resolve()), "bona_fide" if p.name.split("_")[-1].startswith("T") else "attack",
                                             "" if p.name.split("_")[-1].startswith("T") else "phone", "phones")
                                      for p in sorted(Path(samples).glob("*.jpg"))])
    synth = work / f"simulated-s{seed}"
    if not (synth / "manifest.csv").exists():
        bona = [s.path for s in m.split("test") if s.label == "bona_fide"][::6]
        synthesize_faces(synth, faces=bona, variants=1, seed=0)
    domains["simulated"] = read_manifest(synth / "manifest.csv")
    return domains


def train_config(name: str, settings: dict, split: Path, work: Path, seed: int, suffix: str = "") -> str:
    from spoofguard.training.train import TrainConfig, train

    out = work / "runs" / f"{name}{suffix}-s{seed}"
    bundle = out / "model.safetensors"
    if bundle.exists():
        return str(bundle)
    t = time.time()
    r = train(TrainConfig(data=str(split), out=str(out), modality="face", protocol="manifest", seed=seed, progress=False, **settings),
              overwrite=True)
    (out / "bench.json").write_text(json.dumps({"wall_s": time.time() - t, "epochs": r.epochs_run}))
    print(f"  trained {out.name} in {time.time() - t:.0f} s ({r.epochs_run} epochs)", flush=True)
    return str(r.bundle)


def scores(name: str, model: str, domains: dict, work: Path) -> dict:
    """{domain: (scores, labels, species)}; cached in WORK/scores/NAME.csv."""
    from spoofguard.evaluation.evaluate import score_samples
    from spoofguard.inference.detector import Detector

    path = work / "scores" / f"{name}.csv"
    if not path.exists():
        det = Detector.from_file(model)
        rows = []
        for dom, manifest in domains.items():
            table, failed = score_samples(det, manifest)
            rows += [{"domain": dom, "path": p, "label": lab, "species": sp, "score": f"{s:.8f}"}
                     for p, lab, sp, s in zip(table.path, table.label, table.species, table.score)]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, ["domain", "path", "label", "species", "score"])
            w.writeheader()
            w.writerows(rows)
        meta = {"threshold": det.threshold}
        path.with_suffix(".json").write_text(json.dumps(meta))
    with path.open() as f:
        rows = list(csv.DictReader(f))
    out = {}
    for dom in domains:
        r = [x for x in rows if x["domain"] == dom]
        out[dom] = {x["path"]: (float(x["score"]), x["label"], x["species"]) for x in r}
    out["threshold"] = json.loads(path.with_suffix(".json").read_text())["threshold"]
    return out


def fuse(a: dict, b: dict) -> dict:
    out = {}
    for dom in DOMAINS:
        if dom in a and dom in b:
            common = sorted(set(a[dom]) & set(b[dom]))
            out[dom] = {p: ((a[dom][p][0] + b[dom][p][0]) / 2, a[dom][p][1], a[dom][p][2]) for p in common}
    out["threshold"] = dev_threshold(out["dev"])
    return out


def dev_threshold(dev: dict) -> float:
    """The threshold training picks: the dev split's EER, centred in its decision gap."""
    from spoofguard.evaluation.thresholds import centred_threshold

    v = list(dev.values())
    return float(centred_threshold("eer", np.array([d[0] for d in v]), np.array([d[1] for d in v]), np.array([d[2] for d in v])))


def rates(table: dict, threshold: float) -> dict:
    from spoofguard.evaluation.metrics import compute_metrics

    v = list(table.values())
    s, lab, sp = np.array([x[0] for x in v]), np.array([x[1] for x in v]), np.array([x[2] for x in v])
    out = {"n": len(v)}
    bona, att = lab == "bona_fide", lab == "attack"
    out["bpcer"] = float(np.mean(s[bona] < threshold)) if bona.any() else float("nan")
    for species in sorted(set(sp[att])):
        out[f"apcer_{species}"] = float(np.mean(s[att & (sp == species)] >= threshold))
    if bona.any() and att.any():
        m = compute_metrics(s, lab, sp, threshold=threshold, bootstrap=0)
        out.update(apcer=m["apcer"], acer=m["acer"], eer=m["eer"], auc=m["auc"])
    else:
        out["apcer"] = float(np.mean(s[att] >= threshold)) if att.any() else float("nan")
    out["correct"] = int(np.sum(bona & (s >= threshold)) + np.sum(att & (s < threshold)))
    return out


def summary(per_seed: list[dict]) -> dict:
    keys = sorted({k for r in per_seed for k in r})
    return {k: (float(np.nanmean([r.get(k, np.nan) for r in per_seed])), float(np.nanstd([r.get(k, np.nan) for r in per_seed])))
            for k in keys}


def fmt(ms, key, pct=True) -> str:
    if key not in ms or np.isnan(ms[key][0]):
        return "-"
    m, s = ms[key]
    return f"{100 * m:.1f} ± {100 * s:.1f}" if pct else f"{m:.3f} ± {s:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--work", default="xdom")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", default=None)
    ap.add_argument("--peers", default=None)
    ap.add_argument("--config", action="append", default=[], help="NAME=JSON of TrainConfig fields")
    ap.add_argument("--zero-shot", action="append", default=[], help="a zoo name or bundle used as it is; 'celebaspoof' from --peers")
    ap.add_argument("--calibrate", action="append", default=[], help="a --zero-shot NAME also judged at a threshold from the dev split")
    ap.add_argument("--fuse", action="append", default=[], help="A+B: mean of two models' probabilities, threshold from dev")
    ap.add_argument("--loso", action="append", default=[], help="a --config NAME to rerun with each simulated species left out")
    ap.add_argument("--json", default=None, help="write the per-seed rates here")
    args = ap.parse_args(argv)

    from spoofguard.data.synth.face import FACE_SPECIES

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    configs = dict(c.split("=", 1) for c in args.config)
    configs = {k: json.loads(v) for k, v in configs.items()}
    zero = {}
    for z in args.zero_shot:
        if z == "celebaspoof":
            from spoofguard.inference.import_onnx import import_onnx

            target = work / "celebaspoof.onnx"
            if not target.exists():
                import_onnx([Path(args.peers) / CELEBA[1]], ROOT / CELEBA[0], target)
            zero[z] = str(target)
        else:
            zero[z] = z
    per = {}  # model -> domain -> [per-seed rates]
    for seed in args.seeds:
        print(f"seed {seed}", flush=True)
        split = make_split(args.data, work, seed)
        domains = make_domains(split, args.samples, work, seed)
        tables = {}
        for name, settings in configs.items():
            tables[name] = scores(f"{name}-s{seed}", train_config(name, settings, split, work, seed), domains, work)
        for name, model in zero.items():
            tables[name] = scores(f"{Path(name).stem}-s{seed}", model, domains, work)
        for name in args.calibrate:
            tables[f"{name} + dev threshold"] = {**tables[name], "threshold": dev_threshold(tables[name]["dev"])}
        for pair in args.fuse:
            a, b = pair.split("+")
            tables[pair] = fuse(tables[a], tables[b])
        for name in args.loso:
            for species in FACE_SPECIES:
                kept = [sp for sp in FACE_SPECIES if sp != species]
                settings = {**configs[name], "attack_species": kept}
                model = train_config(name, settings, split, work, seed, suffix=f"-no-{species}")
                t = scores(f"{name}-no-{species}-s{seed}", model, domains, work)
                sim = {p: v for p, v in t["simulated"].items() if v[2] in ("", species)}
                per.setdefault(f"{name} without {species}", {}).setdefault("simulated", []).append(rates(sim, t["threshold"]))
        for name, t in tables.items():
            for dom in DOMAINS:
                if dom in t:
                    per.setdefault(name, {}).setdefault(dom, []).append(rates(t[dom], t["threshold"]))
    if args.json:
        Path(args.json).write_text(json.dumps(per, indent=1))
    print(f"\nseeds {args.seeds}; rates in % at each model's own threshold, mean ± sd over seeds\n")
    print("| model | NUAA new people: APCER / BPCER / EER / AUC | phones: correct of 3 / T1 bona fide kept | "
          "simulated: APCER print / replay / cut-out | simulated: BPCER / EER / AUC |")
    print("|---|---|---|---|---|")
    for name, doms in per.items():
        n = summary(doms["nuaa"]) if "nuaa" in doms else {}
        p = summary(doms["phones"]) if "phones" in doms else {}
        s = summary(doms["simulated"]) if "simulated" in doms else {}
        print(f"| {name} | {fmt(n, 'apcer')} / {fmt(n, 'bpcer')} / {fmt(n, 'eer')} / {fmt(n, 'auc', False)} "
              f"| {fmt(p, 'correct', False)} / {fmt({'k': (1 - p['bpcer'][0], p['bpcer'][1])} if 'bpcer' in p else {}, 'k')} "
              f"| {fmt(s, 'apcer_print')} / {fmt(s, 'apcer_replay')} / {fmt(s, 'apcer_cutout')} "
              f"| {fmt(s, 'bpcer')} / {fmt(s, 'eer')} / {fmt(s, 'auc', False)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
