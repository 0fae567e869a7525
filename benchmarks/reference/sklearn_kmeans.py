#!/usr/bin/python3
"""
Benchmark helper (not a port): time scikit-learn's KMeans (k-means++ init, Lloyd) on a feature array and report the
final inertia, for comparison with imagedrift's k-means engines on the same .npy.

  /usr/bin/python3 sklearn_kmeans.py --x features.npy --n-cluster 10 --n-init 4 --repeat 5 [--random-state 0]

Prints JSON: {"runs": [{"seconds", "inertia", "iterations"}], "threads": ...}. Each run is a fresh KMeans(...).fit(X)
on the same in-memory array; load time is excluded.
"""

import argparse
import json
import sys
import time

import numpy as np
from sklearn.cluster import KMeans


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument('--x', required=True)
    p.add_argument('--n-cluster', type=int, required=True)
    p.add_argument('--n-init', type=int, required=True)
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--random-state', type=int, default=0)
    p.add_argument('--max-iter', type=int, default=300)
    a = p.parse_args(argv)
    x = np.load(a.x)
    runs = []
    for r in range(a.repeat):
        km = KMeans(n_clusters=a.n_cluster, n_init=a.n_init, max_iter=a.max_iter, random_state=a.random_state + r)
        t0 = time.perf_counter()
        km.fit(x)
        runs.append({'seconds': time.perf_counter() - t0, 'inertia': float(km.inertia_), 'iterations': int(km.n_iter_)})
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
