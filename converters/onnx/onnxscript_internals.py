"""Every private attribute of onnxscript that keras-1x1 reads, in one place.

- ``onnxscript.rewriter._rewrite_rule.merge_metadata``: the rewriter joins
  the names of the rules that made each node into its metadata at every
  rewrite; canonical graphs drop metadata, so the bookkeeping is turned off.
- ``RewriteRule._target_pattern``: the op type a rule's pattern is rooted
  at, so a rule set skips nodes of other types before matching.

Each is read directly; a release that renames one raises
`OnnxscriptInternalsChanged` from `check()` instead of quietly working
slower or differently.
"""

import functools


class OnnxscriptInternalsChanged(RuntimeError):
    """This onnxscript no longer has an attribute keras-1x1 reads."""


def _missing(what, error):
    import onnxscript

    return OnnxscriptInternalsChanged(
        f"onnxscript {onnxscript.__version__} has no {what} ({error}); keras-1x1 "
        "was built for onnxscript 0.7, so it needs an update"
    )


def _rewrite_rule_module():
    try:
        from onnxscript.rewriter import _rewrite_rule
    except ImportError as error:
        raise _missing("onnxscript.rewriter._rewrite_rule", error) from None
    if not hasattr(_rewrite_rule, "merge_metadata"):
        raise _missing("onnxscript.rewriter._rewrite_rule.merge_metadata", "attribute missing")
    return _rewrite_rule


def metadata_merging_off():
    """Stop the rewriter from merging rule names into node metadata."""
    _rewrite_rule_module().merge_metadata = False


def root_op_type(rule):
    """The op type at the root of a rule's pattern, or None when it has none
    (a pattern rooted at one of several ops)."""
    try:
        root = rule._target_pattern.output_node.op
    except AttributeError as error:
        raise _missing("RewriteRule._target_pattern.output_node.op", error) from None
    op_type = root.value() if hasattr(root, "value") else None
    return op_type if isinstance(op_type, str) else None


@functools.lru_cache(maxsize=None)
def check():
    """Probe every attribute above; raises when one is gone."""
    from onnxscript.rewriter import pattern

    class _Probe(pattern.RewriteRuleClassBase):
        def pattern(self, op, x):
            return op.Relu(x)

        def rewrite(self, op, x):
            return op.Relu(x)

    _rewrite_rule_module()
    if root_op_type(_Probe.rule()) != "Relu":
        raise _missing("RewriteRule._target_pattern naming its root op", "it changed meaning")
    return True
