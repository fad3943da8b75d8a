"""onnxscript pattern rules that rewrite pointwise ops to one canonical form.

One rule (or one family of variants of one rule, e.g. one per op type) per
module, each an onnxscript `RewriteRuleClassBase` with `pattern`, `check`
(returning the reason when the rule does not apply) and `rewrite`. The
groups below are applied by `keras_1x1.converters.canonical`:

- `pointwise_rules`: every pointwise op (1x1 Conv, Gemm, tensordot chains,
  grouped einsums) to ``MatMul(x, W[Cin, Cout])`` on the last axis plus
  ``Add(bias)``; per-channel scales and offsets that follow are folded into
  W and the bias.
- `layout_rules`: the layout normal form: transposes and reshapes sink
  toward the outputs (through elementwise ops, slices, pads, reductions),
  merge, and vanish when they cancel; unsqueezes sink to meet their squeezes.
- `cleanup_rules`: one spelling for constants, slices, pooling and conv
  attributes; no-ops removed.
- `conv_form_rules` / `conv_strides_rules`: the deployment form with
  pointwise ops as NCHW Conv 1x1 (groups, strides).
"""

from ..onnxscript_internals import root_op_type
from . import (
    bias_add_fusion,
    broadcast_constant,
    constant_second,
    conv1x1_to_matmul,
    conv_attributes,
    flattened_matmul,
    gemm_to_matmul,
    global_pool_to_reduce,
    grouped_einsum_to_matmul,
    matmul_scale_fusion,
    matmul_to_conv,
    no_op_elementwise,
    pool1x1_to_slice,
    reduce_normalize,
    reshape_as_transpose,
    reshape_as_unsqueeze,
    reshape_reshape,
    reshape_through_row_op,
    reshape_through_unary,
    slice_into_conv,
    slice_normalize,
    squeeze_after_transpose,
    sub_constant_to_add,
    tensordot_to_matmul,
    transpose_after_unsqueeze,
    transpose_cancel_through_binary,
    transpose_identity,
    transpose_through_binary_constant,
    transpose_through_binary_pair,
    transpose_through_binary_unsqueeze,
    transpose_through_pad,
    transpose_through_slice,
    transpose_through_softmax,
    transpose_through_unary,
    transpose_transpose,
    unit_axes_before_flatten,
    unsqueeze_sink,
)


def _fast(rule):
    """Make `rule` skip nodes whose op type cannot be its pattern's root.

    onnxscript's rule sets try every rule at every node; with a hundred
    rules most of the time goes into patterns failing on the first op type.
    The check below is the matcher's own first test, done before the call.
    """
    if getattr(rule, "_k1x1_fast", False):
        return rule
    op_type = root_op_type(rule)
    if op_type is not None:
        original = rule.try_rewrite

        def try_rewrite(model, graph_or_function, node, *args, **kwargs):
            if node.op_type != op_type:
                return None
            return original(model, graph_or_function, node, *args, **kwargs)

        rule.try_rewrite = try_rewrite
    rule._k1x1_fast = True
    return rule


def _all_fast(rules):
    return [_fast(rule) for rule in rules]


def pointwise_rules():
    return _all_fast(
        [
            conv1x1_to_matmul.rule,
            gemm_to_matmul.rule,
            tensordot_to_matmul.rule,
            tensordot_to_matmul.rule_with_bias,
            grouped_einsum_to_matmul.rule,
            flattened_matmul.rule,
            unit_axes_before_flatten.rule,
            matmul_scale_fusion.rule,
            matmul_scale_fusion.rule_with_bias,
            bias_add_fusion.rule,
        ]
    )


def layout_rules():
    return _all_fast(
        [
            transpose_identity.rule,
            transpose_transpose.rule,
            reshape_as_transpose.rule,
            reshape_as_unsqueeze.rule,
            reshape_reshape.rule,
            *reshape_through_row_op.rules,
            *reshape_through_unary.rules,
            *transpose_through_unary.rules,
            *transpose_through_softmax.rules,
            *transpose_through_binary_constant.rules,
            *transpose_through_binary_pair.rules,
            *transpose_cancel_through_binary.rules,
            *transpose_through_binary_unsqueeze.rules,
            transpose_through_slice.rule,
            transpose_through_pad.rule,
            squeeze_after_transpose.rule,
            transpose_after_unsqueeze.rule,
            *unsqueeze_sink.rules,
            *reduce_normalize.rules,
        ]
    )


def cleanup_rules():
    return _all_fast(
        [
            sub_constant_to_add.rule,
            *constant_second.rules,
            *broadcast_constant.rules,
            *no_op_elementwise.rules,
            slice_normalize.rule,
            *global_pool_to_reduce.rules,
            *pool1x1_to_slice.rules,
            *conv_attributes.rules,
        ]
    )


def canonical_rules():
    return cleanup_rules() + pointwise_rules() + layout_rules()


def conv_form_rules():
    return _all_fast([matmul_to_conv.rule_with_bias, matmul_to_conv.rule])


def conv_strides_rules():
    return _all_fast([slice_into_conv.rule])
