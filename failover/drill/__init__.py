"""Disaster-recovery drills: the probe write, the load generator, the checker, the report.

Everything here is free of the sandbox: the runner that injects faults lives in the
composition root (assembly/drill_runner/, `yui drill`). See docs/drills.md.
"""
