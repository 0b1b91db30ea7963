"""Issue 14: the README a newcomer follows. Its in-page links (the table of contents included) land on
headings as GitHub slugs them, its links to files work in a clone, and its cost figures are what
`wsctl cost` prints."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def _outside_code(text: str) -> str:
    """The README without fenced or indented code blocks (a `#` there is no heading)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return "\n".join(line for line in text.splitlines() if not line.startswith("    "))


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower-case, punctuation dropped, spaces to '-'."""
    text = heading.strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _headings() -> list[tuple[int, str]]:
    return [(len(m.group(1)), m.group(2)) for m in re.finditer(r"^(#{1,6}) (.+)$", _outside_code(README), re.MULTILINE)]


def _anchors() -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for _, title in _headings():
        slug = github_slug(title)
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links() -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _outside_code(README))


def test_github_slug_follows_githubs_rules() -> None:
    assert github_slug("Smoke test: `wsctl smoke`") == "smoke-test-wsctl-smoke"
    assert github_slug("Bring your own Lambda (Terraform-managed, say)") == "bring-your-own-lambda-terraform-managed-say"
    assert github_slug("Two functions, one asset") == "two-functions-one-asset"
    assert github_slug("The Invoke API and `--outputs-file`") == "the-invoke-api-and---outputs-file"


def test_every_in_page_link_lands_on_a_heading() -> None:
    anchors = _anchors()
    missing = sorted({link for link in _links() if link.startswith("#") and link[1:] not in anchors})
    assert not missing, missing


def test_the_contents_link_every_top_level_section() -> None:
    start = README.index("## Contents")
    contents = README[start:README.index("\n## ", start + 1)]
    linked = set(re.findall(r"\]\(#([^)]+)\)", contents))
    sections = {github_slug(title) for level, title in _headings() if level == 2 and title != "Contents"}
    assert sections - linked == set(), sections - linked


def test_links_to_files_work_in_a_clone() -> None:
    for link in _links():
        if link.startswith(("#", "http://", "https://")):
            continue
        path = link.split("#", 1)[0]
        assert not path.startswith("../"), f"{link}: a clone has nothing outside the repository"
        assert (ROOT / path).exists(), link
        if "#" in link and path.endswith(".md"):
            other = (ROOT / path).read_text("utf-8")
            slugs = {github_slug(m) for m in re.findall(r"^#{1,6} (.+)$", _outside_code(other), re.MULTILINE)}
            assert link.split("#", 1)[1] in slugs, link


def test_no_word_a_stranger_cannot_know() -> None:
    assert "CareConnect" not in README
    assert "../shared" not in README
    # "seed" only as the quoted name of the guide this project replaces (wsctl cost prints it).
    for match in re.finditer(r"\bseed\b", README):
        assert README[match.start() - 1] == '"' or README[match.start():match.start() + 10] == "seed guide", \
            README[match.start() - 80:match.end() + 40]


def test_management_api_methods_is_one_row_of_the_function_settings() -> None:
    start = README.index("### Function settings")
    table = README[start:README.index("\n### ", start + 1)]
    assert len(re.findall(r"^\| `MANAGEMENT_API_METHODS` \|", table, re.MULTILINE)) == 1


COST_EXAMPLES = re.findall(r"^(\.venv/bin/wsctl cost [^\n#]+?)\s+# (\$[\d,.]+)/month$", README, re.MULTILINE)


def test_the_readme_shows_cost_examples() -> None:
    assert len(COST_EXAMPLES) >= 2, "README.md lost its `.venv/bin/wsctl cost ... # $X/month` lines"


@pytest.mark.parametrize(("command", "monthly"), COST_EXAMPLES)
def test_cost_examples_print_the_readmes_total(command: str, monthly: str) -> None:
    wsctl = Path(sys.executable).parent / "wsctl"
    args = command.split()[1:]
    result = subprocess.run([str(wsctl), *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    (total,) = re.findall(r"^Total\s+\$[\d.]+\s+\$([\d.]+)$", result.stdout, re.MULTILINE)
    assert f"${float(total):,.2f}" == monthly, result.stdout


def test_the_printed_cost_table_is_what_wsctl_cost_prints() -> None:
    ((command, shown),) = re.findall(r"^```text\n\$ (\.venv/bin/wsctl cost [^\n]+)\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    result = subprocess.run([str(Path(sys.executable).parent / "wsctl"), *command.split()[1:]], cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=60)
    assert shown.strip() == result.stdout.strip()
