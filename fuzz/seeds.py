#!/usr/bin/env python3
"""Writes the committed seed corpus, fuzz/corpus/<target>/seed-*: realistic inputs for
each target (frames as the real clients send them, connect queries, tokens signed with
the access_token target's fixed secret). Run it again after changing a seed here."""

import base64
import hashlib
import hmac
import json
import os
from urllib.parse import quote

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SECRET = b"fuzz-secret-that-is-at-least-32-bytes-long"  # access_token.rs SECRET
NOW = 1_767_268_800  # access_token.rs NOW


def write(target, name, text):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"seed-{name}"), "w", encoding="utf-8") as f:
        f.write(text)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


EVENT = {
    "name": "v1.TodoCreated",
    "args": {"id": "0f1e2d3c", "text": "Buy milk \u00e9\u6f22", "done": False, "tags": [1, 2.5, None]},
    "seqNum": 4,
    "parentSeqNum": 3,
    "clientId": "client-Xy12",
    "sessionId": "session-7",
}

# LiveStore 0.3.1 frames (ws-message-types.ts).
V03 = {
    "pull-start": {"_tag": "WSMessage.PullReq", "requestId": "pull-1"},
    "pull-cursor": {"_tag": "WSMessage.PullReq", "requestId": "pull-2", "cursor": 41},
    "push": {"_tag": "WSMessage.PushReq", "requestId": "push-1", "batch": [EVENT, dict(EVENT, seqNum=5, parentSeqNum=4, args={"id": "x"})]},
    "push-no-args": {"_tag": "WSMessage.PushReq", "requestId": "push-2", "batch": [{k: v for k, v in EVENT.items() if k != "args"}]},
    "ping": {"_tag": "WSMessage.Ping", "requestId": "ping"},
    "admin-reset": {"_tag": "WSMessage.AdminResetRoomReq", "requestId": "admin-1", "adminSecret": "change-me-admin"},
    "admin-info": {"_tag": "WSMessage.AdminInfoReq", "requestId": "admin-2", "adminSecret": "change-me-admin"},
}

# LiveStore 0.4 Effect-RPC envelopes (PROTOCOL.md, "Frames (0.4)").
V04 = {
    "pull-none": {"_tag": "Request", "id": "1", "tag": "SyncWsRpc.Pull", "payload": {"storeId": "store-1", "live": True, "cursor": {"_tag": "None"}}, "headers": [], "traceId": "t1", "spanId": "s1", "sampled": True},
    "pull-some": {"_tag": "Request", "id": "2", "tag": "SyncWsRpc.Pull", "payload": {"storeId": "store-1", "payload": {"authToken": "x"}, "live": False, "cursor": {"_tag": "Some", "value": {"backendId": "backend-1", "eventSequenceNumber": 12}}}, "headers": []},
    "push": {"_tag": "Request", "id": "3", "tag": "SyncWsRpc.Push", "payload": {"storeId": "store-1", "batch": [EVENT], "backendId": {"_tag": "Some", "value": "backend-1"}}, "headers": []},
    "push-none": {"_tag": "Request", "id": "4", "tag": "SyncWsRpc.Push", "payload": {"storeId": "store-1", "batch": [], "backendId": {"_tag": "None"}}, "headers": []},
    "http-ping": {"_tag": "Request", "id": "5", "tag": "SyncHttpRpc.Ping", "payload": {}, "headers": []},
    "ack": {"_tag": "Ack", "requestId": "1"},
    "interrupt": {"_tag": "Interrupt", "requestId": "1"},
    "ping": {"_tag": "Ping"},
    "eof": {"_tag": "Eof"},
}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims, header=None, secret=SECRET):
    header = header or {"typ": "JWT", "alg": "HS256"}
    signing_input = f"{b64(compact(header).encode())}.{b64(compact(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


CLAIMS = {
    "sub": "user-1", "userId": "user-1", "email": "a@example.com", "iat": NOW - 60,
    "exp": NOW + 840, "iss": "auth-worker", "jti": "6f9c2a0e-1d2b-4c3d-9e8f-0a1b2c3d4e5f",
    "sid": "session-1", "typ": "access", "mem": {"store-1": "owner", "store-2": "viewer"}, "mv": 7,
}
VALID = token(CLAIMS)
TOKENS = {
    "valid": VALID,
    "expired": token(dict(CLAIMS, iat=NOW - 1000, exp=NOW - 100)),
    "no-mem": token({k: v for k, v in CLAIMS.items() if k not in ("mem", "mv")}),
    "wrong-issuer": token(dict(CLAIMS, iss="someone-else")),
    "service": token({"sub": "sync-worker", "iat": NOW, "exp": NOW + 60, "iss": "auth-worker", "jti": "j", "typ": "service"}),
    "other-secret": token(CLAIMS, secret=b"another-secret-that-is-32-bytes-long!!"),
    "alg-none": token(CLAIMS, header={"typ": "JWT", "alg": "none"}).rsplit(".", 1)[0] + ".",
    "legacy-dev": "insecure-token-change-me",
}


def connect_queries():
    payload = compact({"authToken": VALID})
    once = quote(payload, safe="-_.!~*'()")
    twice = quote(once, safe="-_.*")
    return {
        "v03-twice": f"storeId=store-1&payload={twice}",
        "v03-once": f"storeId=store-1&payload={once}",
        "v04-ws": f"storeId=store-1&payload={twice}&transport=ws",
        "v04-http": f"storeId=store%20two&transport=http",
        "bypass": "storeId=s&payload=" + quote(quote(compact({"serverBypass": "bypass-secret", "instanceId": "i-1"}), safe=""), safe=""),
        "no-payload": "storeId=a-b",
        "empty-payload": "storeId=a_b&payload=",
        "duplicate-key": "storeId=s&payload=" + quote('{"authToken":"a","authToken":"b"}', safe=""),
        "bad-escape": "storeId=s&payload=%257B%25+f%257D",
    }


def main():
    for name, frame in V03.items():
        write("v03_frame", name, compact(frame))
    for name, frame in V04.items():
        write("v04_envelope", name, compact(frame))
    for name, query in connect_queries().items():
        write("connect_query", name, query)
    for name, text in TOKENS.items():
        write("access_token", name, text)


if __name__ == "__main__":
    main()
