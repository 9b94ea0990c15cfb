"""The official OpenAI Python SDK (pip `openai`) against the local Responses provider
(`mka1-local-llm`), pointed at it with `base_url` and nothing else changed: streaming
events must parse into the SDK's typed events, chaining and errors must behave as
OpenAI's do (shared/API.md section 6).

Env: MKA1_TEST_URL (the provider's base URL; `/responses` is appended by the SDK),
MKA1_TEST_KEY (any string: the provider checks none). Prints PASS/FAIL per check, exits
non-zero when any failed.
"""

import openai

from checks import Runner, Settings

cfg = Settings()
client = openai.OpenAI(base_url=cfg.url, api_key=cfg.key, max_retries=0, timeout=120)
run = Runner("OpenAI SDK against the local Responses provider")
QUESTION = "What is the capital of France?"


@run.check("responses.create(stream=True) parses into typed events")
def _():
    stream = client.responses.create(
        model="smollm2", input=QUESTION, stream=True, temperature=0, max_output_tokens=64
    )
    types, deltas, done_text, final = [], [], None, None
    for event in stream:
        types.append(event.type)
        if isinstance(event, openai.types.responses.ResponseTextDeltaEvent):
            deltas.append(event.delta)
        elif isinstance(event, openai.types.responses.ResponseTextDoneEvent):
            done_text = event.text
        elif isinstance(event, openai.types.responses.ResponseCompletedEvent):
            final = event.response
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ], types
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], types
    assert deltas, "no text deltas"
    text = "".join(deltas)
    assert done_text == text, (done_text, text)
    assert final is not None and final.status == "completed", final
    assert final.output_text == text, (final.output_text, text)
    # A delta holds one token's text, or several when a character spans tokens.
    assert final.usage.input_tokens > 0 and final.usage.output_tokens >= len(deltas), final.usage
    assert "paris" in text.lower(), text
    return repr(text)


@run.check("responses.stream() helper accumulates the final response")
def _():
    with client.responses.stream(
        model="smollm2", input=QUESTION, temperature=0, max_output_tokens=64
    ) as stream:
        for _event in stream:
            pass
        final = stream.get_final_response()
    assert final.status == "completed" and final.output_text.strip(), final
    return repr(final.output_text)


@run.check("non-streaming create, then chained with previous_response_id")
def _():
    first = client.responses.create(
        model="smollm2", input="My dog is called Max.", temperature=0, max_output_tokens=48,
        metadata={"voice_mode": "true"},
    )
    assert first.id.startswith("resp_") and first.status == "completed", first
    assert first.output_text.strip(), first
    assert first.metadata == {"voice_mode": "true"}, first.metadata
    second = client.responses.create(
        model="smollm2", input="What is my dog called?", previous_response_id=first.id,
        temperature=0, max_output_tokens=48,
    )
    assert second.previous_response_id == first.id, second
    # The chained prompt holds the first turn, its answer and the new question.
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens, (
        first.usage, second.usage)
    assert "Max" in second.output_text, second.output_text
    return f"{first.output_text!r} -> {second.output_text!r}"


@run.check("max_output_tokens cut -> status incomplete")
def _():
    resp = client.responses.create(
        model="smollm2", input="Tell me a long story about a dragon.", temperature=0,
        max_output_tokens=16,
    )
    assert resp.status == "incomplete", resp.status
    assert resp.incomplete_details.reason == "max_output_tokens", resp.incomplete_details
    assert resp.usage.output_tokens == 16, resp.usage
    return repr(resp.output_text)


@run.check("unknown previous_response_id -> NotFoundError")
def _():
    try:
        client.responses.create(
            model="smollm2", input="Hi", previous_response_id="resp_does_not_exist"
        )
    except openai.NotFoundError as e:
        assert e.status_code == 404
        assert e.code == "previous_response_not_found", e.body
        return e.message
    raise AssertionError("an unknown previous_response_id was accepted")


@run.check("out-of-range temperature -> BadRequestError")
def _():
    try:
        client.responses.create(model="smollm2", input="Hi", temperature=5)
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.param == "temperature", e.body
        return e.message
    raise AssertionError("temperature 5 was accepted")


run.finish()
