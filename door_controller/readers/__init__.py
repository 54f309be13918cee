"""Readers: what they report (``events``), OSDP buses (``osdp``) and serial-line readers.

``events`` is the port every reader bus implements (``ReaderPort``) and the
vocabulary the door engine speaks; ``osdp`` drives OSDP readers through libosdp
with the secure channel enforced; ``osdp_sim`` simulates them for tests and the
demo; ``eventqueue`` hands events from a bus's thread to its ``poll``. Import
the submodules directly: importing this package loads no driver.
"""
