"""Safe arithmetic expressions in d and N, such as "0.3/d" or "0.05/(d*log(d))".

Learning rates, sample budgets and step counts in a spec may be written as expressions of the
dimension d and the width N, so one spec file serves a whole sweep over d. The expression is parsed
with `ast` and walked node by node; only numbers, the names below, + - * / ** and unary minus, and
the whitelisted functions are accepted. Nothing is ever passed to eval().
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable, Mapping

FUNCTIONS = {
    "log": math.log,
    "ln": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "ceil": math.ceil,
    "floor": math.floor,
    "min": min,
    "max": max,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLES = ("d", "N")
_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_MAX_LENGTH = 200


def _finite(value: object) -> float:
    # (-8)**(1/3) is a complex number in Python and 1e308*10 is inf: neither is a budget or a
    # step size, so every intermediate value must be a finite real (a ValueError, so a 422).
    if isinstance(value, complex) or not isinstance(value, (int, float)):
        raise ValueError("is not a real number")
    if not math.isfinite(value):
        raise ValueError("is not finite")
    return float(value)


def _walk(node: ast.AST, env: Mapping[str, float]) -> float:
    return _finite(_step(node, env))


def _step(node: ast.AST, env: Mapping[str, float]) -> float:
    if isinstance(node, ast.Expression):
        return _walk(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        if isinstance(node.value, bool):
            raise ValueError("booleans are not numbers here")
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in env:
            return float(env[node.id])
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ValueError(f"unknown name {node.id!r} (allowed: {', '.join(VARIABLES)}, pi, e)")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _walk(node.left, env), _walk(node.right, env)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _walk(node.operand, env)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in FUNCTIONS:
            raise ValueError(f"unknown function {node.func.id!r} (allowed: {', '.join(FUNCTIONS)})")
        function: Callable[..., float] = FUNCTIONS[node.func.id]  # type: ignore[assignment]
        return float(function(*(_walk(arg, env) for arg in node.args)))
    raise ValueError(f"unsupported syntax: {ast.dump(node)[:60]}")


def check(text: str) -> None:
    """Raise ValueError if `text` is not a valid expression in d and N (values are not needed)."""
    evaluate(text, {"d": 64.0, "N": 64.0})


def evaluate(text: str | float, env: Mapping[str, float]) -> float:
    """Value of a number or an expression string with the variables in `env` bound."""
    if isinstance(text, bool):
        raise ValueError("booleans are not numbers here")
    if isinstance(text, (int, float)):
        try:
            return _finite(float(text))
        except (OverflowError, ValueError) as exc:  # float(10**400) overflows
            raise ValueError(f"{text!r} {exc}") from None
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"expression longer than {_MAX_LENGTH} characters")
    return _evaluate_text(text, tuple(sorted(env.items())))


# A spec's few expressions are evaluated several times each (validation, resolve, the memory
# estimate, the shape key), and a bulk submit's thousands of specs share them: parsing is what
# costs (ast.parse compiles), and the value is a pure function of the text and the variables.
# Failures are not cached; they raise again.
@functools.lru_cache(maxsize=4096)
def _evaluate_text(text: str, variables: tuple[tuple[str, float], ...]) -> float:
    env = dict(variables)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"cannot parse expression {text!r}: {exc.msg}") from None
    try:
        value = _walk(tree, env)
    except (ZeroDivisionError, OverflowError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot evaluate {text!r}: {exc}") from None
    return value
