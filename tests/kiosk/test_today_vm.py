"""The Today view-model: a divisible hall shown as such, public titles only,
now/next, free walk-in slots, and the offline/stale banner with the data's age."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from door_controller.testing import FakeClock
from kiosk import texts
from kiosk.i18n import translator
from kiosk.model import KioskModel
from kiosk.services import Services
from kiosk.today import build_today

from .conftest import T0

H = timedelta(hours=1)


def test_halls_sections_public_titles_now_and_next(svc: Services, site: Any) -> None:
    ops = [
        site.upsert("booking", site.booking("b1", ["hall"], T0 - H, T0 + H / 2, holder="ik-fram")),
        site.upsert("booking", site.booking("b2", ["gym"], T0 + 2 * H, T0 + 3 * H, holder="anna")),
        site.upsert(
            "booking", site.booking("b3", ["C"], T0 + 2 * H, T0 + 3 * H, title="Seniorgympa")
        ),
    ]
    site.apply(svc.rep, site.changes(2, 3, *ops))
    view = build_today(svc.rep, svc.node_id, T0)
    assert [(r.resource, r.level) for r in view.rows] == [
        ("hall", 0), ("A", 1), ("B", 1), ("C", 1), ("gym", 0),
    ]  # fmt: skip
    a = view.row("A")
    assert a.parent_name == "Stora hallen" and a.now is not None and a.now.via_hall
    assert a.now.label == "IK Fram" and a.next is None
    gym = view.row("gym")
    assert gym.next is not None and gym.next.label == ""  # a person is never named
    assert "Anna" not in texts.today_speech(translator("sv"), view)
    assert view.row("C").next is not None and view.row("C").next.label == "Seniorgympa"
    # The whole-hall booking blocks the sections' first slot until 12:30 local.
    assert a.free[0].start == T0 + H / 2
    assert view.row("C").free == () and not view.row("hall").free
    sv = translator("sv")
    assert texts.row_title(sv, a) == "Sektion A (del av Stora hallen)"
    assert "(hela hallen)" in texts.entry_text(sv, a.now)


def test_banner_offline_stale_never(svc: Services, kclock: FakeClock) -> None:
    sv, en = translator("sv"), translator("en")
    assert build_today(svc.rep, svc.node_id, T0).health.level == "ok"
    offline = build_today(svc.rep, svc.node_id, T0 + 2 * H).health
    assert offline.level == "offline" and offline.age == 2 * H
    assert "2 timmar" in (texts.banner_text(sv, offline) or "")
    stale = build_today(svc.rep, svc.node_id, T0 + 73 * H).health
    assert stale.level == "stale"
    assert "3 days" in (texts.banner_text(en, stale) or "")
    kclock.advance(2 * 3600)
    model = KioskModel(svc)
    assert model.today.health.level == "offline"
    svc.rep.record_head(2, 1, kclock.now())
    assert model.tick() and model.today.health.level == "ok"  # noticed at the next poll
