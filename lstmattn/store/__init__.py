"""The result store: runs trained once, kept in git as small files, found by content.

* :mod:`~lstmattn.store.keys`: a run's key (semantic config, variant, data identity);
* :mod:`~lstmattn.store.fingerprint`: the training modules and their content;
* :mod:`~lstmattn.store.entries`: the store folder, adding a run, copying one out;
* :mod:`~lstmattn.store.canary`: re-running a stored run's first steps with today's code;
* :mod:`~lstmattn.store.resolution`: what a book build takes from the store and trains.
"""

from lstmattn.store.entries import StoreEntry, StoreError, add_run, entries, find_entry, store_root
from lstmattn.store.keys import StoreKey, store_key

__all__ = ["StoreEntry", "StoreError", "StoreKey", "add_run", "entries", "find_entry", "store_key", "store_root"]
