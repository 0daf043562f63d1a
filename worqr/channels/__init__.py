"""Two-way channels between two peers, over streams and leases (docs/streams.md,
"Channels"). The same layers as the package:

- pure descriptions: ``frames`` (the names, the frames a channel's streams carry, the
  events an end sees, and `RemoteEnd`, which turns frames and lease reads into events);
- I/O: ``_async/channels.py`` (`AsyncChannel`), with its generated twin in ``_sync``
  (`Channel`); no script of its own: a channel is two streams and two leases;
- faces: ``_async/face.py`` (and its twin), the method the clients take.
"""
