"""Steps as a request's JSON carries them, before the models read them.

Mapping, not dict: its values are covariant, so a list of steps with different value types
(``{"op": "trim", "start": 1.0}``, ``{"op": "encode", "preset": "web-hls"}``) is one type."""

from collections.abc import Mapping

StepDocs = list[Mapping[str, object]]
