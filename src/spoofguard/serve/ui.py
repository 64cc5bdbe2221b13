"""The Gradio UI: a person checks an image, a webcam snapshot or a video against the model.

:func:`build_ui` returns a ``gr.Blocks`` (mount it with :func:`mount_ui` or
``gr.mount_gradio_app(app, blocks, path="/ui")``). It shows the verdict with the class
probabilities, the capture with the model's heatmap and the region it looked at (face box or
fingerprint foreground), the score against the threshold, and for a video the score of every
sampled frame (frames without a face are gaps, marked with an x).

The threshold slider is a *what-if*: it re-labels the last result on this page only. The model's
threshold (stored in the bundle, used by the HTTP API) is never changed.

Uploads reach the handlers as *files*, never as decoded pictures: the image inputs are
:func:`checked components <_checked_components>` that hand over the uploaded file's path without
opening it, and the handlers read it through the server's own checks (:mod:`spoofguard.serve.uploads`:
size, content type, pixels from the header, video frame size and duration), so the UI refuses a
decompression bomb exactly as the API does (``too_many_pixels``) and a 16-bit grey PNG gets the same
verdict in both. Those inputs never fetch a URL either (the server works offline).

The event handlers are plain functions of the detector and their inputs (:func:`analyse_image`,
:func:`analyse_video`, :func:`relabel`), so they are tested without a browser; each returns
``(label, overlay, message, plot, state)``: the verdict for ``gr.Label`` (``{"label": heading,
"confidences": [{"label": class, "confidence": p}, ...]}``), the overlay picture (PIL) or None, a
Markdown message, a matplotlib figure or None, and the result kept for the slider (None after an
error). Errors never reach the person as a traceback: a :class:`SpoofguardError` is shown as its
message, anything else as a short note (the traceback goes to the server log).

Gradio reaches for the internet at start unless ``GRADIO_ANALYTICS_ENABLED=False``: this module sets
it (unless the environment already says otherwise) before it imports gradio, and builds its Blocks
with ``analytics_enabled=False``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from spoofguard.errors import SpoofguardError
from spoofguard.verdict import ATTACK, BONA_FIDE, NO_FACE, NO_FINGER, accepted, verdict

log = logging.getLogger(__name__)

WORDS = {BONA_FIDE: "bona fide", ATTACK: "attack", NO_FACE: "no face found", NO_FINGER: "no finger found"}
NO_INPUT = "Upload an image, take a webcam snapshot or upload a video, then press **Analyse**."


def verdict_at(score: float | None, threshold: float, no_result: str = NO_FACE) -> str:
    """The verdict ``score`` gets at ``threshold`` (:func:`spoofguard.verdict.verdict`), or ``no_result``
    (``no_face``, or ``no_finger`` for a fingerprint model) when there is no score."""
    if score is None:
        return no_result
    return verdict(score, threshold)


@dataclass
class Result:
    """The last analysis, kept in the page's state so the slider can re-label it without the model."""

    kind: str  # "image" | "video"
    score: float | None
    probabilities: dict[str, float]
    model_threshold: float
    classes: list[str]
    picture: np.ndarray | None = None  # the capture (image) or the frame shown (video), RGB uint8
    prediction: object | None = None  # Prediction of `picture`, for the overlay
    video: object | None = None  # VideoPrediction
    shown_frame: object | None = None  # the FramePrediction whose picture is shown
    uses_faces: bool = False


# --------------------------------------------------------------------------- handlers (no gradio)


def analyse_image(detector, image, threshold: float | None = None, lock=None, limits=None) -> tuple:
    """One picture -> ``(label, overlay, message, plot, state)``, labelled at ``threshold`` (None: the
    model's). An upload (a file path or the file's bytes) goes through the server's checks with
    ``limits`` (:class:`~spoofguard.serve.uploads.Limits`; None: the defaults) before it is decoded;
    an RGB array or a PIL image (from Python) is used as it is."""
    if image is None:
        return _empty(NO_INPUT)
    try:
        from spoofguard.media.images import as_array
        from spoofguard.serve.uploads import Limits, read_image_upload

        if isinstance(image, (str, os.PathLike, bytes, bytearray)):
            picture = read_image_upload(image, limits or Limits(), name=_name(image))
        else:
            picture = as_array(image, 3)
        with _held(lock):
            p = detector.predict(picture)
        result = Result("image", p.score, dict(p.probabilities), detector.threshold, list(detector.classes), picture, p,
                        uses_faces=detector.uses_faces)
        return (*render(result, threshold), result)
    except Exception as e:  # noqa: BLE001 - shown as a message, never as a traceback
        return _failure(e, "image", image if isinstance(image, (str, os.PathLike)) else None)


def analyse_video(detector, path, threshold: float | None = None, max_frames: int = 32, lock=None, limits=None) -> tuple:
    """A video file -> ``(label, overlay, message, plot, state)``: up to ``max_frames`` frames spread
    over the video are scored; the overlay shows the frame that looks most like an attack. The file
    passes the server's checks with ``limits`` first (size, type, frame pixels, duration)."""
    if not path:
        return _empty(NO_INPUT)
    try:
        from spoofguard.inference.video import predict_frames
        from spoofguard.media.video import read_video
        from spoofguard.serve.uploads import Limits, check_video_file

        limits = limits or Limits()
        check_video_file(path, limits)
        info, frames = read_video(path, max_frames=max_frames, max_pixels=limits.max_pixels)  # decoded once: scored, then one shown
        with _held(lock):
            v = predict_frames(detector, frames, info)
        picture, prediction, shown = _frame_to_show(detector, frames, v, lock)
        result = Result("video", v.score, dict(v.probabilities), detector.threshold, list(detector.classes), picture,
                        prediction, video=v, shown_frame=shown, uses_faces=detector.uses_faces)
        return (*render(result, threshold), result)
    except Exception as e:  # noqa: BLE001
        return _failure(e, "video", path)


def relabel(state: Result | None, threshold: float | None) -> tuple:
    """The last result at another threshold -> ``(label, overlay, message, plot)``. Only the page
    changes: nothing here touches the detector."""
    if state is None:
        return _empty(NO_INPUT)[:4]
    return render(state, threshold)


def render(result: Result, threshold: float | None = None) -> tuple:
    """``(label, overlay, message, plot)`` for ``result`` labelled at ``threshold``."""
    t = result.model_threshold if threshold is None else float(threshold)
    verdict = verdict_at(result.score, t, NO_FACE if result.uses_faces else NO_FINGER)
    return (label_value(verdict, result.probabilities, result.classes), _overlay(result, t),
            message(result, t), frame_plot(result.video, t, result.model_threshold) if result.video is not None else None)


def label_value(verdict: str, probabilities: dict[str, float], classes: list[str]) -> dict:
    """What ``gr.Label`` shows: the verdict as the heading, the class probabilities as bars (in the
    model's class order; ``gr.Label`` itself would put the most probable class on top, which
    contradicts the verdict whenever the threshold is not 0.5)."""
    confidences = [{"label": WORDS.get(c, c), "confidence": float(probabilities[c])} for c in classes if c in probabilities]
    return {"label": WORDS.get(verdict, verdict), "confidences": confidences or None}


def message(result: Result, threshold: float) -> str:
    """The Markdown beside the picture: verdict, score vs threshold, faces / frames, notes."""
    t, t0 = threshold, result.model_threshold
    verdict = verdict_at(result.score, t, NO_FACE if result.uses_faces else NO_FINGER)
    lines = []
    if result.score is None:
        what = "picture" if result.kind == "image" else "video"
        if not result.uses_faces:
            lines.append(f"### No finger found in this {what}")
            lines.append("This model judges fingerprint captures and found no ridge texture (a blank or flat picture).")
            return "\n".join(lines)
        lines.append(f"### No face found in this {what}")
        lines.append("This model judges faces and found none"
                     + (" in any sampled frame" if result.kind == "video" else "")
                     + ". Try a capture where the face is larger, frontal and well lit.")
        note = result.video.note if result.video is not None else getattr(result.prediction, "note", "")
        if note and note != "no face found":
            lines.append(f"\n*{_escape(note)}*")
        return "\n".join(lines)
    lines.append(f"### Verdict: {WORDS[verdict]}")
    scored = "video score" if result.kind == "video" else "score"
    relation = ">=" if accepted(result.score, t) else "<"
    shown_score, shown_t = _distinct(result.score, t)
    lines.append(f"- **{scored}** {shown_score} {relation} threshold {shown_t} (score = probability of bona fide)")
    model_verdict = verdict_at(result.score, t0)
    if model_verdict != verdict or not math.isclose(t, t0, abs_tol=5e-4):  # tolerance: the slider's step
        same = "the same" if model_verdict == verdict else f"**{WORDS[model_verdict]}**"
        lines.append(f"- at the model's own threshold {t0:.3f} the verdict is {same} "
                     f"(the slider changes this page only, not the model)")
    if result.kind == "image" and result.uses_faces and result.prediction is not None:
        faces = result.prediction.faces or 0
        lines.append(f"- {faces} face(s) found" + (": the largest is judged (yellow box)" if faces > 1 else " (yellow box)"))
    if result.video is not None:
        v = result.video
        missing = v.frames_without_face
        lines.append(f"- {len(v.frames)} frame(s) sampled; the video score is the {v.aggregate} of the "
                     f"{len(v.frames) - len(missing)} scored")
        if missing:
            shown = ", ".join(str(i) for i in missing[:12]) + (" ..." if len(missing) > 12 else "")
            lines.append(f"- {len(missing)} frame(s) without a face (not scored; x in the plot): {shown}")
        if result.shown_frame is not None:
            f = result.shown_frame
            lines.append(f"- picture: frame {f.index} at {f.time_s:.2f} s, the lowest score ({f.score:.3f})")
    note = result.video.note if result.video is not None else getattr(result.prediction, "note", "")
    if note and result.video is None:
        lines.append(f"\n*{_escape(note)}*")
    return "\n".join(lines)


def frame_plot(video, threshold: float, model_threshold: float | None = None):
    """A matplotlib figure of the score of every sampled frame: one point per frame, frames without a
    face as gaps marked x at the bottom, the threshold as a dashed line."""
    from matplotlib.figure import Figure

    frames = video.frames
    use_time = video.fps > 0 and len({f.time_s for f in frames}) == len(frames)
    xs = np.array([f.time_s if use_time else f.index for f in frames], dtype=float)
    ys = np.array([np.nan if f.score is None else f.score for f in frames], dtype=float)
    scored = np.isfinite(ys)
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(xs, ys, "-", color="0.45", linewidth=1.2, gid="frame_scores", label="_frame scores")
    bona = scored & accepted(np.nan_to_num(ys, nan=-1), threshold)
    attack = scored & ~bona
    ax.plot(xs[bona], ys[bona], "o", color="#1a9850", label="bona fide")
    ax.plot(xs[attack], ys[attack], "v", color="#d73027", label="attack")
    if (~scored).any():
        ax.plot(xs[~scored], np.zeros((~scored).sum()), "x", color="0.3", markersize=7, label="no face")
    ax.axhline(threshold, color="#2c7bb6", linestyle="--", linewidth=1.2, label=f"threshold {threshold:.3f}")
    if model_threshold is not None and not math.isclose(threshold, model_threshold, abs_tol=5e-4):
        ax.axhline(model_threshold, color="0.5", linestyle=":", linewidth=1, label=f"model threshold {model_threshold:.3f}")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("time (s)" if use_time else "frame")
    ax.set_ylabel("score (bona fide)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


# --------------------------------------------------------------------------- helpers


def _distinct(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with 3 decimals, or as many more (up to 6) as it takes to tell them apart."""
    for d in (3, 4, 5, 6):
        if a == b or f"{a:.{d}f}" != f"{b:.{d}f}" or d == 6:
            return f"{a:.{d}f}", f"{b:.{d}f}"
    raise AssertionError  # unreachable


def _held(lock):
    return lock if lock is not None else contextlib.nullcontext()


def _frame_to_show(detector, frames: list, video, lock):
    """Of the ``frames`` ``video`` was scored on, the one with the lowest score (or the first, when no
    frame has one), its Prediction for the overlay, and its FramePrediction."""
    scored = [f for f in video.frames if f.score is not None]
    shown = min(scored, key=lambda f: f.score) if scored else (video.frames[0] if video.frames else None)
    if shown is None:
        return None, None, None
    frame = {f.index: f for f in frames}.get(shown.index)
    if frame is None:
        return None, None, None
    with _held(lock):
        prediction = detector.predict(frame.rgb)
    return frame.rgb, prediction, (shown if scored else None)


def _overlay(result: Result, threshold: float):
    if result.picture is None or result.prediction is None:
        return None
    from spoofguard.inference.explain import overlay

    p = result.prediction
    return overlay(result.picture, replace(p, verdict=verdict_at(p.score, threshold), threshold=threshold))


def _empty(text: str) -> tuple:
    return None, None, text, None, None


def _name(source) -> str:
    return Path(source).name if isinstance(source, (str, os.PathLike)) else "the upload"


def _failure(error: Exception, kind: str, path=None) -> tuple:
    from spoofguard.serve.uploads import ApiError

    if isinstance(error, ApiError):  # the server's checks: the same message and code as the API's
        text = f"{error.message} (error code: {error.code})"
        if path:
            text = f"{Path(path).name}: {text}"
    elif isinstance(error, SpoofguardError):
        text = str(error)
        if path:  # the server's temporary path means nothing to the person: keep the file's name
            text = text.replace(os.fspath(path), Path(path).name)
    else:
        log.exception("the UI could not analyse a %s", kind)
        text = f"an unexpected {type(error).__name__} while reading or scoring it (the server log has the details)."
    return ({"label": "error", "confidences": None}, None,
            f"### Could not analyse this {kind}\n{_escape(text)}", None, None)


def _escape(text: str) -> str:
    """Plain text for Markdown: nothing in a file name or message becomes markup."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_[]<>#|":
        out = out.replace(ch, "\\" + ch)
    return out


# --------------------------------------------------------------------------- gradio


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError:
        raise SpoofguardError("the web UI needs gradio: pip install 'gradio>=6,<7' (or serve without the UI).") from None
    return gr


@functools.lru_cache(maxsize=1)
def _verdict_label_class():
    """``gr.Label`` that also takes ``{"label": heading, "confidences": [...]}``, so the heading is the
    verdict at the page's threshold rather than the most probable class. ``is_template`` makes
    gradio draw it with the ordinary Label component."""
    gr = _gradio()
    import gradio.component_meta as component_meta
    from gradio.components.label import LabelConfidence, LabelData

    # gradio writes a .pyi stub next to the module of every component class it sees defined: into our
    # installed package at run time (and fails where that is read-only). This subclass needs no stub.
    write_stub, component_meta.create_or_modify_pyi = component_meta.create_or_modify_pyi, lambda *a, **k: None
    try:
        return _define_verdict_label(gr, LabelConfidence, LabelData)
    finally:
        component_meta.create_or_modify_pyi = write_stub


def _define_verdict_label(gr, LabelConfidence, LabelData):  # noqa: N803 - gradio's class names
    class VerdictLabel(gr.Label):
        is_template = True

        def postprocess(self, value):
            if isinstance(value, dict) and "label" in value and not isinstance(value.get("confidences"), dict):
                confidences = value.get("confidences")
                return LabelData(label=value["label"], confidences=None if confidences is None else
                                 [LabelConfidence(label=c["label"], confidence=c["confidence"]) for c in confidences])
            return super().postprocess(value)

    return VerdictLabel


@functools.lru_cache(maxsize=1)
def _checked_components():
    """``(CheckedImage, CheckedVideo)``: ``gr.Image`` and ``gr.Video`` that hand an upload to the
    handler as the uploaded file's path (an image sent inline as a ``data:`` URL: its bytes), without
    opening it: gradio's own ``gr.Image`` opens every upload with Pillow first (and, unless the type is
    ``filepath`` with no ``image_mode``, decodes and converts it), before any of our checks. Neither
    fetches a URL given as a file's path (gradio would download it): the server works offline. Both
    are drawn in the browser by the ordinary Image and Video components (``is_template``)."""
    gr = _gradio()
    import gradio.component_meta as component_meta

    write_stub, component_meta.create_or_modify_pyi = component_meta.create_or_modify_pyi, lambda *a, **k: None
    try:
        return _define_checked(gr)
    finally:
        component_meta.create_or_modify_pyi = write_stub


def _define_checked(gr):
    import base64

    from gradio_client import utils as client_utils

    def refuse_urls(url_or_file_path):
        if url_or_file_path is not None and client_utils.is_http_url_like(str(url_or_file_path)):
            raise gr.Error("this server does not fetch files from URLs; upload the file itself.")

    class CheckedImage(gr.Image):
        is_template = True

        async def async_move_resource_to_block_cache(self, url_or_file_path):
            refuse_urls(url_or_file_path)
            return await super().async_move_resource_to_block_cache(url_or_file_path)

        def move_resource_to_block_cache(self, url_or_file_path):
            refuse_urls(url_or_file_path)
            return super().move_resource_to_block_cache(url_or_file_path)

        def preprocess(self, payload):
            if payload is None:
                return None
            if payload.path:
                return str(payload.path)
            url = payload.url or ""
            if url.startswith("data:") and "," in url:  # bounded by the gate's 1 MiB for event payloads
                try:
                    return base64.b64decode(url.split(",", 1)[1], validate=False)
                except ValueError:
                    raise gr.Error("the inline image is not valid base64.") from None
            return None

    class CheckedVideo(gr.Video):
        is_template = True

        async def async_move_resource_to_block_cache(self, url_or_file_path):
            refuse_urls(url_or_file_path)
            return await super().async_move_resource_to_block_cache(url_or_file_path)

        def move_resource_to_block_cache(self, url_or_file_path):
            refuse_urls(url_or_file_path)
            return super().move_resource_to_block_cache(url_or_file_path)

    return CheckedImage, CheckedVideo


def title_markdown(detector) -> str:
    modality = getattr(detector, "modality", "?")
    return (f"# spoofguard: is it live or an attack?\n"
            f"Model **{_escape(str(detector.architecture))}** · {modality} · threshold {detector.threshold:.3f} "
            f"(stored in the model) · {getattr(detector, 'backend', '')}")


def build_ui(detector, max_video_frames: int = 32, predict_lock=None, limits=None):
    """A ``gr.Blocks`` for a person: image upload, webcam snapshot or video upload -> verdict, class
    probabilities, overlay, score vs threshold, per-frame plot for videos, and a what-if threshold
    slider that re-labels the last result on the page only. ``predict_lock`` (a ``threading.Lock`` or
    None) is held around every detector call; the UI's own events also run one at a time. Uploads
    are checked against ``limits`` (:class:`~spoofguard.serve.uploads.Limits`; None: the defaults)
    before anything is decoded, as the API checks them."""
    from spoofguard.serve.uploads import Limits

    gr = _gradio()
    VerdictLabel = _verdict_label_class()
    CheckedImage, CheckedVideo = _checked_components()
    limits = limits or Limits()
    max_video_frames = min(max_video_frames, limits.max_video_frames)
    model_threshold = float(detector.threshold)
    run = dict(concurrency_limit=1, concurrency_id="spoofguard-detector", show_progress="minimal")

    def for_page(outputs):
        label, picture, text, plot, state = outputs
        return label, picture, text, gr.update(value=plot, visible=plot is not None), state

    def on_image(image, threshold):
        return for_page(analyse_image(detector, image, threshold, lock=predict_lock, limits=limits))

    def on_video(path, threshold):
        return for_page(analyse_video(detector, path, threshold, max_frames=max_video_frames, lock=predict_lock, limits=limits))

    def on_threshold(state, threshold):
        label, picture, text, plot = relabel(state, threshold)
        return label, picture, text, gr.update(value=plot, visible=plot is not None)

    def on_clear():
        return for_page(_empty(NO_INPUT))

    # uploads gradio keeps (in GRADIO_TEMP_DIR) are deleted within minutes, checked every minute
    with gr.Blocks(title=f"spoofguard: {detector.architecture}", analytics_enabled=False, delete_cache=(60, 120)) as ui:
        gr.Markdown(title_markdown(detector))
        state = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                with gr.Tabs():
                    with gr.Tab("Image"):
                        image_in = CheckedImage(sources=["upload", "clipboard"], type="filepath", image_mode=None,
                                                label="Image to check", buttons=["fullscreen"])
                        image_go = gr.Button("Analyse image", variant="primary")
                    with gr.Tab("Webcam"):
                        webcam_in = CheckedImage(sources=["webcam"], type="filepath", image_mode=None,
                                                 label="Webcam snapshot", buttons=["fullscreen"])
                        webcam_go = gr.Button("Analyse snapshot", variant="primary")
                    with gr.Tab("Video"):
                        video_in = CheckedVideo(sources=["upload"], label="Video to check")  # include_audio=False would need ffmpeg
                        gr.Markdown(f"Up to {max_video_frames} frames, spread evenly over the video, are scored.")
                        video_go = gr.Button("Analyse video", variant="primary")
            with gr.Column(scale=1, min_width=320):
                text = gr.Markdown(NO_INPUT, label="Result")
                verdict = VerdictLabel(label="Verdict and class probabilities")
                slider = gr.Slider(0.0, 1.0, value=round(model_threshold, 3), step=0.001, label="What-if threshold",
                                   info=f"Re-labels the result on this page only; the model keeps its threshold "
                                        f"{model_threshold:.3f}.")
                reset = gr.Button("Back to the model's threshold", size="sm")
                picture = gr.Image(label="What the model looked at (red: attack-like, green: bona fide-like)",
                                   type="pil", format="png", interactive=False, buttons=["download", "fullscreen"])
                plot = gr.Plot(label="Score of each sampled frame", visible=False)

        outputs = [verdict, picture, text, plot, state]
        gr.on([image_in.upload, image_go.click], on_image, [image_in, slider], outputs, api_name="analyse_image", **run)
        gr.on([webcam_in.upload, webcam_go.click], on_image, [webcam_in, slider], outputs, api_name="analyse_webcam", **run)
        gr.on([video_in.upload, video_go.click], on_video, [video_in, slider], outputs, api_name="analyse_video", **run)
        gr.on([image_in.clear, webcam_in.clear, video_in.clear], on_clear, None, outputs, api_visibility="private",
              show_progress="hidden")
        slider.change(on_threshold, [state, slider], outputs[:4], api_name="relabel", trigger_mode="always_last",
                      show_progress="hidden")
        reset.click(lambda: model_threshold, None, slider, api_visibility="private", show_progress="hidden")
    return ui


def mount_ui(app, detector, path: str = "/ui", max_video_frames: int = 32, predict_lock=None,
             max_file_size: str | int | None = "200mb", limits=None, **options):
    """Mount :func:`build_ui` under a FastAPI ``app`` with defaults fit for biometric captures: no
    run history (gradio 6 keeps past runs, inputs included, in the browser and offers to copy them
    to a Hugging Face bucket), no footer links to outside sites, and a bounded queue
    (``limits.max_queue`` events waiting; more are told the queue is full). ``limits`` bound the
    uploads (see :func:`build_ui`). ``options`` go to ``gr.mount_gradio_app``. Gradio's routes are not
    guarded by anything here: :func:`spoofguard.serve.app.create_app` puts its gate in front of them."""
    from spoofguard.serve.uploads import Limits

    gr = _gradio()
    limits = limits or Limits()
    options.setdefault("run_history", False)
    options.setdefault("footer_links", ["api", "settings"])
    blocks = build_ui(detector, max_video_frames, predict_lock, limits)
    blocks.queue(max_size=limits.max_queue, default_concurrency_limit=1)
    return gr.mount_gradio_app(app, blocks, path=path, max_file_size=max_file_size, **options)
