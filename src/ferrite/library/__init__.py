"""The media library: folders -> probed files -> items, kept current by scans and a watcher.

Public API (everything else is internal):

* :mod:`.libraries` -- ``create_library``, ``list_libraries``, ``get_library``,
  ``update_library``, ``delete_library``, ``library_for_path`` (functions of a connection).
* :mod:`.scanner` -- ``Scanner(db, settings).scan_library(library_id, paths=None,
  progress=None) -> ScanReport`` (blocking: run it in a thread), ``scanner.scanning``;
  it walks with :mod:`.walk` and decides with the pure :mod:`.reconcile`
  (``ferrite scan`` and its printing live in :mod:`ferrite.cli`).
* :mod:`.watcher` -- ``LibraryWatcher(db, scanner, settings)``: ``await start()``,
  ``refresh()`` after library changes, ``await stop()``.
* :mod:`.store` -- file rows (``save_probed``, ``save_failed``, ``save_pending``,
  ``move_file``, ``remove_files``), each given one :class:`.files.FileFacts`;
  :mod:`.items` -- the movie/show/season/episode hierarchy they attach to.
* :mod:`.media_rows` -- ``load_media(conn, file_id) -> MediaInfo`` for playback (streams,
  keyframe index, subtitle cues), ``subtitle_tracks_of``, ``subtitle_ids``, ``load_cues``.
* :mod:`.search` -- ``search(conn, q, library_ids=..., kind=None, limit=50, offset=0)``.
* :mod:`.probe` -- ``probe(path) -> MediaInfo`` / ``probe_timed`` (blocking, PyAV).
* :mod:`.naming` -- pure file-name parsing; :mod:`.cues` -- pure subtitle text parsing;
  :mod:`.fingerprint` -- content identity.
"""
