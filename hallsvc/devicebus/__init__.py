"""The device hub wired to the world (issue 5): the MQTT session, the record
of what the devices said, and the reports the dashboard reads.

  service   DeviceBus: the long-lived loop (one leader per hall), the hook the
            queue service calls, the effects of hallsvc.devices.hub/monitor
  store     the SQL of migration 005, through adapters.postgres.Records
  reports   attendance findings and scores (H4, H5), ratings per window and
            clerk (H8), temperature against the limits (H6), for the HTTP API
"""
