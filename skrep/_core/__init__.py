"""The numerical core of skrep: plain arrays in, plain arrays out.

Nothing here imports scikit-learn or torch. Every cross-product, constant-unit
decision, rank decision and decomposition that an estimator needs lives in
this package, so a new measure (or a new array backend) touches one place.
"""
