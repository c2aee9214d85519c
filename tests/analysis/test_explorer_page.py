"""The model explorer page: self-contained, one node per module at the chosen depth, shapes on
the edges, and in a real headless Chromium: loads without errors, hover shows the field."""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnzoo.analysis.explorer import explore
from cnnzoo.cli import main
from cnnzoo.errors import InvalidArgumentError

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 860}
# model, depth, and a row to hover for the screenshot (the middle of a block the paper draws)
PAGES = {
    "lenet5": (2, "features.c3"),
    "googlenet": (2, "inception3b.branch2"),
    "resnet50": (3, "layer1.0.bn2"),
    "densenet121": (3, "features.denseblock1.denselayer3"),
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    made = {}

    def make(name, depth):
        if (name, depth) not in made:
            start = time.perf_counter()
            page = explore(name, depth=depth)
            seconds = time.perf_counter() - start
            path = page.save(tmp_path_factory.mktemp("explorer") / f"{name}.html")
            made[name, depth] = (page, path, seconds)
        return made[name, depth]

    return make


def _level(html, level):
    """The SVG drawing of one nesting level."""
    m = re.search(rf'<svg class="graph" data-level="{level}".*?</svg>', html, re.S)
    assert m, f"no drawing for level {level}"
    return m.group(0)


def _expected_nodes(table, level):
    """Module calls the table shows as leaves at ``level`` (its own-parameter rows are not calls)."""
    return sum(
        1
        for r in table.layers
        if r.depth <= level
        and r.call >= 1
        and r.type != "Parameter"
        and not any(o.depth <= level and o.name.startswith(r.name + ".") and o.call >= 1 for o in table.layers)
    )


def _times(shape):
    return "\u00d7".join(map(str, shape))


@pytest.mark.parametrize("name", ["lenet5", "googlenet"])
def test_page_is_self_contained(pages, name):
    page, path, _ = pages(name, PAGES[name][0])
    text = path.read_text(encoding="utf-8")
    assert text == page.html and text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text  # no CDN, no fetch, no external anything
    for pattern in (
        r"<script[^>]+src=",
        r"<link[^>]+stylesheet",
        r"\bfetch\(",
        "XMLHttpRequest",
        "@import",
        r"<iframe",
    ):
        assert not re.search(pattern, text), pattern
    # every src/href is inline data (the sample picture) or empty
    for ref in re.findall(r'(?:src|href)="([^"]*)"', text):
        assert ref == "" or ref.startswith("data:"), ref
    assert 'href="data:image/jpeg;base64,' in text


@pytest.mark.parametrize("name", list(PAGES))
def test_one_node_per_module_and_shapes_on_edges(pages, name):
    depth = PAGES[name][0]
    page, _, _ = pages(name, depth)
    table = page.summary
    for level in range(1, depth + 1):
        svg = _level(page.html, level)
        nodes = re.findall(r'<g class="node module[^"]*" data-i="(\d+)" data-row="(\d+)"', svg)
        assert len(nodes) == _expected_nodes(table, level), level
        labels = dict(re.findall(r'<text class="shape" data-of="(\d+)"[^>]*>([^<]*)</text>', svg))
        sources = set(re.findall(r'data-from="(\d+)"', svg))
        assert sources and sources <= set(labels)  # every edge carries the shape of its tensor
        for i, row in nodes:  # and a module's is its table row's, not computed again
            if i in labels and table.layers[int(row)].output_shape is not None:
                assert labels[i] == _times(table.layers[int(row)].output_shape)


def _ops(svg, label):
    """(index, inputs) of the op nodes called ``label``."""
    found = re.findall(rf'<g class="node op" data-i="(\d+)" data-name="{re.escape(label)}"', svg)
    return [(i, re.findall(rf'data-from="(\d+)" data-to="{i}"', svg)) for i in found]


def test_branches_shortcuts_and_dense_connections_are_drawn(pages):
    # Szegedy et al. 2015, Table 1: inception (3a) concatenates four branches into 28x28x256
    html = pages("googlenet", 2)[0].html
    svg = _level(html, 2)
    concat = _ops(svg, "concat")
    assert len(concat) == 9 and all(len(inputs) == 4 for _, inputs in concat)
    assert re.search(rf'data-of="{concat[0][0]}"[^>]*>256\u00d728\u00d728<', svg)
    group = r'class="node module group[^"]*" data-i="\d+" data-row="\d+" data-name="(\w+)"'
    folded = re.findall(group, _level(html, 1))
    assert [n for n in folded if n.startswith("inception")] == [  # folded to the paper's modules
        f"inception{k}" for k in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    ]
    # He et al. 2016, Table 1: 16 bottlenecks, each adding its shortcut to its residual
    svg = _level(pages("resnet50", 3)[0].html, 3)
    adds = _ops(svg, "+")
    assert len(adds) == 16 and all(len(inputs) == 2 for _, inputs in adds)
    assert re.search(rf'class="e long" data-from="\d+" data-to="{adds[1][0]}"', svg)  # the identity skips
    # Huang et al. 2017: layer l of a dense block reads the block input and all l - 1 earlier outputs
    svg = _level(pages("densenet121", 3)[0].html, 3)
    layers = re.findall(r'data-i="(\d+)" data-row="\d+" data-name="features\.denseblock1\.denselayer(\d+)"', svg)
    assert [int(k) for _, k in layers] == list(range(1, 7))
    for i, k in layers:
        assert len(re.findall(rf'data-to="{i}"', svg)) == int(k)
    # each block's output concatenates its input and its layers' (Table 1: 6, 12, 24, 16 layers)
    assert [len(inputs) for _, inputs in _ops(svg, "concat")] == [7, 13, 25, 17]


def test_repr_html_is_an_isolated_frame(pages):
    page = pages("lenet5", 2)[0]
    frame = page._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "<script" not in frame and "&lt;script" in frame


def test_a_model_fx_cannot_trace_is_refused():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            for _ in range(x.shape[0]):  # Python control flow on a traced value
                x = x + 0
            return self.conv(x)

    with pytest.raises(InvalidArgumentError, match="torch.fx cannot trace"):
        explore(Loop(), (3, 16, 16))
    with pytest.raises(InvalidArgumentError, match="depth"):
        explore("lenet5", depth=0)


def test_any_module_and_the_cli(tmp_path, capsys):
    block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2))
    page = explore(block, (3, 20, 20), depth=1)
    svg = _level(page.html, 1)
    assert len(re.findall(r'class="node module', svg)) == 3 and "8\u00d79\u00d79" in svg
    out = tmp_path / "lenet5.html"
    assert main(["info", "lenet5", "--html", str(out)]) == 0
    captured = capsys.readouterr()
    assert "model explorer:" in captured.err and "Parameters: 61,706" in captured.out
    assert out.read_text(encoding="utf-8").count('class="node module') == explore("lenet5").html.count(
        'class="node module'
    )
    assert main(["info", "lenet5", "--html", str(tmp_path)]) == 2  # a folder is not a file
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# ---------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def _open(browser, path):
    """The page loaded in a fresh tab, the seconds it took, and the errors it logged."""
    page = browser.new_page(viewport=VIEWPORT)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    start = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.locator("svg.graph").first.wait_for(state="attached")
    return page, time.perf_counter() - start, errors


def _expected_square(row, shape):
    """The receptive field of the centre unit of ``row``'s map, in input pixels (x, y, w, h)."""
    rf = row.receptive_field
    ci = (shape[-2] - 1) // 2 if len(shape) >= 3 else 0
    cj = (shape[-1] - 1) // 2 if len(shape) >= 3 else 0
    return (rf.start[1] + cj * rf.jump[1], rf.start[0] + ci * rf.jump[0], rf.size[1], rf.size[0])


def _check_in_browser(browser, pages, name, depth, hover, shot):
    page_obj, path, _ = pages(name, depth)
    table = page_obj.summary
    page, seconds, errors = _open(browser, path)
    try:
        assert errors == []
        visible = page.locator(f'svg.graph[data-level="{depth}"]')
        assert visible.is_visible() and page.locator('svg.graph[data-level="1"]').is_visible() == (depth == 1)
        assert visible.locator(".node.module").count() == _expected_nodes(table, depth)
        row = page.locator(f'#layers tbody tr[data-name="{hover}"]').first
        row.click()  # finds its node in the graph
        row.hover()
        index = int(row.get_attribute("data-row"))
        layer = table.layers[index]
        assert page.locator(f'svg.graph[data-level="{depth}"] .node.hl').get_attribute("data-row") == str(index)
        rf = page.locator("#rf")
        assert rf.get_attribute("visibility") == "visible" and rf.bounding_box()["width"] > 2
        drawn = tuple(float(rf.get_attribute(a)) for a in ("x", "y", "width", "height"))
        assert drawn == pytest.approx(_expected_square(layer, layer.output_shape))
        share = float(page.locator("#ptext").inner_text().split()[0])
        assert share == pytest.approx(100 * layer.params / table.totals["params"], abs=0.01)
        page.screenshot(path=str(shot))
        assert errors == []
    finally:
        page.close()
    return seconds


def _check_screenshot(shot):
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (VIEWPORT["width"], VIEWPORT["height"])
        small = im.convert("RGB").resize((140, 86))
    pixels = torch.frombuffer(bytearray(small.tobytes()), dtype=torch.uint8).reshape(-1, 3)
    assert pixels.float().std() > 20 and len(set(map(tuple, pixels.tolist()))) > 200  # not blank, not flat
    assert shot.stat().st_size < 300_000


@pytest.mark.parametrize("name", list(PAGES))
def test_explorer_in_chromium(browser, pages, tmp_path, name):
    depth, hover = PAGES[name]
    shot = tmp_path / f"explorer-{name}.png"
    _check_in_browser(browser, pages, name, depth, hover, shot)
    _check_screenshot(shot)
    folder = os.environ.get("CNNZOO_EXPLORER_SHOTS")  # set to docs/images to refresh the pictures there
    if folder:
        shutil.copyfile(shot, Path(folder) / shot.name)


def test_folding_and_opening_blocks_in_chromium(browser, pages):
    page_obj, path, _ = pages("googlenet", 2)
    page, _, errors = _open(browser, path)
    try:
        page.locator('.levels button[data-level="1"]').click()
        level1 = page.locator('svg.graph[data-level="1"]')
        assert level1.is_visible() and level1.locator(".node.module").count() == _expected_nodes(page_obj.summary, 1)
        level1.locator('.node.group[data-name="inception4a"]').click()  # opens it one level down
        assert page.locator('svg.graph[data-level="2"]').is_visible()
        assert page.locator('svg.graph[data-level="2"] .node.hl').get_attribute("data-name") == "inception4a.branch1"
        assert errors == []
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.parametrize("name, depth", [("resnet152", 3), ("densenet201", 4)])
def test_large_networks_stay_usable(browser, pages, tmp_path, name, depth):
    page_obj, path, built = pages(name, depth)
    hover = page_obj.summary.layers[len(page_obj.summary.layers) // 2].name
    loaded = _check_in_browser(browser, pages, name, depth, hover, tmp_path / "shot.png")
    size = path.stat().st_size
    print(f"{name} depth {depth}: built in {built:.1f} s, {size / 2**10:.0f} KiB, loaded in {loaded:.2f} s")
    assert loaded < 5 and size < 4 * 2**20 and math.isfinite(built)
