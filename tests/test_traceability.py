"""specs/ and the scenarios and tests agree: the chain 1.x test -> spec -> scenario holds."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| ([A-Z]+-[A-Z0-9-]+) \| (.+) \| (.+) \| (covered|planned) \|$")
MENTION = re.compile(r"#\s*spec:\s*([A-Z0-9, -]+)")


def _specs() -> dict[str, tuple[str, str]]:
    specs = {}
    for path in sorted((ROOT / "specs").glob("*.md")):
        for line in path.read_text().splitlines():
            match = ROW.match(line)
            if match:
                spec_id, _behaviour, source, status = match.groups()
                assert spec_id not in specs, f"{spec_id} is defined twice"
                specs[spec_id] = (source, status)
    return specs


def _mentions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    files = [*(ROOT / "features").rglob("*.feature"), *(ROOT / "tests").glob("test_*.py")]
    for path in files:
        if path.name == Path(__file__).name:
            continue
        for line in path.read_text().splitlines():
            match = MENTION.search(line)
            if match:
                for spec_id in re.split(r"[,\s]+", match.group(1).strip()):
                    if spec_id:
                        found.setdefault(spec_id, []).append(path.name)
    return found


def test_every_behaviour_names_its_source():
    specs = _specs()
    assert len(specs) > 50
    for spec_id, (source, _status) in specs.items():
        assert "tests/" in source or "§" in source or "new (mlxk)" in source, spec_id


def test_every_scenario_names_a_behaviour_that_exists():
    specs = _specs()
    unknown = sorted(set(_mentions()) - set(specs))
    assert not unknown, f"scenarios name behaviours missing from specs/: {unknown}"


def test_status_matches_the_scenarios():
    specs, mentions = _specs(), _mentions()
    uncovered = [s for s, (_, status) in specs.items() if status == "covered" and s not in mentions]
    stale = [s for s, (_, status) in specs.items() if status == "planned" and s in mentions]
    assert not uncovered, f"marked covered but no scenario or test names them: {uncovered}"
    assert not stale, f"marked planned but a scenario names them: {stale}"


def test_every_scenario_has_a_spec_comment():
    missing = []
    for path in (ROOT / "features").rglob("*.feature"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith(("Scenario:", "Scenario Outline:")):
                following = " ".join(lines[i + 1 : i + 3])
                if "# spec:" not in following:
                    missing.append(f"{path.name}: {line.strip()}")
    assert not missing, missing
