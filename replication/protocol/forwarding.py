"""This site's Ed25519 key and trust store, lent to the kernel's gateway: a request
one site forwards to another is signed with the same identity as its replication
requests (yui.http.gateway.SiteSignatures). The gateway builds what is signed, under
its own context string, so a forward's signature never passes as a replication
request's, nor the other way round."""

from __future__ import annotations

from replication.protocol.signing import SiteKey, TrustStore, verify_with


class ForwardSignatures:
    def __init__(self, key: SiteKey, trust: TrustStore) -> None:
        self.key = key
        self.trust = trust

    def sign(self, data: bytes) -> str:
        return self.key.sign(data)

    def verify(self, site: str, data: bytes, signature: str) -> bool:
        keys = self.trust.keys.get(site)
        return bool(keys) and verify_with(keys or [], data, signature)
