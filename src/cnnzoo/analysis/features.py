"""Feature maps by layer name: the stage outputs, and torchvision's FX feature extractor.

torchvision is imported only inside :func:`features`: ``import cnnzoo`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .trace import Trace, resolve_input_size, trace, unknown_layers_message

__all__ = ["stage_names", "stages_of", "features"]


def stage_names(model: nn.Module, input_size: Sequence[int] | int | None = None) -> list[str]:
    """Module names of the stage outputs: the last module at each spatial resolution.

    E.g. ResNet ``['relu', 'layer1', 'layer2', 'layer3', 'layer4']``; a model whose features
    are one ``Sequential`` is looked into (VGG: ``['features.3', ..., 'features.30']``).
    Only modules run inside ``forward_features`` count (not the head's global pooling).
    """
    return stages_of(trace(model, resolve_input_size(model, input_size)), model)


def stages_of(tr: Trace, model: nn.Module) -> list[str]:
    """:func:`stage_names` from a trace already made."""
    last: dict[str, int] = {}
    hw: dict[str, tuple[int, int] | None] = {}
    for i, (n, s, in_features) in enumerate(tr.completions):
        if in_features:
            last[n], hw[n] = i, s
    modules = dict(model.named_modules())
    if not tr.feature_name or tr.feature_name != "forward_features":  # a foreign model: cut the head
        end = last.get(tr.feature_name or "", len(tr.completions))
        last = {n: i for n, i in last.items() if i <= end}

    def children(n: str) -> list[str]:
        prefix = f"{n}." if n else ""
        kids = [c for c in last if c.startswith(prefix) and "." not in c[len(prefix) :]]
        return sorted(kids, key=last.__getitem__)

    def expand(n: str) -> list[str]:
        kids = children(n)
        if kids and len({hw[k] for k in kids}) > 1:  # a container spanning resolutions: look inside
            return [e for k in kids for e in expand(k)]
        return [n]

    seq = [e for k in children("") for e in expand(k) if hw.get(e) is not None]
    stages: dict[tuple[int, int], str] = {}
    for n in seq:
        # an Identity adds nothing (ResNet v1's final_relu), a global pool belongs to the head
        size = hw[n]
        if size is not None and not isinstance(modules[n], (nn.Identity, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            stages.pop(size, None)  # the last module at each resolution wins
            stages[size] = n
    return sorted(stages.values(), key=last.__getitem__)


class _FeaturesOnly(nn.Module):
    """The model's ``forward_features`` as a forward: what FX traces when the head will not."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, "forward_features")(x)  # noqa: B009


def _fx_errors() -> tuple[type[BaseException], ...]:
    # what torch.fx raises on code it cannot trace: Python control flow on traced values
    # (TraceError) or a module built inside forward, such as a slice of a Sequential (NameError)
    from torch.fx.proxy import TraceError

    return (TraceError, NameError, TypeError)


def features(
    model: nn.Module, layers: Sequence[str] | str | None = None, *, input_size: Sequence[int] | int | None = None
) -> nn.Module:
    """A module returning ``{name: feature map}`` for the named layers (module names).

    Built with torchvision's ``create_feature_extractor`` (FX), so any module name works
    (``"layer1"``, ``"features.denseblock2"``) as well as FX node names. With ``layers=None``
    the stage outputs (:func:`stage_names`) are returned. Unknown names raise
    :class:`~cnnzoo.errors.InvalidArgumentError` listing valid ones. Where FX cannot trace
    the model's head, layers inside ``forward_features`` are still extracted.
    """
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    if layers is None:
        layers = stage_names(model, input_size)
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers or not all(isinstance(n, str) for n in layers):
        raise InvalidArgumentError(f"layers must be a non-empty list of layer names, got {layers!r}")
    module_names = [n for n, _ in model.named_modules() if n]
    fx_errors = _fx_errors()
    roots: list[tuple[nn.Module, str]] = [(model, "")]
    if callable(getattr(model, "forward_features", None)):
        roots.append((_FeaturesOnly(model), "model."))
    failure: BaseException | None = None
    for root, prefix in roots:
        try:
            known = set(module_names)
            if not known.issuperset(layers):
                train_nodes, eval_nodes = get_graph_node_names(root)
                known |= {n[len(prefix) :] for n in set(train_nodes) & set(eval_nodes)}
        except fx_errors as e:  # try the features alone
            failure = failure or e
            continue
        unknown = [n for n in layers if n not in known]
        if unknown:
            raise InvalidArgumentError(unknown_layers_message(unknown, module_names))
        try:
            return create_feature_extractor(root, return_nodes={prefix + n: n for n in layers})
        except fx_errors as e:
            failure = failure or e
        except ValueError:  # a module the traced graph does not run: the head (forward_features alone) or, in
            # the whole network, one that runs only in training, while an extractor runs each layer in both modes
            if root is model:
                raise InvalidArgumentError(
                    f"not every one of {', '.join(map(repr, layers))} runs in both training and eval mode, "
                    "as a feature extractor needs (GoogLeNet's auxiliary heads run only in training)"
                ) from None
    raise InvalidArgumentError(
        f"torch.fx cannot trace {type(model).__name__}.forward ({failure}), so only layers run by "
        f"forward_features can be extracted; not all of {', '.join(layers)} are"
    )
