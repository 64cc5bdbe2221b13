"""The model registry: names -> builder functions (timm style).

A builder is a plain function ``(classes, in_chans=3, **kwargs) -> nn.Module`` decorated with
``@register_model("name", default_input_size=...)``. :func:`create_model` validates the request,
calls the builder and records on the module everything needed to rebuild it from JSON:

    model.arch_name    the registered name
    model.arch_kwargs  every other builder argument (defaults filled in), JSON-serialisable

so ``create_model(model.arch_name, classes=..., in_chans=..., **model.arch_kwargs)`` gives a module
with the same state_dict keys and shapes.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Callable, Sequence

from torch import nn

from spoofguard.errors import SpoofguardError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, dict[str, Any]] = {}
_RESERVED = ("classes", "in_chans")


def register_model(name: str, *, default_input_size: int, **info: Any) -> Callable:
    """Decorator registering ``builder`` under ``name``; ``info`` is extra metadata for model_info()."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        params = list(inspect.signature(builder).parameters)
        if params[:2] != list(_RESERVED):
            raise ValueError(f"builder for {name!r} must take (classes, in_chans=3, ...), got {params}")
        doc = inspect.getdoc(builder) or ""
        _BUILDERS[name] = builder
        _INFO[name] = {
            "name": name,
            "default_input_size": int(default_input_size),
            "description": doc.split("\n", 1)[0],
            **info,
        }
        return builder

    return decorate


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_BUILDERS)


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in _BUILDERS:
        raise SpoofguardError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _BUILDERS[name]


def model_info(name: str) -> dict[str, Any]:
    """Metadata of a registered model: default_input_size, description, kwargs (with defaults)."""
    builder = _builder(name)
    kwargs = {
        p.name: p.default
        for p in inspect.signature(builder).parameters.values()
        if p.name not in _RESERVED
    }
    return {**_INFO[name], "kwargs": kwargs}


def create_model(name: str, classes: Sequence[str], in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """Build model ``name`` for ``classes`` (class names, >= 2) and ``in_chans`` input channels."""
    builder = _builder(name)
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise SpoofguardError(f"classes must be a list of class names, got {classes!r}")
    classes = [str(c) for c in classes]
    if len(classes) < 2:
        raise SpoofguardError(f"a model needs at least 2 classes, got {classes}")
    if len(set(classes)) != len(classes):
        raise SpoofguardError(f"class names must be unique, got {classes}")
    if not isinstance(in_chans, int) or isinstance(in_chans, bool) or in_chans < 1:
        raise SpoofguardError(f"in_chans must be a positive integer, got {in_chans!r}")

    signature = inspect.signature(builder)
    known = [p for p in signature.parameters if p not in _RESERVED]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise SpoofguardError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; its options are: {', '.join(known)}"
        )
    bound = signature.bind(classes, in_chans, **kwargs)
    bound.apply_defaults()
    arch_kwargs = {k: v for k, v in bound.arguments.items() if k not in _RESERVED}
    try:
        json.dumps(arch_kwargs)
    except TypeError as err:
        raise SpoofguardError(f"options of model {name!r} must be plain JSON values: {err}") from None

    try:
        model = builder(classes, in_chans, **arch_kwargs)
    except (ValueError, TypeError) as err:
        raise SpoofguardError(f"cannot build model {name!r} with {arch_kwargs}: {err}") from None
    model.arch_name = name
    model.arch_kwargs = arch_kwargs
    model.classes = classes
    model.in_chans = in_chans
    return model
