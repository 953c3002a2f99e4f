"""What leaves the worker about a job: the CloudEvents envelope and one data model per
event type, the announcement on every channel (SNS, then webhooks), encode progress and
its reporting, the webhook endpoints and where they may point (the SSRF policy), and
tool text scrubbed fit to leave.
"""
