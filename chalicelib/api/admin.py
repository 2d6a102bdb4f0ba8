"""Admin API (bearer token): contacts."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response
from chalicelib.storage import contacts

blueprint = Blueprint(__name__)


@blueprint.route("/admin/contacts/{contact_id}", methods=["GET"])
@json_errors
def get_contact(contact_id: str):  # type: ignore[no-untyped-def]
    require_admin(blueprint.current_request)
    wiring.storage()
    profile = contacts.get_profile(contact_id)
    if profile is None:
        raise ApiError(404, f"no contact with id {contact_id!r}", field="contact_id")
    return json_response(profile)
