"""A job's life on the queue and in the job store: the message shapes normalized into
requests (intake, watch rules, admission), the job's identity and result record, the
consumer loop and the dispatcher that turns one message into ACK or RETRY, the claims
kept alive while the job shows a pulse (keep-alive, a dead worker's lease waited out,
scale-in protection), and the dead-letter sweep that fails, once, what the DLQ holds.
"""
