"""``ferrite bench``: a synthetic playback benchmark that measures what viewers feel.

Pure pieces (tested without a server): :mod:`~ferrite.bench.stats` (median/p95/p99),
:mod:`~ferrite.bench.schedule` (what each viewer does when, from a seed),
:mod:`~ferrite.bench.buffer` (a virtual player buffer: TTFF, seek waits, stalls),
:mod:`~ferrite.bench.playlists` (just enough m3u8) and :mod:`~ferrite.bench.report`
(the JSON document, the table, comparisons).

I/O: :mod:`~ferrite.bench.viewer` (one viewer, httpx + asyncio), :mod:`~ferrite.bench.run`
(runs of N viewers), :mod:`~ferrite.bench.server` (the server under test),
:mod:`~ferrite.bench.media` (the generated library), :mod:`~ferrite.bench.procstat`
(CPU and memory from ``/proc``), :mod:`~ferrite.bench.cli` (options).
"""
