"""The README's benchmark tables are what the recorded run gives.

``python -m bench --readme`` writes them from ``bench/recorded/latest.json``;
this checks, without running any benchmark, that nobody edited a table by
hand or recorded a new run without regenerating the README.
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import readme  # noqa: E402


@pytest.fixture(scope="module")
def readme_text():
    with open(readme.README, encoding="utf-8") as f:
        return f.read()


def test_readme_has_every_generated_section(readme_text):
    assert set(readme.sections_in(readme_text)) == set(readme.SECTIONS)


@pytest.mark.parametrize("name", sorted(readme.SECTIONS))
def test_section_is_what_the_record_gives(readme_text, name):
    expected = readme.render_sections(readme.load_record())[name]
    assert readme.sections_in(readme_text).get(name) == expected, (
        f"README section bench:{name} differs from bench/recorded/latest.json:"
        f" run python -m bench --readme")


def test_record_is_one_full_run():
    """Not a --quick run, and every table's workloads came from it."""
    rec = readme.load_record()
    assert not rec["config"]["quick"]
    assert set(rec["workloads"]) == set(rec["config"]["workloads"])
