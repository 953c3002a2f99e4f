"""Entry points: the ``ffapi`` CLI, the container worker loop and the Lambda handler."""
