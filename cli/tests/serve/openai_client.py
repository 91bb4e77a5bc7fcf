"""Talks to `expertsteer serve` with the official `openai` client, as an
application would. Prints one JSON object with what came back, for
cli/tests/serve.rs to check. Usage: openai_client.py BASE_URL STEER_NAME STRENGTH"""

import json
import sys

import openai

base, name, strength = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
messages = [{"role": "user", "content": "Tell me about your weekend."}]
steered = {"steering": [{"name": name, "strength": strength}]}
plain = {"steering": []}


def chat(extra):
    r = client.chat.completions.create(
        model="smollm2", messages=messages, max_tokens=24, temperature=0, extra_body=extra
    )
    return {"text": r.choices[0].message.content, "finish": r.choices[0].finish_reason,
            "usage": [r.usage.prompt_tokens, r.usage.completion_tokens], "object": r.object}


def chat_stream(extra):
    chunks = list(client.chat.completions.create(
        model="smollm2", messages=messages, max_tokens=24, temperature=0, stream=True,
        stream_options={"include_usage": True}, extra_body=extra))
    with_choices = [c for c in chunks if c.choices]
    return {
        "text": "".join(c.choices[0].delta.content or "" for c in with_choices),
        "ids": sorted({c.id for c in chunks}),
        "objects": sorted({c.object for c in chunks}),
        "first_role": with_choices[0].choices[0].delta.role,
        "finishes": [c.choices[0].finish_reason for c in with_choices],
        "usage": [chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens]
        if chunks[-1].usage else None,
        "n_chunks": len(chunks),
    }


def completion(extra, stream):
    args = dict(model="smollm2", prompt="The three primary colours are", max_tokens=16,
                temperature=0, extra_body=extra)
    if stream:
        return "".join(c.choices[0].text for c in client.completions.create(stream=True, **args))
    return client.completions.create(**args).choices[0].text


out = {
    "models": [m.id for m in client.models.list().data],
    "plain": chat(plain),
    "plain_stream": chat_stream(plain),
    "steered": chat(steered),
    "steered_stream": chat_stream(steered),
    "completion": completion(plain, False),
    "completion_stream": completion(plain, True),
    "completion_steered": completion(steered, False),
}
try:
    client.chat.completions.create(model="x", messages=messages, max_tokens=4,
                                   extra_body={"steering": [{"name": "nope"}]})
    out["bad_name_error"] = None
except openai.BadRequestError as e:
    out["bad_name_error"] = {"status": e.status_code, "code": e.code, "param": e.param}
print(json.dumps(out))
