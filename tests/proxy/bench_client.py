# HTTPS client for benches/proxy_bridge.rs (stdlib only):
#   bench_client.py PROXY_HOST PROXY_PORT ORIGIN_PORT CAFILE CONCURRENCY TOTAL PATH
# Each request: a new CONNECT tunnel, TLS handshake, GET PATH, full body.
# Prints one JSON line: per-request latencies (s), bytes, wall time (s).
import http.client, json, ssl, sys, threading, time

host, port, oport, cafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conc, total, path = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
ctx = ssl.create_default_context(cafile=cafile)
lat, nbytes, lock, errors = [], [0], threading.Lock(), []
todo = iter(range(total))

def worker():
    while True:
        with lock:
            if next(todo, None) is None:
                return
        t0 = time.perf_counter()
        try:
            c = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
            c.set_tunnel("origin.test", oport)
            c.request("GET", path)
            body = c.getresponse().read()
            c.close()
        except Exception as e:
            with lock:
                errors.append(repr(e))
            continue
        dt = time.perf_counter() - t0
        with lock:
            lat.append(dt)
            nbytes[0] += len(body)

t0 = time.perf_counter()
ts = [threading.Thread(target=worker) for _ in range(conc)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({"lat": lat, "bytes": nbytes[0], "wall": time.perf_counter() - t0, "errors": errors[:3]}))
