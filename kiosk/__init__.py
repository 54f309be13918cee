"""Hallvakt kiosk (see ARCHITECTURE.md)."""
