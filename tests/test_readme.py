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
# The first line of each printed table's title, and the first word of its
# header line.
TABLES = {
    "matching": ("Unit matching (Li et al. 2016)", "layer"),
    "sparse": ("Sparse prediction of net b's units", "layer"),
    "cca": ("SVCCA (Raghu et al. 2017) and PWCCA", "layer"),
    "grid": ("Layer x layer SVCCA", "relu1"),
    "chance_grid": ("The same grid for net a against each untrained net", "relu1"),
    "dead": ("Dead (constant) units", "layer"),
}
TEXT_COLUMNS = ("layer", "method", "measure", "live_b", "kept_chance", "dead_chance")


def _readme_block():
    """The lines of the README's ``text`` block after BLOCK_INTRO."""
    text = README.read_text(encoding="utf-8")
    after_intro = text[text.index(BLOCK_INTRO) :]
    block = after_intro.split("```text\n", 1)[1].split("\n```", 1)[0]
    return block.splitlines()


def _cell(column, cell):
    if column in TEXT_COLUMNS or cell == "-":
        return None if cell == "-" else cell
    if cell.startswith("["):  # an interval or a range: [low,high]
        low, high = cell[1:-1].split(",")
        return (float(low), float(high))
    return float(cell)


def _parse_tables(lines):
    """The printed tables as lists of row dicts (numbers as floats)."""
    tables = {}
    for name, (title, first_word) in TABLES.items():
        start = next(i for i, line in enumerate(lines) if line.startswith(title))
        at = next(
            i for i in range(start + 1, len(lines))
            if lines[i].split()[:1] == [first_word]
        )  # fmt: skip
        header = lines[at].split()
        rows = []
        for line in lines[at + 1 :]:
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
                    column: _cell(column, cell)
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
    assert len(tables["matching"]) == 2 * len(LAYERS)
    assert len(tables["cca"]) == 2 * len(LAYERS)
    assert [row["layer"] for row in tables["grid"]] == [*LAYERS, "kept_b"]


def _by(rows, *keys):
    return {tuple(row[key] for key in keys): row for row in rows}


def _low(value):
    return value[0] if isinstance(value, tuple) else value


def test_summary_names_seeds_and_interval(demo_lines):
    # the summary lists the seeds and how the interval was made
    text = "\n".join(demo_lines)
    assert (
        "trained seeds 0 (net a) and 1 (net b); untrained seeds 1000, 1001, 1002"
        in text
    )
    assert "bootstrap" in text and "covers the choice of images, not of seeds" in text


def test_trained_agree_more_than_every_untrained_net(tables, demo_lines):
    # "Nets a and b agree more than net a does with any of the three
    # untrained nets at every layer, in unit matching (both methods, fit and
    # held-out), in SVCCA and in PWCCA; for SVCCA's fit it is the low end of
    # the 95% interval that clears the highest untrained score."
    matching = _by(tables["matching"], "layer", "method")
    cca = _by(tables["cca"], "layer", "measure")
    for layer in LAYERS:
        for method in ("semi-matching", "matching"):
            row = matching[layer, method]
            assert row["a~b_fit"] > row["chance_fit_range"][1], (layer, method)
            assert row["a~b_held_out"] > row["chance_held_out_range"][1]
        for measure in ("SVCCA", "PWCCA"):
            row = cca[layer, measure]
            fit = row["a~b_fit_95%"] if measure == "SVCCA" else row["a~b_fit"]
            assert _low(fit) > row["chance_fit_range"][1], (layer, measure)
            assert row["a~b_held_out"] > row["chance_held_out_range"][1]
    # the printed summary says the same
    summary = demo_lines[demo_lines.index(next(
        line for line in demo_lines if line.startswith("Summary:")
    )):]  # fmt: skip
    verdicts = [line for line in summary if "above at:" in line]
    assert len(verdicts) == 8
    assert all(line.endswith("above at: every layer") for line in verdicts)


def test_svcca_margin_small_at_relu1_only(tables):
    # "At relu1 that SVCCA margin is under 0.01 (0.739 against 0.736), at
    # every other layer it is over 0.05."
    cca = _by(tables["cca"], "layer", "measure")
    margins = {
        layer: cca[layer, "SVCCA"]["a~b_fit_95%"][0]
        - cca[layer, "SVCCA"]["chance_fit_range"][1]
        for layer in LAYERS
    }
    assert 0 < margins["relu1"] < 0.01
    assert cca["relu1", "SVCCA"]["a~b_fit_95%"][0] == 0.739
    assert cca["relu1", "SVCCA"]["chance_fit_range"][1] == 0.736
    assert all(margins[layer] > 0.05 for layer in LAYERS[1:]), margins


def test_matching_never_exceeds_semi_matching(tables):
    # "One-to-one matching never exceeds semi-matching; the two are equal
    # only at the logits, where every unit's best partner is also its
    # one-to-one partner (overlap 1.000)."
    matching = _by(tables["matching"], "layer", "method")
    for layer in LAYERS:
        one_to_one, semi = matching[layer, "matching"], matching[layer, "semi-matching"]
        for value in ("a~b_fit", "a~b_held_out", "chance_fit", "chance_held_out"):
            assert one_to_one[value] <= semi[value], (value, layer)
        assert (one_to_one["a~b_fit"] == semi["a~b_fit"]) == (layer == "logits")
    assert matching["logits", "matching"]["overlap"] == 1.0


def test_live_loss_grows_with_decay_to_one_half(tables):
    # "Over net b's live units the held-out loss grows with the decay: by
    # less than 0.01 up to 1e-4, then at every step, to within 0.01 of 0.5
    # (no better than the mean) at 0.1."
    for row in tables["sparse"]:
        decays = [column for column in row if column not in ("layer", "live_b")]
        losses = [row[decay] for decay in decays]
        up_to = decays.index("0.0001") + 1
        assert max(losses[:up_to]) - min(losses[:up_to]) < 0.01, row["layer"]
        assert losses[:up_to] == sorted(losses[:up_to]), row["layer"]
        after = losses[up_to - 1 :]
        assert all(b > a for a, b in zip(after, after[1:])), row["layer"]
        assert decays[-1] == "0.1" and abs(losses[-1] - 0.5) < 0.01, row["layer"]
        live, units = map(int, row["live_b"].split("/"))
        assert 0 < live <= units


def test_grid_best_cells_where_few_directions_are_kept(tables):
    # "In the layer x layer grid the best cell of rows relu2 and relu3 is
    # column relu1, where net b keeps the fewest SVD directions of any layer."
    grid = {row["layer"]: row for row in tables["grid"]}
    kept_b = {layer: grid["kept_b"][layer] for layer in LAYERS}
    assert min(kept_b, key=kept_b.get) == "relu1"
    assert sorted(kept_b.values())[0] < sorted(kept_b.values())[1]
    for layer in ("relu2", "relu3"):
        scores = {column: grid[layer][column] for column in LAYERS}
        assert max(scores, key=scores.get) == "relu1", layer
        assert scores["relu1"] > scores[layer]  # beats the diagonal


def test_grid_diagonal_against_its_chance_level(tables):
    # "the diagonal is above its chance cell at relu3, relu4 and the logits,
    # but not at relu1 and relu2, which the per-position table above does
    # separate."
    grid = {row["layer"]: row for row in tables["grid"]}
    chance = {row["layer"]: row for row in tables["chance_grid"]}
    assert [row["layer"] for row in tables["chance_grid"]] == list(LAYERS)
    for layer in LAYERS:
        above = grid[layer][layer] > chance[layer][layer]
        assert above == (layer in ("relu3", "relu4", "logits")), layer
    cca = _by(tables["cca"], "layer", "measure")
    for layer in ("relu1", "relu2"):
        row = cca[layer, "SVCCA"]
        assert _low(row["a~b_held_out"]) > row["chance_held_out_range"][1], layer


def test_dead_units_counted_not_nan(demo_lines, tables):
    # "Dead ReLU units (the most in relu4, in every network) are counted and
    # dropped, never turned into NaN."
    dead = {row["layer"]: row for row in tables["dead"]}
    for column in ("dead_a", "dead_b"):
        most = max(LAYERS, key=lambda layer: dead[layer][column])
        assert most == "relu4", column
    for index in range(3):
        counts = {
            layer: int(dead[layer]["dead_chance"].split("/")[index]) for layer in LAYERS
        }
        assert max(counts, key=counts.get) == "relu4", counts
    for rows in tables.values():
        for row in rows:
            for cell in row.values():
                cells = cell if isinstance(cell, tuple) else (cell,)
                assert not any(isinstance(c, float) and math.isnan(c) for c in cells), (
                    row
                )
    assert any(
        line.endswith("dead (constant) units were dropped or scored 0 (counts above)")
        for line in demo_lines
    )


def test_whole_run_clock(demo_lines):
    # the last progress line times the whole run, figures included
    done = [line for line in demo_lines if "for the whole run" in line]
    assert len(done) == 1 and done[0].startswith("[11/11] done: ")


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
