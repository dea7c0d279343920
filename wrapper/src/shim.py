# jobwrap's Python shim: the runner starts it as `python3 -c <this file>`, or imports
# it as `jobwrap_shim` from the folder it was installed in with its bytecode.
#
# It parses the two inputs, imports the user's entry point, calls it, converts the
# return value to JSON and sends exactly one frame to the runner on a private socket.
# Everything else (limits, logs, the final result) is the runner's job.
#
# Frame: b"JWR1" + kind (1 byte) + payload length (8 bytes, little endian) + payload.
#   R: the result as JSON            E: an ErrorResponse's JSON (the job failed)
#   F: {"kind", "message", "traceback"} (the job failed before or while running)

import sys

# `python3 -c` puts the working directory (the app) first on sys.path: a user's json.py
# or inspect.py would then replace the modules the shim itself relies on. Installed, the
# shim's own folder is first instead: the job has no business importing from there.
_OWN_FILE = globals().get("__file__", "<string>")
if sys.path and sys.path[0] in ("", ".", _OWN_FILE.rpartition("/")[0]):
    del sys.path[0]

import os  # noqa: E402


def _take_env(name):
    value = os.environ.pop(name, None)
    if value is None:
        raise SystemExit(f"jobwrap shim: {name} is not set (the shim runs only under jobwrap-runner)")
    return value


_CHANNEL_FD = int(_take_env("JOBWRAP_SHIM_CHANNEL_FD"))
_ENTRYPOINT = _take_env("JOBWRAP_SHIM_ENTRYPOINT")
_APP_DIR = _take_env("JOBWRAP_SHIM_APP_DIR")
_MAX_RESULT = int(_take_env("JOBWRAP_SHIM_MAX_RESULT_BYTES"))
_INPUTS = [
    (name, os.environ.pop(f"JOBWRAP_SHIM_{name.upper()}_FD", ""), os.environ.pop(f"JOBWRAP_SHIM_{name.upper()}_SOURCE", ""))
    for name in ("data", "params")
]

# After the variables are gone, before the app is on sys.path: the shim's own modules
# always come from the standard library.
import json  # noqa: E402

# Only what every job needs is imported at start (each module costs start-up time);
# `inspect` and `traceback` come later through _stdlib(), still never from the app.
_FUNCTION = type(_take_env)
_BUILTIN = type(len)
_MODULE = type(sys)

# The channel must not outlive this process: not in exec'd programs, not in forks.
os.set_inheritable(_CHANNEL_FD, False)
os.register_at_fork(after_in_child=lambda: os.close(_CHANNEL_FD))


def _stdlib(name):
    """Imports a standard module, never a module of the app with the same name."""
    module = sys.modules.get(name)
    if module is not None and not getattr(module, "__file__", "").startswith(_APP_DIR):
        return module
    saved = sys.path[:]
    sys.path[:] = [entry for entry in sys.path if entry not in (_APP_DIR, "", ".")]
    sys.modules.pop(name, None)
    try:
        __import__(name)
        return sys.modules[name]
    finally:
        sys.path[:] = saved


def _send(kind, payload):
    frame = memoryview(b"JWR1" + kind + len(payload).to_bytes(8, "little") + payload)
    while frame:
        frame = frame[os.write(_CHANNEL_FD, frame):]


def _finish(kind, payload):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream must not lose the result
            pass
    _send(kind, payload)
    # _exit: lingering non-daemon threads and atexit hooks of the user's code must not
    # hold the job or print after the result.
    os._exit(0)


def _fail(kind, message, tb=None):
    payload = json.dumps({"kind": kind, "message": message, "traceback": tb}).encode()
    _finish(b"F", payload)


def _traceback_text(error):
    # The shim's own frames say nothing about the user's code.
    traceback = _stdlib("traceback")
    summary = traceback.TracebackException.from_exception(error)
    summary.stack = traceback.StackSummary.from_list([f for f in summary.stack if f.filename != _OWN_FILE])
    return "".join(summary.format())


for _stream in (sys.stdout, sys.stderr):
    try:
        _stream.reconfigure(line_buffering=True)
    except Exception:
        pass


# --- inputs -------------------------------------------------------------------------

def _load_input(name, fd, source):
    if not fd:
        return {}
    with os.fdopen(int(fd), "rb") as stream:
        raw = stream.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        _fail(
            "input",
            f"input '{name}' from {source} is not valid UTF-8: byte 0x{raw[error.start]:02x} "
            f"at offset {error.start}; expected UTF-8 encoded JSON",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        _fail(
            "input",
            f"input '{name}' from {source} is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno} (char {error.pos}); expected a JSON document",
        )
    except RecursionError:
        _fail(
            "input",
            f"input '{name}' from {source} is nested too deeply to parse; expected JSON nested "
            f"at most about {sys.getrecursionlimit()} levels",
        )


_values = {name: _load_input(name, fd, source) for name, fd, source in _INPUTS}
del _INPUTS


# --- entry point --------------------------------------------------------------------

def _load_entrypoint():
    module_name, _, function_name = _ENTRYPOINT.partition(":")
    os.chdir(_APP_DIR)
    sys.path.insert(0, _APP_DIR)
    module_file = os.path.join(*module_name.split("."))
    sys.argv = [module_file + ".py"]
    try:
        __import__(module_name)
        module = sys.modules[module_name]
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            _fail(
                "entrypoint",
                f"entry point '{_ENTRYPOINT}': module '{module_name}' not found in {_APP_DIR} "
                f"(looked for {module_file}.py or {module_file}/__init__.py); set the entry point "
                "with [job] entrypoint in jobwrap.toml or BP_JOBWRAP_ENTRYPOINT",
                _traceback_text(error),
            )
        _fail("import", f"importing '{module_name}' failed: {error}; is the package in requirements.txt?", _traceback_text(error))
    except BaseException as error:  # noqa: BLE001  (any failure at import is the project's)
        _fail("import", f"importing '{module_name}' failed: {type(error).__name__}: {error}", _traceback_text(error))
    function = getattr(module, function_name, None)
    if not callable(function):
        _fail(
            "entrypoint",
            f"entry point '{_ENTRYPOINT}': {module_file}.py has no function '{function_name}'; "
            f"define `def {function_name}(data, params):` or set another entry point",
        )
    return function


def _call(function, data, params):
    code = getattr(function, "__code__", None)
    if isinstance(function, _FUNCTION) and code is not None:
        return _call_function(function, code, data, params)
    return _call_other(function, data, params)


def _call_function(function, code, data, params):
    """The calling rules for a plain function, read from its code object (fast)."""
    positional = code.co_varnames[: code.co_argcount]
    keyword_only = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    by_keyword = set(positional[code.co_posonlyargcount :]) | set(keyword_only)
    if code.co_flags & 0x08 or {"data", "params"} <= by_keyword:  # 0x08: **kwargs
        return function(data=data, params=params)
    required = code.co_argcount - len(function.__defaults__ or ())
    required_keyword_only = set(keyword_only) - set(function.__kwdefaults__ or {})
    takes_two = code.co_argcount >= 2 or code.co_flags & 0x04  # 0x04: *args
    if not takes_two or required > 2 or required_keyword_only:
        _fail(
            "entrypoint",
            f"entry point '{_ENTRYPOINT}' has the signature {function.__name__}({', '.join(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])}); "
            "it must accept `data` and `params` as keywords, `**kwargs`, or two positional arguments",
        )
    return function(data, params)


def _call_other(function, data, params):
    """Classes, bound methods, builtins, partials: the general (slower) rules."""
    inspect = _stdlib("inspect")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return function(data, params)
    parameters = signature.parameters
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes_kwargs = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    takes_keywords = all(name in parameters and parameters[name].kind in keyword_kinds for name in ("data", "params"))
    if takes_kwargs or takes_keywords:
        return function(data=data, params=params)
    try:
        signature.bind(data, params)
    except TypeError:
        _fail(
            "entrypoint",
            f"entry point '{_ENTRYPOINT}' has the signature {function.__name__}{signature}; "
            "it must accept `data` and `params` as keywords, `**kwargs`, or two positional arguments",
        )
    return function(data, params)


# --- result conversion --------------------------------------------------------------

class _InvalidResult(Exception):
    pass


def _is_numpy(value):
    return type(value).__module__.split(".")[0] == "numpy"


def _convert(value, path, depth=0):
    if depth > 500:
        raise _InvalidResult(f"{path}: nested more than 500 levels deep (or a reference cycle)")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _InvalidResult(f"{path}: {value} is not a finite number, which JSON cannot represent")
        return value
    if isinstance(value, dict):
        converted = {}
        for key, item in value.items():
            if _is_numpy(key) and hasattr(key, "item"):
                key = key.item()
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise _InvalidResult(f"{path}: a key of type {type(key).__name__} cannot be a JSON object key")
            converted[key] = _convert(item, f"{path}.{key}", depth + 1)
        return converted
    if isinstance(value, (list, tuple)):
        return [_convert(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    if _is_numpy(value) and hasattr(value, "tolist"):
        return _convert(value.tolist(), path, depth + 1)
    if isinstance(value, (set, frozenset)):
        items = list(value)
        try:
            items.sort()
        except TypeError:
            pass
        return _convert(items, path, depth + 1)
    for method in ("to_json", "to_dict"):
        convert = getattr(value, method, None)
        if callable(convert):
            produced = convert()
            if method == "to_json" and isinstance(produced, (str, bytes)):
                try:
                    return json.loads(produced)
                except json.JSONDecodeError as error:
                    raise _InvalidResult(f"{path}: {type(value).__name__}.to_json() returned invalid JSON: {error}") from None
            return _convert(produced, path, depth + 1)
    # Functions, classes and modules have a __dict__ too, but it is not their value.
    if hasattr(value, "__dict__") and not isinstance(value, (type, _MODULE, _FUNCTION, _BUILTIN)) and not hasattr(value, "__func__"):
        return _convert(vars(value), path, depth + 1)
    raise _InvalidResult(
        f"{path}: a value of type {type(value).__name__} is not JSON-serialisable; return dicts, lists, "
        "strings, numbers, or objects with to_json()/to_dict()"
    )


def _is_error_response(value):
    return any(cls.__name__ == "ErrorResponse" for cls in type(value).__mro__)


def _main():
    function = _load_entrypoint()
    try:
        value = _call(function, _values["data"], _values["params"])
        if hasattr(value, "__await__"):
            import asyncio

            async def _await(awaitable):
                return await awaitable

            value = asyncio.run(_await(value))
    except BaseException as error:  # noqa: BLE001  (SystemExit and KeyboardInterrupt fail the job too)
        text = _traceback_text(error)
        sys.stderr.write(text)
        _fail("exception", f"{type(error).__name__}: {error}", text)
    kind = b"E" if _is_error_response(value) else b"R"
    try:
        converted = _convert(value, "result")
        payload = json.dumps(converted, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except _InvalidResult as error:
        _fail("invalid_result", f"the value returned by {_ENTRYPOINT} is invalid: {error}")
    except RecursionError:
        _fail("invalid_result", f"the value returned by {_ENTRYPOINT} is nested too deeply (or has a reference cycle)")
    except Exception as error:  # noqa: BLE001  (a user's to_json/to_dict may raise anything)
        _fail("invalid_result", f"converting the value returned by {_ENTRYPOINT} failed: {type(error).__name__}: {error}", _traceback_text(error))
    if len(payload) > _MAX_RESULT:
        _fail(
            "result_size",
            f"the result is {len(payload)} bytes, more than JOBWRAP_MAX_RESULT_BYTES={_MAX_RESULT}; "
            "return less data or write large outputs elsewhere",
        )
    _finish(kind, payload)


_main()
