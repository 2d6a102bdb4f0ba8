"""Attribution: where a visit came from (UTM campaign, else referring site, else direct)."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from chalicelib.ingest.spec import Call

# Segment's context.campaign names -> the utm_* parameter each comes from.
CAMPAIGN_FIELDS = {
    "source": "utm_source",
    "medium": "utm_medium",
    "name": "utm_campaign",
    "term": "utm_term",
    "content": "utm_content",
}


def touch_of(call: Call) -> tuple[dict[str, Any], bool] | None:
    """(touch, is_new_visit) for page calls; a touch is new when it has a campaign or an
    outside referrer (moving between a site's own pages is not a new touch)."""
    if call.type != "page":
        return None
    url = str(call.properties.get("url") or "")
    referrer = str(call.properties.get("referrer") or "")
    campaign = _campaign(call.context.get("campaign"), url)
    page_host = _split(url).hostname or ""
    referring_host = _split(referrer).hostname or ""
    external = bool(referring_host) and referring_host != page_host
    touch: dict[str, Any] = {
        "source": campaign.get("source") or (referring_host if external else "direct"),
        "at": call.timestamp.isoformat(),
    }
    for name in ("medium", "name", "term", "content"):
        if campaign.get(name):
            touch["campaign" if name == "name" else name] = campaign[name]
    if external:
        touch["referrer"] = referrer
    if url:
        touch["landing_page"] = url
    return touch, bool(campaign) or external


def _campaign(raw: Any, url: str) -> dict[str, str]:
    campaign = {k: str(v) for k, v in raw.items() if v} if isinstance(raw, dict) else {}
    if campaign:
        return {k: v for k, v in campaign.items() if k in CAMPAIGN_FIELDS}
    # Server-side clients rarely fill context.campaign: read the utm_* of the page URL.
    query = parse_qs(_split(url).query)
    return {name: query[param][0] for name, param in CAMPAIGN_FIELDS.items() if query.get(param)}


def _split(url: str) -> SplitResult:
    """The URL's parts; a malformed URL ("http://[") has none (it is still stored as sent)."""
    try:
        return urlsplit(url)
    except ValueError:
        return SplitResult("", "", "", "", "")
