"""The command line: run a spec or a preset on this machine and write its result as JSON.

    python -m trainer run SPEC --out RESULT.json [--set key.path=value ...] [--device cpu]
    python -m trainer validate SPEC [--set ...]
    python -m trainer presets

SPEC is a JSON/YAML file or `preset:NAME`. `--set` values are YAML scalars, so `--set d=64` is a
number and `--set phase1.stages.0.lr=0.3/d` stays an expression. Bad input (unknown preset, bad
path, invalid spec, missing file) prints one paragraph on stderr and exits with status 2.

Exit status of `run`: 0 when the run completed or diverged (both are results; see `status` in the
JSON), 1 when it was interrupted (Ctrl-C, or the spec's `max_wall_s` reached: the partial result
is still written), 2 on bad input.

The result file holds Result.to_dict() plus `spec` (the validated spec, defaults filled in),
`spec_hash`, `facts` and `trace` (every evaluation point). It is written atomically: a reader
never sees half a file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trainer.results import RunStatus
from trainer.spec import Algorithm

EXIT_OK, EXIT_INTERRUPTED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: reported as one paragraph, exit status 2."""


# ---------------------------------------------------------------------------------- spec input
def _format_validation_error(error: Any) -> str:
    """A pydantic ValidationError as `field.path: message` parts, one per field.

    Union branches (the activation may be 'relu', {hermite: …} or {random_hermite: …}) show up
    in pydantic's locations as type names; they are dropped and the branch messages joined.
    """
    messages: dict[str, list[str]] = {}
    for item in error.errors():
        location = ".".join(
            str(part)
            for part in item.get("loc", ())
            if not ("[" in str(part) or str(part)[:1].isupper())
        )
        if item.get("type") == "extra_forbidden":
            message = "unknown field (the spec has no such name)"
        else:
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        bucket = messages.setdefault(location, [])
        if message not in bucket:
            bucket.append(message)
    return "; ".join(
        f"{location}: {' or '.join(texts)}" if location else " or ".join(texts)
        for location, texts in messages.items()
    )


def load_spec(source: str, overrides: list[str]) -> Any:
    """The validated ExperimentSpec of `source` with the `--set` overrides applied."""
    from pydantic import ValidationError

    from trainer import presets, spec

    try:
        raw = presets.load_spec(source)
        raw = presets.apply_overrides(raw, overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        return spec.ExperimentSpec.model_validate(raw)
    except ValidationError as error:
        where = f" (after {len(overrides)} --set override(s))" if overrides else ""
        raise UsageError(
            f"invalid spec {source!r}{where}: {_format_validation_error(error)}"
        ) from None
    except ValueError as error:
        raise UsageError(f"invalid spec {source!r}: {error}") from None


# ------------------------------------------------------------------------------------- output
def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, fsync and os.replace:
    a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb" if isinstance(data, bytes) else "w") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def result_document(spec: Any, result: Any, trace: list[Any]) -> dict[str, Any]:
    document = result.to_dict()
    document["spec"] = spec.model_dump(mode="json")
    document["spec_hash"] = spec.spec_hash()
    document["facts"] = spec.facts()
    document["trace"] = [asdict(point) for point in trace]
    return document


# ---------------------------------------------------------------------------------- callbacks
class CliCallbacks:
    """Collects the trace, drives a progress bar, stops on Ctrl-C, saves checkpoints."""

    def __init__(self, spec: Any, *, progress: bool, checkpoint: Path | None) -> None:
        self.trace: list[Any] = []
        self.interrupted = False
        self.checkpoint = checkpoint
        resolved = spec.resolved()
        # gd counts steps (its samples are the fixed set, drawn once); the others count samples.
        self.by_steps = spec.phase1.algorithm == Algorithm.gd
        total = resolved.total_steps if self.by_steps else resolved.total_samples
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                unit="step" if self.by_steps else "sample",
                unit_scale=True,
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def on_eval(self, point: Any) -> None:
        self.trace.append(point)
        if self.bar is None:
            return
        done = point.step if self.by_steps else point.samples
        self.bar.update(max(0, min(done, self.bar.total) - self.bar.n))
        values = [v for v in point.metrics.get("mean_abs_m", []) if v is not None]
        if values:
            postfix = {"|m|": f"{sum(values) / len(values):.3f}", "phase": point.phase}
            mse = [v for v in point.metrics.get("test_mse", []) if v is not None]
            if mse:
                postfix["mse"] = f"{sum(mse) / len(mse):.3f}"
            self.bar.set_postfix(postfix, refresh=False)

    def should_stop(self) -> bool:
        return self.interrupted

    def on_checkpoint(self, state: dict[str, Any]) -> None:
        if self.checkpoint is None:
            return
        from trainer import checkpoint

        write_atomic(self.checkpoint, checkpoint.dumps(state))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------------- commands
def command_presets(args: argparse.Namespace) -> int:
    from trainer import presets

    for name in presets.names():
        print(f"{name}\n    {presets.description(name)}\n")
    return EXIT_OK


def command_validate(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, args.set)
    try:
        facts = spec.facts()
    except ValueError as error:
        raise UsageError(f"invalid spec {args.spec!r}: {error}") from None
    print(
        json.dumps(
            {"spec": spec.model_dump(mode="json"), "spec_hash": spec.spec_hash(), "facts": facts},
            indent=2,
        )
    )
    return EXIT_OK


def command_run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, args.set)
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {args.out!r} is a folder; give a file name such as result.json")
    resume = None
    if args.resume is not None:
        if not Path(args.resume).is_file():
            raise UsageError(f"--resume {args.resume!r}: no such checkpoint file")
        from trainer import checkpoint

        try:
            resume = checkpoint.loads(Path(args.resume).read_bytes())
        except Exception as error:  # noqa: BLE001 (a corrupt or foreign file, whatever it raises)
            raise UsageError(
                f"--resume {args.resume!r} is not a readable checkpoint: {error}"
            ) from None

    from trainer import train

    progress = (
        args.progress
        if args.progress is not None
        else (sys.stderr.isatty() and sys.stdout.isatty())
    )
    callbacks = CliCallbacks(
        spec, progress=progress, checkpoint=Path(args.checkpoint) if args.checkpoint else None
    )
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: Any) -> None:
        if callbacks.interrupted:  # a second Ctrl-C stops at once
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        callbacks.interrupted = True
        print(
            "\ninterrupted: stopping at the next evaluation point and writing the partial "
            "result (Ctrl-C again to abort)",
            file=sys.stderr,
        )

    signal.signal(signal.SIGINT, interrupt)
    try:
        kwargs: dict[str, Any] = {"device": args.device or spec.device, "callbacks": callbacks}
        if resume is not None:
            kwargs["resume"] = resume
        if args.checkpoint:
            kwargs["checkpoint_every_s"] = args.checkpoint_every
        try:
            result = train.run(spec, **kwargs)
        except ValueError as error:  # the trainer refuses a spec (e.g. an unavailable device)
            raise UsageError(f"the trainer refused spec {args.spec!r}: {error}") from None
    finally:
        signal.signal(signal.SIGINT, previous)
        callbacks.close()
    document = result_document(spec, result, callbacks.trace)
    write_atomic(out, json.dumps(document, indent=1, allow_nan=False, default=_json_default))
    print(_summary(result, out), file=sys.stderr)
    stopped = result.status in (RunStatus.cancelled, RunStatus.timed_out)
    return EXIT_INTERRUPTED if stopped else EXIT_OK


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy or torch scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _summary(result: Any, out: Path) -> str:
    recovered = [
        s.weak_recovery_samples for s in result.seeds if s.weak_recovery_samples is not None
    ]
    line = (
        f"{result.status}: {len(result.seeds)} seed(s), {result.samples} samples, "
        f"{result.steps} steps in {result.wall_time_s:.1f} s on {result.device}; "
        f"weak recovery in {len(recovered)}/{len(result.seeds)} seed(s)"
    )
    mse = [s.test_mse for s in result.seeds if s.test_mse is not None]
    if mse:
        line += f"; median test MSE {sorted(mse)[len(mse) // 2]:.3f}"
    return f"{line}; wrote {out}"


# --------------------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Run silab experiment specs locally (no database, no queue).",
    )
    commands = top.add_subparsers(dest="command", required=True)

    def spec_arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("spec", help="a JSON/YAML spec file or preset:NAME")
        sub.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY.PATH=VALUE",
            help="override one field (repeatable), e.g. --set d=128 "
            "--set phase1.stages.0.lr=0.1/d --set seeds=4",
        )

    run = commands.add_parser("run", help="run a spec and write its result as JSON")
    spec_arguments(run)
    run.add_argument("--out", required=True, help="result JSON file (written atomically)")
    run.add_argument(
        "--device",
        default=None,
        help="auto (CUDA when present), cpu, cuda, cuda:K; default: the spec's",
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only on a terminal)",
    )
    run.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="save checkpoints to FILE (atomically) while running",
    )
    run.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS")
    run.add_argument(
        "--resume",
        default=None,
        metavar="FILE",
        help="continue from a checkpoint written by --checkpoint",
    )
    run.set_defaults(handler=command_run)

    validate = commands.add_parser("validate", help="validate a spec and print its facts")
    spec_arguments(validate)
    validate.set_defaults(handler=command_validate)

    listing = commands.add_parser("presets", help="list the packaged presets")
    listing.set_defaults(handler=command_presets)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        paragraph = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        print(f"error: {paragraph}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
