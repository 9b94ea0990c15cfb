"""Call the token endpoint with the official MKA1 Python SDK (meetkai-mka1).

Usage: mka1_sdk_token.py SERVER_URL (the API key comes on stdin, to keep it out of the
process list). Prints {"ok": {token, url, room_name, sent_llm}, "refused": {status, body}}:
one good call, and one the server must refuse (a computer_use_preview tool).
"""

import json
import sys

from mka1 import SDK
from mka1.errors import SDKDefaultError


def main():
    server_url = sys.argv[1]
    api_key = sys.stdin.read().strip()
    sdk = SDK(bearer_auth=api_key, server_url=server_url, timeout_ms=10_000)
    llm = {
        "model": "meetkai:functionary-urdu-mini-pak",
        "instructions": "Answer briefly; you are on a phone call.",
        "tools": [
            {
                "type": "function",
                "strict": True,
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "temperature": 0.4,
        "metadata": {"channel": "voice"},
    }
    res = sdk.llm.speech.livekit_token(
        llm=llm,
        x_on_behalf_of="sdk-user-1",
        stt={"silence_timeout_ms": 800, "initial_silence_timeout_ms": 12000},
        language="en",
    )
    out = {"ok": {"token": res.token, "url": res.url, "room_name": res.room_name}}

    try:
        sdk.llm.speech.livekit_token(
            llm={"model": "m", "tools": [{"type": "computer_use_preview"}]},
            retries=None,
        )
        out["refused"] = {"status": 200}
    except SDKDefaultError as e:
        out["refused"] = {"status": e.status_code, "body": json.loads(e.body)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
