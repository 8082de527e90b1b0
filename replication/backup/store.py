"""Backup targets: S3 buckets (boto3), each named by an endpoint URL and a bucket —
another site's object storage. Nothing here is specific to one provider or to moto:
endpoints, buckets and credentials (the usual AWS variables) are settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

StoreError = (BotoCoreError, ClientError)


@dataclass(frozen=True)
class Target:
    endpoint: str | None
    bucket: str

    @classmethod
    def parse(cls, text: str) -> Target:
        """``https://host[:port]/bucket`` (an S3-compatible endpoint), or ``s3://bucket``
        (AWS itself)."""
        parts = urlsplit(text.strip())
        bucket = parts.path.strip("/") if parts.scheme != "s3" else parts.netloc
        if not bucket or "/" in bucket or parts.scheme not in ("http", "https", "s3"):
            raise ValueError(
                f"a backup target is https://endpoint/bucket or s3://bucket, not {text!r}"
            )
        endpoint = None if parts.scheme == "s3" else f"{parts.scheme}://{parts.netloc}"
        return cls(endpoint, bucket)

    def __str__(self) -> str:
        return f"{self.endpoint or 's3:/'}/{self.bucket}"


def parse_targets(text: str) -> list[Target]:
    return [Target.parse(part) for part in text.split(",") if part.strip()]


class Bucket:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=target.endpoint,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def ensure(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.target.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.target.bucket)

    def put(self, name: str, path: Path) -> None:
        self.client.upload_file(str(path), self.target.bucket, name)

    def get(self, name: str, path: Path) -> None:
        self.client.download_file(self.target.bucket, name, str(path))

    def names(self, prefix: str) -> list[str]:
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.target.bucket, Prefix=prefix):
                found += [str(item["Key"]) for item in page.get("Contents", [])]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return []  # nothing backed up here yet
            raise
        return sorted(found)
