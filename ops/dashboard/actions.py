"""The operator's actions as buttons: replay an order (a dry run first), requeue a dead
letter, pause and resume a destination.

Each button POSTs its form here; without `confirm=yes` the answer is a confirmation page
(for a replay, the dry run's counts, itself audited as a dry run), whose own form confirms.
The work is the /ops API's own functions (ops.ops_api), so it is audited the same way, with
the actor "dashboard", and refused the same way (a 409 there is a page saying why here).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDict
from pydantic import ValidationError

from adapters.db.dead_letters import dead_letter
from adapters.http.keys import ENGINE
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from ops.dashboard.forms import form, page, safe_next
from ops.dashboard.pages import render
from ops.dashboard.session import Session
from ops.ops_api.dead_letters import DeadLetterSelection, requeue
from ops.ops_api.destinations import PauseRequest, known_destination, pause, resume
from ops.ops_api.outbox import ReplayRequest, dry_run_replay, launch_replay

ACTOR = "dashboard"
Action = Callable[[web.Request, Session, MultiDict[str], bool], Awaitable[web.Response]]


def _message(
    found: Session,
    title: str,
    text: str,
    *,
    status: int = 200,
    details: dict[str, Any] | None = None,
    back: str = "/dashboard",
) -> web.Response:
    failed = status >= 400
    return render(
        "message.html",
        found,
        status=status,
        title=title,
        text=text,
        failed=failed,
        details=details or {},
        back=back,
    )


def _confirm(found: Session, path: str, fields: dict[str, Any], **page: Any) -> web.Response:
    return render("confirm.html", found, path=path, fields=fields, ask_reason=False, **page)


def action(work: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A POSTed action behind the session and CSRF guard: problems and invalid fields are
    a page saying what went wrong, with the status /ops would answer."""

    @page
    async def handler(request: web.Request, found: Session) -> web.StreamResponse:
        sent = form(request)
        try:
            return await work(request, found, sent, sent.get("confirm") == "yes")
        except ProblemError as problem:
            return _message(
                found, problem.title, problem.detail or problem.title, status=problem.status
            )
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, e["loc"])) or "form" for e in error.errors())
            return _message(found, "Not valid", f"invalid field(s): {fields}", status=422)

    handler.__name__ = work.__name__
    return handler


async def _replay(
    request: web.Request, found: Session, sent: MultiDict[str], confirmed: bool
) -> web.Response:
    order = sent.get("order", "")
    body = ReplayRequest(mode=sent.get("mode", ""), orders=[order])
    back = safe_next(f"/dashboard/orders/{order}")
    if not confirmed:
        counts = await dry_run_replay(request, body, actor=ACTOR)
        if not counts["total"]:
            return _message(
                found,
                "Nothing to replay",
                "The dry run selects no delivery of this order.",
                details=_replay_details(counts),
                back=back,
            )
        return _confirm(
            found,
            "/dashboard/actions/replay",
            {"order": order, "mode": body.mode},
            title=f"{body.mode} order {order}",
            text=f"The dry run selects {counts['total']} deliveries: {body.mode} them?",
            details=_replay_details(counts),
            button=f"Replay ({body.mode})",
            back=back,
        )
    replay_id, counts = await launch_replay(request, body, actor=ACTOR)
    return _message(
        found,
        "Replay started",
        f"Replay {replay_id} ({body.mode}) is running: {counts['total']} deliveries.",
        details=_replay_details(counts),
        back=back,
    )


def _replay_details(counts: dict[str, Any]) -> dict[str, Any]:
    by = counts.get("by_destination", {})
    return {
        "deliveries": counts["total"],
        **{f"to {dest}": n for dest, n in by.items()},
        **{f"skipped ({why})": n for why, n in counts.get("skipped", {}).items()},
    }


async def _requeue(
    request: web.Request, found: Session, sent: MultiDict[str], confirmed: bool
) -> web.Response:
    selection = DeadLetterSelection(ids=[sent.get("dead_letter_id", "")])
    (letter_id,) = selection.ids
    back = safe_next(sent.get("back"))
    if not confirmed:

        def read() -> dict[str, Any] | None:
            with request.app[ENGINE].connect() as conn:
                return dead_letter(conn, letter_id)

        letter = await run(request, read)
        if letter is None:
            raise ProblemError(404, "Not Found", f"no dead letter with id {letter_id}")
        return _confirm(
            found,
            "/dashboard/actions/requeue",
            {"dead_letter_id": letter_id, "back": back},
            title=f"requeue dead letter {letter_id}",
            text="Send this message to its destination again?",
            details={
                "destination": letter["destination"],
                "event": f"{letter['event_type']} #{letter['sequence']}",
                "aggregate": f"{letter['aggregate_type']} {letter['aggregate_id']}",
                "state": letter["state"],
                "error": letter["error"],
            },
            button="Requeue",
            back=back,
        )
    done = await requeue(request, selection, actor=ACTOR)
    outcomes = {f"dead letter {r['id']}": r["outcome"] for r in done["results"]}
    text = f"{done['requeued']} requeued, {done['skipped']} skipped."
    return _message(found, "Requeue", text, details=outcomes, back=back)


async def _pause(
    request: web.Request, found: Session, sent: MultiDict[str], confirmed: bool
) -> web.Response:
    name = await known_destination(request, sent.get("destination", ""))
    if not confirmed:
        return render(
            "confirm.html",
            found,
            path="/dashboard/actions/pause",
            fields={"destination": name},
            ask_reason=True,
            title=f"pause {name}",
            text=f"Stop delivering to {name}? Its messages wait (nothing is lost) until a resume.",
            details={},
            button="Pause",
            back="/dashboard",
        )
    reason = PauseRequest(reason=sent.get("reason", "")).reason
    await pause(request, name, reason, actor=ACTOR)
    return _message(found, "Paused", f"{name} is paused: {reason}")


async def _resume(
    request: web.Request, found: Session, sent: MultiDict[str], confirmed: bool
) -> web.Response:
    name = await known_destination(request, sent.get("destination", ""))
    if not confirmed:
        return _confirm(
            found,
            "/dashboard/actions/resume",
            {"destination": name},
            title=f"resume {name}",
            text=f"Resume delivering to {name}? What waited is released.",
            details={},
            button="Resume",
            back="/dashboard",
        )
    released = await resume(request, name, actor=ACTOR)
    return _message(
        found,
        "Resumed",
        f"{name} is delivering again: {released} released.",
        details={"released": released},
    )


replay_action = action(_replay)
requeue_action = action(_requeue)
pause_action = action(_pause)
resume_action = action(_resume)
