"""The sung melody: F0 trackers (CREPE tiny, pYIN: one module each in ``trackers/``, behind a
registry), the contour and its summary, and notes as CSV and MIDI."""
