"""The sigmoid neuron's SGD epoch as a C++ loop on the CPU: an XLA FFI custom call, built on first use.

XLA:CPU runs :func:`jaxsgd.train.epoch`'s ``lax.scan`` at about 0.7 µs per step whatever the step does, so
a run at B = 32 reached a third of a C loop's speed. For the neuron with plain SGD on a CPU the epoch is
instead one call into ``_native_epoch.cc``: each batch gathered once, its rows summed in vectorised loops
(the same math as the scan, equal to it up to rounding). The library is compiled with the system C++
compiler (``$CXX``, else ``c++``, ``g++`` or ``clang++``; ``-O3 -march=native``) into the cache folder
(``$JAXSGD_CACHE``, else ``$XDG_CACHE_HOME/jaxsgd`` or ``~/.cache/jaxsgd``) once per source, compiler, jaxlib
and CPU, and registered with :func:`jax.ffi.register_ffi_target`. Where it cannot be built (no compiler, no
headers) or ``JAXSGD_NATIVE=0`` is set, the scan runs instead: :func:`status` says which and why.

The same library shuffles (:func:`shuffle`): Fisher–Yates drawing exactly what numpy's
``Generator.shuffle`` draws from the same PCG64 outputs, so :func:`jaxsgd.train.permutations` gives the
same orders either way, at about a third of numpy's time (its draws branch-free, its swaps prefetched).

>>> status().startswith(("native", "scan"))
True
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

SOURCE = Path(__file__).with_name("_native_epoch.cc")
TARGET = "jaxsgd_epoch"
_FLAGS = ("-O3", "-std=c++17", "-fopenmp-simd", "-fno-math-errno", "-fPIC", "-shared")
# tried in turn: the vector exponential of glibc's libmvec and this CPU's instructions, then without either
_ATTEMPTS = ((("-march=native",), ("-lmvec", "-lm")), (("-march=native", "-DJAXSGD_NO_MVEC"), ("-lm",)),
             (("-DJAXSGD_NO_MVEC",), ("-lm",)))
_LOCK = threading.Lock()
_STATE: dict = {}  # "ready": bool, "why": str (set once per process)


def cache_dir() -> Path:
    """Where the built library is kept: ``$JAXSGD_CACHE``, else ``$XDG_CACHE_HOME/jaxsgd``, else
    ``~/.cache/jaxsgd``."""
    if os.environ.get("JAXSGD_CACHE"):
        return Path(os.environ["JAXSGD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxsgd"


def _compiler() -> list[str] | None:
    """The C++ compiler's command: ``$CXX`` (which may carry arguments, e.g. ``ccache g++``), else the first of
    ``c++``, ``g++``, ``clang++`` found; ``None`` when none is."""
    given = shlex.split(os.environ.get("CXX", ""))
    if given:
        return [shutil.which(given[0]) or given[0], *given[1:]]
    for name in ("c++", "g++", "clang++"):
        if shutil.which(name):
            return [shutil.which(name)]
    return None


def _cpu() -> str:
    """What ``-march=native`` depends on: the CPU's model and instruction flags (Linux), else the machine."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.machine() + platform.processor()


def _folder() -> Path:
    """The cache folder, made if need be; where it cannot be written, one per user in the temporary folder."""
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / f"jaxsgd-{os.getuid() if hasattr(os, 'getuid') else 0}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-"):
                pass
            return folder
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="jaxsgd-native-"))


def _digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_PROBE = "import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); lib.jaxsgd_epoch; lib.jaxsgd_shuffle"


def _loads(path: str) -> str | None:
    """Whether a built library loads and has its symbol, tried in a child process (a broken one cannot take
    this one down); ``None`` if it does, else why not."""
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE, path], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    return None if r.returncode == 0 else ((r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1])


def _build(cxx: list[str]) -> tuple[Path | None, str]:
    """The library's path, built if not yet in the cache (or if the cached one is not whole), or ``None`` and
    why not. A library is cached only once it has loaded in a child process, with its SHA-256 beside it; a
    cached one is used only if its bytes still have that hash."""
    import jaxlib

    include = jax.ffi.include_dir()
    source = SOURCE.read_bytes()
    try:
        version = subprocess.run([*cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"{' '.join(cxx)} --version failed: {e}"
    digest = hashlib.sha256(b"\0".join([source, version.encode(), jaxlib.__version__.encode(), _cpu().encode(),
                                        repr((cxx, _FLAGS, _ATTEMPTS)).encode()])).hexdigest()[:16]
    folder = _folder()
    lib, sums = folder / f"native_epoch-{digest}.so", folder / f"native_epoch-{digest}.sha256"
    try:
        if lib.exists() and sums.read_text().strip() == _digest_of(lib):
            return lib, "cached"
    except OSError:
        pass  # no hash beside it, or unreadable: built again
    errors = []
    for extra, libs in _ATTEMPTS:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".build-", suffix=".so")
        os.close(fd)
        cmd = [*cxx, *_FLAGS, *extra, "-I", include, str(SOURCE), "-o", tmp, *libs]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            why = ((r.stderr.strip().splitlines() or ["no message"])[-1] if r.returncode else _loads(tmp))
        except (OSError, subprocess.SubprocessError) as e:
            why = str(e)
        if why is None:
            os.chmod(tmp, 0o755)  # readable by every user of a shared cache, as a compiler's output is
            with tempfile.NamedTemporaryFile("w", dir=folder, prefix=".sum-", delete=False) as f:
                f.write(_digest_of(Path(tmp)))
            os.replace(tmp, lib)  # atomic: processes building at once each put a whole library there
            os.replace(f.name, sums)
            return lib, "built"
        errors.append(why)
        Path(tmp).unlink(missing_ok=True)
    return None, f"{' '.join(cxx)} could not build it ({errors[-1][:200]})"


def _load() -> None:
    if os.environ.get("JAXSGD_NATIVE", "1").strip().lower() in {"0", "false", "no", "off"}:
        _STATE.update(ready=False, why=f"JAXSGD_NATIVE={os.environ['JAXSGD_NATIVE'].strip()} is set")
        return
    cxx = _compiler()
    if cxx is None:
        _STATE.update(ready=False, why="no C++ compiler was found (set CXX)")
        return
    lib, how = _build(cxx)
    if lib is None:
        _STATE.update(ready=False, why=how)
        return
    try:
        so = ctypes.cdll.LoadLibrary(str(lib))
        handler, shuffler = so.jaxsgd_epoch, so.jaxsgd_shuffle
        shuffler.restype = ctypes.c_int64
        shuffler.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(handler), platform="cpu")
    except (OSError, AttributeError, ValueError) as e:
        _STATE.update(ready=False, why=f"{lib} could not be loaded ({e})")
        return
    _STATE.update(ready=True, why=f"{lib} ({how})", shuffle=shuffler)


def available() -> bool:
    """Whether the native epoch is built and registered in this process (building it on the first call).

    Returns:
      ``True`` when :func:`jaxsgd.train.epoch` can run the neuron's plain-SGD epochs on the CPU natively.

    Example:
      >>> isinstance(available(), bool)
      True
    """
    with _LOCK:
        if not _STATE:
            _load()
        return _STATE["ready"]


_RAW = 1 << 15  # the generator's 64-bit outputs drawn per call of the native shuffle (256 KB)


def shuffle(out: np.ndarray, seed) -> np.ndarray:
    """``out`` shuffled in place, natively, exactly as ``np.random.default_rng(seed).shuffle(out)`` would.

    numpy's ``Generator.shuffle`` is Fisher–Yates: for ``i = n − 1, …, 1`` it draws 32-bit values (PCG64's
    64-bit outputs, low half first) masked to the smallest ``2^k − 1 ≥ i`` until one is at most ``i``, and
    swaps ``out[i]`` with ``out[j]``. The library makes the same draws from the same outputs
    (``PCG64.random_raw``), so the orders are the same; only faster.

    Args:
      out: a one-dimensional, C-contiguous, writable int32 array (fewer than 2³¹ entries).
      seed: what :func:`numpy.random.default_rng` takes, e.g. ``[k0, k1, epoch]``.

    Returns:
      ``out``, shuffled.

    Raises:
      RuntimeError: the library is not :func:`available` in this process.

    Example:
      >>> a = np.arange(10, dtype=np.int32)
      >>> b = np.arange(10, dtype=np.int64)
      >>> np.random.default_rng([1, 2, 3]).shuffle(b)
      >>> bool(not available() or (shuffle(a, [1, 2, 3]) == b).all())
      True
    """
    if not available():
        raise RuntimeError(f"the native shuffle is not available: {_STATE['why']}")
    if out.dtype != np.int32 or out.ndim != 1 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("shuffle takes a one-dimensional, C-contiguous, writable int32 array")
    fn, bits = _STATE["shuffle"], np.random.PCG64(seed)  # default_rng(seed)'s bit generator
    js = np.empty(2 * _RAW + 1, np.int32)
    i = len(out) - 1
    while i > 0:
        raw = bits.random_raw(_RAW)
        i = fn(out.ctypes.data, i, raw.ctypes.data, 2 * _RAW, js.ctypes.data)
    return out


def shuffles() -> bool:
    """Whether :func:`shuffle` can run here: the library is :func:`available` and the machine is
    little-endian (the 32-bit halves of a 64-bit output in numpy's order)."""
    return sys.byteorder == "little" and available()


def status() -> str:
    """Which epoch the neuron's plain-SGD runs take on a CPU in this process, and why (building the native one
    on the first call).

    Returns:
      One line: ``"native: <library> (built|cached)"``, or ``"scan: <why the native epoch is not used>"``.

    Example:
      >>> status().split(":")[0] in {"native", "scan"}
      True
    """
    ready = available()
    return ("native: " if ready else "scan: ") + _STATE["why"]


def applies(optimizer, loss, mesh, dtype=jnp.float32) -> bool:
    """Whether an epoch can run natively: the neuron (``loss`` ``None`` or the neuron's own), plain SGD
    (:func:`jaxsgd.train.runtime_sgd`), float32 or float64, no mesh, on a CPU, with the library available."""
    from jaxsgd.model import mean_loss_of
    from jaxsgd.train._optimizers import is_plain_sgd

    return (mean_loss_of(loss) is mean_loss_of(None) and mesh is None and is_plain_sgd(optimizer)
            and jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))
            and jax.default_backend() == "cpu" and available())


def epoch_call(b, w, lr, perms, rows, *, batch_size: int, drop_last: bool, trace: bool):
    """The custom call: every run's ``(b, w)`` after one epoch, and with ``trace`` their values after every
    full batch ``(nb, S, L)``, ``(nb, S, L, d)`` (else empty). Traceable (inside :func:`jax.jit`)."""
    s, n_lr, d = w.shape
    nb = rows.shape[0] // batch_size if trace else 0
    out = (jax.ShapeDtypeStruct(b.shape, b.dtype), jax.ShapeDtypeStruct(w.shape, w.dtype),
           jax.ShapeDtypeStruct((nb, s, n_lr), b.dtype), jax.ShapeDtypeStruct((nb, s, n_lr, d), w.dtype))
    # under jax.vmap: one call per batched element, in turn
    call = jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")
    return call(b, w, jnp.broadcast_to(lr, b.shape).astype(b.dtype), jnp.asarray(perms, jnp.int32), rows,
                batch_size=np.int64(batch_size), drop_last=bool(drop_last), trace=bool(trace))
