"""Hallvakt firmware_config (see ARCHITECTURE.md)."""
