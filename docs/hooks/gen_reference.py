"""MkDocs hook: the reference pages' tables and listings, generated from the code at build time.

A page holds a placeholder line ``<!-- generated: NAME -->``; :func:`on_page_markdown` replaces
it with what :data:`GENERATORS` makes of the installed ``pytest_cpuperf`` (or the checkout's, the
repository root being put first on ``sys.path``). An unknown name, or a generator that fails, is
a build error, so a page can never show a stale or empty table.

Sources: the pytest option group and ini keys (a throwaway ``pytest.Parser`` given every
``pytest_addoption`` of the plugin and its sub-plugins), ``knobs.KNOBS`` and ``knobs.THRESHOLDS``,
``plugin.MARKERS``, ``isa.KNOWN_FLAGS``, the fixtures of ``plugin`` and ``backends.registry``
(backend signatures read from the source with ``ast``, so no runtime is imported), the
recorder's methods, ``models``, the ``cpuperf`` argparse parser (``cli.build_parser``), the
hook specifications, the file-format constants and a committed baseline file.
"""

from __future__ import annotations

import argparse
import ast
import html
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"^<!-- generated: ([a-z0-9-]+) -->$", re.MULTILINE)
HELP_COLUMNS = "100"
BASELINE_EXAMPLE = (ROOT / "examples" / ".cpuperf"
                    / "intel-xeon-processor--intel-f6-m167--amx--2c.json")


# --- text helpers ----------------------------------------------------------------------------

def cell(text: object) -> str:
    """Table-cell text on one line: HTML-escaped, pipes too, outside code spans (the tables
    extension leaves a pipe inside a code span alone)."""
    parts = re.split(r"(`[^`]*`)", " ".join(str(text).split()))
    out = [p if p.startswith("`") else html.escape(p, quote=False).replace("|", "&#124;")
           for p in parts]
    return "".join(out)


def code(text: str) -> str:
    return f"`{text}`"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def rst_to_md(text: str) -> str:
    """Docstring markup to Markdown: ``x`` to `x`, :role:`x` to `x`."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def docstring(obj: Any) -> str:
    return rst_to_md(inspect.cleandoc(obj.__doc__ or "")).strip()


def split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def wrapped(name: str, params: str, returns: str = "", width: int = 88) -> str:
    """``name(params) -> returns`` on one line, or one parameter a line when too long."""
    tail = f" -> {returns}" if returns else ""
    line = f"{name}({params}){tail}"
    if len(line) <= width:
        return line
    body = "".join(f"    {part},\n" for part in split_top_level(params))
    return f"{name}(\n{body}){tail}"


def fenced(text: str, lang: str = "text") -> str:
    return f"```{lang}\n{text.rstrip()}\n```"


# --- the pytest option group ------------------------------------------------------------------

def plugin_parser() -> Any:
    """A throwaway pytest parser holding the options of the plugin and every sub-plugin it
    loads through ``pytest_plugins``."""
    from _pytest.config.argparsing import Parser

    from pytest_cpuperf import plugin

    parser = Parser(_ispytest=True)
    modules = [plugin] + [importlib.import_module(name)
                          for name in getattr(plugin, "pytest_plugins", [])]
    for module in modules:
        add = getattr(module, "pytest_addoption", None)
        if add is not None:
            add(parser)
    return parser


def cpuperf_options(parser: Any) -> list[Any]:
    group = parser.getgroup("cpuperf")
    if not group.options:
        raise PluginError("the pytest option group 'cpuperf' is empty: did pytest_addoption move?")
    return list(group.options)


def ini_keys(parser: Any) -> dict[str, tuple[str, Any, Any]]:
    return {name: value for name, value in parser._inidict.items() if name.startswith("cpuperf")}


def option_action(option: Any) -> str:
    """``store_true``, ``append``...: the attrs' action (pytest 8) or the argparse Action's
    class (pytest 9 wraps the Action)."""
    attrs = option.attrs()
    action = attrs.get("action")
    if isinstance(action, str):
        return action
    name = type(getattr(option, "_action", None)).__name__
    return {"_StoreTrueAction": "store_true", "_StoreFalseAction": "store_false",
            "_AppendAction": "append"}.get(name, "store")


def option_value(option: Any) -> str:
    action = option_action(option)
    if action in ("store_true", "store_false"):
        return "(flag)"
    metavar = option.attrs().get("metavar") or option.dest.upper()
    repeat = " (repeatable)" if action == "append" else ""
    return code(metavar) + repeat


def gen_options() -> str:
    parser = plugin_parser()
    inis = ini_keys(parser)
    rows = []
    for option in cpuperf_options(parser):
        name = option.names()[-1]
        ini = "cpuperf_" + name.removeprefix("--cpuperf-").replace("-", "_")
        rows.append([code(name), option_value(option), code(ini) if ini in inis else "",
                     cell(option.attrs().get("help", ""))])
    return table(["option", "value", "ini twin", "what it does (default)"], rows)


def gen_ini() -> str:
    parser = plugin_parser()
    options = {o.names()[-1] for o in cpuperf_options(parser)}
    rows = []
    for name, (help_text, kind, _default) in sorted(ini_keys(parser).items()):
        twin = "--" + name.replace("_", "-")
        rows.append([code(name), cell(kind if isinstance(kind, str) else str(kind)),
                     code(twin) if twin in options else "ini only", cell(help_text)])
    return table(["ini key", "type", "command-line twin", "what it does (default)"], rows)


def gen_knobs() -> str:
    from pytest_cpuperf.knobs import KNOBS

    rows = []
    for knob in KNOBS:
        if knob.auto:
            default = "`auto`"
        elif knob.kind is bool:
            default = code(str(bool(knob.default)).lower())
        elif knob.choices:
            default = code(str(knob.default))
        else:
            default = code(f"{knob.default:g}")
        rows.append([code(knob.name), code(knob.option), code(knob.ini), knob.scope,
                     cell(knob.range_text()), default, cell(knob.help)])
    return table(["marker keyword", "option", "ini", "scope", "values", "default", "meaning"],
                 rows)


def gen_knob_auto() -> str:
    from pytest_cpuperf.knobs import KNOBS

    lines = [f"- {code(k.name)}: `auto` is {cell(k.auto)}." for k in KNOBS if k.auto]
    return "\n".join(lines) or "No knob takes `auto`."


# --- markers ----------------------------------------------------------------------------------

def gen_markers() -> str:
    from pytest_cpuperf import plugin

    blocks = []
    for line in plugin.MARKERS:
        signature, _, description = line.partition(": ")
        name, _, params = signature.partition("(")
        blocks.append(fenced(wrapped(f"@pytest.mark.{name}", params.removesuffix(")")),
                             "python") + "\n\n" + cell(description))
    return "\n\n".join(blocks)


def gen_thresholds() -> str:
    from pytest_cpuperf.knobs import KERNELS_KEYWORD, THRESHOLDS

    rows = [[code(t.keyword), t.side,
             ", ".join(code(m) for m in (t.target, *t.more_targets))] for t in THRESHOLDS]
    rows.append([code(KERNELS_KEYWORD), "kernel gate",
                 "`\"same\"` or a dict of rules (see the kernel gate how-to)"])
    return table(["keyword", "kind", "limits the metric kind or metric name"], rows)


def gen_isa_flags() -> str:
    from pytest_cpuperf.isa import ISA_CLASSES, KNOWN_FLAGS

    flags = table(["flag", "enables"], [[code(n), cell(t)] for n, t in KNOWN_FLAGS.items()])
    classes = table(["ISA class (machine key)", "needs every flag of"],
                    [[code(n), ", ".join(code(f) for f in fl)] for n, fl in ISA_CLASSES])
    return flags + "\n\n" + classes


def gen_kernel_rules() -> str:
    from pytest_cpuperf.kernel_spec import COUNT_KEYS, ISA_KEY, ISAS, SAME

    rows = [[code(key), '`">=N"`, `"<=N"`, `"==N"` or an integer N (exactly N)']
            for key in COUNT_KEYS]
    rows.append([code(ISA_KEY), "one of " + ", ".join(code(i) for i in ISAS)
                 + ', or `"!=NAME"`'])
    return (f'`kernels="{SAME}"`: the mix must equal the baseline\'s latest run. Or a dict of '
            f"rules, which need no baseline:\n\n" + table(["rule key", "takes"], rows))


# --- fixtures ---------------------------------------------------------------------------------

PLUGIN_FIXTURES = ("cpu_isa", "cpuperf", "cpuperf_progress")


def fixture_scope(obj: Any) -> str:
    for name in ("_fixture_function_marker", "_pytestfixturefunction"):
        marker = getattr(obj, name, None)
        if marker is not None:
            return str(getattr(marker, "scope", "function"))
    return "function"


def gen_fixtures() -> str:
    from pytest_cpuperf import plugin
    from pytest_cpuperf.backends.registry import BACKENDS

    rows = []
    for name in PLUGIN_FIXTURES:
        obj = getattr(plugin, name)
        rows.append([code(name), fixture_scope(obj), "core", cell(docstring(obj))])
    for backend in BACKENDS:
        needs = f" (needs {', '.join(backend.requires)})" if backend.requires else ""
        rows.append([code(backend.fixture), "session",
                     f"`pytest-cpuperf[{backend.extra}]`{cell(needs)}",
                     cell(rst_to_md(backend.doc))])
    return table(["fixture", "scope", "install", "what it gives"], rows)


def ast_function(path: Path, name: str) -> ast.FunctionDef:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
        if isinstance(node, ast.ClassDef) and node.name == name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__call__":
                    return item
            raise PluginError(f"{path}: class {name} has no __call__")
    raise PluginError(f"{path}: no top-level {name}")


def returned_function(path: Path, node: ast.FunctionDef) -> ast.FunctionDef:
    """A factory whose body ends ``return NAME`` of a module function: that function."""
    last = node.body[-1]
    if isinstance(last, ast.Return) and isinstance(last.value, ast.Name):
        return ast_function(path, last.value.id)
    return node


def ast_signature(node: ast.FunctionDef, name: str) -> str:
    args = node.args
    if args.args and args.args[0].arg == "self":
        args = ast.arguments(posonlyargs=args.posonlyargs, args=args.args[1:],
                             vararg=args.vararg, kwonlyargs=args.kwonlyargs,
                             kw_defaults=args.kw_defaults, kwarg=args.kwarg,
                             defaults=args.defaults)
    stripped = ast.arguments(
        posonlyargs=[ast.arg(a.arg) for a in args.posonlyargs],
        args=[ast.arg(a.arg) for a in args.args],
        vararg=ast.arg(args.vararg.arg) if args.vararg else None,
        kwonlyargs=[ast.arg(a.arg) for a in args.kwonlyargs], kw_defaults=args.kw_defaults,
        kwarg=ast.arg(args.kwarg.arg) if args.kwarg else None, defaults=args.defaults)
    return wrapped(name, ast.unparse(stripped))


def module_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise PluginError(f"cannot find the source of {module}")
    return Path(spec.origin)


def gen_backend_signatures() -> str:
    from pytest_cpuperf.backends.registry import BACKENDS

    blocks = []
    for backend in BACKENDS:
        module, _, attribute = backend.factory.partition(":")
        path = module_path(module)
        node = returned_function(path, ast_function(path, attribute))
        doc = rst_to_md(inspect.cleandoc(ast.get_docstring(node) or "")).strip()
        blocks.append(f"### `{backend.fixture}`\n\n"
                      + fenced(ast_signature(node, backend.fixture), "python")
                      + f"\n\n{rst_to_md(backend.doc)}\n\n{doc}\n\n"
                      f"Extra: `pytest-cpuperf[{backend.extra}]`. Versions shown in every report: "
                      + ", ".join(code(p) for p in backend.packages) + ".")
    return "\n\n".join(blocks)


class Annotation:
    """A string annotation shown without quotes."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def unquoted(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` with its string annotations (``from __future__ import annotations``)
    shown as written, and without ``self``."""
    def plain(annotation: Any) -> Any:
        return Annotation(annotation) if isinstance(annotation, str) else annotation

    params = [p.replace(annotation=plain(p.annotation)) for p in signature.parameters.values()
              if p.name != "self"]
    return signature.replace(parameters=params,
                             return_annotation=plain(signature.return_annotation))


def method_block(owner: str, obj: Any, name: str) -> str:
    member = getattr(obj, name)
    signature = unquoted(inspect.signature(member))
    params = str(signature.replace(return_annotation=inspect.Signature.empty))[1:-1]
    returns = "" if signature.return_annotation is inspect.Signature.empty else str(
        signature.return_annotation)
    return (f"### `{owner}.{name}`\n\n"
            + fenced(wrapped(f"{owner}.{name}", params, returns), "python")
            + "\n\n" + docstring(member))


RECORDER_METHODS = ("measure", "compare", "cold_start", "accuracy", "agreement", "record")


def gen_recorder() -> str:
    from pytest_cpuperf.recorder import Recorder

    return "\n\n".join(method_block("cpuperf", Recorder, name) for name in RECORDER_METHODS)


MODEL_FUNCTIONS = ("build_ir", "build_onnx", "build_torch_bert")


def gen_models() -> str:
    path = module_path("pytest_cpuperf.models.bert")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    spec = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "BertSpec")
    fields = [f"{n.target.id}: {ast.unparse(n.annotation)} = {ast.unparse(n.value)}"
              for n in spec.body if isinstance(n, ast.AnnAssign) and n.value is not None
              and isinstance(n.target, ast.Name)]
    methods = [f"- `BertSpec.{n.name}(**changes)`: "
               f"{rst_to_md(ast.get_docstring(n) or '')}"
               for n in spec.body if isinstance(n, ast.FunctionDef)
               and any(isinstance(d, ast.Name) and d.id == "classmethod"
                       for d in n.decorator_list)]
    blocks = ["### `BertSpec`\n\n" + rst_to_md(ast.get_docstring(spec) or "") + "\n\n"
              + fenced("@dataclass(frozen=True)\nclass BertSpec:\n    "
                       + "\n    ".join(fields), "python") + "\n\n" + "\n".join(methods)]
    for name in MODEL_FUNCTIONS:
        node = ast_function(path, name)
        blocks.append(f"### `{name}`\n\n" + fenced(ast_signature(node, name), "python")
                      + "\n\n" + rst_to_md(inspect.cleandoc(ast.get_docstring(node) or "")))
    return "\n\n".join(blocks)


# --- the cpuperf command ----------------------------------------------------------------------

def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for name, sub in subcommands(parser).items():
        yield from walk(sub, (*path, name))


def gen_cli() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        from pytest_cpuperf.cli import build_parser

        blocks = []
        for path, parser in walk(build_parser()):
            level = "#" * min(2 + len(path), 4)
            title = " ".join(("cpuperf", *path))
            blocks.append(f"{level} `{title}`\n\n" + fenced(parser.format_help()))
        return "\n\n".join(blocks)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def gen_cli_commands() -> str:
    from pytest_cpuperf.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    return table(["command", "what it does"],
                 [[f"[`cpuperf {name}`](#cpuperf-{name})", cell(helps.get(name, ""))]
                  for name in action.choices])


# --- hooks and file formats -------------------------------------------------------------------

def gen_hooks() -> str:
    from pytest_cpuperf import hookspecs

    blocks = []
    for name, member in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("pytest_cpuperf_"):
            continue
        signature = unquoted(inspect.signature(member))
        params = str(signature.replace(return_annotation=inspect.Signature.empty))[1:-1]
        returns = "" if signature.return_annotation is inspect.Signature.empty else str(
            signature.return_annotation)
        blocks.append(f"### `{name}`\n\n"
                      + fenced("def " + wrapped(name, params, returns) + ": ...", "python")
                      + "\n\n" + docstring(member))
    if not blocks:
        raise PluginError("pytest_cpuperf.hookspecs defines no pytest_cpuperf_* hook")
    return "\n\n".join(blocks)


def ast_constant(module: str, name: str) -> Any:
    """A module-level constant read from the source (the module may import what the docs
    environment lacks, as history.schema imports SQLAlchemy)."""
    path = module_path(module)
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(value)
    raise PluginError(f"{path}: no constant {name}")


def gen_schemas() -> str:
    from pytest_cpuperf.records import results
    from pytest_cpuperf.store import baselines

    rows = [
        ["baseline file (`.cpuperf/<machine key>.json`)", code(baselines.SCHEMA),
         code(str(baselines.SCHEMA_VERSION)),
         f"up to {baselines.MAX_RUNS} recorded runs per metric"],
        ["report JSON (`--cpuperf-report x.json`, `cpuperf ab --report x.json`)",
         code(results.REPORT_SCHEMA), code(str(results.REPORT_SCHEMA_VERSION)), ""],
        ["history database (`--cpuperf-history URL`)", "tables in the database",
         code(str(ast_constant("pytest_cpuperf.history.schema", "SCHEMA_VERSION"))),
         "a newer schema is refused and left as it is"],
    ]
    return table(["file", "`schema`", "`schema_version`", "note"], rows)


def short_record(records: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(test, metric, record) of the first record whose runs are short (an accuracy metric):
    its lines show the layout without kilobyte-long run lines."""
    for test, metrics in records.items():
        for metric, record in metrics.items():
            if record.get("kind") != "throughput" and all(
                    len(json.dumps(run)) < 160 for run in record.get("runs", [])):
                return test, metric, record
    raise PluginError(f"{BASELINE_EXAMPLE}: no record with short runs to show")


def gen_baseline_example() -> str:
    """A committed baseline file cut to one record, rendered by the plugin's own writer."""
    import tempfile

    from pytest_cpuperf.store import baselines

    data = json.loads(BASELINE_EXAMPLE.read_text(encoding="utf-8"))
    test, metric, record = short_record(data["records"])
    record = {**record, "config": dict(list(record.get("config", {}).items())[:3])}
    excerpt = {"schema": data["schema"], "schema_version": data["schema_version"],
               "machine": {k: v for k, v in data["machine"].items() if k != "all_flags"},
               "records": {test: {metric: record}}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / BASELINE_EXAMPLE.name
        path.write_text(json.dumps(excerpt), encoding="utf-8")
        text = baselines.render(baselines.load(path))
    runs = [r for metrics in data["records"].values() for rec in metrics.values()
            if rec.get("kind") == "throughput" for r in rec.get("runs", [])]
    keys = list(dict.fromkeys(k for run in runs for k in run))
    fields = ", ".join(code(k) for k in keys) if keys else "(none recorded)"
    source = BASELINE_EXAMPLE.relative_to(ROOT)
    return (f"The committed `{source}`, cut to one record (its config shortened) and written by "
            f"the plugin's own writer:\n\n" + fenced(text, "json")
            + f"\n\nA throughput run holds more on its one line (the fields its runs in that file "
              f"use): {fields}.")


GENERATORS: dict[str, Callable[[], str]] = {
    "options": gen_options,
    "ini": gen_ini,
    "knobs": gen_knobs,
    "knob-auto": gen_knob_auto,
    "markers": gen_markers,
    "thresholds": gen_thresholds,
    "isa-flags": gen_isa_flags,
    "kernel-rules": gen_kernel_rules,
    "fixtures": gen_fixtures,
    "backend-signatures": gen_backend_signatures,
    "recorder": gen_recorder,
    "models": gen_models,
    "cli-commands": gen_cli_commands,
    "cli": gen_cli,
    "hooks": gen_hooks,
    "schemas": gen_schemas,
    "baseline-example": gen_baseline_example,
}


# --- mkdocs events ----------------------------------------------------------------------------

def on_config(config: Any) -> Any:
    """The checkout's package first, so the reference is that of the code beside the docs."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    def generate(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_path}: unknown placeholder "
                              f"'<!-- generated: {name} -->'; known: {', '.join(GENERATORS)}")
        try:
            return GENERATORS[name]()
        except PluginError:
            raise
        except Exception as exc:  # a build error naming the page and the generator
            raise PluginError(f"{page.file.src_path}: generating '{name}' failed: "
                              f"{type(exc).__name__}: {exc}") from exc

    return PLACEHOLDER.sub(generate, markdown)
