"""ONNX export of a bundle, and loading an exported model for the torch-free onnx backend.

``export_onnx(bundle, out)`` writes one self-contained ``.onnx`` file: a dynamic batch axis, opset 17,
the TorchScript exporter (``dynamo=False``: needs only ``onnx``), weights inside the file. The central
difference term of every CDC layer is folded into its kernel at export (the exporter constant-folds
``CDConv2d.fused_weight``), so the graph holds plain ``Conv`` nodes. The bundle's whole metadata
(classes, preprocessing, threshold, provenance) is embedded as the ONNX metadata property
``spoofguard``, so the file works on its own: ``Detector.from_file("model.onnx")``.

Checking an export against its bundle (parity, the acceptance rule, int8) is
:mod:`spoofguard.inference.export`'s job.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

from spoofguard.cpu import usable_cores
from spoofguard.errors import SpoofguardError

META_KEY = "spoofguard"
OPSET = 17


def _onnx_bytes(bundle) -> tuple[bytes, dict]:
    """The serialised ONNX model and the metadata embedded in it."""
    import onnx
    import torch

    from spoofguard.models import capabilities

    if bundle.architecture == "ensemble":
        raise SpoofguardError(f"{bundle.path} is an ensemble of {len(bundle.metadata['members'])} models with their own crops; it runs on torch. "
                              "For ONNX, put the members' own ONNX files together with `spoofguard import-onnx`.")
    model = bundle.model.float().cpu().eval()
    model = model.exportable() if capabilities(model).export_form else model  # e.g. padnet's folded stem
    pre = bundle.preprocessing
    x = torch.zeros(1, pre.channels, pre.input_size, pre.input_size)
    if pre.clip_frames:  # temporal models take clips (N, T, C, H, W)
        x = torch.zeros(1, pre.clip_frames, pre.channels, pre.input_size, pre.input_size)
    buf = io.BytesIO()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks in forward() are constants here
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")  # GRU: checked at batch > 1 in tests
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")  # texture's strided slices: left unfolded, correct
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=OPSET, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    meta = dict(bundle.metadata)
    meta["exported"] = {"format": "onnx", "opset": OPSET, "from_weights_sha256": meta.get("weights_sha256", "")}
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    proto.producer_name = "spoofguard"
    return proto.SerializeToString(), meta


def export_onnx(bundle, out: str | os.PathLike) -> Path:
    """Write ``bundle`` (a Bundle or a path to one) as a self-contained ONNX model at ``out``."""
    from spoofguard.inference.bundle import Bundle, load_bundle

    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise SpoofguardError(f"{out}: the ONNX file name must end in .onnx.")
    data, _ = _onnx_bytes(bundle)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(out)  # never leave a half-written model under the real name
    return out


def _session(data: bytes | str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # onnxruntime's own default counted one core on the 2-core reference VM: 1460 vs 2384 img/s (padnet, 128, batch 32).
    # A server running one prediction per core at once sets SPOOFGUARD_ONNX_THREADS=1 (else the threads fight).
    opts.intra_op_num_threads = int(os.environ.get("SPOOFGUARD_ONNX_THREADS") or usable_cores())
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def _read_proto(path: Path):
    import onnx

    if not path.is_file():
        raise SpoofguardError(f"{path}: no such file.")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and friends
        from spoofguard.inference.metadata import not_a_model_hint

        raise SpoofguardError(f"{path} is not a readable ONNX model ({type(e).__name__}).{not_a_model_hint(path)}") from None


def _metadata_of(proto, path: Path) -> dict:
    """The spoofguard metadata embedded in an ONNX model, checked by the validator bundles go through."""
    from spoofguard.inference.metadata import validate_metadata

    props = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in props:
        raise SpoofguardError(f"{path} is an ONNX model without spoofguard metadata (classes, preprocessing, threshold); "
                              "a third-party model needs a spec saying how to feed it (`spoofguard import-onnx`).")
    try:
        meta = json.loads(props[META_KEY])
    except (json.JSONDecodeError, RecursionError) as e:
        raise SpoofguardError(f"{path}: its spoofguard metadata is damaged (not valid JSON: {str(e)[:100]}).") from None
    return validate_metadata(meta, str(path), container="onnx")


def read_onnx_metadata(path: str | os.PathLike) -> dict:
    """The spoofguard metadata of an exported or imported ``.onnx``, validated, without opening a session."""
    path = Path(path)
    return _metadata_of(_read_proto(path), path)


def load_onnx(path: str | os.PathLike):
    """``(onnxruntime session, metadata)`` of a model exported by spoofguard; anything else is refused.
    The metadata is validated before the graph is opened, and the graph against the metadata after
    (the inputs and outputs it names exist, with the shapes its preprocessing feeds)."""
    from spoofguard.inference.metadata import check_graph

    path = Path(path)
    proto = _read_proto(path)
    meta = _metadata_of(proto, path)
    try:
        session = _session(proto.SerializeToString())
    except Exception as e:
        raise SpoofguardError(f"{path}: onnxruntime cannot run this model ({str(e).splitlines()[0][:200]}).") from None
    check_graph(meta, session, str(path))
    return session, meta


def onnx_session_for_bundle(path: str | os.PathLike):
    """Export a ``.safetensors`` bundle in memory and open it on onnxruntime."""
    from spoofguard.inference.bundle import load_bundle

    data, meta = _onnx_bytes(load_bundle(path))
    return _session(data), meta
