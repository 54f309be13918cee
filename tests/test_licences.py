"""Hallvakt is EUPL-1.2, and every package it runs on has a licence that fits.

- LICENSE is the EUPL 1.2; pyproject and REUSE.toml say EUPL-1.2 for the whole.
- The packages pip installs for ``hallvakt`` (the whole chain, read from the
  installed metadata) are exactly the rows of docs/operations.md "Licence";
  each row's licence is one the EUPL-1.2 work can use (permissive, or MPL-2.0
  and the LGPL, copyleft licences on the EUPL's own list of compatible
  licences, its Appendix, that bind only the library itself), and agrees
  with what the package itself declares (for a dual licence, the table names
  the one Hallvakt takes).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
COMPATIBLE = {
    "MIT",
    "MIT-0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "Apache-2.0",
    "MPL-2.0",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "PSF-2.0",
    "LicenseRef-Public-Domain",
    "0BSD",
    "Zlib",
    "CC0-1.0",
    "MIT-CMU",
}
FAMILIES = {
    "MIT": r"\bMIT\b",
    "BSD": r"\bBSD\b",
    "Apache": r"\bApache\b",
    "MPL": r"\bMPL\b|Mozilla Public",
    "EPL": r"\bEPL\b|Eclipse Public",
    "PD": r"Public[- ]Domain",
    "PSF": r"\bPSF\b|Python Software Foundation",
    "LGPL": r"\bLGPL\b|Lesser General Public",
    "GPL": r"\bGPL\b|(?<!Lesser )General Public",
}


def families(text: str) -> set[str]:
    return {name for name, pattern in FAMILIES.items() if re.search(pattern, text, re.I)}


def declared(dist: md.Distribution) -> str:
    """What a distribution says of its licence: the SPDX expression, else the
    License field and the licence classifiers."""
    meta = dist.metadata
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return meta.get("License-Expression") or " ".join([meta.get("License") or "", *classifiers])


def runtime_closure() -> dict[str, md.Distribution]:
    """Every distribution pip installs for hallvakt (no extras), by normalised name."""
    found: dict[str, md.Distribution] = {}
    todo = ["hallvakt"]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        dist = md.distribution(name)
        found[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    del found["hallvakt"]
    return found


def table() -> dict[str, str]:
    """docs/operations.md "Licence": package -> licence."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("## 9. Licence") :]
    rows = re.findall(r"^\| ([a-z0-9-]+) \| ([^|]+) \|", section, re.M)
    return {name: licence.strip() for name, licence in rows if name != "package"}


def test_hallvakt_is_eupl() -> None:
    assert (
        (ROOT / "LICENSE")
        .read_text(encoding="utf-8")
        .startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2\nEUPL © the European Union 2007, 2016")
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "EUPL-1.2" and project["license-files"] == ["LICENSE"]
    reuse = tomllib.loads((ROOT / "REUSE.toml").read_text(encoding="utf-8"))
    [whole] = reuse["annotations"]
    assert whole["path"] == "**" and whole["SPDX-License-Identifier"] == "EUPL-1.2"
    assert md.distribution("hallvakt").metadata["License-Expression"] == "EUPL-1.2"
    # REUSE keeps each licence's text under LICENSES/, named by its identifier
    assert (ROOT / "LICENSES" / "EUPL-1.2.txt").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_every_package_hallvakt_runs_on_is_listed_with_a_licence_that_fits() -> None:
    installed = runtime_closure()
    listed = table()
    assert sorted(listed) == sorted(installed), "docs/operations.md Licence: add or drop rows"
    for name, licence in listed.items():
        for option in licence.split(" OR "):  # one option fits when all its AND parts do
            parts = set(option.split(" AND "))
            assert parts <= COMPATIBLE, f"{name}: {licence} is not known to fit EUPL-1.2"
        said = declared(installed[name])
        assert families(licence) and families(licence) <= families(said), (name, licence, said)


def test_the_check_knows_a_licence_that_does_not_fit() -> None:
    """The comparison above can fail: a GPL package, or a row that says MIT for
    a package that declares Apache-2.0."""
    assert not {"GPL-3.0-only"} <= COMPATIBLE
    assert not families("LGPL-3.0-only") <= families("GNU General Public License v3")
    assert not families("MIT") <= families("Apache Software License")
    assert families("BSD-3-Clause") <= families("EPL-2.0 OR BSD-3-Clause")
