"""What a subscriber sends and the little they are answered."""

from __future__ import annotations

from pydantic import BaseModel, Field

from safety_check.search.schemas import SearchIn

#: an address as a mail relay takes it (one @, no spaces, a dot in the domain)
EMAIL_PATTERN = r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"


class SubscribeIn(SearchIn):
    email: str = Field(
        max_length=254,
        pattern=EMAIL_PATTERN,
        description="知らせる先の電子メール（誰にも表示されません） / where to tell (never shown)",
    )


class Accepted(BaseModel):
    message: str = (
        "受け付けました。該当する方がいれば確認のメールを送ります（該当しなくても同じ答えです） / "
        "accepted: if someone matches, a confirmation e-mail is sent (the answer is the same "
        "either way)"
    )


class SubscriptionState(BaseModel):
    confirmed: bool
    campaign: str


class SubscriptionCounts(BaseModel):
    """How many people asked to be told: counts only, never who or where."""

    pending: int
    confirmed: int
