"""Fitting a feature model (``texture``): descriptors once per capture, then scikit-learn, no gradients.

    features of every training capture -> out-of-fold scores (subject-disjoint k-fold inside train)
                                       -> scaler + logistic regression on all of train -> tensors in the model

The out-of-fold scores are what the model would say on training captures it has not seen: with the
dev scores they give the threshold rule ~5x more samples than the dev split alone (65 prints on the
LivDet 2011 Biometrika training part), which is what makes a dev-picked threshold swing. They never
include test captures.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from spoofguard.errors import SpoofguardError

OOF_FOLDS = 5


@dataclass
class FeatureFit:
    oof_scores: np.ndarray | None  # P(bona fide) of every training capture, out of fold; None: too few subjects to split
    images_per_s: float  # descriptor extraction


@torch.no_grad()
def descriptors(model, pre, ds, batch_size: int = 16) -> np.ndarray:
    """``(N, F)`` features of every capture of ``ds`` (one view each, no augmentation)."""
    out = []
    for start in range(0, len(ds.samples), batch_size):
        views = np.stack([pre.views(ds.source(i)).arrays[0] for i in range(start, min(len(ds.samples), start + batch_size))])
        out.append(model.descriptors(pre.normalise(pre.to_tensor(views))).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _classifier(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, random_state=seed))


def _fit(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny sets; the fit is still usable
        return _classifier(c, seed).fit(x, y)


def _bona_fide_probability(pipe, x: np.ndarray) -> np.ndarray:
    classes = list(pipe.classes_)
    p = pipe.predict_proba(x)
    return p[:, classes.index(0)] if 0 in classes else np.zeros(len(x))


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: list, c: float, seed: int, folds: int = OOF_FOLDS) -> np.ndarray | None:
    """P(bona fide) of every row from a model that did not see its group (subject): ``folds``
    subject-disjoint folds, fewer when a class has fewer groups; None below two groups per class."""
    from sklearn.model_selection import StratifiedGroupKFold

    g = np.array(groups, dtype=object)
    fewest = min(len(set(g[y == k])) for k in set(y.tolist()))
    folds = min(folds, fewest)
    if folds < 2:
        return None
    scores = np.full(len(y), np.nan)
    for tr, te in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, g):
        if len(set(y[tr].tolist())) < 2:
            return None
        scores[te] = _bona_fide_probability(_fit(x[tr], y[tr], c, seed), x[te])
    return None if np.isnan(scores).any() else scores


def fit_feature_model(model, pre, train_ds, seed: int = 0, c: float = 1.0, say=print) -> FeatureFit:
    """Fit ``model``'s scaler and linear classifier on ``train_ds`` (in place); see the module docstring."""
    t0 = time.time()
    y = np.array(train_ds.sample_targets)
    if len(set(y.tolist())) < 2:
        raise SpoofguardError("the training split holds one class only; a classifier needs bona fide and attack captures.")
    x = descriptors(model, pre, train_ds)
    extract = time.time() - t0
    groups = [s.subject or s.path for s in train_ds.samples]  # no subject known: every capture its own group
    if not any(s.subject for s in train_ds.samples):
        say("warning: no subjects are known, so the out-of-fold folds put captures of one finger or person on both sides and the "
            "threshold they give can be too lenient on attacks; name the subjects (--subject-pattern, or a layout that has them).")
    oof = out_of_fold(x, y, groups, c, seed)
    pipe = _fit(x, y, c, seed)
    scaler, lr = pipe[0], pipe[1]
    k = model.weight.shape[0]
    weight, bias = np.zeros((k, x.shape[1]), np.float32), np.zeros(k, np.float32)
    if len(lr.classes_) == 2:  # sklearn's binary logit is that of classes_[1] against classes_[0]
        weight[lr.classes_[1]], bias[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
        weight[lr.classes_[0]], bias[lr.classes_[0]] = 0.0, 0.0
    else:
        weight[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
        missing = sorted(set(range(k)) - set(lr.classes_.tolist()))
        bias[missing] = -1e4  # a class without training captures is never predicted
    model.set_classifier(scaler.mean_, np.where(scaler.scale_ > 0, scaler.scale_, 1.0), weight, bias)
    say(f"fitted {len(y)} training captures: {x.shape[1]} texture features in {extract:.0f} s, "
        + ("out-of-fold scores from subject-disjoint folds" if oof is not None else "no out-of-fold scores (too few subjects)"))
    return FeatureFit(oof, len(y) / extract if extract > 0 else float("nan"))
