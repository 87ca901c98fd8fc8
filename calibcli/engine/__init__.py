"""Engines: feed record batches to partial states, merge them, finalize once.

:mod:`calibcli.engine.batches` defines what an engine carries (``Batch``) and
where batches come from (``BatchSource``); :mod:`calibcli.engine.local` runs a
pass over a source on this machine.
"""
