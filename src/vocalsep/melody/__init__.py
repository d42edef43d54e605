"""The sung melody: F0 trackers (CREPE tiny, pYIN) and notes as CSV and MIDI."""
