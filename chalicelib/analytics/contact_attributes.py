"""Writes analytics' conclusions onto the contact (attributes `rfm_segment`, `lifetime_value`,
`segments`) where funnels read them: ContactView.rfm_segment / segments, `contact.*` in templates.

One UpdateItem per contact, SET by path (other attributes are kept) and ADD 1 to `version`, so a
concurrent versioned save of the contact fails and re-reads instead of overwriting these.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.storage.models import Contact


def set_attributes(contact_id: str, values: dict[str, Any]) -> bool:
    """False when the contact is gone or merged away (its survivor is scored on its own)."""
    actions = [Contact.attributes[name].set(value) for name, value in values.items()]
    alive = Contact.contact_id.exists() & Contact.merged_into.does_not_exist()
    connection = Contact._get_connection()
    try:
        connection.update_item(
            contact_id, actions=[*actions, Contact.version.add(1)], condition=alive
        )
        return True
    except UpdateError as error:
        code = error.cause_response_code
        if code == "ConditionalCheckFailedException":
            return False
        if code != "ValidationException":
            raise
    # A contact stored without its attributes map: create the map, then set the paths.
    try:
        connection.update_item(
            contact_id,
            actions=[Contact.attributes.set(Contact.attributes | {}), Contact.version.add(1)],
            condition=alive,
        )
        connection.update_item(
            contact_id, actions=[*actions, Contact.version.add(1)], condition=alive
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
