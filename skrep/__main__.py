"""``python -m skrep``: a short comparison on scikit-learn's digits data."""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from skrep import PWCCA, SVCCA


def _hidden(net, X):
    return np.maximum(X @ net.coefs_[0] + net.intercepts_[0], 0.0)


def main(argv=None):
    """Train two small networks on digits and compare their hidden layers."""
    parser = argparse.ArgumentParser(prog="skrep", description=__doc__)
    parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    train, test = slice(0, 1200), slice(1200, None)
    nets = [
        MLPClassifier((64,), max_iter=300, random_state=seed).fit(X[train], y[train])
        for seed in (0, 1)
    ]
    acts = [_hidden(net, X) for net in nets]
    for est in (SVCCA(), PWCCA()):
        est.fit(acts[0][train], acts[1][train])
        print(
            f"{type(est).__name__}: in-sample "
            f"{est.score(acts[0][train], acts[1][train]):.3f}, held-out "
            f"{est.score(acts[0][test], acts[1][test]):.3f}"
        )


if __name__ == "__main__":
    main()
