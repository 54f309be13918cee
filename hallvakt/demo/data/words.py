"""The words the demo facility is made of: Swedish first names, places around
Malmö, sports, forms of club names and room names. Deterministic: the only
randomness is the ``random.Random`` passed in."""

from __future__ import annotations

import random


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(sep))


FIRST_NAMES = _words(
    """
    Anna Erik Maria Lars Karin Johan Sara Anders Emma Mikael Elin Per Ida Fredrik Linnea
    Jonas Maja Ahmed Fatima Ali Leyla Mohammed Amira Omar Zeynep Nils Astrid Oskar Ebba
    Gustav Alva Hugo Saga Viktor Klara Emil Wilma Adam Selma Noah Ella Liam Alice Elias Vera
    Hassan Nour Dragan Milica Tomasz Kasia Björn
    """
)
PLACES = _words(
    """
    Kroksbäck Hyllie Limhamn Bunkeflo Rosengård Husie Oxie Fosie Kirseberg Lindängen Holma
    Bellevue Möllevången Sorgenfri Augustenborg Värnhem Hermodsdal Tygelsjö Klagshamn
    Kulladal Jägersro Höja Lorensborg Malmö Lund Lomma Arlöv Burlöv Vellinge Höllviken
    Skanör Staffanstorp Svedala Trelleborg Landskrona Eslöv Höör Kävlinge Bjärred Ystad
    Skurup Sjöbo Hörby Helsingborg Ängelholm Höganäs Kristianstad Hässleholm Simrishamn
    Tomelilla
    """
)
CLUB_FORMS = _words(
    "IFK {p}|IK {p}|{p} IF|{p} BK|{p} SK|{p} FF|BK {p}|{p} AIS|Team {p}|{p} GoIF", "|"
)
SPORTS = _words(
    """
    Innebandy Basket Handboll Volleyboll Futsal Badminton Gymnastik Bordtennis Judo
    Friidrott Taekwondo Dans
    """
)
CLUB_WORDS = _words(
    """
    Innebandyklubb Basketklubb Handbollsklubb Volleybollklubb Badmintonklubb Judoklubb
    """
)
TEAM_SPORTS = ("Innebandy", "Basket", "Handboll", "Volleyboll", "Futsal")
ROOM_NAMES = _words(
    """
    Dojon Danssalen Styrkerummet Pingisrummet Samlingssalen Gymnastiksalen Brottningsrummet
    Spinningsalen
    """
)


def club_names(rng: random.Random) -> list[str]:
    """Every association name this module can make, in a seeded order."""
    names: list[str] = []
    for p in PLACES:
        names.extend(f"{p} {s}" for s in SPORTS)
        names.extend(f"{p} {w}" for w in CLUB_WORDS)
        names.extend(f"{form.format(p=p)} {s}" for form in CLUB_FORMS for s in SPORTS)
    names = list(dict.fromkeys(names))
    rng.shuffle(names)
    return names
