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


def test_every_spec_has_a_scenario():
    planned = [s for s, (_, status) in _specs().items() if status != "covered"]
    assert not planned, f"specs without a scenario: {planned}"


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


# -- citations of 1.x tests (specs/1x-tests.md) -----------------------------------------


def _catalogue() -> dict[int, tuple[list[str], str]]:
    """Behaviour number -> (its 1.x test ids, the reason it is dropped or '')."""
    rows = {}
    for line in (ROOT / "specs" / "1x-tests.md").read_text().splitlines():
        match = re.match(r"^\| (\d+) \| (.*) \| (.*) \|$", line)
        if match:
            ids = re.findall(r"`([^`]+)`", match.group(2))
            rows[int(match.group(1))] = (ids, match.group(3).strip())
    return rows


def _citations(source: str) -> list[str]:
    """The 1.x test ids a spec's source cell cites, made whole (file::Class::test)."""
    cited, file, cls = [], None, None
    for token in re.findall(r"`([^`]+)`", source):
        if token.startswith("tests/"):
            file, _, rest = token.partition("::")
            if not rest:
                cited.append(file)  # a whole file
                continue
            if rest.split("::")[0].startswith("Test"):
                cls = rest.split("::")[0]
            cited.append(f"{file}::{rest}")
        elif token.startswith("::") and file:
            cited.append(f"{file}::{cls}{token}" if cls else f"{file}{token}")
        elif token.split("::")[0].startswith("Test") and "::" in token and file:
            cls = token.split("::")[0]
            cited.append(f"{file}::{token}")
    return cited


def test_every_1x_behaviour_is_traced_or_dropped_and_every_citation_exists(capsys):
    catalogue = _catalogue()
    assert len(catalogue) == 176, "the 1.x catalogue has 176 behaviours"
    known = {test for ids, _ in catalogue.values() for test in ids}
    classes = {test.rsplit("::", 1)[0] for test in known}
    # and the 1.x fixtures' contracts (catalogue Appendix C)
    files = {test.split("::")[0] for test in known} | {"tests/conftest.py"}
    cited: set[str] = set()
    wrong = []
    for spec_id, (source, _status) in _specs().items():
        for test in _citations(source):
            if "::" not in test:
                exists = test in files
            elif test.endswith("::*"):
                exists = test.rsplit("::", 1)[0] in classes
            else:
                exists = test in known
            if not exists:
                wrong.append(f"{spec_id} cites {test}")
            cited.add(test)
    assert not wrong, wrong

    def traced(ids: list[str]) -> bool:
        return any(
            t in cited or f"{t.rsplit('::', 1)[0]}::*" in cited or t.split("::")[0] in cited
            for t in ids
        )

    dropped = [n for n, (_, reason) in catalogue.items() if reason]
    untraced = [n for n, (ids, reason) in catalogue.items() if not traced(ids) and not reason]
    with capsys.disabled():
        print(
            f"\n1.x behaviours: {len(catalogue) - len(dropped) - len(untraced)} traced,"
            f" {len(dropped)} dropped with a reason, {len(untraced)} neither"
        )
    assert not untraced, f"1.x behaviours neither traced nor dropped: {untraced}"
