"""Every way a job can fail, each with a stable code and a retryable flag.

The tree (codes in brackets; ``retryable`` decides whether the message goes back to the queue)::

    FfapiError
    ├── PermanentError                    retryable=False: one job.failed, message deleted
    │   ├── InvalidMessage                the queue message can never become a job
    │   │   │ [malformed_json, unrecognized_message, invalid_request]
    │   │   ├── ForbiddenBucket           a bucket off the allowlists [forbidden_bucket]
    │   │   ├── InvalidKey                a key or prefix with control characters, a '.'
    │   │   │                             or '..' segment, a leading '-', or over 1024
    │   │   │                             bytes [invalid_key]
    │   │   ├── ForbiddenPrefix           outputs outside the configured output prefix
    │   │   │                             [forbidden_prefix]
    │   │   └── ForbiddenWebhook          a webhook URL that is not https or names an
    │   │                                 address we never call [forbidden_webhook]
    │   ├── InputNotFound                 [input_not_found]
    │   ├── InputForbidden                the worker may not read it (outside the prefixes
    │   │                                 its role may read) [input_forbidden]
    │   ├── InputChanged                  overwritten since it was announced [input_changed]
    │   ├── InputTooLarge                 bytes over the global or the preset's limit
    │   │   │                             [input_too_large]
    │   │   └── InputTooLong              stated duration over the global or the preset's
    │   │                                 limit [input_too_long]
    │   ├── InvalidMedia                  ffprobe/ffmpeg cannot read it [invalid_media]
    │   ├── UnsupportedMedia              readable, but the preset cannot use it [unsupported_media]
    │   │   ├── UnsupportedFormat         a container we refuse to open (playlists,
    │   │   │                             concat scripts, image sequences) [unsupported_format]
    │   │   ├── UnsupportedCodec          a stream the job would decode (or ffprobe would
    │   │   │                             open) uses a codec off the allowlist [unsupported_codec]
    │   │   ├── FrameTooLarge             width, height or pixel count over the cap
    │   │   │                             [frame_too_large]
    │   │   ├── FrameRateTooHigh          frame rate over the cap [frame_rate_too_high]
    │   │   └── TooManyStreams            streams (or attachments, or data streams) over
    │   │                                 their caps [too_many_streams]
    │   ├── MemoryLimitExceeded           ffmpeg hit its address-space cap (CPU tier); the
    │   │                                 same input would again [memory_limit]
    │   ├── EncoderUnavailable            the preset names an encoder this worker's ffmpeg
    │   │                                 lacks; refused before the download [encoder_unavailable]
    │   ├── OutputTooLarge                an output file reached the file-size cap
    │   │                                 [output_too_large]
    │   ├── QcFailed                      the package failed its quality gate; nothing of
    │   │                                 it was published as complete [qc_failed]
    │   ├── InvalidTopic                  FFAPI_EVENTS_TOPIC names no topic this worker can
    │   │                                 use: not a name or an SNS ARN, another region, or
    │   │                                 (bootstrap) another account [invalid_topic]
    │   └── DependencyFailed              a job of a batch waited for one that failed or was
    │                                     cancelled (or has no such output) [dependency_failed]
    │   └── DeadlinePassed                the request's ``deadline`` came before the job
    │                                     could start [deadline_passed]
    │   └── JobCancelled                  a cancel request stopped the job (core.jobs.cancel);
    │                                     the record is CANCELLED, not FAILED [cancelled]
    └── TransientError                    retryable=True: message returns to the queue, DLQ after N
        ├── StorageUnavailable            S3/DynamoDB/SNS/SQS errors [storage_unavailable]
        ├── ResourceExhausted             disk, memory [resource_exhausted]
        │   └── InsufficientDisk          too little free disk for the input and its
        │                                 outputs; another worker may have room
        │                                 [insufficient_disk]
        ├── TranscodeTimeout              wall-clock limit hit [transcode_timeout]
        │   └── CpuTimeExceeded           the kernel's CPU-time cap (RLIMIT_CPU) stopped
        │                                 ffmpeg: the wall clock's backstop [cpu_time_exceeded]
        ├── TranscodeStalled              ffmpeg's encoded time stopped advancing; the
        │                                 watchdog killed it [stalled]
        ├── TranscodeFailed               ffmpeg failed for a cause we cannot classify, or
        │                                 an output does not read back [transcode_failed]
        ├── AcceleratorFailed             a GPU-class cause (no CUDA, no NVENC session, GPU
        │                                 memory); the job falls to the next tier in the
        │                                 same attempt, and escapes only when none is left;
        │                                 ``details.reason`` names the cause [accelerator_failed]
        ├── JobBusy                       another worker holds the job's lease [job_busy]
        ├── AttemptsExhausted             the last delivery failed transiently: the job is
        │                                 FAILED (still retryable by a DLQ redrive), the
        │                                 cause in ``details.cause`` [max_attempts]
        ├── WorkerLost                    no attempt recorded an outcome: each worker that
        │                                 took the job stopped dead (the cause of a
        │                                 ``max_attempts`` said by the DLQ sweep) [worker_lost]
        ├── LeaseLost                     a fenced write of a running attempt was refused:
        │                                 the job is no longer its own (taken over, or
        │                                 ended); its outcome is never recorded [lease_lost]
        └── InternalError                 a bug; retried, then the DLQ [internal_error]

Codes are part of the event contract: add new ones, never rename or reuse one.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FfapiError(Exception):
    """Base of every failure the worker reports."""

    default_code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        stderr_tail: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.stderr_tail = stderr_tail
        self.details = details  # structured evidence, e.g. the QC report of a qc_failed
        # A subclass names a family; `code` may refine it (InvalidMessage -> malformed_json).
        self.code = code or self.default_code

    def at(self, where: str) -> FfapiError:
        """The same failure, said of one part of the request (``steps[1].image: ...``)."""
        self.message = f"{where}: {self.message}"
        self.args = (self.message,)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.stderr_tail:
            out["stderr_tail"] = self.stderr_tail
        if self.details:
            out["details"] = self.details
        return out


class PermanentError(FfapiError):
    """Retrying cannot help: the input or the request is wrong."""

    retryable = False


class TransientError(FfapiError):
    """The same message may succeed later."""

    retryable = True


class InvalidMessage(PermanentError):
    default_code = "invalid_request"


class ForbiddenBucket(InvalidMessage):
    default_code = "forbidden_bucket"


class InvalidKey(InvalidMessage):
    default_code = "invalid_key"


class ForbiddenPrefix(InvalidMessage):
    default_code = "forbidden_prefix"


class ForbiddenWebhook(InvalidMessage):
    default_code = "forbidden_webhook"


class InputNotFound(PermanentError):
    default_code = "input_not_found"


class InputForbidden(PermanentError):
    """S3 refuses the read: the object lies outside what the worker's role may read. The
    same message meets the same policy on every delivery, so it is not retried."""

    default_code = "input_forbidden"


class InputChanged(PermanentError):
    """The announced version was overwritten; the newer one has its own announcement."""

    default_code = "input_changed"


class InputTooLarge(PermanentError):
    default_code = "input_too_large"


class InputTooLong(InputTooLarge):
    """Longer than a job may be (the stated duration: what ffmpeg would try to make)."""

    default_code = "input_too_long"


class InvalidMedia(PermanentError):
    default_code = "invalid_media"


class UnsupportedMedia(PermanentError):
    default_code = "unsupported_media"


class UnsupportedFormat(UnsupportedMedia):
    """A demuxer outside the allowlist: formats that open further files are never read."""

    default_code = "unsupported_format"


class UnsupportedCodec(UnsupportedMedia):
    """Off the codec allowlist: its decoder is never run on an upload."""

    default_code = "unsupported_codec"


class FrameTooLarge(UnsupportedMedia):
    default_code = "frame_too_large"


class FrameRateTooHigh(UnsupportedMedia):
    """Every frame is decoded whatever the output rate: a claimed 10 000 fps costs as much."""

    default_code = "frame_rate_too_high"


class TooManyStreams(UnsupportedMedia):
    default_code = "too_many_streams"


class MemoryLimitExceeded(PermanentError):
    """Memory use follows from the input, the preset and the cores: a retry would hit the
    same cap, so the job fails at once (raise FFAPI_FFMPEG_MEMORY_MB for such inputs)."""

    default_code = "memory_limit"


class EncoderUnavailable(PermanentError):
    """The preset needs an encoder the running ffmpeg build does not have (web-av1 where
    ffmpeg was built without libsvtav1): every attempt on this worker would fail the same."""

    default_code = "encoder_unavailable"


class OutputTooLarge(PermanentError):
    """An output file reached the size cap (or the file system's own limit)."""

    default_code = "output_too_large"


class QcFailed(PermanentError):
    """Encoding is deterministic: a package that fails its checks would fail them again."""

    default_code = "qc_failed"


class InvalidTopic(PermanentError):
    """A setting, not a job, is wrong: every command that publishes or subscribes refuses it
    at start, before anything is made or received."""

    default_code = "invalid_topic"


class StorageUnavailable(TransientError):
    default_code = "storage_unavailable"


class ResourceExhausted(TransientError):
    default_code = "resource_exhausted"


class InsufficientDisk(ResourceExhausted):
    """Checked before the download: retried, since another worker (or this one, later) may
    have the room."""

    default_code = "insufficient_disk"


class TranscodeTimeout(TransientError):
    default_code = "transcode_timeout"


class CpuTimeExceeded(TranscodeTimeout):
    """The CPU-time cap is derived from the wall-clock timeout, so it only stops what that
    timeout failed to: retried like a timeout."""

    default_code = "cpu_time_exceeded"


class TranscodeStalled(TransientError):
    """A hung ffmpeg (a stuck device, a filter waiting forever) is not the input's fault
    as far as we can tell: the next attempt may run."""

    default_code = "stalled"


class TranscodeFailed(TransientError):
    default_code = "transcode_failed"


class AcceleratorFailed(TransientError):
    """The GPU path failed, not the input: the job is re-planned on the next tier."""

    default_code = "accelerator_failed"

    def __init__(self, message: str, *, reason: str, stderr_tail: str | None = None) -> None:
        super().__init__(message, stderr_tail=stderr_tail, details={"reason": reason})
        self.reason = reason


class JobBusy(TransientError):
    default_code = "job_busy"


class AttemptsExhausted(TransientError):
    """What a transient failure on the queue's last delivery is announced as."""

    default_code = "max_attempts"

    @classmethod
    def after(cls, cause: FfapiError, attempts: int) -> AttemptsExhausted:
        return cls(
            f"gave up after {attempts} attempts; the last: {cause.code}: {cause.message}",
            stderr_tail=cause.stderr_tail,
            details={"cause": cause.to_dict(), "attempts": attempts},
        )


class WorkerLost(TransientError):
    """The job's message was dead-lettered with no outcome recorded: every worker that took
    it stopped dead (killed, out of memory) mid-attempt. Said only as a ``max_attempts``
    cause, by the dead-letter sweep (``core.jobs.dlq_sweep``)."""

    default_code = "worker_lost"


class LeaseLost(TransientError):
    """A write the running attempt makes from inside its work (the segment ledger,
    ``core.attempt.ledger_keeper``) was refused by its fence: another attempt holds the job,
    or it ended. Raised to stop the attempt; the dispatcher's own fenced write of its
    outcome is refused in turn, so it ends SUPERSEDED and says nothing."""

    default_code = "lease_lost"


class InternalError(TransientError):
    """A bug: retried (it may be a race), and it ends in the DLQ if it is not."""

    default_code = "internal_error"


class DependencyFailed(PermanentError):
    """A batch job's parent (``after``, ``input.from``) did not complete: it never runs."""

    default_code = "dependency_failed"


class JobCancelled(PermanentError):
    """A cancel was requested for the running job (``ffapi cancel``, a cancel message): the
    job store refuses the attempt's lease renewal and progress with this, and the dispatcher
    stops the attempt (core.jobs.cancel). Never retried."""

    default_code = "cancelled"


def as_ffapi_error(exc: BaseException) -> FfapiError:
    """Wrap anything unexpected so every failure carries a code and a retryable flag."""
    if isinstance(exc, FfapiError):
        return exc
    return InternalError(f"{type(exc).__name__}: {exc}")


class DeadlinePassed(PermanentError):
    """The job could not start before the request's ``deadline`` (``core.jobs.schedule``):
    starting it late is what the sender asked us not to do, so it is never retried."""

    default_code = "deadline_passed"
