"""What central makes of the events the nodes send: evidence per booking (docs/reports.md).

- ``facts``: pure: the fact one event states about a booking, and how facts fold.
- ``ledger``: the ``evidence`` table, kept in step with bookings (``mutate``)
  and with node events as they become contiguous (``store_events``).
- ``rules``: the municipality's activity-grant rule and reporting periods (pure).
- ``retention``: how long evidence is kept, and pruning it.
"""
