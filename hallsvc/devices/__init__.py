"""The hall's devices on MQTT (issue 5): the wire vocabulary and the pure
device logic. Nothing here does I/O or reads the clock.

Vocabulary (shared with firmware-sim/ and docs/mqtt.md):
  topics      the topic tree: DeviceKind, Leaf, LEAVES (direction, QoS, retain)
  wire        the msgpack payloads, encode/decode with precise errors
  registry    the hall's devices ([[devices]] or the default set)
  inbound     one device message → Inbound or Rejected (+ the error reply)
  docs        generates the reference part of docs/mqtt.md

Logic, one concern each:
  text        LED text fitting (full-width counts double; truncate, roll)
  boards      window board and hall board states (Q5, Q6, H7)
  announcements  a voice caller's queue: one at a time, never cut off (Q6)
  temperature H6 limits by season, alarm after a while out of range
  attendance  H4 late / early / 脱岗 / 旷工半天 from the readers' taps
  scoring     H5 deductions from 100 points, with the events behind them
  ratings     H8/H8a one rating per visit, negative → follow-up in working days
  presence    which devices are online; boards and callers missing (Q6)
  staffing    H2 no empty window
  alarms      raise after a condition held for a while, clear when it stops
"""
