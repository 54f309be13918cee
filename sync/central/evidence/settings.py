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

from firmware_config.schema import Invalid, ListOf, MapOf, Required, Table
from firmware_config.schema import Optional as Opt
from firmware_config.validators import Bool, Int, Text

from .rules import NATIONAL_NAME, NATIONAL_PERIODS, GrantRule, check_periods

PLACE_TARGET = Text(
    r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._:@-]{0,127})?",
    "a facility id, or facility/resource",
)


def _periods(value: tuple[str, ...]) -> tuple[str, ...]:
    check_periods(value)  # raises ValueError -> Invalid with its words
    return value


GRANT = Table(
    GrantRule,
    {
        Opt("name", NATIONAL_NAME, "the rule's name, printed on reports"): Text(max_len=120),
        Opt("min_minutes", 45, "an activity lasts at least this many minutes"): Int(1, 600),
        Opt("min_participants", 3, "at least this many participants"): Int(0, 1000),
        Opt(
            "participants_include_leaders",
            False,
            "true: the minimum counts the leaders too (a local rule like 5 including the leader)",
        ): Bool(),
        Opt("max_participants", 0, "count at most this many participants (0: no cap)"): Int(
            0, 10_000
        ),
        Opt("max_per_leader", 20, "count at most this many per leader (0: no cap)"): Int(0, 1000),
        Opt("leader_required", True, "a leader must be present"): Bool(),
        Opt("min_age", 7, "participants' lowest age (stated; not judged)"): Int(0, 120),
        Opt("max_age", 25, "participants' highest age (stated; not judged)"): Int(0, 120),
        Opt(
            "one_session_per_day",
            True,
            "a participant counts once a day (stated; heads are not persons: not judged)",
        ): Bool(),
        Opt(
            "periods",
            list(NATIONAL_PERIODS),
            "reporting periods, `MM-DD..MM-DD`, covering the year",
        ): ListOf(Text(r"\d{2}-\d{2}\.\.\d{2}-\d{2}", "MM-DD..MM-DD"), min_len=1).then(
            _periods, "array of `MM-DD..MM-DD` covering the year"
        ),
    },
    doc="An activity-grant rule. Absent keys take the national LOK-stöd rule in force since"
    " 1 July 2023 (docs/reports.md, with sources).",
)


@dataclass(frozen=True, slots=True)
class EvidenceDefaults:
    grant: GrantRule = field(default_factory=GrantRule)
    keep_years: int = 4
    strike_threshold: int = 3
    claim_tolerance_minutes: int = 15
    places: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Municipality:
    name: str
    grant: GrantRule | None = None
    keep_years: int | None = None
    strike_threshold: int | None = None


EVIDENCE = Table(
    EvidenceDefaults,
    {
        Opt("grant", {}, "the activity-grant rule"): GRANT,
        Opt(
            "keep_years",
            4,
            "keep a session's evidence through the end of the year it took place plus this"
            " many years (docs/privacy.md)",
        ): Int(1, 30),
        Opt(
            "strike_threshold",
            3,
            "no-shows in one reporting period that flag an association on the no-shows report",
        ): Int(1, 100),
        Opt(
            "claim_tolerance_minutes",
            15,
            "a claimed session matches a booking it lies inside, widened by this at both ends",
        ): Int(0, 180),
        Opt(
            "places",
            {},
            "place names in claims files -> facility id or facility/resource"
            " (names of facilities and resources match without this)",
        ): MapOf(Text(max_len=200), PLACE_TARGET),
    },
    doc="What central makes of the nodes' events: grant rule, retention, strikes and the"
    " claims check (docs/reports.md).",
)

MUNICIPALITY = Table(
    Municipality,
    {
        Required(
            "name", "the municipality as facility records name it (facility.municipality)", "Malmö"
        ): Text(r".{1,200}", "a name"),
        Opt("grant", None, "this municipality's own grant rule"): GRANT,
        Opt("keep_years", None, "this municipality's retention (else [evidence])"): Int(1, 30),
        Opt("strike_threshold", None, "this municipality's strike threshold"): Int(1, 100),
    },
    doc="One municipality's own settings; a facility belongs to the municipality its record names.",
)

MUNICIPALITIES = MapOf(Text(r"[a-z0-9][a-z0-9_-]{0,63}", "a key (a-z 0-9 _ -)"), MUNICIPALITY)


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


def check_unique_names(municipalities: Mapping[str, Municipality]) -> None:
    """Raise ``Invalid`` when two municipality tables name the same municipality."""
    seen: dict[str, str] = {}
    for key, m in municipalities.items():
        if m.name in seen:
            raise Invalid(f"{seen[m.name]!r} and {key!r} both name {m.name!r}")
        seen[m.name] = key
