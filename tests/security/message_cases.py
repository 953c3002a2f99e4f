"""Hostile messages: keys, buckets, prefixes, webhook URLs and bodies that the worker must
refuse at intake, and valid requests carrying injected text that must stay inert."""

from __future__ import annotations

import json
from collections.abc import Callable

from .cases import (
    COMPLETES,
    Build,
    Case,
    Ctx,
    Expect,
    Fields,
    Put,
    Submission,
    fails,
    message,
    staged_request,
)

CONTROL_CHARS = (*range(0x20), 0x7F)
LONG_KEY_CHARS = 520  # 'é' is 2 bytes in UTF-8: 1040+ bytes in fewer than 1024 characters
SQS_MAX_BODY = 256 * 1024

KeyFn = Callable[[Ctx], str]  # a key, URL or other text made from the case's context

# Text that would mean something to a shell, to ffmpeg's option parser or to its filters.
INJECTIONS = (
    "-f lavfi -i {url}",
    ";rm -rf / #",
    "$(curl {url})",
    "`curl {url}`",
    "[0:v]drawtext=textfile=/etc/passwd[v]",
    "movie={url}[m];[0:v][m]overlay",
    "| nc 127.0.0.1 {port}",
)


def _injections(ctx: Ctx) -> tuple[str, ...]:
    return tuple(i.format(url=ctx.url("inj"), port=ctx.port) for i in INJECTIONS)


def _clip(ctx: Ctx) -> bytes:
    return ctx.media.clip


def clip_request(name: str, fields: Fields) -> Build:
    """A good clip, staged, and a request for it with ``fields`` (a function of the ctx)."""
    return staged_request(name, _clip, fields=fields)


def _key_request(key: KeyFn, put: bool = False) -> Build:
    """A request for ``key(ctx)``; with ``put``, the object exists (so only the key rules
    stand between it and a job)."""

    def build(ctx: Ctx) -> Submission:
        k = key(ctx)
        puts = (ctx.put(k, ctx.media.clip),) if put else ()
        return Submission(puts=puts, body=ctx.request(k))

    return build


def _key_event(key: KeyFn) -> Build:
    return message(lambda ctx: ctx.s3_event(key(ctx)))


def _webhook(url: KeyFn) -> Build:
    return clip_request("hook.mp4", lambda c: {"webhooks": [{"url": url(c)}]})


def _oversized(field: str) -> Build:
    """The largest body SQS takes (256 KiB), nearly all of it one field."""

    def body(ctx: Ctx) -> str:
        base = ctx.request(ctx.staged("big.mp4"))
        doc = json.loads(base)
        room = SQS_MAX_BODY - len(base.encode()) - 64
        if field == "metadata":
            doc["metadata"] = {"v": "A" * room}
        else:
            doc[field] = f"{ctx.tag}-" + "A" * room
        text = json.dumps(doc)
        assert len(text.encode()) <= SQS_MAX_BODY
        return text

    return message(body)


def _deep_nesting(ctx: Ctx) -> str:
    depth = 100_000  # far past any parser's recursion limit, well within 256 KiB
    return '{"input": ' + "[" * depth + "]" * depth + "}"


def _tagged_key(ctx: Ctx, name: str) -> str:
    return f"security/{ctx.tag}/{name}"


def _with_char(code: int) -> KeyFn:
    return lambda ctx: _tagged_key(ctx, f"a{chr(code)}b.mp4")


WEBHOOK_REFUSED = fails("forbidden_webhook")
# A host name that may resolve to the canary: refused at intake, or never connected to.
WEBHOOK_NAME = Expect(frozenset({"forbidden_webhook"}), completes=True)

KEY_CASES: tuple[Case, ...] = (
    Case("key-dotdot-first", _key_request(lambda c: f"../{c.tag}.mp4"), fails("invalid_key")),
    Case("key-dotdot-middle", _key_request(lambda c: f"a/../../{c.tag}.mp4"),
         fails("invalid_key")),
    Case("key-dot-segment", _key_request(lambda c: f"./{c.tag}.mp4"), fails("invalid_key")),
    Case("key-dotdot-last", _key_request(lambda c: f"security/{c.tag}/.."),
         fails("invalid_key")),
    *(
        Case(f"key-control-{ch:02x}",
             _key_request(_with_char(ch)),
             fails("invalid_key"))
        for ch in CONTROL_CHARS
    ),
    Case("key-leading-dash-i", _key_request(lambda c: f"-i/{c.tag}.mp4", put=True),
         fails("invalid_key"), marks=lambda c: (f"-i/{c.tag}.mp4",)),
    Case("key-leading-dash-filter", _key_request(lambda c: f"-filter_complex/{c.tag}.mp4",
                                                 put=True),
         fails("invalid_key"), marks=lambda c: (f"-filter_complex/{c.tag}.mp4",)),
    Case("key-leading-dash-options", _key_request(lambda c: f"-f lavfi -i {c.url('key')}"),
         fails("invalid_key"), marks=lambda c: (c.url("key"),)),
    Case("key-over-1024-bytes", _key_request(lambda c: f"{c.tag}/" + "é" * LONG_KEY_CHARS),
         fails("invalid_key")),
    Case("key-over-1024-chars", _key_request(lambda c: f"{c.tag}/" + "a" * 1030),
         fails("invalid_key", "invalid_request")),
    # the same rules for keys S3 announces
    Case("event-key-dotdot", _key_event(lambda c: f"incoming/../{c.tag}.mp4"),
         fails("invalid_key")),
    Case("event-key-dotdot-middle", _key_event(lambda c: f"incoming/{c.tag}/../../../x.mp4"),
         fails("invalid_key")),
    Case("event-key-dot", _key_event(lambda c: f"incoming/./{c.tag}.mp4"), fails("invalid_key")),
    Case("event-key-control-01", _key_event(lambda c: f"incoming/{c.tag}/a\x01b.mp4"),
         fails("invalid_key")),
    Case("event-key-control-7f", _key_event(lambda c: f"incoming/{c.tag}/a\x7fb.mp4"),
         fails("invalid_key")),
    Case("sns-event-key-dotdot",
         message(lambda c: c.sns_s3_event(f"incoming/{c.tag}/../../x.mp4")),
         fails("invalid_key")),
    Case("eventbridge-key-dotdot",
         message(lambda c: c.eventbridge_event(f"incoming/{c.tag}/../../x.mp4")),
         fails("invalid_key")),
    Case("eventbridge-key-control-00",
         message(lambda c: c.eventbridge_event(f"incoming/{c.tag}/a\x00b.mp4")),
         fails("invalid_key")),
    Case("event-key-over-1024-bytes",
         _key_event(lambda c: f"incoming/{c.tag}/" + "é" * LONG_KEY_CHARS),
         fails("invalid_key")),
)  # fmt: skip

LOCATION_CASES: tuple[Case, ...] = (
    Case("foreign-input-bucket", message(
        lambda c: c.request(_tagged_key(c, "f.mp4"), input={"bucket": c.foreign_bucket}),
        lambda c: Put(c.foreign_bucket, _tagged_key(c, "f.mp4"), c.media.clip)),
         fails("forbidden_bucket")),
    Case("foreign-input-bucket-event",
         message(lambda c: c.s3_event(f"incoming/{c.tag}.mp4", bucket=c.foreign_bucket)),
         Expect(frozenset({"forbidden_bucket"}), ignored=True)),
    Case("foreign-output-bucket",
         clip_request("fo.mp4", lambda c: {"output": c.output("outputs", c.foreign_bucket)}),
         fails("forbidden_bucket")),
    Case("output-to-input-bucket",
         clip_request("oi.mp4", lambda c: {"output": c.output("x", c.settings.input_bucket)}),
         fails("forbidden_bucket", "forbidden_prefix", "invalid_request")),
    Case("output-prefix-outside", clip_request("po.mp4", lambda c: {"output": c.output("else")}),
         fails("forbidden_prefix")),
    Case("output-prefix-lookalike",
         clip_request("pl.mp4", lambda c: {"output": c.output("outputs-evil/x")}),
         fails("forbidden_prefix")),
    Case("output-prefix-traversal",
         clip_request("pt.mp4", lambda c: {"output": c.output("outputs/../else")}),
         fails("invalid_key", "forbidden_prefix")),
    Case("output-prefix-control",
         clip_request("pc.mp4", lambda c: {"output": c.output("outputs/a\x7fb")}),
         fails("invalid_key", "invalid_request")),
)  # fmt: skip

WEBHOOK_CASES: tuple[Case, ...] = (
    Case("webhook-http-loopback", _webhook(lambda c: f"http://127.0.0.1:{c.port}/{c.tag}/h"),
         WEBHOOK_REFUSED),
    Case("webhook-https-loopback", _webhook(lambda c: f"https://127.0.0.1:{c.port}/{c.tag}/h"),
         WEBHOOK_REFUSED),
    Case("webhook-metadata-v4",
         _webhook(lambda c: "https://169.254.169.254/latest/meta-data/"), WEBHOOK_REFUSED),
    Case("webhook-metadata-v4-http",
         _webhook(lambda c: "http://169.254.169.254/latest/meta-data/"), WEBHOOK_REFUSED),
    Case("webhook-metadata-v6",
         _webhook(lambda c: "https://[fd00:ec2::254]/latest/meta-data/"), WEBHOOK_REFUSED),
    Case("webhook-v4-mapped-loopback",
         _webhook(lambda c: f"https://[::ffff:127.0.0.1]:{c.port}/{c.tag}/hook"),
         WEBHOOK_REFUSED),
    Case("webhook-v6-loopback", _webhook(lambda c: f"https://[::1]:{c.port}/{c.tag}/h"),
         WEBHOOK_REFUSED),
    Case("webhook-private-range", _webhook(lambda c: "https://10.0.0.1/hook"), WEBHOOK_REFUSED),
    Case("webhook-http-public", _webhook(lambda c: "http://example.com/hook"), WEBHOOK_REFUSED),
    Case("webhook-userinfo", _webhook(lambda c: "https://user:pass@example.com/hook"),
         WEBHOOK_REFUSED),
    Case("webhook-decimal-loopback",
         _webhook(lambda c: f"https://2130706433:{c.port}/{c.tag}/hook"), WEBHOOK_NAME),
    Case("webhook-localhost", _webhook(lambda c: f"https://localhost:{c.port}/{c.tag}/hook"),
         WEBHOOK_NAME),
    Case("webhook-localhost-http", _webhook(lambda c: f"http://localhost:{c.port}/{c.tag}/h"),
         WEBHOOK_REFUSED),
)  # fmt: skip

BODY_CASES: tuple[Case, ...] = (
    Case("unknown-field", message(lambda c: c.request(
        _tagged_key(c, "u.mp4"), ffmpeg_args=["-i", c.url("args")])), fails("invalid_request")),
    Case("unknown-input-field", message(lambda c: c.request(
        _tagged_key(c, "u.mp4"), input={"options": "-vf movie=/etc/passwd"})),
         fails("invalid_request")),
    Case("version-3", message(lambda c: c.request(_tagged_key(c, "v.mp4"), version=3)),
         fails("invalid_request")),
    # version 2's steps: a field of ffmpeg's (a font file to read) is no field of a step
    Case("step-fontfile", message(lambda c: c.request(_tagged_key(c, "s.mp4"), version=2, steps=[
        {"op": "text", "text": "x", "fontfile": "/etc/passwd"},
        {"op": "encode", "preset": "mp4-480p"}])), fails("invalid_request")),
    # an object a step names is held to the input bucket allowlist, like the input
    Case("step-object-bucket", message(lambda c: c.request(_tagged_key(c, "s.mp4"), version=2,
        steps=[{"op": "overlay", "image": {"bucket": "someone-elses", "key": "logo.png"}},
               {"op": "encode", "preset": "mp4-480p"}])), fails("forbidden_bucket")),
    Case("preset-option", message(lambda c: c.request(_tagged_key(c, "p.mp4"), preset="-f")),
         fails("invalid_request")),
    Case("preset-shell", message(lambda c: c.request(_tagged_key(c, "p.mp4"),
                                                     preset="mp4-720p;rm -rf /")),
         fails("invalid_request")),
    Case("rung-name-option", message(lambda c: c.request(
        _tagged_key(c, "r.mp4"), preset="web-hls", ladder=[{
            "name": "-filter_complex", "short_side": 360, "video_kbps": 800,
            "maxrate_kbps": 856, "bufsize_kbps": 1200}])),
         fails("invalid_request")),
    Case("metadata-17-keys", message(lambda c: c.request(
        _tagged_key(c, "m.mp4"), metadata={f"k{i}": "v" for i in range(17)})),
         fails("invalid_request")),
    Case("metadata-value-257", message(lambda c: c.request(
        _tagged_key(c, "m.mp4"), metadata={"k": "v" * 257})), fails("invalid_request")),
    Case("correlation-id-with-spaces", message(lambda c: c.request(
        _tagged_key(c, "c.mp4"), correlation_id=f"{c.tag} -f lavfi -i {c.url('cid')}")),
         fails("invalid_request")),
    Case("oversized-correlation-id", _oversized("correlation_id"), fails("invalid_request")),
    Case("oversized-metadata-value", _oversized("metadata"), fails("invalid_request")),
    Case("deep-nesting", message(_deep_nesting), fails("malformed_json", "invalid_request")),
    Case("not-json", message(lambda c: f"-f lavfi -i {c.url('nj')}"), fails("malformed_json")),
    Case("json-array", message(lambda c: json.dumps([c.tag])), fails("unrecognized_message")),
)  # fmt: skip

INJECTION_CASES: tuple[Case, ...] = (
    Case("injected-metadata", clip_request("md.mp4", lambda c: {"metadata": {
        "-filter_complex": _injections(c)[0], "-i": _injections(c)[1],
        **{f"v{i}": text for i, text in enumerate(_injections(c))}}}),
         COMPLETES, marks=_injections),
    Case("injected-correlation-id", clip_request("ci.mp4", lambda c: {
        "correlation_id": f"{c.tag};$(curl${{IFS}}{c.url('cid')})"}),
         COMPLETES, marks=lambda c: (f"$(curl${{IFS}}{c.url('cid')})",)),
    Case("injected-idempotency-key", clip_request("ik.mp4", lambda c: {
        "idempotency_key": f"-f;lavfi;-i;{c.url('ik')};`id`"}),
         COMPLETES, marks=lambda c: (f"-f;lavfi;-i;{c.url('ik')};`id`",)),
    Case("injected-object-key", _key_request(lambda c: c.staged(_injected_name(c)), put=True),
         COMPLETES, marks=lambda c: (_injected_name(c), "drawtext=textfile")),
    Case("injected-object-key-upload",
         lambda c: Submission(puts=(c.put(c.watched(_injected_name(c)), c.media.clip),)),
         COMPLETES, marks=lambda c: (_injected_name(c), "drawtext=textfile")),
    Case("injected-version-id", message(lambda c: c.request(_tagged_key(c, "vi.mp4"), input={
        "version_id": f"-f lavfi -i {c.url('vid')}"}),
        lambda c: c.put(_tagged_key(c, "vi.mp4"), c.media.clip)),
         fails("input_not_found", "invalid_request", "invalid_key"),
         marks=lambda c: (c.url("vid"),)),
    Case("injected-etag", message(lambda c: c.request(_tagged_key(c, "et.mp4"), input={
        "etag": f"$(curl${{IFS}}{c.url('etag')})"}),
        lambda c: c.put(_tagged_key(c, "et.mp4"), c.media.clip)),
         fails("input_changed", "invalid_request"), marks=lambda c: (c.url("etag"),)),
)  # fmt: skip


def _injected_name(ctx: Ctx) -> str:
    """Shell, option and filter text in a key's last segment (which does not start with
    '-': the key rules let it through, and it must stay inert)."""
    return (
        f"x -f lavfi -i tcp:127.0.0.1:{ctx.port} ;rm -rf ~ $(id) `id` "
        "[0:v]drawtext=textfile=passwd[v].mp4"
    )


MESSAGE_CASES = KEY_CASES + LOCATION_CASES + WEBHOOK_CASES + BODY_CASES + INJECTION_CASES
