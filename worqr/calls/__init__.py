"""Calls: registered functions run on workers, with ids, stored results, status, progress and
cancel (docs/calls.md). The same layers as the package:

- pure descriptions and flows: ``envelope`` (a call's task and id), ``registry``
  (`Functions`, `Function`), ``arguments`` (JSON rebuilt from annotations), ``status``
  (`CallStatus`, a record read), ``ops`` and ``flows`` (each operation once), ``waiting``
  (what waiters heard); the scripts in ``lua/``;
- I/O: ``_async/calls.py`` (`AsyncCall`, `AsyncCalls`: placing, reading, waiting), with its
  generated twin ``_sync/calls.py`` (`Call`);
- runtime: ``serving`` (`Worqr.serve`'s codec, plan and handlers; `current_call`);
- faces: ``_async/face.py`` (and its twin), the call methods the clients take.
"""
