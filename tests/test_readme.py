"""README's demo output is what ``python -m skrep`` prints, and its claims hold.

One run of the full demo (about as long as ``python -m skrep`` itself): every
line of the README's output block must be a line of the demo's output, in the
same order (the progress lines without their timings), and each statement in
the prose after the block is checked against the printed tables.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK_INTRO = "What `python -m skrep` printed"
# "[3/8  10.2s] extracting ..." -> "[3/8] extracting ..."
PROGRESS_TIME = re.compile(r"^\[(\d+/\d+)\s+\d+(?:\.\d+)?s\]")
LAYERS = ("relu1", "relu2", "relu3", "relu4", "logits")
# The first line of each printed table's title, and how many title lines
# come before its header.
TABLES = {
    "matching": ("Unit matching (Li et al. 2016)", 2),
    "sparse": ("Sparse prediction of net b's units", 2),
    "cca": ("SVCCA (Raghu et al. 2017) and PWCCA", 2),
    "grid": ("Layer x layer SVCCA", 1),
    "dead": ("Dead (constant) units", 1),
}


def _readme_block():
    """The lines of the README's ``text`` block after BLOCK_INTRO."""
    text = README.read_text(encoding="utf-8")
    after_intro = text[text.index(BLOCK_INTRO) :]
    block = after_intro.split("```text\n", 1)[1].split("\n```", 1)[0]
    return block.splitlines()


def _parse_tables(lines):
    """The printed tables as lists of row dicts (numbers as floats)."""
    tables = {}
    for name, (title, n_title_lines) in TABLES.items():
        start = next(i for i, line in enumerate(lines) if line.startswith(title))
        header = lines[start + n_title_lines].split()
        rows = []
        for line in lines[start + n_title_lines + 1 :]:
            if not line.strip():
                break
            cells = line.split()
            if len(cells) == len(header) + 1:  # the grid's unnamed row label
                cells_header = ["layer", *header]
            else:
                cells_header = header
            assert len(cells) == len(cells_header), (name, line)
            rows.append(
                {
                    column: (
                        cell if column in ("layer", "pair", "method") else float(cell)
                    )
                    for column, cell in zip(cells_header, cells)
                }
            )
        tables[name] = rows
    return tables


@pytest.fixture(scope="module")
def demo_lines(tmp_path_factory):
    """The full demo's printed lines, progress lines without their timings."""
    output_dir = tmp_path_factory.mktemp("demo")
    completed = subprocess.run(
        [sys.executable, "-m", "skrep", "--output-dir", str(output_dir)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return [PROGRESS_TIME.sub(r"[\1]", line) for line in completed.stdout.splitlines()]


@pytest.fixture(scope="module")
def tables(demo_lines):
    return _parse_tables(demo_lines)


def test_readme_block_is_the_demo_output(demo_lines):
    block = [line for line in _readme_block() if line.strip()]
    assert len(block) > 60
    position = 0
    for line in block:
        assert line in demo_lines[position:], (
            f"README line not printed by `python -m skrep` (or out of order): {line!r}"
        )
        position = demo_lines.index(line, position) + 1


def test_readme_block_tables_parse():
    # The README's own copy has the tables the claims below are about.
    tables = _parse_tables(_readme_block())
    assert [row["layer"] for row in tables["sparse"]] == list(LAYERS)
    assert len(tables["matching"]) == 4 * len(LAYERS)


def _by(rows, *keys, value):
    return {tuple(row[key] for key in keys): row[value] for row in rows}


def test_trained_agree_more_than_untrained(tables):
    # "... at every layer, in unit matching (both methods, on the training
    # and on the held-out images) and in PWCCA."
    for value in ("fit_mean", "held_out_mean"):
        matching = _by(tables["matching"], "layer", "pair", "method", value=value)
        for layer in LAYERS:
            for method in ("semi-matching", "matching"):
                trained = matching[layer, "a~b", method]
                untrained = matching[layer, "a~baseline", method]
                assert trained > untrained, (value, layer, method)
    for value in ("pwcca_in_sample", "pwcca_held_out"):
        pwcca = _by(tables["cca"], "layer", "pair", value=value)
        for layer in LAYERS:
            assert pwcca[layer, "a~b"] > pwcca[layer, "a~baseline"], (value, layer)


def test_svcca_separates_every_layer_but_relu1(tables):
    # "SVCCA separates them at every layer but relu1, where the trained and
    # the untrained network score within 0.01 of each other."
    for value in ("svcca_in_sample", "svcca_held_out"):
        svcca = _by(tables["cca"], "layer", "pair", value=value)
        assert abs(svcca["relu1", "a~b"] - svcca["relu1", "a~baseline"]) < 0.01
        for layer in LAYERS[1:]:
            assert svcca[layer, "a~b"] > svcca[layer, "a~baseline"], (value, layer)


def test_matching_never_exceeds_semi_matching(tables):
    # "One-to-one matching never exceeds semi-matching; the two are equal
    # only at the logits, where every unit's best partner is also its
    # one-to-one partner (overlap 1.000)."
    for value in ("fit_mean", "held_out_mean"):
        matching = _by(tables["matching"], "layer", "pair", "method", value=value)
        for layer in LAYERS:
            for pair in ("a~b", "a~baseline"):
                one_to_one = matching[layer, pair, "matching"]
                semi = matching[layer, pair, "semi-matching"]
                assert one_to_one <= semi, (value, layer, pair)
                if pair == "a~b" and value == "fit_mean":
                    assert (one_to_one == semi) == (layer == "logits"), layer
    overlap = _by(tables["matching"], "layer", "pair", value="overlap")
    assert overlap["logits", "a~b"] == 1.0


def test_loss_grows_with_decay(tables):
    # "The held-out loss grows with the decay: by less than 0.005 up to 1e-4,
    # then at every step."
    for row in tables["sparse"]:
        decays = [column for column in row if column != "layer"]
        losses = [row[decay] for decay in decays]
        up_to = decays.index("0.0001") + 1
        assert max(losses[:up_to]) - min(losses[:up_to]) < 0.005, row["layer"]
        assert losses[:up_to] == sorted(losses[:up_to]), row["layer"]
        after = losses[up_to - 1 :]
        assert all(b > a for a, b in zip(after, after[1:])), row["layer"]


def test_dead_units_counted_not_nan(demo_lines, tables):
    # "Dead ReLU units (the most in relu4, in every network) are counted and
    # dropped, never turned into NaN."
    dead = {row["layer"]: row for row in tables["dead"]}
    for column in ("dead_units_a", "dead_units_b", "dead_units_baseline"):
        most = max(LAYERS, key=lambda layer: dead[layer][column])
        assert most == "relu4", column
    for rows in tables.values():
        for row in rows:
            assert not any(
                isinstance(cell, float) and math.isnan(cell) for cell in row.values()
            ), row
    assert any(
        line.endswith("dead (constant) units were dropped or scored 0 (counts above)")
        for line in demo_lines
    )


def test_readme_code_block_runs(tmp_path):
    """The README's first Python block runs as written, in a fresh process."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```python\n") + len("```python\n")
    code = text[start : text.index("```", start)]
    script = tmp_path / "readme_block.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # only the honest dead-unit warnings, none about convergence
    assert "ConvergenceWarning" not in result.stderr
