"""The Telegram webhook fed with python-telegram-bot's own `Update` objects, serialised with
`Update.to_json()`: the parser is checked against a real client library's idea of the format
(and our fixture files are checked to be Updates that library accepts)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client
from telegram import (
    CallbackQuery,
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    Contact,
    Message,
    MessageEntity,
    Update,
    User,
)

from tests.integration.webhooks.conftest import (
    FIXTURES,
    browse,
    find_contact,
    post_telegram,
    visitor_link,
)

OLGA = User(id=427913004, first_name="Olga", is_bot=False, username="olga_k", language_code="de")
BOT = User(id=7000000001, first_name="Shop", is_bot=True, username="shop_bot")
CHAT = Chat(id=427913004, type=Chat.PRIVATE, first_name="Olga", username="olga_k")
WHEN = datetime(2024, 3, 4, 9, 2, tzinfo=UTC)


def message(message_id: int, text: str, **extra: Any) -> Message:
    return Message(message_id=message_id, date=WHEN, chat=CHAT, from_user=OLGA, text=text, **extra)


def command(message_id: int, text: str) -> Message:
    name = text.split(" ")[0]
    entity = MessageEntity(type=MessageEntity.BOT_COMMAND, offset=0, length=len(name))
    return message(message_id, text, entities=[entity])


def send(api: Client, update: Update) -> Any:
    response = post_telegram(api, json.loads(update.to_json()))
    assert response.status_code == 200, response.body
    return response.json_body


def test_updates_built_with_python_telegram_bot_drive_the_whole_chat(
    api: Client, admin_headers: dict[str, str]
) -> None:
    visitor = str(uuid.uuid4())
    browse(api, visitor, "telegram_cta_clicked")
    token = visitor_link(api, visitor)["token"]

    started = send(api, Update(update_id=1, message=command(1, f"/start {token}")))
    assert started["stored"] == ["identify", "messenger_started", "channel_linked"]
    texted = send(api, Update(update_id=2, message=message(2, "What's in the guide?")))
    assert texted["stored"] == ["message_received"]
    menu = message(3, "Here is your guide")
    press = CallbackQuery(
        id="9001", from_user=OLGA, chat_instance="-45938127", data="email_me", message=menu
    )
    assert send(api, Update(update_id=3, callback_query=press)) == {
        "method": "answerCallbackQuery",
        "callback_query_id": "9001",
    }
    shared = Contact(phone_number="4915112345678", first_name="Olga", user_id=OLGA.id)
    contact_message = Message(message_id=4, date=WHEN, chat=CHAT, from_user=OLGA, contact=shared)
    assert send(api, Update(update_id=4, message=contact_message))["stored"] == ["message_received"]

    contact = find_contact(api, admin_headers, telegram="427913004")
    assert contact is not None
    assert contact == find_contact(api, admin_headers, anonymous_id=visitor)
    assert contact == find_contact(api, admin_headers, phone="+4915112345678")
    by_name = {event["name"]: event["properties"] for event in contact["timeline"]}
    assert by_name["messenger_started"]["linked"] is True
    assert by_name["button_clicked"]["button"] == "email_me"
    received = [e["properties"] for e in contact["timeline"] if e["name"] == "message_received"]
    assert sorted(props["text"] for props in received) == ["+4915112345678", "What's in the guide?"]
    assert [props.get("phone_shared") for props in received].count(True) == 1

    blocked = ChatMemberUpdated(
        chat=CHAT,
        from_user=OLGA,
        date=WHEN,
        old_chat_member=ChatMemberMember(user=BOT),
        new_chat_member=ChatMemberBanned(user=BOT, until_date=datetime.fromtimestamp(0, UTC)),
    )
    send(api, Update(update_id=5, my_chat_member=blocked))
    contact = find_contact(api, admin_headers, telegram="427913004")
    assert contact is not None and contact["consents"]["telegram"]["granted"] is False


@pytest.mark.parametrize(
    "path", sorted((FIXTURES / "telegram").glob("*.json")), ids=lambda p: p.stem
)
def test_every_telegram_fixture_is_an_update_python_telegram_bot_accepts(path: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    update = Update.de_json(data, bot=None)
    assert update is not None and update.update_id == data["update_id"]
    assert json.loads(update.to_json())["update_id"] == data["update_id"]
