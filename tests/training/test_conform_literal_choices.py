"""``limits.conform``, the one type check of settings and checkpoints, reads ``Literal`` choices and generic classes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from cnnzoo.limits import conform


def test_a_literal_admits_its_choices_of_their_own_type_only() -> None:
    assert conform("bf16", Literal["fp32", "bf16"]) == (True, "bf16")
    assert conform("auto", Literal["fp32", "bf16"])[0] is False
    assert conform(1, Literal[True])[0] is False  # 1 == True, but a number is no flag
    assert conform(None, Literal["cam"] | None) == (True, None)


def test_a_subscripted_generic_class_is_checked_by_its_class() -> None:
    assert conform(Path("x"), os.PathLike[str])[0] is True
    assert conform("x", os.PathLike[str])[0] is False
