"""benchmarks/defensive_code.py counts exactly the blocks it says it counts."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _measure_module():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_defensive_code", BENCH / "defensive_code.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_counts_guard_blocks_raises_and_reraising_handlers(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """\
        def f(x):
            if x < 0:
                raise ValueError(
                    "negative"
                )
            if x == 0:
                return 1
            else:
                raise ValueError("unreachable here")
            try:
                y = 1 / x
            except ZeroDivisionError:
                raise RuntimeError("zero") from None
            except TypeError:
                y = 0
            return y
        """
    )
    measure = _measure_module()
    lines, raises = measure.defensive_lines(source)
    # lines 2-5 (guard block), 9 (a raise in an else: the if itself is not a guard), 12-13 (re-raising handler)
    assert sorted(lines) == [2, 3, 4, 5, 9, 12, 13]
    assert raises == 3
    (tmp_path / "m.py").write_text(source)
    total = measure.measure(tmp_path)["total"]
    assert total == {"defensive_lines": 7, "raises": 3, "lines": len(source.splitlines())}
