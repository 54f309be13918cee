"""Hallvakt door_controller (see ARCHITECTURE.md)."""
