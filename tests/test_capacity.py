"""docs/CAPACITY.md is what `benchmarks/capacity.py --markdown` makes of BENCHMARKS.md today."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- capacity.py --markdown -->\n(.*?)\n<!-- end -->", re.DOTALL)


def _run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "capacity.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_capacity_page_is_the_scripts_output_for_todays_figures() -> None:
    page = (ROOT / "docs" / "CAPACITY.md").read_text(encoding="utf-8")
    block = BLOCK.search(page)
    assert block is not None, "docs/CAPACITY.md lost its generated block"
    assert block.group(1).strip() == _run("--markdown"), "regenerate: python benchmarks/capacity.py --markdown"


def test_the_model_moves_with_its_inputs(tmp_path: Path) -> None:
    base = dict(pair.split("=") for pair in _run().splitlines()[-1].removeprefix("capacity: ").split())
    half = dict(pair.split("=") for pair in _run("--tickers", "5000").splitlines()[-1].removeprefix("capacity: ").split())
    assert int(base["llm_rpm"]) == 667 and abs(int(half["llm_rpm"]) * 2 - int(base["llm_rpm"])) <= 1
    slower = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8") + "\n```\nsweep: marginal_ms_per_ticker=2000\n```\n"
    (tmp_path / "B.md").write_text(slower, encoding="utf-8")
    heavier = _run("--benchmarks", str(tmp_path / "B.md")).splitlines()[-1]
    assert int(re.search(r"collector_nodes=(\d+)", heavier).group(1)) > int(base["collector_nodes"])


def test_a_missing_figure_is_named(tmp_path: Path) -> None:
    (tmp_path / "B.md").write_text("store: bulk=15000/s\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "capacity.py"), "--benchmarks", str(tmp_path / "B.md")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "no `sweep: … marginal_ms_per_ticker=…` line" in result.stderr
