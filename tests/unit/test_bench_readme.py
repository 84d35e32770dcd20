"""The README's Speed table is the one bench/results/latest.json makes (`python -m bench --update-readme`)."""

from __future__ import annotations

import json

from bench.__main__ import README, README_TABLE, RESULTS, readme_table


def test_the_readme_speed_table_is_written_from_the_latest_bench_results():
    report = json.loads(RESULTS.read_text())
    block = README_TABLE.search(README.read_text())
    assert block, "README.md lost its <!-- bench-table --> block"
    assert block.group(2) == readme_table(report), "run `python -m bench --update-readme` (or `make bench`)"
