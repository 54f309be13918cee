"""The id rules of the wire contract, written once (docs/protocol.md, PROTOCOL.md §2).

node.toml names central's ids (doors, the facility) and the node's own id, so
the rules live here, at the bottom of the package graph (ARCHITECTURE.md:
firmware_config imports no other package of the project), and sync.protocol,
sync.replica and sync.central take them from here. Patterns are meant for
``fullmatch``.
"""

from __future__ import annotations

# An entity id as central writes it: 1-128 of A-Z a-z 0-9 . _ : @ -, not
# starting with a punctuation mark (docs/protocol.md "Entities").
ENTITY_ID = r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}"
ENTITY_ID_RULE = "1-128 of A-Z a-z 0-9 . _ : @ -"

# A node id (PROTOCOL.md §2): 1-64 of a-z 0-9 - . ; also the node's MQTT user
# name and certificate CN.
NODE_ID = r"[a-z0-9.-]{1,64}"

# A credential digest: unpadded base64url of 32 bytes (PROTOCOL.md
# "Credential digests").
DIGEST = r"[A-Za-z0-9_-]{43}"
