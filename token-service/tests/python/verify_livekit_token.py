"""Verify tokens with LiveKit's own Python implementation (not ours).

Reads {"api_key", "api_secret", "tokens": {name: jwt}} as JSON on stdin and prints, for
each token, what livekit-api's TokenVerifier makes of it: identity, kind, grants, the
parsed roomConfig, and exp/nbf. Also reports how a wrong secret and a wrong API key fare.
"""

import dataclasses
import json
import sys

import jwt
from google.protobuf.json_format import MessageToDict
from livekit import api


def describe(verifier, token):
    claims = verifier.verify(token)
    raw = jwt.decode(token, options={"verify_signature": False})
    room_config = claims.room_config
    return {
        "identity": claims.identity,
        "kind": claims.kind,
        "metadata": claims.metadata,
        "video": {k: v for k, v in dataclasses.asdict(claims.video).items() if v is not None},
        # The grants exactly as signed (the dataclass above fills in LiveKit's defaults).
        "raw_video": raw.get("video"),
        "room_config": MessageToDict(room_config) if room_config is not None else None,
        "agents": [
            {"agent_name": a.agent_name, "metadata": a.metadata}
            for a in (room_config.agents if room_config is not None else [])
        ],
        "exp": raw["exp"],
        "nbf": raw["nbf"],
    }


def refusal(verifier, token):
    try:
        verifier.verify(token)
    except Exception as e:  # the exception type is what we report
        return type(e).__name__
    return "accepted"


def main():
    request = json.load(sys.stdin)
    key, secret = request["api_key"], request["api_secret"]
    verifier = api.TokenVerifier(key, secret)
    out = {}
    for name, token in request["tokens"].items():
        out[name] = describe(verifier, token)
        out[name]["wrong_secret"] = refusal(api.TokenVerifier(key, secret + "x"), token)
        out[name]["wrong_key"] = refusal(api.TokenVerifier(key + "x", secret), token)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
