-- A small chat completion, as OpenAI clients send it; BENCH_MODEL names the model.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(
  '{"model": "%s", "messages": [{"role": "user", "content": "Say hello."}], "temperature": 0.2}',
  os.getenv("BENCH_MODEL") or "gw")
