# jobwrap/job-template's build-time check of the entry point. It compiles the module and
# reads its syntax tree; it never imports it (that would run the user's code).
# argv: module file, function name. Prints one JSON object.
import ast
import json
import sys

path, function = sys.argv[1], sys.argv[2]


def report(**fields):
    print(json.dumps(fields))
    sys.exit(0)


with open(path, "rb") as stream:
    source = stream.read()
try:
    tree = compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
except SyntaxError as error:
    report(problem="syntax", line=error.lineno, column=error.offset, text=(error.text or "").rstrip("\n"), message=error.msg)
except ValueError as error:  # e.g. null bytes in the source
    report(problem="syntax", line=None, column=None, text="", message=str(error))

definition = None
for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
        definition = node
    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == function for t in targets):
            definition = "assigned"
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        if any((alias.asname or alias.name) == function for alias in node.names):
            definition = "imported"
if definition is None:
    report(problem="missing")
if not isinstance(definition, ast.AST):
    report(problem=None)

# The runner calls run(data=..., params=...) or run(data, params): check one of them fits.
args = definition.args
positional = args.posonlyargs + args.args
names = {a.arg for a in args.args + args.kwonlyargs}
required_keyword_only = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
takes_keywords = args.kwarg is not None or {"data", "params"} <= names
required_positional = len(positional) - len(args.defaults)
takes_two_positional = (len(positional) >= 2 or args.vararg is not None) and required_positional <= 2
fits_keywords = takes_keywords and not (set(required_keyword_only) - {"data", "params"})
fits_positional = takes_two_positional and not required_keyword_only
if not (fits_keywords or fits_positional):
    report(problem="signature", line=definition.lineno, signature=ast.unparse(args))
report(problem=None)
