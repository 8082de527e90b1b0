"""What a resident reads: Japanese first, then English (the message and its reminders)."""

from __future__ import annotations


def compose(title: str, link: str, *, reminder: bool) -> tuple[str, str]:
    """The subject and text of one message with the resident's own link."""
    if reminder:
        subject = f"【安否確認・再送】{title} / Reminder: are you safe?"
        opening = "まだお返事をいただいていません。"
        english = "We have not heard from you yet. "
    else:
        subject = f"【安否確認】{title} / Are you safe?"
        opening = ""
        english = ""
    text = (
        f"{title}\n\n"
        f"{opening}ご無事ですか。下のリンクを開き、いまの状況（無事・けが・助けが必要・避難所にいる）"
        "を押して知らせてください。\n"
        f"{link}\n"
        "このリンクはあなた専用です。ほかの人に転送しないでください。\n\n"
        f"{english}Are you safe? Open the link above and tap your situation (safe, injured, "
        "need help, at a shelter). The link is yours alone: please do not forward it.\n"
    )
    return subject, text
