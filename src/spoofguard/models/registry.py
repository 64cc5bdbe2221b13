"""The model registry: names -> builder functions (timm style).

A builder is a plain function ``(classes, in_chans=3, **kwargs) -> nn.Module`` decorated with
``@register_model("name", default_input_size=...)``. :func:`create_model` validates the request,
calls the builder and records on the module everything needed to rebuild it from JSON:

    model.arch_name    the registered name
    model.arch_kwargs  every other builder argument (defaults filled in), JSON-serialisable

so ``create_model(model.arch_name, classes=..., in_chans=..., **model.arch_kwargs)`` gives a module
with the same state_dict keys and shapes.

Every builder option declares its **bounds** with its registration (``bounds={"width": Float(0.05, 4.0),
"depth": Int(1, 11)}``): the type and range a value may take. A model file is untrusted input, and its
metadata names the options the model is rebuilt with, so :func:`check_kwargs` (called by
:func:`create_model`, and by the bundle validator before anything is built) refuses a value out of
bounds with one line instead of letting ``width=1e4`` reach the allocator. A new model must declare a
bound for each of its options, or registering it fails.

Every model is an ``nn.Module`` taking ``(N, C, H, W)`` views (temporal ones ``(N, T, C, H, W)`` clips)
and returning one logit per class. What a model can do beyond that it declares as
:class:`Capabilities` (``@register_model("siamese", ..., capabilities=Capabilities(prototypes=True))``);
training, enrolment and export ask :func:`capabilities` instead of probing for methods, and
:func:`create_model` checks that a model has the methods its capabilities promise.
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from torch import nn

from spoofguard.errors import SpoofguardError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, dict[str, Any]] = {}
_BOUNDS: dict[str, dict[str, "Bound"]] = {}
_CAPABILITIES: dict[str, "Capabilities"] = {}
_RESERVED = ("classes", "in_chans")


@dataclass(frozen=True)
class Capabilities:
    """What a model does beyond ``forward``, each with the methods it promises (:data:`METHODS`)."""

    fitted: bool = False  # fitted by scikit-learn on descriptors, no gradient training (no epochs, no --init)
    prototypes: bool = False  # decides by class prototypes: set from training captures after training, enrolment of new species
    margin_logits: bool = False  # trains on margin logits (metric learning); scores on the plain ones
    export_form: bool = False  # gives an equivalent module to export (e.g. its central difference folded into plain convs)

    METHODS = {
        "fitted": ("descriptors", "set_classifier"),
        "prototypes": ("embed", "cosines", "set_prototypes", "calibrate", "add_prototype"),
        "margin_logits": ("margin_logits",),
        "export_form": ("exportable",),
    }

    def methods(self) -> list[str]:
        """The methods a model with these capabilities has."""
        return [m for flag, names in self.METHODS.items() if getattr(self, flag) for m in names]


@dataclass(frozen=True)
class Bound:
    """The values one builder option may take: ``kind`` "int" | "float" | "bool", in ``[low, high]``."""

    kind: str
    low: float | None = None
    high: float | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of bounds (None when it is fine)."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.kind == "int" and not isinstance(value, int)):
            return f"must be {'a whole number' if self.kind == 'int' else 'a number'}, not {value!r}"
        if not math.isfinite(value) or (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return f"must lie in [{self.low:g}, {self.high:g}], not {value!r}"
        return None

    def describe(self) -> str:
        return "true | false" if self.kind == "bool" else f"{self.kind} in [{self.low:g}, {self.high:g}]"


def Int(low: int, high: int) -> Bound:
    """A whole-number option in ``[low, high]``."""
    return Bound("int", low, high)


def Float(low: float, high: float) -> Bound:
    """A numeric option in ``[low, high]`` (whole numbers are accepted too)."""
    return Bound("float", low, high)


def Bool() -> Bound:
    return Bound("bool")


def register_model(name: str, *, default_input_size: int, bounds: dict[str, Bound] | None = None,
                   capabilities: Capabilities = Capabilities(), **info: Any) -> Callable:
    """Decorator registering ``builder`` under ``name``; ``bounds`` gives every option's :class:`Bound`
    (required for each option the builder takes); ``capabilities`` what it can do beyond ``forward``;
    ``info`` is extra metadata for model_info()."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        params = list(inspect.signature(builder).parameters)
        if params[:2] != list(_RESERVED):
            raise ValueError(f"builder for {name!r} must take (classes, in_chans=3, ...), got {params}")
        declared = dict(bounds or {})
        missing, extra = sorted(set(params[2:]) - set(declared)), sorted(set(declared) - set(params[2:]))
        if missing or extra:
            raise ValueError(f"model {name!r} must declare bounds=... for exactly its options; "
                             f"missing {missing or 'none'}, not options {extra or 'none'}")
        for option, bound in declared.items():
            default = inspect.signature(builder).parameters[option].default
            if not isinstance(bound, Bound) or bound.problem(default) is not None:
                raise ValueError(f"model {name!r}: the bound of {option!r} must be a Bound that admits its default {default!r}")
        doc = inspect.getdoc(builder) or ""
        _BUILDERS[name] = builder
        _BOUNDS[name] = declared
        _CAPABILITIES[name] = capabilities
        _INFO[name] = {
            "name": name,
            "default_input_size": int(default_input_size),
            "description": doc.split("\n", 1)[0],
            "fitted": capabilities.fitted,
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


def capabilities(model) -> Capabilities:
    """What a model (a module built by :func:`create_model`, or a registered name) declares it can do;
    nothing beyond ``forward`` for anything else (e.g. an ensemble of members)."""
    name = model if isinstance(model, str) else getattr(model, "arch_name", None)
    return _CAPABILITIES.get(name, Capabilities())


def model_bounds(name: str) -> dict[str, Bound]:
    """The declared :class:`Bound` of each of model ``name``'s options."""
    _builder(name)
    return dict(_BOUNDS[name])


def check_kwargs(name: str, kwargs: dict, where: str = "") -> None:
    """Refuse options model ``name`` does not have, and values outside their declared bounds."""
    _builder(name)
    if not isinstance(kwargs, dict):
        raise SpoofguardError(f"{where}options of model {name!r} must be a mapping, not {type(kwargs).__name__}")
    bounds = _BOUNDS[name]
    unknown = sorted(str(k) for k in set(kwargs) - set(bounds))
    if unknown:
        raise SpoofguardError(f"{where}model {name!r} has no option(s) {', '.join(unknown)}; its options are: {', '.join(bounds) or 'none'}")
    for option, value in kwargs.items():
        why = bounds[option].problem(value)
        if why:
            raise SpoofguardError(f"{where}model {name!r}: option {option} {why}")


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
    check_kwargs(name, kwargs)  # unknown options and values out of their declared bounds, before anything is built
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
    missing = [m for m in _CAPABILITIES[name].methods() if not callable(getattr(model, m, None))]
    if missing:  # a registration that promises what the module does not have: a bug in the model file
        raise TypeError(f"model {name!r} declares capabilities it lacks the methods of: {', '.join(missing)}")
    model.arch_name = name
    model.arch_kwargs = arch_kwargs
    model.classes = classes
    model.in_chans = in_chans
    return model
