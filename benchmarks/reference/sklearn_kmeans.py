#!/usr/bin/python3
"""
Benchmark helper (not a port): time scikit-learn's KMeans (k-means++ init, Lloyd) on a feature array and report the
final inertia, for comparison with imagedrift's k-means engines on the same .npy.

  /usr/bin/python3 sklearn_kmeans.py --x features.npy --n-cluster 10 --n-init 4 --repeat 5 [--random-state 0]
  /usr/bin/python3 sklearn_kmeans.py --x features.npy --n-cluster 10 --n-init 4 --serve

Prints JSON: {"runs": [{"seconds", "inertia", "iterations"}], "threads": ...}. Each run is a fresh KMeans(...).fit(X)
on the same in-memory array; load time is excluded.

--serve: stays up so that the caller can alternate fits with its own (interleaved timing). Prints {"ready": true}
once the array is loaded, then reads one random_state per stdin line and answers each with one JSON line
{"seconds", "inertia", "iterations"}; exits at end of input.
"""

import argparse
import json
import sys
import time

import numpy as np
from sklearn.cluster import KMeans


def fit_once(x, a, random_state):
    km = KMeans(n_clusters=a.n_cluster, n_init=a.n_init, max_iter=a.max_iter, random_state=random_state)
    t0 = time.perf_counter()
    km.fit(x)
    return {'seconds': time.perf_counter() - t0, 'inertia': float(km.inertia_), 'iterations': int(km.n_iter_)}


def serve(x, a):
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(fit_once(x, a, int(line))), flush=True)
    return 0


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument('--x', required=True)
    p.add_argument('--n-cluster', type=int, required=True)
    p.add_argument('--n-init', type=int, required=True)
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--random-state', type=int, default=0)
    p.add_argument('--max-iter', type=int, default=300)
    p.add_argument('--serve', action='store_true')
    a = p.parse_args(argv)
    x = np.load(a.x)
    if a.serve:
        return serve(x, a)
    runs = []
    for r in range(a.repeat):
        runs.append(fit_once(x, a, a.random_state + r))
    threads = None
    try:
        from threadpoolctl import threadpool_info
        threads = [{'api': i.get('user_api'), 'lib': i.get('internal_api'), 'threads': i.get('num_threads')} for i in threadpool_info()]
    except Exception:  # threadpoolctl is a scikit-learn dependency; report nothing rather than fail if absent
        pass
    json.dump({'runs': runs, 'dtype': str(x.dtype), 'shape': list(x.shape), 'threads': threads}, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
