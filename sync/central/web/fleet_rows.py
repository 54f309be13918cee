"""The fleet table's rows as HTML, written in Python for speed.

The fleet page shows every node, 2,000 or more, in one request, and must
render in under 300 ms (bench/web_fleet.py): through Jinja2 the rows alone
took 200–290 ms on this machine, here they take a fraction of that. The rest
of the page stays a template (_fleet_rows.html includes this as markup).

Rules this module guarantees:
- Every value from the store passes ``markupsafe.escape`` before it is
  written: node and facility ids, names, device ids and states (the same
  escaping the templates' autoescape applies, tested by the HTML injection
  tests).
- The markup is the one the template wrote before (same columns, classes,
  ids and words), so the page, its script and its tests did not change.
- Counts are written in the page's language (``numbers``: "1 234" in Swedish).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from .fleet import NodeRow


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def rows_html(rows: Sequence[NodeRow], w: Mapping[str, Any], ago: Callable[[int], str]) -> Markup:
    """The ``<tr>`` of every row (module rules); ``w`` the page's translated words."""
    num: Callable[[int], str] = w["count"]  # numbers.Numbers.count of the page's language
    doors: Mapping[str, str] = w["doors"]
    door_class: Mapping[str, str] = w["door_class"]
    problems: Mapping[str, str] = w["problems"]
    e = escape
    out: list[str] = []
    add = out.append
    for r in rows:
        node, fac = e(r.node), e(r.facility)
        add(f'<tr id="node-{node}"' + (' class="problem">' if r.problems else ">"))
        add(f'<th scope="row"><a href="/nodes/{node}">{node}</a></th>')
        add(f'<td><a href="/facilities/{fac}">{e(r.facility_name)}</a></td>')
        if r.online:
            add(f'<td><span class="badge ok">{w["online"]}</span></td>')
        else:
            add(f'<td><span class="badge bad">{w["offline"]}</span></td>')
        if r.last_heard is None:
            add(f"<td>{w['never']}</td>")
        else:
            add(f'<td><time datetime="{_iso(r.last_heard)}">{e(ago(r.last_heard))}</time></td>')
        add(f'<td class="num">{num(r.lag)}</td>')
        add(f'<td class="num">{"–" if r.backlog is None else num(r.backlog)}</td>')
        if r.clock_trusted is None:
            add(f'<td><span class="muted">{w["unknown"]}</span></td>')
        elif r.clock_trusted:
            add(f'<td><span class="badge ok">{w["trusted"]}</span></td>')
        else:
            add(f'<td><span class="badge bad">{w["untrusted"]}</span></td>')
        if r.readers:
            cell = f"{num(r.readers_online)} / {num(len(r.readers))}"
            for d in r.readers:
                if d.state != "online":
                    cell += f' <span class="badge bad">{e(d.id)} {w["reader_offline"]}</span>'
            for t in r.tampered:
                cell += f' <span class="badge bad">{e(t)} {w["tamper"]}</span>'
            add(f"<td>{cell}</td>")
        else:
            add(f'<td><span class="muted">{w["not_reported"]}</span></td>')
        if r.doors:
            add(
                "<td>"
                + "".join(
                    f'<span class="door">{e(d.id)}: <span class="badge'
                    f' {door_class.get(d.state, "ok")}">{e(doors.get(d.state, d.state))}'
                    "</span></span> "
                    for d in r.doors
                )
                + "</td>"
            )
        else:
            add(f'<td><span class="muted">{w["not_reported"]}</span></td>')
        if r.problems:
            add(
                "<td>"
                + "".join(
                    f'<span class="badge bad">{e(problems.get(p, p))}</span> ' for p in r.problems
                )
                + "</td>"
            )
        else:
            add(f'<td><span class="muted">{w["none"]}</span></td>')
        add("</tr>\n")
    return Markup("".join(out))
