"""Discovery of skrep's public estimators (the list every common check runs on)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil

__all__ = ["all_estimators"]

#: Subpackages that need an optional dependency, with that dependency: they
#: are walked only where it is importable.
_OPTIONAL = {"skrep.torch": "torch"}

#: Module names never imported while walking: entry points and tests.
_IGNORED = frozenset({"__main__", "tests", "conftest"})

_TYPE_FILTERS = ("two_view", "transformer", "regressor")


def _public_modules():
    """Import and yield skrep's public modules, walking the package tree.

    Private modules (a name part starting with ``_``), test modules and
    ``__main__`` are skipped, and so are subpackages whose optional
    dependency is not installed. A public name is whatever a public module
    exposes, so classes defined in private modules count through their
    re-export.
    """
    import skrep

    pending = [skrep]
    while pending:
        package = pending.pop()
        yield package
        for info in pkgutil.iter_modules(package.__path__):
            if (
                info.name.startswith("_")
                or info.name.startswith("test")
                or info.name in _IGNORED
            ):
                continue
            name = f"{package.__name__}.{info.name}"
            dependency = _OPTIONAL.get(name)
            if dependency and importlib.util.find_spec(dependency) is None:
                continue
            module = importlib.import_module(name)
            if info.ispkg:
                pending.append(module)
            else:
                yield module


def _type_filter_classes(type_filter):
    from sklearn.base import RegressorMixin, TransformerMixin

    from skrep.base import TwoViewMixin

    filters = {
        "two_view": TwoViewMixin,
        "transformer": TransformerMixin,
        "regressor": RegressorMixin,
    }
    names = [type_filter] if isinstance(type_filter, str) else list(type_filter)
    unknown = [name for name in names if name not in filters]
    if unknown:
        raise ValueError(
            f"Unknown type_filter {unknown}: use one of {list(_TYPE_FILTERS)}, "
            "a list of them, or None."
        )
    return tuple(filters[name] for name in names)


def all_estimators(type_filter=None):
    """List every public estimator class of skrep, found by walking the package.

    Every public module of skrep is imported (private ``_`` modules, tests
    and ``__main__`` are skipped, and so is :mod:`skrep.torch` where torch is
    not installed), and the classes they expose are kept when they subclass
    :class:`~sklearn.base.BaseEstimator`, are defined in skrep, are not
    abstract and have a public name. A new measure exported from
    :mod:`skrep` is therefore found, and checked by ``tests/test_common.py``,
    without being listed anywhere.

    Parameters
    ----------
    type_filter : {"two_view", "transformer", "regressor"}, list of them \
            or None, default=None
        Keep only the estimators of that kind (of any of the kinds, for a
        list): "two_view" are subclasses of :class:`skrep.base.TwoViewMixin`,
        "transformer" of :class:`~sklearn.base.TransformerMixin`,
        "regressor" of :class:`~sklearn.base.RegressorMixin`. None keeps all.

    Returns
    -------
    estimators : list of (str, type)
        ``(class name, class)`` pairs sorted by name, like
        :func:`sklearn.utils.discovery.all_estimators`.

    Raises
    ------
    ValueError
        If `type_filter` names an unknown kind.

    Examples
    --------
    >>> from skrep.utils import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "SVCCA" in names and "PWCCA" in names
    True
    >>> names = [name for name, _ in all_estimators(type_filter="two_view")]
    >>> {"PWCCA", "SVCCA", "UnitMatcher"} <= set(names)
    True
    """
    from sklearn.base import BaseEstimator

    wanted = None if type_filter is None else _type_filter_classes(type_filter)
    found = {}
    for module in _public_modules():
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                name.startswith("_")
                or not issubclass(cls, BaseEstimator)
                or not (cls.__module__ + ".").startswith("skrep.")
                or inspect.isabstract(cls)
                or cls.__name__.startswith("_")
            ):
                continue
            if wanted is not None and not issubclass(cls, wanted):
                continue
            found[cls.__name__] = cls
    return sorted(found.items())
