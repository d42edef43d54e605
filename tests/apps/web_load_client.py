"""Many uploads at once against a running ``vocalsep web``, from a process of its own.

    python web_load_client.py BASE_URL TOKEN SONG COUNT SECONDS

Sends COUNT uploads of SONG at the same moment (one thread each), then polls every job until it
is done or failed (or SECONDS pass), timing each status request. Prints one JSON object:
``uploads`` (HTTP statuses), ``jobs`` (id -> final state and error), ``latencies`` (max, median, count).
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
import urllib.request


def call(url: str, token: str, data: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def main(base: str, token: str, song: str, count: int, seconds: float) -> dict:
    data = open(song, "rb").read()
    start = threading.Barrier(count)
    uploads: list[tuple[int, dict]] = [(0, {})] * count

    def upload(index: int) -> None:
        start.wait()
        uploads[index] = call(f"{base}/jobs?name=song{index}.wav", token, data)

    threads = [threading.Thread(target=upload, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    waiting = {answer["id"] for status, answer in uploads if status == 202}
    final: dict[str, dict] = {}
    latencies: list[float] = []
    deadline = time.time() + seconds
    while waiting and time.time() < deadline:
        for job_id in sorted(waiting):
            asked = time.perf_counter()
            status, job = call(f"{base}/jobs/{job_id}", token)
            latencies.append(time.perf_counter() - asked)
            if status != 200 or job["state"] in ("done", "failed"):
                final[job_id] = {"status": status, "state": job.get("state"), "error": job.get("error")}
                waiting.discard(job_id)
        time.sleep(0.05)
    final |= {job_id: {"status": None, "state": "unfinished", "error": None} for job_id in waiting}
    return {"uploads": [status for status, _ in uploads], "jobs": final,
            "latencies": {"max": max(latencies), "median": statistics.median(latencies), "count": len(latencies)}}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))))
