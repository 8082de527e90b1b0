"""PFIF's fields, by version, and how older versions' fields read in PFIF 1.4.

PFIF 1.4 (https://zesty.ca/pfif/1.4/) is what we write; 1.2 and 1.3 are read and their
fields renamed to 1.4's (first_name → given_name, last_name → family_name, other →
description, a note's found → author_made_contact). The order below is 1.4's.
"""

from __future__ import annotations

import re

NAMESPACES = {
    "http://zesty.ca/pfif/1.2": "1.2",
    "http://zesty.ca/pfif/1.3": "1.3",
    "http://zesty.ca/pfif/1.4": "1.4",
}
PFIF_14 = "http://zesty.ca/pfif/1.4"

PERSON_FIELDS = (
    "person_record_id",
    "entry_date",
    "expiry_date",
    "author_name",
    "author_email",
    "author_phone",
    "source_name",
    "source_date",
    "source_url",
    "full_name",
    "given_name",
    "family_name",
    "alternate_names",
    "description",
    "sex",
    "date_of_birth",
    "age",
    "home_street",
    "home_neighborhood",
    "home_city",
    "home_state",
    "home_postal_code",
    "home_country",
    "photo_url",
    "profile_urls",
)
NOTE_FIELDS = (
    "note_record_id",
    "person_record_id",
    "linked_person_record_id",
    "entry_date",
    "author_name",
    "author_email",
    "author_phone",
    "source_date",
    "author_made_contact",
    "status",
    "email_of_found_person",
    "phone_of_found_person",
    "last_known_location",
    "text",
    "photo_url",
)
#: fields of 1.2 and 1.3 under their 1.4 names
RENAMED = {
    "first_name": "given_name",
    "last_name": "family_name",
    "other": "description",
    "home_zip": "home_postal_code",
    "found": "author_made_contact",
}
#: the repository sets these when it stores a record: never taken from a file
SET_ON_IMPORT = ("entry_date",)
#: fields whose text may hold several lines
MULTILINE = {"full_name", "alternate_names", "description", "profile_urls", "text"}

STATUSES = {
    "information_sought",
    "is_note_author",
    "believed_alive",
    "believed_missing",
    "believed_dead",
}
SEXES = {"female", "male", "other"}
MAX_RECORD_ID = 255
MAX_SHORT = 500
MAX_LONG = 5000

#: `domain/unique`: a domain name, a slash, then anything without spaces
RECORD_ID = re.compile(r"^[A-Za-z0-9.-]+/\S+$")
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$")
DATE_OF_BIRTH = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
AGE = re.compile(r"^\d{1,3}(?:-\d{1,3})?$")


def domain_of(record_id: str) -> str:
    """The home repository's domain of a record id (`domain/unique`)."""
    return record_id.partition("/")[0].lower()
