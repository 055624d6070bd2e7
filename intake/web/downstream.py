"""Downstream pages: the public statistics page (no sign-in) and the admins' webhook pages.

- ``/stats`` (``?template=ID``): the open statistics release (`intake.stats`) as SVG bar charts
  drawn here, each with its table beside it, in Traditional Chinese and English. Withheld cells
  show as ×, the same in the chart and the table.
- ``/admin/webhooks``: subscriptions (create, with the secret shown once), and
  ``/admin/webhooks/{id}``: one subscription with its deliveries and each delivery's log of
  attempts, and the actions: enable, disable (with the reason shown when it was disabled
  automatically), rotate the secret, replay one delivery or everything since a time. Plain forms
  with the CSRF token, no script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from intake.batches.processing import registry_for
from intake.db.models import WebhookSubscription
from intake.db.session import get_db
from intake.errors import IntakeError, InvalidRequest, PermissionDenied
from intake.stats import charts
from intake.stats.service import release, select_view
from intake.web.routes import PageRoute, _maybe_principal, _settings, check_csrf, render, signed_in
from intake.webhooks import EVENT_TYPE_NAMES, service
from intake.webhooks.schemas import SubscriptionIn

router = APIRouter(route_class=PageRoute, include_in_schema=False)
DIMS = (("by_month", "依月份", "By month"), ("by_county", "依縣市", "By county or city"),
        ("by_category", "依通報類別", "By report category"))


# ---------------------------------------------------------------- statistics (public)
@router.get("/stats")
def stats_page(request: Request, template: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    settings = _settings(request)
    reg = registry_for(settings)
    if template:
        reg.get(template)
    full = release(settings, reg)
    view = select_view(full, template, None)
    scope = template or "all"
    sc = view["scopes"][scope]
    blocks = []
    for key, zh, en in DIMS:
        cells = sc.get(key)
        if not cells:
            continue
        shown = [c for c in cells if c["suppressed"] or c["count"]]
        svg = (charts.vertical(cells, f"{zh} {en}") if key == "by_month"
               else charts.horizontal(cells, f"{zh} {en}"))
        blocks.append({"key": key, "zh": zh, "en": en, "svg": svg, "cells": shown,
                       "note": None if key != "by_category" or sc.get("categories_add_up") else
                       ("一筆通報可屬多個類別，類別合計可大於總數。",
                        "A report may be in several categories: they can add up to more than the total.")})
    titles = {t["id"]: t["title"] for t in full["templates"]}
    return render(request, "stats.html", _maybe_principal(request), title="統計 Statistics", release=full,
                  scope=scope, total=sc["total"], blocks=blocks, titles=titles,
                  template_title=titles.get(template) if template else None)


# ---------------------------------------------------------------- webhooks (admins)
def _admin(request: Request):  # noqa: ANN202 - a Principal
    principal = signed_in(request)
    if principal.role != "admin":
        raise PermissionDenied("the webhook pages are for admins only")
    return principal


@router.get("/admin/webhooks")
def webhooks_page(request: Request) -> Response:
    principal = _admin(request)
    settings = _settings(request)
    with get_db(settings).read_session() as s:
        subs = [service.out(x) for x in s.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))]
    return render(request, "webhooks.html", principal, title="Webhooks", subs=subs, error=None, secret=None,
                  event_types=EVENT_TYPE_NAMES, templates=registry_for(settings).ids(), form={})


@router.post("/admin/webhooks")
def create_webhook(request: Request, name: Annotated[str, Form()] = "", url: Annotated[str, Form()] = "",
                   template: Annotated[str, Form()] = "", event_types: Annotated[list[str], Form()] = [],  # noqa: B006
                   include_data: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    principal = _admin(request)
    check_csrf(request, csrf)
    settings = _settings(request)
    reg = registry_for(settings)
    form = {"name": name, "url": url, "template": template, "event_types": event_types,
            "include_data": bool(include_data)}
    try:
        body = SubscriptionIn(name=name.strip(), url=url.strip(), template=template or None,
                              event_types=event_types or list(EVENT_TYPE_NAMES), include_data=bool(include_data))
        with get_db(settings).session() as s:
            sub, secret = service.create(s, body, reg, principal.actor, principal.id)
            sub_id = sub.id
    except (IntakeError, ValueError) as exc:
        message = exc.message if isinstance(exc, IntakeError) else "check the name and the URL (http:// or https://)"
        with get_db(settings).read_session() as s:
            subs = [service.out(x) for x in s.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))]
        return render(request, "webhooks.html", principal, status_code=422, title="Webhooks", subs=subs,
                      error=message, secret=None, event_types=EVENT_TYPE_NAMES, templates=reg.ids(), form=form)
    return _detail(request, principal, sub_id, secret=secret)


def _detail(request: Request, principal, sub_id: int, secret: str | None = None,  # noqa: ANN001
            message: str | None = None) -> Response:
    with get_db(_settings(request)).read_session() as s:
        sub = service.out(service.get(s, sub_id))
        deliveries, _ = service.deliveries(s, sub_id, None, 50, None)
    return render(request, "webhook.html", principal, title=f"Webhook {sub.name}", sub=sub, deliveries=deliveries,
                  secret=secret, message=message)


@router.get("/admin/webhooks/{sub_id}")
def webhook_page(request: Request, sub_id: int) -> Response:
    return _detail(request, _admin(request), sub_id)


@router.post("/admin/webhooks/{sub_id}/{action}")
def webhook_action(request: Request, sub_id: int, action: str, csrf: Annotated[str, Form()] = "",
                   since: Annotated[str, Form()] = "", delivery: Annotated[int | None, Form()] = None) -> Response:
    principal = _admin(request)
    check_csrf(request, csrf)
    settings = _settings(request)
    secret = message = None
    with get_db(settings).session() as s:
        if action == "enable":
            service.enable(s, sub_id, principal.actor)
        elif action == "disable":
            service.disable(s, sub_id, principal.actor)
        elif action == "rotate":
            _, secret = service.rotate_secret(s, sub_id, settings, principal.actor)
        elif action == "replay" and delivery is not None:
            d = service.get_delivery(s, delivery)
            if d.subscription_id != sub_id:
                raise InvalidRequest("that delivery belongs to another subscription")
            service.replay_one(s, delivery, principal.actor)
            message = f"delivery {delivery} queued again"
        elif action == "replay-since":
            try:
                when = datetime.fromisoformat(since.strip())
            except ValueError:
                raise InvalidRequest("give the time as YYYY-MM-DD HH:MM (UTC)") from None
            n = service.replay_since(s, sub_id, when if when.tzinfo else when.replace(tzinfo=UTC), principal.actor)
            message = f"{n} deliveries queued"
        elif action == "delete":
            service.delete(s, sub_id, principal.actor)
            return RedirectResponse("/admin/webhooks", status_code=303)
        else:
            raise InvalidRequest(f"unknown action {action!r}")
    if secret is None and message is None:
        return RedirectResponse(f"/admin/webhooks/{sub_id}", status_code=303)
    return _detail(request, principal, sub_id, secret=secret, message=message)
