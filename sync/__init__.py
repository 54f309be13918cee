"""Hallvakt sync: the node database (replica), the wire protocol and the MQTT link."""
