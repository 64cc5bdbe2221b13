"""Enrolment: teach a prototype model (``siamese``) a new attack species, or a site's bona fide
captures, from a handful of examples, without retraining.

Every example goes through the bundle's own preprocessing (fingerprint patches, face crops); the
normalised mean embedding of all their views becomes a new prototype. A new species becomes a new
class; more examples of a known class (``--bona-fide``, or a species the model knows) add a second
prototype for it. The backbone and the threshold stay as they are; the bundle records what was
enrolled (class, number of images and views, file digests).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from spoofguard.errors import SpoofguardError

BUNDLE_KEYS = ("format", "format_version", "architecture", "weights_sha256")  # save_bundle writes these itself


@dataclass
class EnrollResult:
    bundle: Path
    class_name: str
    new_class: bool
    images: int
    views: int
    skipped: list[tuple[str, str]]
    classes: list[str]


def enroll(bundle, images: list, out: str | os.PathLike, species: str | None = None, bona_fide: bool = False) -> EnrollResult:
    import torch

    from spoofguard.data.importers.folder import species_name
    from spoofguard.inference.bundle import load_bundle, save_bundle
    from spoofguard.models import capabilities

    if bool(species) == bool(bona_fide):
        raise SpoofguardError("enrol either an attack species (--species NAME) or bona fide examples (--bona-fide), one at a time.")
    b = load_bundle(bundle)
    model = b.model
    if not capabilities(model).prototypes:
        raise SpoofguardError(f"{bundle}: a {b.architecture} bundle decides with a trained classifier; only prototype models "
                              "(siamese) can enrol new examples. Train one with --model siamese.")
    name = "bona_fide" if bona_fide else species_name(species)
    if name in ("bona_fide", "attack") and not bona_fide:
        raise SpoofguardError(f"--species {species!r}: name the attack's kind (e.g. latex, replay), not a label.")
    pre = b.preprocessing
    embeddings, used, skipped, digests = [], 0, [], []
    with torch.inference_mode():
        for path in map(str, images):
            try:
                views = pre.views(path)
            except SpoofguardError as e:
                skipped.append((path, str(e)))
                continue
            if len(views.arrays) == 0:
                skipped.append((path, "nothing to look at (no face found)"))
                continue
            x = pre.normalise(pre.to_tensor(views.arrays))
            embeddings.append(model.embed(x))
            used += 1
            digests.append(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    if not embeddings:
        raise SpoofguardError(f"none of the {len(images)} example(s) could be used" + (f"; first problem: {skipped[0][1]}" if skipped else "."))
    all_views = torch.cat(embeddings)
    classes = list(b.classes)
    new_class = name not in classes
    index = len(classes) if new_class else classes.index(name)
    model.add_prototype(all_views.mean(0), index)
    if new_class:
        classes.append(name)
    meta = {k: v for k, v in b.metadata.items() if k not in BUNDLE_KEYS}
    meta["classes"] = classes
    meta["enrolled"] = list(meta.get("enrolled", [])) + [{"class": name, "images": used, "views": int(len(all_views)), "sha256": digests}]
    out = Path(out)
    if out.resolve() == Path(b.path).resolve():
        raise SpoofguardError("write the enrolled model to a new file (-o NEW.safetensors); the original stays as it was.")
    save_bundle(out, model, meta)
    return EnrollResult(out, name, new_class, used, int(len(all_views)), skipped, classes)
