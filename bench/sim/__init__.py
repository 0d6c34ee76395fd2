"""A day in the hall, simulated (issue 4): the hallsvc call-next policy and
the policies halls run today, driven through the same generated days.

  .venv/bin/python -m bench.sim [--seeds 1-20] [--windows 20] [--load 0.8]

`day.py` generates a day (layout, arrivals with their service times, breaks,
late starts) apart from any policy, so that another driver can replay it
against a running hallsvc over HTTP; `engine.py` runs a policy through it in
process, as call-next does; `baselines.py` has what halls run today;
`report.py` the figures; `floor.py` the best any wait estimate could do.
docs/queue-policy.md has the results.
"""
