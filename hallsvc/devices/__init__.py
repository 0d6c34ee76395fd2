"""The hall's devices on MQTT: the wire vocabulary shared with firmware-sim/."""
