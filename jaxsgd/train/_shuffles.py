"""The order of the rows: keys from seeds, and permutations that are a pure function of a key and an epoch.

Permutations (:func:`permutations`) are exactly uniform: Fisher–Yates from
numpy's PCG64 seeded by ``(key, epoch)`` (``"host"``, O(N), the CPU default), or
:func:`jax.random.permutation` of ``fold_in(key, epoch)`` on the device
(``"device"``, a sort, the default on GPU/TPU). So stopping and continuing a run
gives the same batches as one long run. A :class:`Shuffler` computes the next
epoch's permutations on a thread of its own while the current epoch runs, and is
closed by whoever opened it. :func:`part_keys` gives each part of rows sharded
over processes its own key.
"""

from __future__ import annotations

import concurrent.futures
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import checks
from jaxsgd.defaults import SHUFFLES
from jaxsgd.train import _native


def seed_key(seed: int) -> jax.Array:
    """A PRNG key from a seed in ``[0, 2⁶⁴)``, all 64 bits used (``jax.random.key`` keeps 32 without x64).

    The key data are ``(seed >> 32, seed & 0xFFFFFFFF)``, so the key equals
    ``jax.random.key(seed)`` for ``seed < 2³²``.

    Args:
      seed: a whole number in ``[0, 2⁶⁴)``.

    Returns:
      A typed PRNG key (``jax.random.key``'s kind), scalar shape ``()``.

    Raises:
      InputError: ``seed`` is not a whole number in ``[0, 2⁶⁴)``.

    Example:
      >>> bool(jax.random.key_data(seed_key(7)).tolist() == jax.random.key_data(jax.random.key(7)).tolist())
      True
      >>> seed_key(-1)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: seed must be a whole number in [0, 2**64), got -1
    """
    seed = checks.seed(seed)
    return jax.random.wrap_key_data(np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32))


def part_keys(keys, part: int) -> np.ndarray:
    """``(S, 2)`` uint32 key data for shuffling part ``part`` of sharded rows: each seed's key folded with it.

    Each key becomes ``key_data(fold_in(key, part))``, so every process of a
    multi-process run shuffles its own share of the rows with a key of its own,
    and the same part always gets the same key.

    Args:
      keys: ``(S, 2)`` uint32 key data, one key per seed.
      part: the part's index (the process index, :func:`jaxsgd.distributed.process_index`).

    Returns:
      ``(S, 2)`` uint32 numpy array: the key data for part ``part``, one row per seed.

    Example:
      >>> keys = np.array([[0, 7]], np.uint32)
      >>> part_keys(keys, 1).shape, part_keys(keys, 1).dtype
      ((1, 2), dtype('uint32'))
      >>> bool((part_keys(keys, 1) != part_keys(keys, 0)).any())
      True
    """
    keys = jnp.asarray(keys, jnp.uint32)
    return np.asarray(jax.vmap(lambda k: jax.random.key_data(jax.random.fold_in(jax.random.wrap_key_data(k), part)))(
        keys))


def permutations(keys, epoch_number: int, n: int, method: str = "auto") -> np.ndarray:
    """``(S, n)`` int32: a uniformly random permutation of ``range(n)`` per key, for this epoch.

    A pure function of ``(key, epoch_number)``: stopping and continuing a run
    gives the same batches as one long run. ``"host"`` draws Fisher–Yates with
    numpy's PCG64 seeded by ``(key, epoch_number)`` (O(n)); ``"device"`` is
    :func:`jax.random.permutation` of ``fold_in(key, epoch_number)`` (a sort);
    the two methods give different, equally uniform, permutations.

    Args:
      keys: ``(S, 2)`` uint32 key data, one key per seed.
      epoch_number: the epoch, a whole number ≥ 0.
      n: the number of rows to permute.
      method: ``"host"``, ``"device"`` or ``"auto"`` (default: ``"host"`` on
        CPU, ``"device"`` on GPU/TPU); see :data:`jaxsgd.defaults.SHUFFLES`.

    Returns:
      An ``(S, n)`` int32 numpy array: row ``i`` a permutation of ``range(n)`` for key ``i``.

    Raises:
      InputError: ``method`` is not one of :data:`jaxsgd.defaults.SHUFFLES`.

    Example:
      >>> keys = np.array([[0, 7]], np.uint32)
      >>> p = permutations(keys, 0, 5)
      >>> p.shape, p.dtype, sorted(p[0].tolist())
      ((1, 5), dtype('int32'), [0, 1, 2, 3, 4])
      >>> bool((permutations(keys, 0, 5) == p).all())   # the same key and epoch: the same order
      True
    """
    keys = np.asarray(keys, np.uint32)
    if method == "auto":
        method = "host" if jax.default_backend() == "cpu" else "device"
    if method == "host":
        # Generator.permutation(n) is shuffle(arange(n)); shuffling one int64 buffer (numpy's fast path) and
        # copying it out gives the same permutations at about half the cost of a fresh array per key and a stack
        if _native.shuffles():  # the same draws and orders, natively: about a third of the time
            out, base = np.empty((len(keys), n), np.int32), np.arange(n, dtype=np.int32)
            for i, (k0, k1) in enumerate(keys):
                out[i] = base
                _native.shuffle(out[i], [int(k0), int(k1), int(epoch_number)])
            return out
        out, buf, base = np.empty((len(keys), n), np.int32), np.empty(n, np.int64), np.arange(n, dtype=np.int64)
        for i, (k0, k1) in enumerate(keys):
            buf[:] = base
            np.random.default_rng([int(k0), int(k1), int(epoch_number)]).shuffle(buf)
            out[i] = buf
        return out
    if method == "device":
        return np.asarray(_device_permutations(jnp.asarray(keys), jnp.int32(epoch_number), n))
    checks.choice("shuffle", method, SHUFFLES)
    raise AssertionError(method)  # unreachable


@functools.partial(jax.jit, static_argnums=2)
def _device_permutations(keys, epoch_number, n):
    def one(k):
        return jax.random.permutation(jax.random.fold_in(jax.random.wrap_key_data(k), epoch_number), n)

    return jax.vmap(one)(keys).astype(jnp.int32)


class Shuffler:
    """The permutations of successive epochs, the next one computed on this object's thread meanwhile.

    Use as a context manager (or call :meth:`close`): the thread ends with it.
    Results do not depend on timing: each epoch's permutations are
    :func:`permutations` of the same keys and epoch number.

    Args:
      keys: ``(S, 2)`` uint32 key data, one key per seed.
      n: the number of rows to permute.
      method: where permutations are drawn, as :func:`permutations` takes it
        (default ``"auto"``).
      prefetch: compute the next epoch's permutations on a thread while the
        current epoch runs (default); ``False`` computes each when asked for.

    Example:
      >>> keys = np.array([[0, 7]], np.uint32)
      >>> with Shuffler(keys, 5) as shuffler:
      ...     first, second = shuffler.get(0), shuffler.get(1)
      >>> bool((second == permutations(keys, 1, 5)).all()), first.shape
      (True, (1, 5))
    """

    def __init__(self, keys, n: int, method: str = "auto", *, prefetch: bool = True):
        self.keys = np.asarray(keys, np.uint32)
        self.n = n
        self.method = method
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxsgd-shuffle") if prefetch \
            else None
        self._next: tuple[int, concurrent.futures.Future] | None = None

    def get(self, epoch_number: int) -> np.ndarray:
        """Permutations for ``epoch_number``; starts computing those of the epoch after it.

        Args:
          epoch_number: the epoch, a whole number ≥ 0.

        Returns:
          ``permutations(keys, epoch_number, n, method)``: an ``(S, n)`` int32 numpy array.

        Raises:
          InputError: the ``method`` given is not one of :data:`jaxsgd.defaults.SHUFFLES`.
        """
        if self._next is not None and self._next[0] == epoch_number:
            perms = self._next[1].result()
        else:
            perms = permutations(self.keys, epoch_number, self.n, self.method)
        if self._pool is not None:
            self._next = (epoch_number + 1,
                          self._pool.submit(permutations, self.keys, epoch_number + 1, self.n, self.method))
        return perms

    def close(self) -> None:
        """Ends the thread (a pending permutation is cancelled or waited for); :meth:`get` still works after.

        Returns:
          ``None``.
        """
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._next = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
