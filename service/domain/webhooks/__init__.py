"""Webhooks: a tenant's endpoints, their delivery log, and the writes of one attempt.

Events are recorded through `service.core.outbox.record_event` (the job lifecycle does it for
job endings); delivery runs on the delivery workers (worker/webhooks.py).
"""
