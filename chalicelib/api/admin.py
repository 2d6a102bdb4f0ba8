"""Admin API (bearer token): look contacts up, read their profile and timeline, erase them;
read one message whole (what was sent, its body included)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response
from chalicelib.identity.keys import InvalidIdentity, identity_key

if TYPE_CHECKING:
    from chalicelib.storage.models import Contact

# The lookups, the erasure and the views load in the routes that use them, not at every cold
# start of the API (tests/unit/test_cold_start_imports.py).
blueprint = Blueprint(__name__)
# Query parameter -> identity kind: GET /admin/contacts?email=ann@example.com
LOOKUPS = {
    "email": "email",
    "phone": "phone",
    "user_id": "user",
    "anonymous_id": "anon",
    "telegram": "telegram",
    "whatsapp": "whatsapp",
    "messenger": "messenger",
    "instagram": "instagram",
}


@blueprint.route("/admin/contacts", methods=["GET"])
@json_errors
def find_contacts():  # type: ignore[no-untyped-def]
    request = blueprint.current_request
    require_admin(request)
    from chalicelib.identity import store
    from chalicelib.storage import contacts

    settings = wiring.storage()
    params = request.query_params or {}
    given = [(name, params[name]) for name in LOOKUPS if params.get(name)]
    if len(given) != 1:
        raise ApiError(
            400,
            f"give exactly one of {', '.join(LOOKUPS)}: /admin/contacts?email=ann@example.com",
            field="query",
        )
    name, value = given[0]
    try:
        key = identity_key(LOOKUPS[name], value, settings.phone_region)
    except InvalidIdentity as error:
        raise ApiError(400, str(error), field=name) from error
    owner = store.owner(key)
    contact = contacts.resolve(owner) if owner else None
    found = [_view(contact, _limit(params))] if contact else []
    return json_response({"contacts": found})


@blueprint.route("/admin/contacts/{contact_id}", methods=["GET"])
@json_errors
def get_contact(contact_id: str):  # type: ignore[no-untyped-def]
    request = blueprint.current_request
    require_admin(request)
    from chalicelib.storage import contacts

    wiring.storage()
    contact = contacts.resolve(contact_id)
    if contact is None:
        raise ApiError(404, f"no contact with id {contact_id!r}", field="contact_id")
    view = _view(contact, _limit(request.query_params or {}))
    if contact.contact_id != contact_id:
        view["requested_id"] = contact_id  # merged: this is the contact it became
    return json_response(view)


@blueprint.route("/admin/messages/{message_id}", methods=["GET"])
@json_errors
def get_message(message_id: str):  # type: ignore[no-untyped-def]
    """The message as sent: its content whole (a contact's message list shows what the message
    item keeps: a long email's body is in an item of its own), its status history."""
    require_admin(blueprint.current_request)
    from chalicelib.runtime import views
    from chalicelib.storage.messages import content_of
    from chalicelib.storage.models import Message

    wiring.storage()
    try:
        message = Message.get(message_id)
    except Message.DoesNotExist:
        raise ApiError(404, f"no message with id {message_id!r}", field="message_id") from None
    view = views.message_summary(message)
    view["content"] = content_of(message)
    view["history"] = [dict(entry) for entry in message.status_history or ()]
    return json_response(view)


@blueprint.route("/admin/contacts/{contact_id}", methods=["DELETE"])
@json_errors
def erase_contact(contact_id: str):  # type: ignore[no-untyped-def]
    require_admin(blueprint.current_request)
    from chalicelib.identity.erase import erase
    from chalicelib.storage import contacts

    wiring.storage()
    contact = contacts.resolve(contact_id)
    target = contact.contact_id if contact else contact_id
    erased = erase(target)
    if not any(erased.values()):
        raise ApiError(404, f"no contact with id {contact_id!r}", field="contact_id")
    return json_response({"erased": target, "deleted": erased})


def _view(contact: Contact, limit: int) -> dict[str, Any]:
    from chalicelib.channels import reachability
    from chalicelib.identity import store
    from chalicelib.runtime import views
    from chalicelib.storage import contacts

    contact_id = contact.contact_id
    profile = contacts.profile_of(contact)
    identities = store.of_contact(contact_id)
    profile["identities"] = [
        {
            "kind": item.kind,
            "value": item.value,
            "since": item.created_at.isoformat(),
            "proof": item.proof,  # the trusted source that proved it; None: a claim
        }
        for item in identities
    ]
    reach = reachability.from_records(contact, identities, contact_id)
    profile["addresses"] = reach.addresses  # where each channel's messages go
    if reach.unconfirmed:
        profile["unconfirmed"] = reach.unconfirmed  # claimed numbers awaiting a YES
    profile["timeline"] = contacts.timeline(contact_id, limit)
    profile["enrollments"] = views.enrollments_of(contact_id)
    profile["messages"] = views.messages_of(contact_id, limit)
    return profile


def _limit(params: Any) -> int:
    from chalicelib.storage import contacts

    raw = params.get("limit") or "100"
    if not raw.isdigit() or not 1 <= int(raw) <= contacts.MAX_TIMELINE:
        raise ApiError(
            400, f"limit must be a number from 1 to {contacts.MAX_TIMELINE}", field="limit"
        )
    return int(raw)
