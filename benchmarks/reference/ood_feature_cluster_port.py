#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""
PORT — NOT imagedrift code and NOT the original library.

A port of MindArmour's ``OodDetectorFeatureCluster``
(``mindarmour/reliability/concept_drift/concept_drift_check_images.py``, Copyright 2021 Huawei Technologies Co., Ltd,
Apache License 2.0), used by imagedrift's benchmark (``npm run bench``) as the reference to compare against.

What is kept exactly as in the original, because it is what users of the original pay for:
- ``_feature_cluster`` builds ``KMeans(n_clusters=n_cluster)`` and refits it on the training features on EVERY call
  of ``get_optimal_threshold`` and ``ood_predict``;
- ``_get_ood_score``: the nested Python loops over samples × centres, with
  ``list(map(list(c).index, heapq.nlargest(n_cluster, list(c))))`` per centre and per sample;
- ``get_optimal_threshold``: the nested loops over ``np.arange(0.0, 1.0, 0.01)`` × samples;
- ``ood_predict``: the loop over samples.

What differs, and why:
- Input is already-extracted feature arrays (``.npy``) instead of a MindSpore model + images: MindSpore is not
  available here, and the benchmark keeps model inference out of the comparison on purpose. ``_feature_extract`` is
  therefore the identity on features.
- ``n_init=10`` is passed explicitly: it is the default of the scikit-learn versions the original was written against
  (<= 1.3; newer versions default to 'auto' = 1 for k-means++). Passing it keeps the work the same on any version and
  silences 1.2's FutureWarning. ``random_state`` is passed only when ``--random-state`` is given (the original passes
  none).
- Benchmark additions, marked ``# bench:``: optional fixed ``centres`` (no refit; for the exact same-output check),
  stage timers, and keeping the last scores so they can be compared. They do not change the computation.

Usage (writes JSON to stdout or --out):
  /usr/bin/python3 ood_feature_cluster_port.py --train train.npy --eval eval.npy --labels labels.npy \
      --test test.npy --n-cluster 10 [--centres centres.npy] [--random-state N] [--repeat R] [--out result.json]
"""

import argparse
import heapq
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans


class OodDetectorFeatureClusterPort:
    """Port of MindArmour's OodDetectorFeatureCluster over exported features (see the module docstring)."""

    def __init__(self, train_features, n_cluster, centres=None, random_state=None):
        if not isinstance(train_features, np.ndarray):
            raise TypeError('train_features must be a numpy.ndarray')
        if not isinstance(n_cluster, int) or not 2 <= n_cluster <= 100:
            raise ValueError('n_cluster must be an int in [2, 100], got {}'.format(n_cluster))
        self.n_cluster = n_cluster
        self.feature = train_features
        self.centres = centres  # bench: fixed centres (None = the original's refit on every call)
        self.random_state = random_state  # bench: None = unseeded, as in the original
        self.timings = {}  # bench: seconds per stage of the last call
        self.last_scores = None  # bench
        self.kmeans_fits = 0  # bench: KMeans fits so far (the original fits one per call)

    def _feature_extract(self, features):
        # Original: model.predict(Tensor(data)) and read the summary tensor `layer`. Here: features are given.
        return features

    def _feature_cluster(self):
        """Get the feature cluster (refit on every call, as in the original)."""
        if self.centres is not None:  # bench: the same-output check with given centres
            return self.centres
        kwargs = {'n_init': 10}
        if self.random_state is not None:
            kwargs['random_state'] = self.random_state
        clf = KMeans(n_clusters=self.n_cluster, **kwargs)
        clf.fit_predict(self.feature)
        self.kmeans_fits += 1  # bench
        feature_cluster = clf.cluster_centers_
        return feature_cluster

    def _get_ood_score(self, ds_test):
        t0 = time.perf_counter()  # bench
        feature_cluster = self._feature_cluster()
        t1 = time.perf_counter()  # bench
        ds_test = self._feature_extract(ds_test)
        score = []
        for i in range(len(ds_test)):
            dis = []
            for j in range(len(feature_cluster)):
                loc = list(
                    map(list(feature_cluster[j]).index, heapq.nlargest(self.n_cluster, list(feature_cluster[j]))))
                diff = sum(abs((feature_cluster[j][loc] - ds_test[i][loc]))) / sum(abs((feature_cluster[j][loc])))
                dis.append(diff)
            score.append(min(dis))
        score = np.array(score)
        t2 = time.perf_counter()  # bench
        self.timings = {'kmeans': t1 - t0, 'score': t2 - t1}  # bench
        self.last_scores = score  # bench
        return score

    def get_optimal_threshold(self, label, ds_eval):
        if not isinstance(label, np.ndarray) or not isinstance(ds_eval, np.ndarray):
            raise TypeError('label and ds_eval must be numpy.ndarray')
        score = self._get_ood_score(ds_eval)
        t0 = time.perf_counter()  # bench
        acc = []
        threshold = []
        for threshold_change in np.arange(0.0, 1.0, 0.01):
            count = 0
            for i in range(len(score)):
                if score[i] < threshold_change and label[i] == 0:
                    count = count + 1
                if score[i] >= threshold_change and label[i] == 1:
                    count = count + 1
            acc.append(count / len(score))
            threshold.append(threshold_change)
        acc = np.array(acc)
        threshold = np.array(threshold)
        optimal_threshold = threshold[np.where(acc == np.max(acc))[0]][0]
        self.timings['threshold'] = time.perf_counter() - t0  # bench
        return optimal_threshold

    def ood_predict(self, threshold, ds_test):
        score = self._get_ood_score(ds_test)
        t0 = time.perf_counter()  # bench
        result = []
        for i in range(len(score)):
            if score[i] < threshold:
                result.append(0)
            if score[i] >= threshold:
                result.append(1)
        result = np.array(result)
        self.timings['threshold'] = time.perf_counter() - t0  # bench
        return result


def main(argv):
    p = argparse.ArgumentParser(description='Port of MindArmour OodDetectorFeatureCluster on exported features (benchmark reference).')
    p.add_argument('--train', required=True)
    p.add_argument('--eval', required=True)
    p.add_argument('--labels', required=True, help='.npy of 0/1 labels for --eval')
    p.add_argument('--test', required=True)
    p.add_argument('--n-cluster', type=int, required=True)
    p.add_argument('--centres', help='.npy of n_cluster x dim centres: no KMeans refit (same-output check)')
    p.add_argument('--random-state', type=int)
    p.add_argument('--repeat', type=int, default=1, help='run calibrate + predict this many times in this process')
    p.add_argument('--out', help='write the JSON here instead of stdout')
    a = p.parse_args(argv)

    t_load = time.perf_counter()
    train = np.load(a.train)
    ds_eval = np.load(a.eval)
    label = np.load(a.labels)
    ds_test = np.load(a.test)
    centres = np.load(a.centres) if a.centres else None
    load_seconds = time.perf_counter() - t_load

    runs = []
    for _ in range(a.repeat):
        det = OodDetectorFeatureClusterPort(train, a.n_cluster, centres=centres, random_state=a.random_state)
        t0 = time.perf_counter()
        threshold = det.get_optimal_threshold(label, ds_eval)
        t1 = time.perf_counter()
        cal = dict(det.timings, total=t1 - t0)
        eval_scores = det.last_scores
        result = det.ood_predict(threshold, ds_test)
        t2 = time.perf_counter()
        pred = dict(det.timings, total=t2 - t1)
        runs.append({'calibrate': cal, 'predict': pred, 'total': t2 - t0, 'kmeansFits': det.kmeans_fits})

    out = {
        'port': 'MindArmour OodDetectorFeatureCluster (port, benchmarks/reference)',
        'versions': {'python': sys.version.split()[0], 'numpy': np.__version__, 'sklearn': sklearn.__version__},
        'loadSeconds': load_seconds,
        'threshold': float(threshold),
        'result': [int(v) for v in result],
        'evalScores': [float(v) for v in eval_scores],
        'testScores': [float(v) for v in det.last_scores],
        'runs': runs,
    }
    text = json.dumps(out)
    if a.out:
        with open(a.out, 'w') as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
