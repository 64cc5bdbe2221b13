"""Bring your own ONNX model: third-party PAD models (one, or an ensemble) as a spoofguard model.

A spec (YAML) says how to feed each model and read its output; the result is one self-contained
``.onnx`` file holding every model's graph side by side (names prefixed ``m0_``, ``m1_`` ...) and the
spoofguard metadata, so it works wherever an exported bundle works (``predict``, ``score``,
``evaluate``, ``serve``, ``bench``) through the onnx backend. Example (the Silent-Face pair)::

    modality: face
    threshold: 0.5          # bona fide iff the score is at or above it; choose yours on a dev split (`metrics --dev`)
    combine: mean           # the members' bona fide probabilities are averaged (= summed softmax / N)
    face_detector: auto
    members:
      - model: MiniFASNetV2.onnx      # relative to the spec file, or given on the command line in order
        input_size: 80
        channel_order: BGR            # RGB | BGR
        pixel_range: 255              # values 0..255 (1.0: 0..1)
        mean: [0, 0, 0]
        std: [1, 1, 1]
        crop_scale: 2.7               # around the face box
        border: shift                 # shift (stay inside the frame) | reflect | constant
        square: false                 # square crop of side scale x max(w, h), else the box's aspect
        output: logits                # logits | probabilities
        bona_fide_index: 1            # which output is bona fide; all others are attacks
      - model: MiniFASNetV1SE.onnx
        crop_scale: 4.0
        ...

The score is the mean over members of P(bona fide); class probabilities are ``bona_fide`` and
``attack`` (the sum of every other output). Each member sees one crop per face.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from spoofguard.errors import SpoofguardError

FORMAT = "spoofguard.imported-onnx"
MEMBER_KEYS = {"model", "input_size", "channel_order", "pixel_range", "mean", "std", "crop_scale", "border", "square",
               "output", "bona_fide_index", "resize"}
SPEC_KEYS = {"modality", "threshold", "combine", "face_detector", "face_min", "members", "name"}


def read_spec(path: str | os.PathLike) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpoofguardError(f"--spec {path}: no such file.")
    try:
        spec = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SpoofguardError(f"--spec {path}: not valid YAML ({str(e).splitlines()[0]}).") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("members"), list) or not spec["members"]:
        raise SpoofguardError(f"--spec {path}: needs a 'members' list with one entry per model (see `spoofguard import-onnx --help`).")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise SpoofguardError(f"--spec {path}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(SPEC_KEYS))}.")
    for i, m in enumerate(spec["members"]):
        if not isinstance(m, dict):
            raise SpoofguardError(f"--spec {path}: member {i} must be a mapping of settings.")
        bad = set(m) - MEMBER_KEYS
        if bad:
            raise SpoofguardError(f"--spec {path}: member {i} has unknown key(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(MEMBER_KEYS))}.")
    return spec


def import_onnx(models: list[str | os.PathLike], spec: dict | str | os.PathLike, out: str | os.PathLike) -> Path:
    """Combine ``models`` (or the spec's ``model`` entries) as the spec says; write ``out`` (.onnx)."""
    import onnx

    spec_dir = Path(spec).parent if not isinstance(spec, dict) else Path(".")
    spec = spec if isinstance(spec, dict) else read_spec(spec)
    members = spec["members"]
    files = [Path(m) for m in models] or [spec_dir / str(m.get("model", "")) for m in members]
    if len(files) != len(members):
        raise SpoofguardError(f"{len(files)} model file(s) given but the spec describes {len(members)} member(s); give one model per member, in order.")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise SpoofguardError(f"{out}: the output name must end in .onnx.")
    modality = spec.get("modality", "face")
    threshold = _number(spec.get("threshold", 0.5), "threshold", 0.0, 1.0)
    if spec.get("combine", "mean") != "mean":
        raise SpoofguardError("combine: only 'mean' (the mean of the members' bona fide probabilities) is supported.")

    protos, meta_members, provenance = [], [], []
    for i, (f, m) in enumerate(zip(files, members)):
        proto = _load(f)
        pre = _preprocessing(m, modality, spec, i)
        inp, outp, n_out = _io(proto, f, pre)
        b = int(m.get("bona_fide_index", 0))
        if not 0 <= b < n_out:
            raise SpoofguardError(f"member {i} ({f.name}): bona_fide_index {b} but the model has {n_out} outputs.")
        kind = m.get("output", "logits")
        if kind not in ("logits", "probabilities"):
            raise SpoofguardError(f"member {i}: output must be logits or probabilities, not {kind!r}.")
        protos.append(_prefixed(proto, f"m{i}_"))
        meta_members.append({"preprocessing": pre.to_dict(), "input": f"m{i}_{inp}", "output": f"m{i}_{outp}",
                             "bona_fide_index": b, "output_kind": kind, "model": f.name})
        provenance.append({"file": f.name, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
    graph = _side_by_side(protos)
    meta = {
        "format": FORMAT,
        "architecture": {"name": spec.get("name", "imported-onnx"), "kwargs": {}, "members": [p["file"] for p in provenance]},
        "classes": ["bona_fide", "attack"],
        "threshold": threshold,
        "threshold_source": "import spec (not chosen on a dev split: check it with `spoofguard metrics --dev`)",
        "preprocessing": meta_members[0]["preprocessing"],
        "members": meta_members,
        "combine": "mean",
        "imported": {"files": provenance, "spec": {k: v for k, v in spec.items() if k != "members"}},
    }
    if not _runs_batched(graph, meta_members):
        meta["batch_size"] = 1  # a graph with batch 1 baked into its nodes: it is fed one view at a time
    entry = graph.metadata_props.add()
    entry.key, entry.value = "spoofguard", json.dumps(meta)
    graph.producer_name = "spoofguard import-onnx"
    try:
        onnx.checker.check_model(graph)
    except onnx.checker.ValidationError as e:
        raise SpoofguardError(f"the combined model does not validate ({str(e).splitlines()[0][:200]}).") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(graph.SerializeToString())
    tmp.replace(out)
    from spoofguard.inference.onnx_model import load_onnx

    load_onnx(out)  # it must open the way every user will open it
    return out


def _runs_batched(graph, members: list[dict]) -> bool:
    """Whether the combined graph accepts a batch of 2 (many exports only ever saw batch 1)."""
    import numpy as np

    from spoofguard.inference.onnx_model import _session

    try:
        session = _session(graph.SerializeToString())
    except Exception as e:
        raise SpoofguardError(f"onnxruntime cannot run the combined model ({str(e).splitlines()[0][:200]}).") from None
    feeds = {m["input"]: np.zeros((2, m["preprocessing"]["channels"], m["preprocessing"]["input_size"], m["preprocessing"]["input_size"]),
                                  np.float32) for m in members}
    try:
        outputs = session.run([m["output"] for m in members], feeds)
    except Exception:
        return False
    return all(np.asarray(o).shape[0] == 2 for o in outputs)


def _number(v, what: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise SpoofguardError(f"{what} must be a number in [{lo:g}, {hi:g}], not {v!r}.")
    return float(v)


def _load(path: Path):
    import onnx

    if not path.is_file():
        raise SpoofguardError(f"{path}: no such model file.")
    try:
        return onnx.load(str(path))
    except Exception as e:
        raise SpoofguardError(f"{path} is not a readable ONNX model ({type(e).__name__}).") from None


def _preprocessing(m: dict, modality: str, spec: dict, i: int):
    from spoofguard.modalities import Preprocessing

    size = m.get("input_size")
    if not isinstance(size, int):
        raise SpoofguardError(f"member {i}: input_size (pixels of the square input) is required.")
    crop = "face" if modality == "face" and "crop_scale" in m else "whole"
    return Preprocessing(
        modality, size, channels=3 if modality == "face" else 1, mean=list(m.get("mean", [0.0] * 3)), std=list(m.get("std", [1.0] * 3)),
        resize=m.get("resize", "stretch"), crop=crop, face_scales=[float(m.get("crop_scale", 1.0))], face_border=m.get("border", "shift"),
        face_square=bool(m.get("square", False)), face_detector=spec.get("face_detector", "auto"), face_min=float(spec.get("face_min", 0.1)),
        channel_order=m.get("channel_order", "RGB"), pixel_range=float(m.get("pixel_range", 1.0)),
    )


def _io(proto, path: Path, pre) -> tuple[str, str, int]:
    """The model's one image input and first output; checks the input shape against the spec and
    makes the batch axis dynamic (many exported models fix it at 1)."""
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise SpoofguardError(f"{path.name}: expected one image input, found {len(inputs)} ({', '.join(i.name for i in inputs)}).")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value or None for d in dims]
    want = [pre.channels, pre.input_size, pre.input_size]
    if len(shape) != 4 or any(s is not None and s != w for s, w in zip(shape[1:], want)):
        raise SpoofguardError(f"{path.name}: its input is {['N' if s is None else s for s in shape]}, the spec says "
                              f"[N, {', '.join(map(str, want))}] (NCHW); fix input_size or the model.")
    out = proto.graph.output[0]
    odims = out.type.tensor_type.shape.dim
    n_out = odims[-1].dim_value if len(odims) == 2 else 0
    if not n_out:
        raise SpoofguardError(f"{path.name}: its first output should be [N, classes]; it has shape {[d.dim_value or d.dim_param for d in odims]}.")
    for d in (dims[0], odims[0]):
        d.Clear()
        d.dim_param = "batch"
    del proto.graph.value_info[:]  # shapes inferred for batch 1 would contradict the dynamic axis
    return inputs[0].name, out.name, n_out


def _prefixed(proto, prefix: str):
    from onnx import compose

    return compose.add_prefix(proto, prefix)


def _side_by_side(protos: list):
    """One model whose graph runs every member's graph independently (inputs and outputs of all)."""
    import onnx
    from onnx import helper, version_converter

    opset = max(_default_opset(p) for p in protos)
    converted = []
    for p in protos:
        if _default_opset(p) != opset:
            try:
                p = version_converter.convert_version(p, opset)
            except Exception as e:
                raise SpoofguardError(f"the models use different ONNX opsets and one cannot be converted to {opset} ({type(e).__name__}).") from None
        converted.append(p)
    g = helper.make_graph(
        nodes=[n for p in converted for n in p.graph.node],
        name="spoofguard_imported",
        inputs=[i for p in converted for i in p.graph.input],
        outputs=[o for p in converted for o in p.graph.output],
        initializer=[t for p in converted for t in p.graph.initializer],
        value_info=[v for p in converted for v in p.graph.value_info],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = max(p.ir_version for p in converted)
    return onnx.shape_inference.infer_shapes(model)


def _default_opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
