"""Drills against a running sandbox (composition root): the runner and the sandbox's faults.

The pure parts (load generator, checker, report) are in failover.drill; see docs/drills.md.
"""
