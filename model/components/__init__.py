"""Component models of the dma-buf protocol, composed into one model per check.

Each module adds the variables and actions of one part of the protocol to a
shared ``BuildContext`` (``context.py``): buffers and references
(``buffer``), attachments and mappings (``attachment``), placement, pinning
and migration (``placement``), reservation objects and ww acquire contexts
(``resv``), fences (``fence``), CPU access (``cpu_access``) and the fence
signalling path (``signalling``). ``model.compose`` calls them in order for a
design and a protocol profile. Everything is written in the modeling
language; the components only decide *which* variables and actions exist.
"""
