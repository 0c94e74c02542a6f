"""The pure core: the questionnaire format, scoring and statistics; no I/O, no framework."""
