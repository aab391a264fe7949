"""Where a result goes: every file a run writes, and every file name.

* :mod:`~acme.storage.paths`: the storage modes and :class:`RunPaths`, which derives
  every file name of a run (output directory, container, payloads, pickles, log);
  writing under a temporary name and renaming.
* :mod:`~acme.storage.payloads`: worker side, one call's result to its own HDF5 or
  pickle file (emergency pickle for a value HDF5 cannot hold).
* :mod:`~acme.storage.containers`: client side, the container ``<func>.h5`` (external
  links, virtual dataset, or every result in one file).
* :mod:`~acme.storage.store`: client side, :class:`ResultStore`, what the run pipeline
  uses: creates the directories, stores each outcome, publishes the container.

This package imports none of its modules here, so that importing one of them never
imports the others (they depend on :mod:`acme.tasks`, which depends on the payloads).
"""
