"""Attendance and engagement reports, retention and erasure: services on the store, no HTTP.

One place reads a session's records (`source`: raw, or the summary kept after the retention
period) and turns them into per-member records (`model`); every report (`session`,
`cohort`, the research `export`, a member's own page) is built from those, so the numbers
agree wherever they show. Retention and erasure (`retention`) live here too, because they
must produce the same aggregates. `service.Reports` is the one face the HTTP layer sees.
"""
