"""The documentation in docs/ is self-contained and agrees with the code.

- No tracked file cites a document or path outside the repository.
- Every ``docs/*.md`` that a tracked file cites exists, and so does every cited section of
  docs/algorithms.md (``§N``).
- The checksum table of docs/data.md is the catalog's, file for file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from fgsam.data.catalog import CATALOG

REPO = Path(__file__).resolve().parents[1]

#: Citations of things outside the repository (documents that lived beside it, machine paths).
OUTSIDE = ["../shared", "shared/docs", "/work/", "ALGORITHMS.md", "PROTOCOLS.md", "DESIGN.md"]

#: Tracked files allowed to name an outside path, and why.
ALLOWED = {
    "tests/test_docs.py": "this test names the patterns it looks for",
    ".ci/run": "CI's own data root on the CI machine, a location rather than a citation",
}


def tracked_texts() -> dict[str, str]:
    """Every tracked file that exists and decodes as UTF-8: path -> text."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    texts = {}
    for name in filter(None, names):
        path = REPO / name
        if path.is_file():
            try:
                texts[name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


def test_no_tracked_file_cites_a_path_outside_the_repository() -> None:
    offences = [f"{name}:{text.count(chr(10), 0, text.find(p)) + 1}: {p}"
                for name, text in tracked_texts().items() if name not in ALLOWED
                for p in OUTSIDE if p in text]
    assert not offences, "citations outside the repository:\n" + "\n".join(offences)


def test_cited_docs_and_sections_exist() -> None:
    texts = tracked_texts()
    missing = []
    for name, text in texts.items():
        missing += [f"{name}: {doc}" for doc in set(re.findall(r"docs/[\w-]+\.md", text))
                    if not (REPO / doc).is_file()]
    sections = set(re.findall(r"^## (§\d+)", (REPO / "docs/algorithms.md").read_text(), re.M))
    for name, text in texts.items():
        cited = re.findall(r"docs/algorithms\.md\s+(§\d+)", text)
        missing += [f"{name}: docs/algorithms.md {s}" for s in set(cited) - sections]
    assert not missing, "cited but missing:\n" + "\n".join(sorted(missing))


def test_data_doc_lists_the_catalog_checksums() -> None:
    row = re.compile(r"^\| ([\w-]+) \| `([^`]+)` \| (?:`([0-9a-f]{64})`|not checked[^|]*) \|$",
                     re.M)
    documented = {m.groups() for m in row.finditer((REPO / "docs/data.md").read_text())}
    catalog = {(info.name, c.path, c.sha256) for info in CATALOG for f in info.files
               for c in f.candidates()}
    assert documented == catalog
