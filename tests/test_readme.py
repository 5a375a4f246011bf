"""The README says what the program does: its Troubleshooting "Flags" section against the real command line,
and its test command against what CI runs."""

from __future__ import annotations

import re

import pytest
from conftest import REPO, run_cli

README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the README section whose heading is ``title`` (up to the next heading)."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#)", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def template(text: str) -> re.Pattern:
    """A message as the README writes it (… for the user's values) as a pattern for the real line."""
    return re.compile(".+".join(re.escape(part) for part in text.split("…")) + "$")


FLAGS = section("Flags (exit status 2)")
# The forms the section's introduction gives, e.g. `instance_segmentation.py: error: argument …: … (see --help)`.
FORMS = [template(form) for form in re.findall(r"`(instance_segmentation\.py: error: [^`]*)`", FLAGS)]


def test_the_flags_section_gives_the_line_format() -> None:
    assert FORMS, "the Flags section says what the error line looks like"
    intro = FLAGS.split("|")[0]
    assert re.search(r"\bone line\b", intro, re.I), "it says one line is printed"
    assert "usage" not in re.sub(r"no usage block", "", intro, flags=re.I).lower(), "and no usage block before it"


@pytest.mark.parametrize("flags", [["--kernel", "4"], ["--confidence", "2"], ["--width", "-3"],
                                   ["--backend", "yolo"], ["--color", "red"], ["--bogus"],
                                   ["--input", "0", "--effect", "image"]])
def test_a_bad_flag_prints_what_the_readme_says(flags: list[str]) -> None:
    result = run_cli(*flags)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"one line, as the README says, not a usage block: {result.stderr}"
    assert any(form.match(lines[0]) for form in FORMS), f"{lines[0]!r} has none of the README's forms"
    # ...and the table has a row for it.
    messages = re.findall(r"^\| `([^`]+)`", FLAGS, re.M)
    detail = lines[0].removeprefix("instance_segmentation.py: error: ").removesuffix(" (see --help)")
    assert any(template(message).match(detail) or template(message + "…").match(detail) for message in messages), (
        f"no row of the README's Flags table for {detail!r}")


def test_the_readme_test_command_is_what_ci_runs() -> None:
    tests = section("Tests")
    assert "python -m pytest -q\n" in tests
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^python -m pytest -q\b", ci, re.M), ".ci/run runs the README's command"
    assert "export CI=true" in ci
