"""The kiosk's Kivy screens: layout and bindings only (ARCHITECTURE.md point 9).

``theme`` is pure Python (tested without Kivy); the other modules import Kivy.
"""
