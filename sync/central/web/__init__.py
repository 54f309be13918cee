"""Central's web page for the municipality's staff (docs/central.md "Web page").

Server-rendered HTML from Starlette and Jinja2, served by uvicorn on loopback
by default, over central's store (sync/central/store/) on SQLite or
PostgreSQL, beside the gateway (a sibling process on the same store). A small
script refreshes live content (static/app.js); every page works without it.

- ``settings``: ``WebSettings`` and the per-thread ``Stores``.
- ``accounts``, ``sessions``, ``guard``: local accounts (argon2, four roles),
  sessions in the store, the login throttle and the audit log.
- ``fleet``, ``alarms``, ``commands``, ``reports``: what the pages show and
  do, with no HTTP in them.
- ``app``, ``routes``, ``routes_admin``: the application and its pages.
- ``i18n``, ``labels``: Swedish and English.
- ``server``: ``serve`` and ``start``, the entry points the command line and
  the demo call.
- ``cli``: ``hallvakt central web`` and ``web-user``.

The package imports nothing itself: the ``hallvakt`` command builds its
argument tree from ``cli`` without loading Starlette, Jinja2 or uvicorn.
"""
