"""Callbacks and click-to-call, with the toll-fraud guard.

Pure core: :mod:`.guard` (may this number be dialled for this tenant), :mod:`.limits`
(token buckets per IP, number, tenant), :mod:`.schedule` (windows, hang-up causes, backoff).
Use cases and timing: :mod:`.services` (``CallbackService``), :mod:`.scheduler`.
Calls over ARI: :mod:`.dialer` (attempts, customer first), :mod:`.agent_first`,
:mod:`.stasis` (event glue), :mod:`.reconcile` (after every connect).  Storage:
:mod:`.models`, :mod:`.repo`.  HTTP: :mod:`.http`.  Wiring: :mod:`.plugin`.
"""
