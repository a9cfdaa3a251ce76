"""docs/verification.md holds the Robustness tables exactly as the fuzzers' JSON gives them."""

from pathlib import Path

from tinyeie.sim.robustness import FIGURES, per_command, table


def test_the_docs_table_is_the_measured_one():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "verification.md").read_text()
    assert table(FIGURES) in doc
    assert per_command(FIGURES) in doc
