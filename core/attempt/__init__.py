"""One job attempt, start to finish: the pipeline (download, probe, plan, encode, check),
its limits and phase timings, the files read back before anything is published, the
ordered upload, and ``job.json``, the commit marker written once, last.
"""
