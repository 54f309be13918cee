"""central.toml's ``[evidence]`` and ``[municipalities.*]``: grant rule, retention, strikes.

Rules this module guarantees:
- ``[evidence]`` holds the defaults for every facility: the activity-grant
  rule (``[evidence.grant]``, the national LOK-stöd rule when absent), how many
  years evidence is kept, the no-show strikes that flag an association in a
  season, the claims check's time tolerance and its place names.
- ``[municipalities.KEY]`` names a municipality as the facility records do
  (``facility.municipality``) and may set its own grant rule (its absent keys
  take the national rule's values, not ``[evidence.grant]``'s: a local rule is
  written out whole or starts from the national one), retention and strike
  threshold. ``Evidence.for_municipality`` picks the settings of a facility.
- Keep ``keep_years`` at 3 or more: associations must be able to show their
  attendance records for three years (docs/privacy.md), and a claim can only be
  checked against evidence still kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated

from firmware_config.schema import Optional as Opt
from firmware_config.schema import Required, table
from firmware_config.validators import Int, MapOf, Text

from .rules import GrantRule

PLACE_TARGET = Text(
    r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._:@-]{0,127})?",
    "a facility id, or facility/resource",
)


@table(
    "What central makes of the nodes' events: grant rule, retention, strikes and the"
    " claims check (docs/reports.md)."
)
@dataclass(frozen=True, slots=True)
class EvidenceDefaults:
    grant: Annotated[GrantRule, Opt({}, "the activity-grant rule")] = field(
        default_factory=GrantRule
    )
    keep_years: Annotated[
        int,
        Int(1, 30),
        Opt(
            4,
            "keep a session's evidence through the end of the year it took place plus this"
            " many years (docs/privacy.md)",
        ),
    ] = 4
    strike_threshold: Annotated[
        int,
        Int(1, 100),
        Opt(3, "no-shows in one reporting period that flag an association on the no-shows report"),
    ] = 3
    claim_tolerance_minutes: Annotated[
        int,
        Int(0, 180),
        Opt(15, "a claimed session matches a booking it lies inside, widened by this at both ends"),
    ] = 15
    places: Annotated[
        Mapping[str, str],
        MapOf(Text(max_len=200), PLACE_TARGET),
        Opt(
            {},
            "place names in claims files -> facility id or facility/resource"
            " (names of facilities and resources match without this)",
        ),
    ] = field(default_factory=lambda: MappingProxyType({}))


@table("One municipality's own settings; a facility belongs to the municipality its record names.")
@dataclass(frozen=True, slots=True)
class Municipality:
    name: Annotated[
        str,
        Text(r".{1,200}", "a name"),
        Required("the municipality as facility records name it (facility.municipality)", "Malmö"),
    ]
    grant: Annotated[GrantRule | None, Opt(None, "this municipality's own grant rule")] = None
    keep_years: Annotated[
        int | None, Int(1, 30), Opt(None, "this municipality's retention (else [evidence])")
    ] = None
    strike_threshold: Annotated[
        int | None, Int(1, 100), Opt(None, "this municipality's strike threshold")
    ] = None


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings one facility's evidence is judged and kept by."""

    grant: GrantRule
    keep_years: int
    strike_threshold: int
    claim_tolerance_minutes: int
    places: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Evidence:
    """``[evidence]`` and ``[municipalities]`` together."""

    defaults: EvidenceDefaults = field(default_factory=EvidenceDefaults)
    municipalities: Mapping[str, Municipality] = field(default_factory=lambda: MappingProxyType({}))

    def for_municipality(self, name: str) -> Settings:
        """The settings of facilities whose record names municipality ``name``."""
        d = self.defaults
        m = next((m for m in self.municipalities.values() if m.name == name), None)
        return Settings(
            d.grant if m is None or m.grant is None else m.grant,
            d.keep_years if m is None or m.keep_years is None else m.keep_years,
            d.strike_threshold if m is None or m.strike_threshold is None else m.strike_threshold,
            d.claim_tolerance_minutes,
            d.places,
        )
