"""Time to the first byte of a streamed chat completion, sequential requests: prints the median
and p99 in milliseconds. Usage: ttfb.py URL MODEL KEY COUNT"""

import http.client
import json
import sys
import time
import urllib.parse


def main(url, model, key, count):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    body = json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": "Say hello."}]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    times = []
    for _ in range(int(count)):
        started = time.perf_counter()
        connection.request("POST", parts.path, body, headers)
        response = connection.getresponse()
        response.read1(1)
        times.append((time.perf_counter() - started) * 1000)
        response.read()
        assert response.status == 200, response.status
    times.sort()
    print(f"{times[len(times) // 2]:.3f} {times[min(len(times) - 1, int(len(times) * 0.99))]:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
