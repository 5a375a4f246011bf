"""The README and docs/ say what the program does: every command they show parses, every flag is documented
(and every documented flag exists), the troubleshooting "Flags" section matches the real error lines, and the
README's test command is what CI runs."""

from __future__ import annotations

import re
import shlex

import pytest
from conftest import REPO, run_cli

from privacy_filter.app import cli

README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = {path.name: path.read_text(encoding="utf-8") for path in sorted((REPO / "docs").glob("*.md"))}
TROUBLESHOOTING = DOCS["troubleshooting.md"]


def section(title: str, text: str = README) -> str:
    """The text of the section whose heading is ``title`` (up to the next heading)."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#)", text, re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(1)


def template(text: str) -> re.Pattern:
    """A message as the README writes it (… for the user's values) as a pattern for the real line."""
    return re.compile(".+".join(re.escape(part) for part in text.split("…")) + "$")


FLAGS = section("Flags (exit status 2)", TROUBLESHOOTING)
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


def shown_commands() -> list[tuple[str, list[str]]]:
    """Every ``python instance_segmentation.py …`` / ``privacy-filter …`` command in a code block of the README
    or docs/: (where, its arguments)."""
    found = []
    for name, text in {"README.md": README, **DOCS}.items():
        for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S):
            for line in block.splitlines():
                command = line.split("  #")[0].strip()
                match = re.match(r"^(?:python3? instance_segmentation\.py|privacy-filter)(\s.*)?$", command)
                if match:
                    found.append((name, shlex.split(match.group(1) or "")))
    return found


def test_the_docs_show_commands() -> None:
    assert len(shown_commands()) >= 8


@pytest.mark.parametrize(("where", "arguments"), shown_commands(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_command_the_docs_show_parses(where: str, arguments: list[str]) -> None:
    try:
        cli.parse_args(arguments)
    except SystemExit as exc:
        pytest.fail(f"{where}: `{' '.join(arguments)}` is refused by the command line (exit {exc.code})")


def help_flags() -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", run_cli("--help").stdout)) - {"--help"}


def test_every_flag_is_in_docs_flags_and_every_documented_flag_exists() -> None:
    documented = set(re.findall(r"`(?:-\w, )?(--[a-z][a-z0-9-]+)", DOCS["flags.md"]))
    real = help_flags()
    assert real - documented == set(), "flags missing from docs/flags.md"
    assert documented - real == set(), "docs/flags.md documents flags the program does not have"


def test_the_readme_flags_exist() -> None:
    shown = set(re.findall(r"`(?:-\w, )?(--[a-z][a-z0-9-]+)", section("The main flags")))
    assert shown and shown <= help_flags()


def test_every_doc_the_readme_links_exists() -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (REPO / target).exists(), f"README links to {target}, which does not exist"
