"""The markers tell the truth: `integration` is on exactly the tests that use DynamoDB Local,
`browser` on exactly those that drive Chromium, and nothing under tests/unit/ needs either.
So `pytest -m "not integration"` starts no emulator, and a new test is never silently slow.

It checks every test of the run it is part of (`make test`: the whole suite)."""

from __future__ import annotations

import pytest

REQUIRES = {"integration": "dynamodb", "browser": "browser"}


def marker_problems(items: list[pytest.Item]) -> list[str]:
    problems = []
    for item in items:
        markers = {marker.name for marker in item.iter_markers()}
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker, fixture in REQUIRES.items():
            if fixture in fixtures and marker not in markers:
                problems.append(f"{item.nodeid}: uses `{fixture}` but is not marked `{marker}`")
            if marker in markers and fixture not in fixtures:
                problems.append(
                    f"{item.nodeid}: marked `{marker}` but uses no `{fixture}` fixture "
                    "(the marker follows from the fixtures: remove it)"
                )
        if item.nodeid.startswith("tests/unit/") and markers & set(REQUIRES):
            problems.append(f"{item.nodeid}: a unit test needs DynamoDB Local or Chromium")
    return problems


def test_markers_match_the_fixtures_each_test_uses(request: pytest.FixtureRequest) -> None:
    assert marker_problems(request.session.items) == []


def test_the_check_catches_a_dishonest_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_example="""
        import pytest

        @pytest.mark.integration
        def test_claims_dynamodb():
            pass

        def test_hides_a_browser(browser):
            pass

        @pytest.fixture
        def browser():
            return None
        """
    )
    items, _ = pytester.inline_genitems()
    assert marker_problems(items) == [
        "test_example.py::test_claims_dynamodb: marked `integration` but uses no `dynamodb` "
        "fixture (the marker follows from the fixtures: remove it)",
        "test_example.py::test_hides_a_browser: uses `browser` but is not marked `browser`",
    ]
