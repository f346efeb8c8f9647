"""Trello's webhook routes: the token's webhooks listed, one created, re-activated or
deleted.

Over an HttpTrello's transport, so that these calls share its pacing, retries and error
handling, and the token (part of the `/tokens/{token}/webhooks` path) is redacted from
every error and log line as it is everywhere else.
"""

from __future__ import annotations

from trello_sync.trello.client import HttpTrello, _seg
from trello_sync.trello.port import Json, TrelloError


class TrelloWebhooks:
    def __init__(self, trello: HttpTrello, token: str) -> None:
        self._trello = trello
        self._token = token

    def listed(self) -> list[Json]:
        """`GET /1/tokens/{token}/webhooks`: every webhook of this token."""
        return self._trello._json_list(f"/tokens/{_seg(self._token)}/webhooks", {})

    def create(self, board_id: str, callback_url: str, description: str) -> Json:
        """`POST /1/webhooks`. Trello first sends a HEAD to the URL: a URL that does not
        answer 200 is refused (TrelloRefused, Trello's sentence)."""
        body = {"idModel": board_id, "callbackURL": callback_url, "description": description}
        return self._object(self._trello._call("/webhooks", "POST", body=body), "POST")

    def reactivate(self, webhook_id: str) -> Json:
        """`PUT /1/webhooks/{id}` with `active=true`."""
        path = f"/webhooks/{_seg(webhook_id)}"
        return self._object(self._trello._call(path, "PUT", body={"active": "true"}), "PUT")

    def delete(self, webhook_id: str) -> None:
        """`DELETE /1/webhooks/{id}`."""
        self._trello._call(f"/webhooks/{_seg(webhook_id)}", "DELETE")

    @staticmethod
    def _object(answer: object, method: str) -> Json:
        if not isinstance(answer, dict) or "id" not in answer:
            raise TrelloError(f"{method} /webhooks: Trello's answer is not a webhook")
        return answer
