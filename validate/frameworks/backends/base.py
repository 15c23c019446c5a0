"""What every backend provides: devices, execution modes, synchronisation, threads, versions.

Keras 3 runs the same model on TensorFlow, JAX or PyTorch; which one is
fixed by ``KERAS_BACKEND`` when ``keras`` is first imported.  The validator
builds its models once, in Keras (:mod:`validate.frameworks.keras_build`), and leaves
everything that differs between frameworks to a :class:`Backend`:

* where to run (:meth:`Backend.resolve_devices`, :meth:`Backend.device_scope`);
* how to run a model once, in each of the backend's execution modes
  (:meth:`Backend.compiled_call`), and the microbenchmarks of
  ``validate calibrate`` (:meth:`Backend.matmul_call`, :meth:`Backend.scale_call`);
* how to wait until the device has finished (:meth:`Backend.synchronizer`),
  run by the timing loop before every clock read;
* thread pools and the versions recorded with every result.

:class:`BackendSpec` is the pure part, the facts known without importing the
framework (its modes, its package, how to install it), so the command line
can check a ``--modes`` list and the tests can run without any framework.

Execution modes.  Each backend has its own; ``graph``, the experiments'
default, stands for the backend's *natural* way of running a model, the one a
user of that framework would time: ``tf.function`` on TensorFlow, ``jax.jit``
on JAX, eager on PyTorch (``torch.compile`` is an opt-in there, mode
``compiled``, and compiling takes seconds to minutes per model).  Rows record
the mode that really ran (``jit``, not ``graph``).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Callable

DEVICES = ("cpu", "gpu")
#: What ``graph`` means on every backend: its natural way of running a model.
DEFAULT_MODE_ALIAS = "graph"


class BackendUnavailableError(ValueError):
    """The backend's framework is not installed, or Keras already runs another backend."""


@dataclasses.dataclass(frozen=True)
class BackendSpec:
    """What is known about a backend without importing its framework.

    Attributes
    ----------
    name : str
        The ``KERAS_BACKEND`` value: ``tensorflow``, ``jax`` or ``torch``.
    title : str
        The framework's name in messages (``TensorFlow``, ``JAX``, ``PyTorch``).
    package : str
        The module that must import for the backend to work.
    install : str
        The command that installs it, shown when it is missing.
    modes : tuple of str
        The execution modes :meth:`Backend.compiled_call` accepts.
    natural_mode : str
        What ``graph`` means here (one of ``modes``).
    module : str
        The module defining the :class:`Backend` subclass, imported on first use.
    keras_backend : str
        The ``KERAS_BACKEND`` its models are built on: its own name, or ``tensorflow`` for a
        runtime that converts TensorFlow models (LiteRT).
    graph_alias : bool
        Whether ``--modes graph`` may name the natural mode.  A runtime whose modes are number
        formats (LiteRT's ``fp32``, ``int8``) has no graph mode to offer the user; inside the
        project, ``graph`` still means its natural mode.
    """

    name: str
    title: str
    package: str
    install: str
    modes: tuple
    natural_mode: str
    module: str
    keras_backend: str = ""
    graph_alias: bool = True

    def __post_init__(self):
        if self.natural_mode not in self.modes:
            raise ValueError(f"natural_mode {self.natural_mode!r} of {self.name} is not one of its modes {self.modes}")
        if not self.keras_backend:
            object.__setattr__(self, "keras_backend", self.name)

    def _no_such_mode(self, mode: str) -> ValueError:
        alias = f" ('{DEFAULT_MODE_ALIAS}' means {self.natural_mode})" if self.graph_alias else ""
        return ValueError(f"the {self.name} backend has no mode {mode!r}; its modes: {', '.join(self.modes)}{alias}")

    def resolve_mode(self, mode: str) -> str:
        """``mode`` as this backend runs it: ``graph`` becomes the natural mode.

        >>> from validate.frameworks.backends import spec
        >>> spec("jax").resolve_mode("graph"), spec("torch").resolve_mode("compiled")
        ('jit', 'compiled')
        >>> spec("torch").resolve_mode("xla")
        Traceback (most recent call last):
        ...
        ValueError: the torch backend has no mode 'xla'; its modes: eager, compiled, predict ('graph' means eager)
        """
        if mode == DEFAULT_MODE_ALIAS:
            return self.natural_mode
        if mode not in self.modes:
            raise self._no_such_mode(mode)
        return mode

    def resolve_modes(self, modes, *, explicit: bool) -> tuple[tuple, list]:
        """Modes as this backend runs them, duplicates removed, and those left out.

        A mode the user asked for (``explicit``) that the backend lacks is an
        error; one that only a profile lists (``full`` lists ``xla``) is left
        out and returned, so the caller can say so.
        """
        resolved, left_out = [], []
        for mode in modes:
            if explicit and mode == DEFAULT_MODE_ALIAS and not self.graph_alias:
                raise self._no_such_mode(mode)
            try:
                resolved.append(self.resolve_mode(mode))
            except ValueError:
                if explicit:
                    raise
                left_out.append(mode)
        return tuple(dict.fromkeys(resolved)), left_out


class Backend(abc.ABC):
    """One framework under Keras: subclasses implement the abstract methods.

    A backend object is created once per process by
    :func:`validate.frameworks.backends.get_backend` and imports its framework lazily,
    so constructing one (in a test, say) costs nothing.
    """

    #: True where TensorFlow's profiler can count the traced graph's FLOPs.
    flops_profiler = False
    #: True where TensorFlow's profiler traces the kernels the runtime runs (calibration's fusion probe).
    traces_kernels = False
    #: The threads a row records: what the backend runs with, or None where the framework sizes its own pools.
    threads: int | None = None

    def __init__(self, spec: BackendSpec):
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def modes(self) -> tuple:
        return self.spec.modes

    def resolve_mode(self, mode: str) -> str:
        return self.spec.resolve_mode(mode)

    # -- facts ---------------------------------------------------------------------------

    @abc.abstractmethod
    def version(self) -> str:
        """The framework's version string."""

    @abc.abstractmethod
    def gpu_names(self) -> list[str]:
        """Names of the GPUs the framework sees (empty on a CPU-only build or machine)."""

    def versions(self) -> dict:
        """Keras's version, the backend and its version, for the machine's fingerprint.

        Refuses a Keras that runs another backend: its timings would be that
        backend's under this one's name.
        """
        import keras

        wanted = self.spec.keras_backend
        running = keras.backend.backend()
        if running != wanted:
            raise BackendUnavailableError(
                f"keras runs the {running} backend, not {wanted}: set KERAS_BACKEND={wanted} "
                "before keras is first imported"
            )
        return {"keras": keras.__version__, "backend": self.name, "backend_version": self.version()}

    # -- where and how to run ----------------------------------------------------------------

    def resolve_devices(self, requested: str) -> tuple[list[str], str | None]:
        """The devices to measure for ``cpu``, ``gpu`` or ``all``, and a notice if a GPU is missing.

        Without a GPU, ``gpu`` and ``all`` fall back to the CPU with a one-line notice.
        """
        if requested not in (*DEVICES, "all"):
            raise ValueError(f"device must be cpu, gpu or all, got {requested!r}")
        if requested == "cpu":
            return ["cpu"], None
        if self.gpu_names():
            return (["cpu", "gpu"] if requested == "all" else ["gpu"]), None
        return ["cpu"], f"no GPU visible to {self.spec.title}: measuring on the CPU only"

    @abc.abstractmethod
    def device_scope(self, device: str) -> contextlib.AbstractContextManager:
        """A context in which models are built and inputs placed on 'cpu' or 'gpu'."""

    @abc.abstractmethod
    def synchronizer(self, device: str) -> Callable[[], None]:
        """What to run before each clock read, so that the reading follows finished work."""

    @abc.abstractmethod
    def compiled_call(self, model, inputs, mode: str, batch: int) -> Callable[[], object]:
        """A zero-argument function that runs ``model`` once on ``inputs`` in ``mode``.

        ``inputs`` is a numpy array; for every mode but ``predict`` it is
        placed on the current device once, here, so the copy is not timed.
        ``graph`` means the backend's natural mode (:meth:`BackendSpec.resolve_mode`).
        """

    def runtime_checks(self, call: Callable[[], object], prefix: str = "") -> dict:
        """Row columns on what the runtime made of the model behind ``call`` (a :meth:`compiled_call`).

        Empty here; a runtime that converts the model (LiteRT) says which operators it runs, how
        many its delegate took, and how far its output is from the Keras model's.
        """
        return {}

    @abc.abstractmethod
    def matmul_call(self, side: int) -> Callable[[], object]:
        """A product of two random float32 ``side x side`` matrices (2 side³ FLOPs), natural mode."""

    @abc.abstractmethod
    def scale_call(self, elements: int) -> Callable[[], object]:
        """``x * 2`` over a random float32 vector: every element read and written once."""

    @abc.abstractmethod
    def configure_threads(self, intra_op: int | None = None, inter_op: int | None = None) -> dict:
        """Set the thread pools (before any op runs) and return what is in force."""


class KerasScopedBackend(Backend):
    """A backend whose device placement is Keras's own ``keras.device`` scope (JAX, PyTorch).

    The scope also records the current device, which compiled calls and
    synchronizers read to put inputs and waits on the right device.
    """

    _device = "cpu"

    @contextlib.contextmanager
    def device_scope(self, device: str):
        import keras

        previous, self._device = self._device, device
        try:
            with keras.device(f"{device}:0"):
                yield
        finally:
            self._device = previous
