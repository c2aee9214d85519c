"""The weights catalogue: which published files cnnzoo loads, how to check them, how to feed them.

Data only (no I/O). One :class:`WeightsEntry` per tag, in timm's ``model.tag`` form
(``resnet50.tv2_in1k``); one tag per architecture is its default. Sources:

* torchvision (BSD-3-Clause code; the files are torchvision's ImageNet-1k reference
  weights): URL, top-1/top-5, file size and preprocessing (resize, crop, mean/std,
  bilinear) read from ``torchvision.models.get_model_weights(name)`` of torchvision 0.29.1
  at development time and copied here, so that torchvision is not needed at run time.
  ``tv_in1k`` is ``IMAGENET1K_V1``, ``tv2_in1k`` is ``IMAGENET1K_V2``; the default is
  torchvision's ``DEFAULT``.
* timm 1.0.31 (``timm.models.get_pretrained_cfg``): URL or Hugging Face hub id, mean/std,
  crop_pct, interpolation, license. Top-1/top-5 from timm's ``results/results-imagenet.csv``
  (huggingface/pytorch-image-models, commit 0173a139) and, for the MobileNet v1 ra4 weights,
  timm's README (July 26, 2024 release notes, at 224x224).
* cnnzoo: ``lenet5.digits``, trained by ``scripts/train_lenet5_digits.py`` and shipped in
  the package (``assets/lenet5_digits.pth``).

Hashes. torchvision's file names carry the first 8 hex digits of the file's SHA-256 (the
``torch.hub`` convention), and so do the timm GitHub-release files. Full SHA-256 values are
recorded where they are published (pinned by third-party projects that verify the download;
each agrees with the 8-digit prefix in the file name); otherwise ``sha256`` is ``None`` and
only ``hash_prefix`` is checked, or nothing at all for the Hugging Face files: the weights
code then warns and records the hash of the first download (trust on first use), refusing
any later file that differs. The ImageNet class names in ``assets/imagenet_classes.txt`` are
torchvision's ``_IMAGENET_CATEGORIES`` (torchvision/models/_meta.py, 0.29.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownWeightsError, suggest
from ..models.registry import is_model
from ..preprocessing import DEFAULT_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD
from ..preprocessing import HALF_MEAN_STD as _HALF

__all__ = ["WeightsEntry", "CATALOGUE", "list_tags", "default_tag", "get_entry", "entry_for"]


@dataclass(frozen=True)
class WeightsEntry:
    """One published weights file: where it is, how to verify it, how to preprocess for it."""

    tag: str  #: "resnet50.tv2_in1k"
    architecture: str  #: the cnnzoo model name, "resnet50"
    source: str  #: "torchvision", "timm" or "cnnzoo"
    url: str | None  #: None for weights shipped inside the package
    filename: str  #: name in the cache (or in the package's assets)
    sha256: str | None  #: full SHA-256 where published, else None
    hash_prefix: str | None  #: leading hex digits of the SHA-256 in the upstream file name
    layout: str  #: key layout of the file: "torchvision" (identity) or a cnnzoo.weights.keymaps name
    num_classes: int = 1000
    input_size: tuple[int, int, int] = (3, 224, 224)
    resize_size: int = 256
    crop_pct: float = DEFAULT_CROP_PCT
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    dataset: str = "ImageNet-1k"
    #: "imagenet", "digits" or "" (no class names known), or the names themselves (a Hub config's label_names)
    labels: str | tuple[str, ...] = "imagenet"
    top1: float | None = None
    top5: float | None = None
    accuracy_source: str = ""
    #: the input the published accuracy was measured at, where not ``input_size``
    accuracy_input_size: tuple[int, int, int] | None = None
    license: str = ""
    default: bool = False
    size_mb: float | None = None
    upstream: str = ""  #: the name upstream gives these weights
    sha256_source: str = ""  #: where the full SHA-256 comes from
    #: constructor arguments the weights were trained with (GoogLeNet's transform_input)
    model_attrs: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: the Hugging Face Hub repository of the file ("timm/resnetv2_50.a1h_in1k"), where it is one
    hf_hub_id: str | None = None
    hf_filename: str = "model.safetensors"

    @property
    def hash_status(self) -> str:
        """'sha256' (full hash known), 'prefix' (8 hex digits only) or 'tofu' (none)."""
        return "sha256" if self.sha256 else ("prefix" if self.hash_prefix else "tofu")


_TV_URL = "https://download.pytorch.org/models/"
_TV_LICENSE = "BSD-3-Clause (torchvision); ImageNet terms of access apply"
_TV_ACC = "torchvision 0.29.1 weights meta (ImageNet-1k val, resize {r}, crop 224)"
# Full SHA-256 values of torchvision files, each pinned by several public projects that
# check their downloads (GitHub code search), and each starting with the file name's prefix.
_PINNED = "third-party pins of the download (public GitHub projects), matching the file-name prefix"


def _tv(
    arch: str,
    version: int,
    file: str,
    top1: float,
    top5: float,
    size_mb: float,
    *,
    sha256: str | None = None,
    resize: int = 256,
    default: bool = False,
    layout: str = "torchvision",
    **extra: Any,
) -> WeightsEntry:
    prefix = file.rsplit("-", 1)[1].split(".")[0]
    return WeightsEntry(
        tag=f"{arch}.tv{'' if version == 1 else version}_in1k",
        architecture=arch,
        source="torchvision",
        url=_TV_URL + file,
        filename=file,
        sha256=sha256,
        hash_prefix=prefix,
        layout=layout,
        resize_size=resize,
        crop_pct=224 / resize,
        top1=top1,
        top5=top5,
        accuracy_source=_TV_ACC.format(r=resize),
        license=_TV_LICENSE,
        default=default,
        size_mb=size_mb,
        upstream=f"IMAGENET1K_V{version}",
        sha256_source=_PINNED if sha256 else "",
        **extra,
    )


_TIMM_GH = "https://github.com/rwightman/pytorch-image-models/releases/download/"
_TIMM_CSV = (
    "timm results/results-imagenet.csv (huggingface/pytorch-image-models @ 0173a139), {size}x{size}, crop_pct {crop}"
)


def _timm(
    arch: str,
    tag: str,
    upstream: str,
    *,
    url: str | None = None,
    hf_hub_id: str | None = None,
    sha256: str | None = None,
    layout: str,
    crop_pct: float = DEFAULT_CROP_PCT,
    interpolation: str = "bilinear",
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    top1: float | None,
    top5: float | None,
    accuracy_source: str,
    **extra: Any,
) -> WeightsEntry:
    if url is not None:
        file = url.rsplit("/", 1)[1]
        prefix: str | None = file.rsplit("-", 1)[1].split(".")[0]
    else:
        # Hugging Face hub files are all "model.safetensors": cache them under the tag
        url = f"https://huggingface.co/{hf_hub_id}/resolve/main/model.safetensors"
        file, prefix = f"{arch}.{tag}.safetensors", None
    return WeightsEntry(
        tag=f"{arch}.{tag}",
        architecture=arch,
        source="timm",
        url=url,
        filename=file,
        sha256=sha256,
        hash_prefix=prefix,
        layout=layout,
        crop_pct=crop_pct,
        resize_size=math.floor(224 / crop_pct),
        mean=mean,
        std=std,
        interpolation=interpolation,
        top1=top1,
        top5=top5,
        accuracy_source=accuracy_source,
        license="apache-2.0 (timm pretrained_cfg)",
        default=True,
        upstream=upstream,
        sha256_source=_PINNED if sha256 else "",
        hf_hub_id=hf_hub_id,
        **extra,
    )


_ENTRIES: list[WeightsEntry] = [
    # --- torchvision ----------------------------------------------------------------------
    _tv(
        "alexnet",
        1,
        "alexnet-owt-7be5be79.pth",
        56.522,
        79.066,
        233.087,
        default=True,
        sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
    ),
    _tv("vgg11", 1, "vgg11-8a719046.pth", 69.02, 88.628, 506.84, default=True),
    _tv(
        "vgg11_bn",
        1,
        "vgg11_bn-6002323d.pth",
        70.37,
        89.81,
        506.881,
        default=True,
        sha256="6002323d9413ae02f657473d3ecbbd7f86ee496b8a0dc8dc6140a639a0fcf13d",
    ),
    _tv("vgg13", 1, "vgg13-19584684.pth", 69.928, 89.246, 507.545, default=True),
    _tv("vgg13_bn", 1, "vgg13_bn-abd245e5.pth", 71.586, 90.374, 507.59, default=True),
    _tv(
        "vgg16",
        1,
        "vgg16-397923af.pth",
        71.592,
        90.382,
        527.796,
        default=True,
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    ),
    _tv(
        "vgg16_bn",
        1,
        "vgg16_bn-6c64b313.pth",
        73.36,
        91.516,
        527.866,
        default=True,
        sha256="6c64b3138f2f4fcb3bcc4cafde11619c4f440eb1631787e93a682fd88305888a",
    ),
    _tv(
        "vgg19",
        1,
        "vgg19-dcbb9e9d.pth",
        72.376,
        90.876,
        548.051,
        default=True,
        sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
    ),
    _tv("vgg19_bn", 1, "vgg19_bn-c79401a0.pth", 74.218, 91.842, 548.143, default=True),
    _tv(
        "googlenet",
        1,
        "googlenet-1378be20.pth",
        69.778,
        89.53,
        49.731,
        default=True,
        sha256="1378be20a8e875cf1568b8a71654e704449655e34711a959a38b04fb34905cef",
        model_attrs={"transform_input": True},
        notes="expects transform_input=True (create_model sets it), as torchvision; the file's "
        "auxiliary heads are not trained (torchvision warns the same)",
    ),
    _tv(
        "resnet18",
        1,
        "resnet18-f37072fd.pth",
        69.758,
        89.078,
        44.661,
        default=True,
        sha256="f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
    ),
    _tv(
        "resnet34",
        1,
        "resnet34-b627a593.pth",
        73.314,
        91.42,
        83.275,
        default=True,
        sha256="b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
    ),
    _tv(
        "resnet50",
        1,
        "resnet50-0676ba61.pth",
        76.13,
        92.862,
        97.781,
        sha256="0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
    ),
    _tv(
        "resnet50",
        2,
        "resnet50-11ad3fa6.pth",
        80.858,
        95.434,
        97.79,
        resize=232,
        default=True,
        sha256="11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
    ),
    _tv(
        "resnet101",
        1,
        "resnet101-63fe2227.pth",
        77.374,
        93.546,
        170.511,
        sha256="63fe2227b86e8f1f2063f43a75c84d195911b6a0eace650907dd3dc62dd49a0a",
    ),
    _tv(
        "resnet101",
        2,
        "resnet101-cd907fc2.pth",
        81.886,
        95.78,
        170.53,
        resize=232,
        default=True,
        sha256="cd907fc2a0de2292b2ba2b27d2216bc672d84632d1cf20058d01c0c03b5e020e",
    ),
    _tv(
        "resnet152",
        1,
        "resnet152-394f9c45.pth",
        78.312,
        94.046,
        230.434,
        sha256="394f9c45966e3651a89bbb78a48410a6755854ce4a5ab64927cf1c7247f85e58",
    ),
    _tv("resnet152", 2, "resnet152-f82ba261.pth", 82.284, 96.002, 230.474, resize=232, default=True),
    _tv("resnext50_32x4d", 1, "resnext50_32x4d-7cdf4587.pth", 77.618, 93.698, 95.789),
    _tv("resnext50_32x4d", 2, "resnext50_32x4d-1a0047aa.pth", 81.198, 95.34, 95.833, resize=232, default=True),
    _tv("resnext101_32x8d", 1, "resnext101_32x8d-8ba56ff5.pth", 79.312, 94.526, 339.586),
    _tv("resnext101_32x8d", 2, "resnext101_32x8d-110c445d.pth", 82.834, 96.228, 339.673, resize=232, default=True),
    _tv(
        "wide_resnet50_2",
        1,
        "wide_resnet50_2-95faca4d.pth",
        78.468,
        94.086,
        131.82,
        sha256="95faca4d11227dddf8633dbb5ff6c8a9003c1aa5b8945c73834b8007b10950b8",
    ),
    _tv("wide_resnet50_2", 2, "wide_resnet50_2-9ba9bcbe.pth", 81.602, 95.758, 263.124, resize=232, default=True),
    _tv("wide_resnet101_2", 1, "wide_resnet101_2-32ee1156.pth", 78.848, 94.284, 242.896),
    _tv("wide_resnet101_2", 2, "wide_resnet101_2-d733dc28.pth", 82.51, 96.02, 484.747, resize=232, default=True),
    # torchvision's DenseNet files predate '.'-free module names: "denselayer1.norm.1.weight"
    _tv(
        "densenet121",
        1,
        "densenet121-a639ec97.pth",
        74.434,
        91.972,
        30.845,
        default=True,
        layout="torchvision_densenet_legacy",
        sha256="a639ec97d7c33b07ae66f0b5fb7d0192f95a3b11b7576c66c0126c2a727c4395",
    ),
    _tv(
        "densenet161",
        1,
        "densenet161-8d451a50.pth",
        77.138,
        93.56,
        110.369,
        default=True,
        layout="torchvision_densenet_legacy",
        sha256="8d451a50bad6b9a83f477126c443716882a17af26e94d338154b058fb2dfd359",
    ),
    _tv(
        "densenet169",
        1,
        "densenet169-b2777c0a.pth",
        75.6,
        92.806,
        54.708,
        default=True,
        layout="torchvision_densenet_legacy",
    ),
    _tv(
        "densenet201",
        1,
        "densenet201-c1103571.pth",
        76.896,
        93.37,
        77.373,
        default=True,
        layout="torchvision_densenet_legacy",
    ),
    _tv(
        "mobilenet_v2",
        1,
        "mobilenet_v2-b0353104.pth",
        71.878,
        90.286,
        13.555,
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    ),
    _tv(
        "mobilenet_v2",
        2,
        "mobilenet_v2-7ebf99e0.pth",
        72.154,
        90.822,
        13.598,
        resize=232,
        default=True,
        sha256="7ebf99e03e254b273379b23edca7ec0da9f48273b23a332b93c1c99d49e86e8f",
    ),
    # --- timm: Cadene's SENet release (Hu et al.) and timm's own SE-ResNet-18/34 -----------
    _timm(
        "se_resnet18",
        "in1k",
        "legacy_seresnet18.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-weights/seresnet18-4bb0ce65.pth",
        interpolation="bicubic",
        top1=71.766,
        top5=90.332,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    _timm(
        "se_resnet34",
        "in1k",
        "legacy_seresnet34.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-weights/seresnet34-a4004e63.pth",
        top1=74.808,
        top5=92.126,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    _timm(
        "se_resnet50",
        "in1k",
        "legacy_seresnet50.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-cadene/se_resnet50-ce0d4300.pth",
        sha256="ce0d430017d3f4aa6b5658c72209f3bfffb060207fd26a2ef0b203ce592eba01",
        top1=77.644,
        top5=93.758,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    _timm(
        "se_resnet101",
        "in1k",
        "legacy_seresnet101.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-cadene/se_resnet101-7e38fcc6.pth",
        top1=78.386,
        top5=94.262,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    _timm(
        "se_resnet152",
        "in1k",
        "legacy_seresnet152.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-cadene/se_resnet152-d17c99b7.pth",
        top1=78.660,
        top5=94.370,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    _timm(
        "se_resnext50_32x4d",
        "in1k",
        "legacy_seresnext50_32x4d.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-weights/legacy_se_resnext50_32x4d-f3651bad.pth",
        top1=79.076,
        top5=94.432,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    _timm(
        "se_resnext101_32x4d",
        "in1k",
        "legacy_seresnext101_32x4d.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-weights/legacy_se_resnext101_32x4d-37725eac.pth",
        top1=80.230,
        top5=95.026,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    _timm(
        "senet154",
        "in1k",
        "legacy_senet154.in1k",
        layout="timm_legacy_senet",
        url=_TIMM_GH + "v0.1-weights/legacy_senet154-e9eb9fe6.pth",
        top1=81.308,
        top5=95.492,
        accuracy_source=_TIMM_CSV.format(size=224, crop=0.875),
    ),
    # --- timm: pre-activation ResNet v2 and MobileNet v1, on the Hugging Face hub ----------
    _timm(
        "resnet18v2",
        "ra4_e3600_r224_in1k",
        "resnetv2_18.ra4_e3600_r224_in1k",
        hf_hub_id="timm/resnetv2_18.ra4_e3600_r224_in1k",
        layout="timm_resnetv2",
        crop_pct=0.9,
        interpolation="bicubic",
        mean=_HALF,
        std=_HALF,
        top1=None,
        top5=None,
        accuracy_source="not found in timm's published results at the time of writing",
        notes="timm evaluates it at 288x288, crop_pct 1.0 (test_input_size)",
    ),
    _timm(
        "resnet34v2",
        "ra4_e3600_r224_in1k",
        "resnetv2_34.ra4_e3600_r224_in1k",
        hf_hub_id="timm/resnetv2_34.ra4_e3600_r224_in1k",
        layout="timm_resnetv2",
        crop_pct=0.9,
        interpolation="bicubic",
        mean=_HALF,
        std=_HALF,
        top1=None,
        top5=None,
        accuracy_source="not found in timm's published results at the time of writing",
        notes="timm evaluates it at 288x288, crop_pct 1.0 (test_input_size)",
    ),
    _timm(
        "resnet50v2",
        "a1h_in1k",
        "resnetv2_50.a1h_in1k",
        hf_hub_id="timm/resnetv2_50.a1h_in1k",
        layout="timm_resnetv2",
        crop_pct=0.95,
        interpolation="bicubic",
        mean=_HALF,
        std=_HALF,
        top1=81.398,
        top5=95.726,
        accuracy_source=_TIMM_CSV.format(size=288, crop=1.0),
        accuracy_input_size=(3, 288, 288),
        notes="published accuracy is at timm's test size 288x288, crop_pct 1.0",
    ),
    _timm(
        "resnet101v2",
        "a1h_in1k",
        "resnetv2_101.a1h_in1k",
        hf_hub_id="timm/resnetv2_101.a1h_in1k",
        layout="timm_resnetv2",
        crop_pct=0.95,
        interpolation="bicubic",
        mean=_HALF,
        std=_HALF,
        top1=83.002,
        top5=96.454,
        accuracy_source=_TIMM_CSV.format(size=288, crop=1.0),
        accuracy_input_size=(3, 288, 288),
        notes="published accuracy is at timm's test size 288x288, crop_pct 1.0",
    ),
    _timm(
        "mobilenet_v1",
        "ra4_e3600_r224_in1k",
        "mobilenetv1_100.ra4_e3600_r224_in1k",
        hf_hub_id="timm/mobilenetv1_100.ra4_e3600_r224_in1k",
        layout="timm_mobilenetv1",
        interpolation="bicubic",
        mean=_HALF,
        std=_HALF,
        top1=75.382,
        top5=92.312,
        accuracy_source="timm README, July 26 2024 release notes (224x224); 76.094 at 256",
        notes="ReLU6 activations (timm); timm's test size is 256x256, crop_pct 0.95",
    ),
    # --- cnnzoo -----------------------------------------------------------------------------
    WeightsEntry(
        tag="lenet5.digits",
        architecture="lenet5",
        source="cnnzoo",
        url=None,
        filename="lenet5_digits.pth",
        sha256="18dff02fc8bf472bfd259908ef8773d94771603c5e656442417e1ce47f22c56d",
        hash_prefix=None,
        layout="cnnzoo",
        num_classes=10,
        input_size=(1, 32, 32),
        resize_size=32,
        crop_pct=1.0,
        mean=(0.5,),
        std=(0.5,),
        interpolation="bilinear",
        dataset="scikit-learn digits (val split: 360 images)",
        labels="digits",
        top1=99.72,
        top5=None,
        accuracy_source="measured: 359/360 on the digits val split (scripts/train_lenet5_digits.py)",
        license="MIT (cnnzoo)",
        default=True,
        upstream="scripts/train_lenet5_digits.py",
        sha256_source="computed when the file was built",
        notes="8x8 digits scaled by 1/16 to [0, 1] and resized bilinearly to 32x32; "
        "light strokes on a dark background, as scikit-learn stores them (invert "
        "scanned dark-on-light digits first)",
    ),
]

#: tag -> entry, in the order above (families grouped, as a reader expects)
CATALOGUE: dict[str, WeightsEntry] = {e.tag: e for e in _ENTRIES}


# ---------------------------------------------------------------- look-ups
def list_tags(model_name: str) -> list[str]:
    """The weight tags of a model, its default first (``[]`` when it has none)."""
    tags = [e for e in CATALOGUE.values() if e.architecture == model_name]
    return [e.tag for e in sorted(tags, key=lambda e: not e.default)]


def default_tag(model_name: str) -> str | None:
    """The tag ``pretrained=True`` loads for ``model_name``, or None."""
    tags = list_tags(model_name)
    return tags[0] if tags else None


def get_entry(name: str) -> WeightsEntry:
    """The catalogue entry for a tag (``resnet50.tv2_in1k``), a model name (its default
    tag) or timm's name of the same file (``legacy_seresnet50.in1k``)."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    for entry in CATALOGUE.values():
        if entry.upstream == name and entry.source == "timm":
            return entry
    if (tag := default_tag(name)) is not None:
        return CATALOGUE[tag]
    raise UnknownWeightsError(_unknown(name))


def _unknown(name: str) -> str:
    """What an unknown weights name was taken for, with the tags of its model or the nearest names."""
    base = name.partition(".")[0]
    if is_model(base):
        known = list_tags(base)
        hint = (
            f"{base} has: {', '.join(known)}"
            if known
            else f"no weights are catalogued for {base}; pass pretrained=<path to a .pth or "
            ".safetensors file> to load your own"
        )
        return f"unknown weight tag '{name}'; {hint}"
    close = suggest(name, list(CATALOGUE))
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown weights '{name}'{hint} (cnnzoo weights list shows all)"


def entry_for(model_name: str, tag: str | None) -> WeightsEntry:
    entry = get_entry(model_name if tag is None else f"{model_name}.{tag}")
    if entry.architecture != model_name:  # a timm name of another architecture's file
        raise UnknownWeightsError(f"weights '{entry.tag}' are for {entry.architecture}, not {model_name}")
    return entry
