"""The report pages' pictures: pure functions from a report (the same dicts the JSON API, the
CSV files and the tables show) to inline SVG text, drawn on the server so the pages need no
JavaScript to show them.

Plain SVG built with the standard library's `xml.etree.ElementTree`, not matplotlib: the
pictures are a few rectangles, lines and labels, and ElementTree escapes every text and
attribute by construction (members' names are user input), gives the `<title>`/`<desc>`
and ids screen readers need, and keeps text as text, in the page's font and language.
matplotlib would add a large dependency (NumPy, fonts), about a second of import time per
node and text drawn as paths or in its own fonts. The few things a plotting library would
do for us (linear scales, clock-time ticks, a palette with enough contrast) are in `svg`.

`svg` (the drawing helpers), `charts` (bar charts and the session's timeline), `network`
(the cohort's network and the department matrix); `cache` keeps what a report drew.
"""
