"""POST /v1/embeddings through the official openai client: base64 (the client's default) and float encodings, several
inputs in order, usage, and errors (wrong key, wrong dimensions, empty input). Prints JSON: vectors, checks, failures.
usage: openai_embeddings.py BASE_URL KEY MODEL TEXT..."""
import json, sys
import openai

base, key, model, texts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
checks, failures = [], []

def check(name, ok, detail=""):
    (checks if ok else failures).append(name + ("" if ok else ": " + str(detail)))

r = client.embeddings.create(model=model, input=texts)  # the client asks for base64 and decodes it
vectors = [d.embedding for d in sorted(r.data, key=lambda d: d.index)]
check("one vector per input, in order", [d.index for d in r.data] == list(range(len(texts))), [d.index for d in r.data])
check("usage counts tokens", r.usage.prompt_tokens > len(texts) and r.usage.total_tokens == r.usage.prompt_tokens, r.usage)
check("model echoed", isinstance(r.model, str) and r.model, r.model)
f = client.embeddings.create(model=model, input=texts, encoding_format="float")
same = all(abs(a - b) < 1e-6 for u, v in zip(vectors, [d.embedding for d in f.data]) for a, b in zip(u, v))
check("float and base64 agree", same and len(f.data) == len(texts))
one = client.embeddings.create(model=model, input=texts[0], encoding_format="float")
check("a single string", len(one.data) == 1 and len(one.data[0].embedding) == len(vectors[0]))
for name, kwargs, status in [("wrong key", {"client": openai.OpenAI(base_url=base + "/v1", api_key="nope", max_retries=0)}, 401),
                             ("wrong dimensions", {"dimensions": 7}, 400), ("empty input", {"input": []}, 400)]:
    c = kwargs.pop("client", client)
    try:
        c.embeddings.create(model=model, **({"input": texts} | kwargs))
        failures.append(name + ": accepted")
    except openai.APIStatusError as e:
        check(name, e.status_code == status, e.status_code)
print(json.dumps({"vectors": vectors, "checks": checks, "failures": failures}))
