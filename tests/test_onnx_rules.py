"""The canonical form's rules and passes, each on a small graph built for it
with onnx.helper: the rewrite it makes (or the reason it gives for not
making one), and the numbers it keeps (onnxruntime, before and after)."""

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from onnx import TensorProto, helper, numpy_helper

from keras_1x1 import converters
from keras_1x1.converters.onnx import canonical, edit, rules, runtime
from keras_1x1.converters.onnx.passes import layout, plumbing, reshapes, shapes
from keras_1x1.converters.onnx.rules import (
    broadcast_constant,
    cast_no_op,
    constant_second,
    conv1x1_to_matmul,
    conv_attributes,
    einsum_to_matmul,
    gemm_to_matmul,
    global_pool_to_reduce,
    identity_ops,
    matmul_fusion,
    matmul_to_conv,
    no_op_elementwise,
    pad_into_conv,
    pool1x1_to_slice,
    reduce_normalize,
    resize_scales,
    slice_into_conv,
    slice_to_pool,
    slice_normalize,
    squeeze_to_reshape,
    sub_constant_to_add,
)

F = TensorProto.FLOAT
RNG = np.random.default_rng(0)


def _w(*shape):
    return RNG.normal(size=shape).astype("float32")


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes,
        "case",
        [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, F, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in initializers],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(proto, batch=2):
    feeds = {}
    for value in proto.graph.input:
        dims = [d.dim_value if d.HasField("dim_value") else batch for d in value.type.tensor_type.shape.dim]
        feeds[value.name] = RNG.normal(size=dims).astype("float32")
    return feeds


def _run(proto, feeds):
    return runtime.run(runtime.make_session(proto, "cpu"), feeds)


def _apply(proto, *, rule_list=(), passes=()):
    """The model after shape resolution and the given rules or passes."""
    model = canonical.to_ir(proto)
    canonical._prepare(model)
    for step in passes:
        step(model)
    if rule_list:
        rules.apply(model, list(rule_list))
    canonical._tidy(model)
    return model


def _ops(model):
    return [n.op_type for n in model.graph]


def _check_same(before, model, rtol=1e-5, atol=1e-5):
    """The rewritten model computes what the original did (and is valid ONNX)."""
    after = ir.serde.serialize_model(model)
    onnx.checker.check_model(after)
    feeds = _feeds(before)
    expected, got = _run(before, feeds), _run(after, feeds)
    assert list(expected) == list(got)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=atol)


def _first(model, op_type):
    return next(n for n in model.graph if n.op_type == op_type)


# -- spelling rules ---------------------------------------------------------------------


def test_identity_and_dropout_are_removed():
    proto = _model(
        [
            helper.make_node("Identity", ["x"], ["a"]),
            helper.make_node("Dropout", ["a"], ["b"]),
            helper.make_node("Relu", ["b"], ["y"]),
        ],
        [("x", ["N", 4])],
        [("y", ["N", 4])],
    )
    model = _apply(proto, rule_list=[identity_ops.IdentityOps()])
    assert _ops(model) == ["Relu"]
    _check_same(proto, model)


def test_a_cast_to_the_same_type_is_removed_and_another_stays():
    proto = _model(
        [
            helper.make_node("Cast", ["x"], ["a"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["a"], ["b"], to=TensorProto.DOUBLE),
            helper.make_node("Cast", ["b"], ["y"], to=TensorProto.FLOAT),
        ],
        [("x", ["N", 3])],
        [("y", ["N", 3])],
    )
    model = _apply(proto, rule_list=[cast_no_op.CastNoOp()])
    assert _ops(model) == ["Cast", "Cast"]
    _check_same(proto, model)


def test_gemm_becomes_matmul_and_add_with_transb_and_a_zero_beta():
    weight, bias = _w(5, 4), _w(5)
    proto = _model(
        [helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)],
        [("x", ["N", 4])],
        [("y", ["N", 5])],
        [("W", weight), ("B", bias)],
    )
    model = _apply(proto, rule_list=[gemm_to_matmul.GemmToMatMul()])
    assert _ops(model) == ["MatMul", "Add"]
    _check_same(proto, model)
    # beta 0: the bias is not used.
    proto = _model(
        [helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1, beta=0.0)],
        [("x", ["N", 4])],
        [("y", ["N", 5])],
        [("W", weight), ("B", bias)],
    )
    model = _apply(proto, rule_list=[gemm_to_matmul.GemmToMatMul()])
    assert _ops(model) == ["MatMul"]
    _check_same(proto, model)


def test_gemm_with_another_alpha_is_left_with_its_reason():
    proto = _model(
        [helper.make_node("Gemm", ["x", "W"], ["y"], alpha=0.5)],
        [("x", ["N", 4])],
        [("y", ["N", 5])],
        [("W", _w(4, 5))],
    )
    model = _apply(proto)
    node = _first(model, "Gemm")
    assert gemm_to_matmul.GemmToMatMul().check(node, rules.Context(model, None)) == "alpha is not 1"


def test_conv_attributes_one_spelling():
    same = _model(
        [helper.make_node("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER", strides=[1, 1])],
        [("x", ["N", 2, 5, 5])],
        [("y", ["N", 3, 5, 5])],
        [("W", _w(3, 2, 3, 3))],
    )
    explicit = _model(
        [helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3])],
        [("x", ["N", 2, 5, 5])],
        [("y", ["N", 3, 5, 5])],
        [("W", _w(3, 2, 3, 3))],
    )
    for proto in (same, explicit):
        model = _apply(proto, rule_list=[conv_attributes.ConvAttributes()])
        conv = _first(model, "Conv")
        assert {k: list(v.as_ints()) for k, v in conv.attributes.items()} == {"pads": [1, 1, 1, 1]}
        _check_same(proto, model)


def test_a_strided_grouped_1x1_conv_is_a_subsampled_block_diagonal_matmul():
    weight, bias = _w(6, 2, 1, 1), _w(6)
    proto = _model(
        [helper.make_node("Conv", ["x", "W", "B"], ["y"], group=2, strides=[2, 2])],
        [("x", ["N", 4, 5, 5])],
        [("y", ["N", 6, 3, 3])],
        [("W", weight), ("B", bias)],
    )
    model = _apply(proto, rule_list=[conv1x1_to_matmul.Conv1x1ToMatMul()])
    assert _ops(model) == ["Slice", "Transpose", "MatMul", "Add", "Transpose"]
    kernel = _first(model, "MatMul").inputs[1].const_value.numpy()
    assert kernel.shape == (4, 6) and not kernel[:2, 3:].any() and not kernel[2:, :3].any()
    _check_same(proto, model)


def test_a_padded_1x1_conv_is_not_a_pointwise_map():
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 4)).astype("float32")

    def conv(pads):
        side = 4 + pads[0] + pads[2]
        return _model(
            [helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[1, 1], pads=pads)],
            [("x", ["N", 3, 4, 4])],
            [("y", ["N", 5, side, side])],
            [("W", _w(5, 3, 1, 1)), ("B", _w(5))],
        )

    unpadded, padded = conv([0, 0, 0, 0]), conv([1, 1, 1, 1])
    model = _apply(padded)
    reason = conv1x1_to_matmul.Conv1x1ToMatMul().check(_first(model, "Conv"), None)
    assert reason == "the conv pads its input"
    canonical_unpadded = converters.canonicalize(unpadded)
    canonical_padded = converters.canonicalize(padded)
    assert "MatMul" in [n.op_type for n in canonical_unpadded.graph.node]
    assert "Conv" in [n.op_type for n in canonical_padded.graph.node]  # its border is the bias
    for raw, done in ((unpadded, canonical_unpadded), (padded, canonical_padded)):
        np.testing.assert_allclose(_run(done, {"x": x})["y"], _run(raw, {"x": x})["y"], rtol=1e-5, atol=1e-6)
    assert converters.fingerprint(padded) != converters.fingerprint(unpadded)


@pytest.mark.parametrize(
    "equation, kernel_shape, out_shape, ops",
    [
        ("bhwc,cd->bhwd", (4, 6), ["N", 3, 3, 6], ["MatMul"]),
        ("bchw,cd->bdhw", (4, 6), ["N", 6, 3, 3], ["Transpose", "MatMul", "Transpose"]),
        ("bhwc,dc->bhwd", (6, 4), ["N", 3, 3, 6], ["MatMul"]),
    ],
)
def test_an_einsum_over_one_axis_is_a_matmul(equation, kernel_shape, out_shape, ops):
    in_shape = ["N", 3, 3, 4] if equation.startswith("bhwc") else ["N", 4, 3, 3]
    proto = _model(
        [helper.make_node("Einsum", ["x", "W"], ["y"], equation=equation)],
        [("x", in_shape)],
        [("y", out_shape)],
        [("W", _w(*kernel_shape))],
        opset=17,
    )
    model = _apply(proto, rule_list=[einsum_to_matmul.EinsumToMatMul()])
    assert _ops(model) == ops
    _check_same(proto, model)


def test_a_grouped_einsum_is_a_block_diagonal_matmul():
    proto = _model(
        [helper.make_node("Einsum", ["x", "W"], ["y"], equation="bngc,cgd->bngd")],
        [("x", ["N", 5, 2, 3])],
        [("y", ["N", 5, 2, 4])],
        [("W", _w(3, 2, 4))],
    )
    model = _apply(proto, rule_list=[einsum_to_matmul.EinsumToMatMul()])
    assert _ops(model) == ["Reshape", "MatMul", "Reshape"]
    assert _first(model, "MatMul").inputs[1].const_value.numpy().shape == (6, 8)
    _check_same(proto, model)


def test_a_1x1_pool_is_a_slice_and_other_pools_stay():
    proto = _model(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 1], strides=[2, 3])],
        [("x", ["N", 3, 7, 7])],
        [("y", ["N", 3, 4, 3])],
    )
    model = _apply(proto, rule_list=[pool1x1_to_slice.Pool1x1ToSlice()])
    assert _ops(model) == ["Slice"]
    _check_same(proto, model)
    ceil = _model(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 1], strides=[2, 2], ceil_mode=1)],
        [("x", ["N", 3, 6, 6])],
        [("y", ["N", 3, 3, 3])],
    )
    model = _apply(ceil)
    assert pool1x1_to_slice.Pool1x1ToSlice().check(_first(model, "MaxPool"), None) == "ceil_mode is set"


def test_global_pooling_is_a_reduction_over_the_spatial_axes():
    proto = _model(
        [helper.make_node("GlobalAveragePool", ["x"], ["y"])],
        [("x", ["N", 3, 4, 5])],
        [("y", ["N", 3, 1, 1])],
    )
    model = _apply(proto, rule_list=[global_pool_to_reduce.GlobalPoolToReduce()])
    assert _ops(model) == ["ReduceMean"]
    assert list(_first(model, "ReduceMean").attributes["axes"].as_ints()) == [2, 3]
    _check_same(proto, model)


def test_squeeze_unsqueeze_and_flatten_are_reshapes():
    proto = _model(
        [
            helper.make_node("Unsqueeze", ["x", "ax"], ["a"]),
            helper.make_node("Squeeze", ["a", "ax"], ["b"]),
            helper.make_node("Flatten", ["b"], ["y"], axis=1),
        ],
        [("x", ["N", 2, 3])],
        [("y", ["N", 6])],
        [("ax", np.array([1], np.int64))],
    )
    model = _apply(proto, rule_list=[squeeze_to_reshape.SqueezeToReshape()])
    assert _ops(model) == ["Reshape", "Reshape", "Reshape"]
    _check_same(proto, model)


def test_reductions_in_one_spelling():
    keep = _model(
        [
            helper.make_node("ReduceMean", ["x"], ["a"], axes=[-1, 1], keepdims=1),
            helper.make_node("Reshape", ["a", "shape"], ["y"]),
        ],
        [("x", ["N", 3, 4])],
        [("y", ["N"])],
        [("shape", np.array([-1], np.int64))],
    )
    model = _apply(keep, rule_list=[reduce_normalize.ReduceNormalize(), reduce_normalize.ReshapeAfterReduce()])
    assert _ops(model) == ["ReduceMean"]
    node = _first(model, "ReduceMean")
    assert list(node.attributes["axes"].as_ints()) == [1, 2] and node.attributes["keepdims"].as_int() == 0
    _check_same(keep, model)


def test_slices_in_one_spelling():
    proto = _model(
        [helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
        [("x", ["N", 6, 6, 3])],
        [("y", ["N", 3, 3, 3])],
        [
            ("s", np.array([0, 0, 0], np.int64)),
            ("e", np.array([2**31 - 1, 6, 3], np.int64)),
            ("a", np.array([-2, 1, 3], np.int64)),
            ("st", np.array([2, 2, 1], np.int64)),
        ],
    )
    model = _apply(proto, rule_list=[slice_normalize.SliceNormalize()])
    node = _first(model, "Slice")
    spelled = [i.const_value.numpy().tolist() for i in node.inputs[1:]]
    assert spelled == [[0, 0], [2**63 - 1, 2**63 - 1], [1, 2], [2, 2]]
    _check_same(proto, model)
    # A slice that changes nothing is gone.
    whole = _model(
        [helper.make_node("Slice", ["x", "s", "e"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
        [("x", ["N", 4])],
        [("y", ["N", 4])],
        [("s", np.array([0], np.int64)), ("e", np.array([2**31 - 1], np.int64))],
    )
    assert _ops(_apply(whole, rule_list=[slice_normalize.SliceNormalize()])) == ["Relu"]


def test_resize_sizes_become_scales():
    proto = _model(
        [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Slice", ["shape", "zero", "two"], ["lead"]),
            helper.make_node("Concat", ["lead", "hw"], ["sizes"], axis=0),
            helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear"),
        ],
        [("x", ["N", 3, 4, 4])],
        [("y", ["N", 3, 8, 8])],
        [
            ("zero", np.array([0], np.int64)),
            ("two", np.array([2], np.int64)),
            ("hw", np.array([8, 8], np.int64)),
        ],
    )
    model = _apply(proto, rule_list=[resize_scales.ResizeScales()])
    assert _ops(model) == ["Resize"]
    assert _first(model, "Resize").inputs[2].const_value.numpy().tolist() == [1, 1, 2, 2]
    _check_same(proto, model)


def test_constant_arithmetic_in_one_spelling():
    proto = _model(
        [
            helper.make_node("Sub", ["x", "c"], ["a"]),
            helper.make_node("Mul", ["s", "a"], ["b"]),
            helper.make_node("Add", ["b", "zero"], ["d"]),
            helper.make_node("Mul", ["d", "one"], ["y"]),
        ],
        [("x", ["N", 2, 3])],
        [("y", ["N", 2, 3])],
        [
            ("c", _w(1, 1, 3)),
            ("s", _w(1, 3)),
            ("zero", np.zeros((3,), "float32")),
            ("one", np.ones((), "float32")),
        ],
    )
    model = _apply(
        proto,
        rule_list=[
            sub_constant_to_add.SubConstantToAdd(),
            constant_second.ConstantSecond(),
            broadcast_constant.BroadcastConstant(),
            no_op_elementwise.NoOpElementwise(),
        ],
    )
    assert _ops(model) == ["Add", "Mul"]
    add, mul = list(model.graph)
    assert add.inputs[1].const_value.numpy().shape == (3,)  # no leading ones
    assert mul.inputs[0] is add.outputs[0] and mul.inputs[1].const_value.numpy().shape == (3,)
    _check_same(proto, model)


# -- fusions ----------------------------------------------------------------------------


def test_a_per_channel_scale_and_offset_fold_into_the_matmul():
    weight, bias, scale, offset = _w(4, 3), _w(3), _w(3), _w(3)
    proto = _model(
        [
            helper.make_node("MatMul", ["x", "W"], ["m"]),
            helper.make_node("Add", ["m", "b"], ["a"]),
            helper.make_node("Mul", ["a", "s"], ["c"]),
            helper.make_node("Add", ["c", "o"], ["y"]),
        ],
        [("x", ["N", 5, 4])],
        [("y", ["N", 5, 3])],
        [("W", weight), ("b", bias), ("s", scale), ("o", offset)],
    )
    model = _apply(proto, rule_list=[matmul_fusion.MatMulScaleFusion(), matmul_fusion.MatMulBiasFusion()])
    assert _ops(model) == ["MatMul", "Add"]
    matmul, add = list(model.graph)
    # One float32 product and one sum per entry, as an exporter folds a
    # BatchNorm into a conv.
    assert np.array_equal(matmul.inputs[1].const_value.numpy(), weight * scale[None, :])
    assert np.array_equal(add.inputs[1].const_value.numpy(), bias * scale + offset)
    _check_same(proto, model)


def test_a_scale_along_positions_does_not_fold():
    proto = _model(
        [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Mul", ["m", "s"], ["y"])],
        [("x", ["N", 5, 4])],
        [("y", ["N", 5, 3])],
        [("W", _w(4, 3)), ("s", _w(5, 1))],
    )
    model = _apply(proto)
    reason = matmul_fusion.MatMulScaleFusion().check(_first(model, "Mul"), None)
    assert reason == "the scale is not a constant along the output channels"


def test_a_zero_pad_folds_into_the_conv_across_a_transpose():
    proto = _model(
        [
            helper.make_node("Pad", ["x", "pads"], ["p"]),
            helper.make_node("Transpose", ["p"], ["t"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["t", "W"], ["y"]),
        ],
        [("x", ["N", 5, 5, 2])],
        [("y", ["N", 3, 5, 5])],
        [("pads", np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64)), ("W", _w(3, 2, 3, 3))],
    )
    model = _apply(proto, rule_list=[pad_into_conv.PadIntoConv()])
    assert _ops(model) == ["Transpose", "Conv"]
    assert list(_first(model, "Conv").attributes["pads"].as_ints()) == [1, 1, 1, 1]
    _check_same(proto, model)


# -- the conv form ----------------------------------------------------------------------


def test_a_matmul_with_its_bias_becomes_a_1x1_conv_and_a_slice_its_strides():
    kernel = np.zeros((4, 6), "float32")
    kernel[:2, :3], kernel[2:, 3:] = _w(2, 3), _w(2, 3)
    proto = _model(
        [
            helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["sub"]),
            helper.make_node("MatMul", ["sub", "W"], ["m"]),
            helper.make_node("Add", ["m", "b"], ["y"]),
        ],
        [("x", ["N", 6, 6, 4])],
        [("y", ["N", 3, 3, 6])],
        [
            ("s", np.array([0, 0], np.int64)),
            ("e", np.array([2**63 - 1, 2**63 - 1], np.int64)),
            ("a", np.array([1, 2], np.int64)),
            ("st", np.array([2, 2], np.int64)),
            ("W", kernel),
            ("b", _w(6)),
        ],
    )
    model = _apply(proto, rule_list=[matmul_to_conv.MatMulToConv()])
    assert _ops(model) == ["Slice", "Transpose", "Conv", "Transpose"]
    conv = _first(model, "Conv")
    assert conv.attributes["group"].as_int() == 2 and len(conv.inputs) == 3
    _check_same(proto, model)
    rules.apply(model, [slice_into_conv.SliceIntoConv()])
    canonical._tidy(model)
    assert _ops(model) == ["Transpose", "Conv", "Transpose"]
    assert list(_first(model, "Conv").attributes["strides"].as_ints()) == [2, 2]
    _check_same(proto, model)


@pytest.mark.parametrize("other", ["MatMul", "Relu"])
def test_a_slice_two_pointwise_convs_read_becomes_both_their_strides(other):
    # ResNet's strided block and its strided shortcut read one subsampling
    # slice; a slice that any other op reads stays.
    second = (
        helper.make_node("MatMul", ["sub", "W2"], ["y2"])
        if other == "MatMul"
        else helper.make_node("Relu", ["sub"], ["y2"])
    )
    proto = _model(
        [
            helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["sub"]),
            helper.make_node("MatMul", ["sub", "W"], ["y"]),
            second,
        ],
        [("x", ["N", 6, 6, 4])],
        [("y", ["N", 3, 3, 6]), ("y2", ["N", 3, 3, 5 if other == "MatMul" else 4])],
        [
            ("s", np.array([0, 0], np.int64)),
            ("e", np.array([2**63 - 1, 2**63 - 1], np.int64)),
            ("a", np.array([1, 2], np.int64)),
            ("st", np.array([2, 2], np.int64)),
            ("W", _w(4, 6)),
            ("W2", _w(4, 5)),
        ],
    )
    model = _apply(proto, rule_list=[matmul_to_conv.MatMulToConv()])
    rules.apply(model, [slice_into_conv.SliceIntoConv()])
    canonical._tidy(model)
    convs = [n for n in model.graph if n.op_type == "Conv"]
    if other == "MatMul":
        assert "Slice" not in _ops(model) and len(convs) == 2
        assert all(list(c.attributes["strides"].as_ints()) == [2, 2] for c in convs)
    else:
        assert _ops(model).count("Slice") == 1
        assert all("strides" not in c.attributes for c in convs)
    _check_same(proto, model)


@pytest.mark.parametrize(
    "axes, steps, rank, pooled",
    [([2, 3], [2, 2], 4, True), ([3], [3], 4, True), ([2], [2], 3, True), ([1], [2], 4, False)],
)
def test_a_subsampling_slice_left_in_the_conv_form_is_a_1x1_max_pool(axes, steps, rank, pooled):
    shape = ["N", 5, 7, 6][:rank]
    out = list(shape)
    for a, s in zip(axes, steps):
        out[a] = -(-shape[a] // s)
    proto = _model(
        [helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
        [("x", shape)],
        [("y", out)],
        [
            ("s", np.zeros(len(axes), np.int64)),
            ("e", np.full(len(axes), 2**63 - 1, np.int64)),
            ("a", np.array(axes, np.int64)),
            ("st", np.array(steps, np.int64)),
        ],
    )
    model = _apply(proto, rule_list=[slice_to_pool.SliceToPool()])
    if pooled:
        assert _ops(model) == ["MaxPool"]
        pool = _first(model, "MaxPool")
        assert list(pool.attributes["kernel_shape"].as_ints()) == [1] * (rank - 2)
        by_axis = dict(zip(axes, steps))
        assert list(pool.attributes["strides"].as_ints()) == [by_axis.get(a, 1) for a in range(2, rank)]
    else:
        assert _ops(model) == ["Slice"]  # the channel axis of NCHW is no pool axis
    _check_same(proto, model)


# -- passes -----------------------------------------------------------------------------


def _tensordot():
    """How tf2onnx writes a Dense on a map: flatten, MatMul, restore, from Shape."""
    return _model(
        [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Gather", ["shape", "lead"], ["dims"], axis=0),
            helper.make_node("ReduceProd", ["dims"], ["rows"], keepdims=1),
            helper.make_node("Concat", ["rows", "cin"], ["flat"], axis=0),
            helper.make_node("Reshape", ["x", "flat"], ["r"]),
            helper.make_node("MatMul", ["r", "W"], ["m"]),
            helper.make_node("Concat", ["dims", "cout"], ["back"], axis=0),
            helper.make_node("Reshape", ["m", "back"], ["y"]),
        ],
        [("x", ["batch", 3, 3, 4])],
        [("y", ["batch", 3, 3, 5])],
        [
            ("lead", np.array([0, 1, 2], np.int64)),
            ("cin", np.array([4], np.int64)),
            ("cout", np.array([5], np.int64)),
            ("W", _w(4, 5)),
        ],
    )


def test_shapes_come_from_probes_and_plumbing_folds():
    proto = _tensordot()
    model = canonical.to_ir(proto)
    shapes.resolve(model)
    canonical._tidy(model)
    assert _ops(model) == ["Reshape", "MatMul", "Reshape"]  # no Shape, Gather, Concat
    first, _, last = list(model.graph)
    # The batch is N, the flattened rows 9 N; targets have one spelling.
    assert [d if isinstance(d, int) else d.value for d in first.outputs[0].shape.dims] == ["d63_99", 4]
    assert first.inputs[1].const_value.numpy().tolist() == [-1, 4]
    assert last.inputs[1].const_value.numpy().tolist() == [-1, 3, 3, 5]
    _check_same(proto, model)


def test_plumbing_is_evaluated_where_shape_inference_stops():
    nodes = list(_tensordot().graph.node)
    consts = {"lead": np.array([0, 1, 2]), "cin": np.array([4]), "cout": np.array([5])}
    assert plumbing.evaluate(nodes, {"x": ([7, 3, 3, 4], 1)}, consts)
    assert consts["flat"].tolist() == [63, 4] and consts["back"].tolist() == [7, 3, 3, 5]
    assert not plumbing.evaluate(nodes, {}, {})  # nothing known: nothing grows


def _masked_slice_end():
    """A position table built to the length of x (Range, no constant table)
    and sliced to it by a strided slice as tf2onnx writes one: its end is
    ``Where(And(Equal(end, MAX), Less(step, 0)), MIN, end)``; the table's
    unit axis meets x's unit head axis in a Mul."""
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    return _model(
        [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Slice", ["shape", "one", "two", "zero"], ["length"]),
            helper.make_node("Squeeze", ["length"], ["length0"]),
            helper.make_node("Cast", ["length0"], ["limit"], to=TensorProto.FLOAT),
            helper.make_node("Range", ["start", "limit", "delta"], ["t"]),
            helper.make_node("Reshape", ["t", "column"], ["table"]),
            helper.make_node("Concat", ["big", "length", "big", "big"], ["end0"], axis=0),
            helper.make_node("Equal", ["end0", "bigs"], ["open"]),
            helper.make_node("Less", ["steps", "zeros"], ["backward"]),
            helper.make_node("And", ["open", "backward"], ["to_start"]),
            helper.make_node("Where", ["to_start", "small", "end0"], ["end"]),
            helper.make_node("Slice", ["table", "zeros", "end", "axes", "steps"], ["cut"]),
            helper.make_node("Mul", ["x", "cut"], ["y"]),
        ],
        [("x", ["batch", "length", 1, 2])],
        [("y", ["batch", "length", 1, 2])],
        [
            ("zero", np.array([0], np.int64)),
            ("one", np.array([1], np.int64)),
            ("two", np.array([2], np.int64)),
            ("start", np.array(0, np.float32)),
            ("delta", np.array(1, np.float32)),
            ("column", np.array([1, -1, 1, 1], np.int64)),
            ("big", np.array([big], np.int64)),
            ("bigs", np.full(4, big, np.int64)),
            ("small", np.array(small, np.int64)),
            ("zeros", np.zeros(4, np.int64)),
            ("steps", np.ones(4, np.int64)),
            ("axes", np.arange(4, dtype=np.int64)),
        ],
    )


def test_the_logic_of_a_slice_end_is_evaluated():
    nodes = list(_masked_slice_end().graph.node)[6:11]
    big = np.iinfo(np.int64).max
    consts = {
        "length": np.array([5]), "big": np.array([big]), "bigs": np.full(4, big),
        "steps": np.ones(4, np.int64), "zeros": np.zeros(4, np.int64),
        "small": np.array(np.iinfo(np.int64).min),
    }
    assert plumbing.evaluate(nodes, {}, consts)
    assert consts["to_start"].tolist() == [False] * 4
    assert consts["end"].tolist() == [big, 5, big, big]
    or_node = helper.make_node("Or", ["open", "backward"], ["either"])
    assert plumbing.evaluate([or_node], {}, consts) and consts["either"].tolist() == [True, False, True, True]


def test_a_slice_to_a_computed_length_gets_its_shape_and_one_spelling():
    proto = _masked_slice_end()
    model = canonical.to_ir(proto)
    shapes.resolve(model)
    canonical._tidy(model)
    for node in model.graph:
        for value in node.outputs:
            assert value.shape is not None, (node.op_type, value.name)
    dims = lambda v: [d if isinstance(d, int) else d.value for d in v.shape.dims]  # noqa: E731
    assert dims(model.graph.outputs[0]) == ["N", "d211_223", 1, 2]
    cut = next(n for n in model.graph if n.op_type == "Slice" and n.inputs[0].name == "table")
    assert dims(cut.outputs[0]) == [1, "d211_223", 1, 1]
    # Both computed bounds (the slice's end and the range's float limit) are
    # rebuilt from the input's shape, whatever arithmetic wrote them.
    assert not {"Where", "And", "Equal", "Less", "Squeeze"} & set(_ops(model))
    end = cut.inputs[2].producer()
    assert end.op_type == "Concat"
    assert [p.producer().op_type if p.producer() else p.const_value.numpy().tolist() for p in end.inputs] == [
        [np.iinfo(np.int64).max], "Shape", [np.iinfo(np.int64).max] * 2
    ]
    assert end.inputs[1].producer().inputs[0] is model.graph.inputs[0]
    _check_same(proto, model)


def _roll():
    """A roll of x by one row as tf2onnx writes ``tf.roll``: the shift
    wrapped with ``Mod`` by the axis' length (read with Shape), the two
    parts sliced at the computed split and concatenated back."""
    return _model(
        [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Slice", ["shape", "one", "two"], ["length"]),
            helper.make_node("Mod", ["shift", "length"], ["wrapped"]),
            helper.make_node("Sub", ["length", "wrapped"], ["split"]),
            helper.make_node("Slice", ["x", "split", "length", "one"], ["tail"]),
            helper.make_node("Slice", ["x", "zero", "split", "one"], ["head"]),
            helper.make_node("Concat", ["tail", "head"], ["y"], axis=1),
        ],
        [("x", ["N", 5, 3])],
        [("y", ["N", 5, 3])],
        [
            ("zero", np.array([0], np.int64)),
            ("one", np.array([1], np.int64)),
            ("two", np.array([2], np.int64)),
            ("shift", np.array([-1], np.int64)),
        ],
    )


def test_mod_is_evaluated_as_onnx_defines_it():
    node = helper.make_node("Mod", ["a", "b"], ["m"])
    consts = {"a": np.array([-1, 7, -7]), "b": np.array([5, -5, 5])}
    assert plumbing.evaluate([node], {}, consts)
    assert consts["m"].tolist() == [4, -3, 3]  # the sign of the divisor
    fmod = helper.make_node("Mod", ["a", "b"], ["f"], fmod=1)
    assert plumbing.evaluate([fmod], {}, consts) and consts["f"].tolist() == [-1, 2, -2]
    zero = helper.make_node("Mod", ["a", "z"], ["nothing"])
    consts["z"] = np.array([0, 1, 1])
    assert not plumbing.evaluate([zero], {}, consts) and "nothing" not in consts


def test_a_roll_gets_its_shape_and_constant_bounds():
    # Without Mod evaluated the slices' bounds are unknown, and so is every
    # shape after the roll (a pointwise Conv there could not be read).
    proto = _roll()
    model = _apply(proto)
    for node in model.graph:
        for value in node.outputs:
            assert value.shape is not None, (node.op_type, value.name)
    assert {"Shape", "Mod", "Sub"}.isdisjoint(_ops(model))
    assert [d if isinstance(d, int) else d.value for d in model.graph.outputs[0].shape.dims] == ["N", 5, 3]
    _check_same(proto, model)


def _residual(spelling, weights):
    """A residual added to a map flattened to tokens, in the two spellings
    passes leave it in: ``Add(tokens, branch)``, or ``Add(map,
    Reshape(branch))`` flattened after, the map flattened for the branch."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["map"]),
        helper.make_node("Reshape", ["map", "flat"], ["tokens"]),
        helper.make_node("ReduceMean", ["tokens"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["tokens", "mean"], ["mixed"]),
        helper.make_node("MatMul", ["mixed", "V"], ["branch"]),
    ]
    if spelling == "tokens":
        nodes.append(helper.make_node("Add", ["tokens", "branch"], ["y"]))
    else:
        nodes += [
            helper.make_node("Reshape", ["branch", "grid"], ["branch_map"]),
            helper.make_node("Add", ["map", "branch_map"], ["sum"]),
            helper.make_node("Reshape", ["sum", "flat"], ["y"]),
        ]
    return _model(
        nodes,
        [("x", ["N", 2, 3, 4])],
        [("y", ["N", 6, 4])],
        [("W", weights[0]), ("V", weights[1]), ("flat", np.array([-1, 6, 4], np.int64)),
         ("grid", np.array([-1, 2, 3, 4], np.int64))],
    )


def test_an_operand_already_flattened_takes_the_reshape_of_the_other():
    weights = [_w(4, 4), _w(4, 4)]
    by_tokens, by_map = _residual("tokens", weights), _residual("map", weights)
    model = _apply(by_map, passes=[reshapes.run, canonical._tidy])
    add = _first(model, "Add")
    assert [d if isinstance(d, int) else d.value for d in add.outputs[0].shape.dims] == ["N", 6, 4]
    assert _ops(model).count("Reshape") == 1  # the flatten of the map, read twice
    _check_same(by_map, model)
    # The spelling that adds tokens is left as it is: the move never reverses.
    again = _apply(by_tokens, passes=[reshapes.run, canonical._tidy])
    assert _ops(again) == _ops(model)
    assert converters.fingerprint(by_tokens) == converters.fingerprint(by_map)
    changed = _residual("map", [weights[0], weights[1] + np.float32(0.5)])
    assert converters.fingerprint(changed) != converters.fingerprint(by_tokens)


def test_the_reshape_pass_cancels_a_flatten_and_restore():
    proto = _tensordot()
    model = _apply(proto, passes=[reshapes.run])
    assert _ops(model) == ["MatMul"]
    _check_same(proto, model)


def test_the_reshape_pass_drops_unit_axes_where_no_op_needs_them():
    proto = _model(
        [
            helper.make_node("ReduceMean", ["x"], ["pooled"], axes=[2, 3], keepdims=1),
            helper.make_node("Transpose", ["pooled"], ["t"], perm=[0, 2, 3, 1]),
            helper.make_node("MatMul", ["t", "W"], ["m"]),
            helper.make_node("Relu", ["m"], ["r"]),
            helper.make_node("Reshape", ["r", "flat"], ["y"]),
        ],
        [("x", ["N", 4, 3, 3])],
        [("y", ["N", 5])],
        [("W", _w(4, 5)), ("flat", np.array([-1, 5], np.int64))],
    )
    model = _apply(
        proto,
        rule_list=[reduce_normalize.ReshapeAfterReduce()],
        passes=[layout.run, canonical._tidy, reshapes.run, canonical._tidy],
    )
    rules.apply(model, [reduce_normalize.ReshapeAfterReduce()])
    canonical._tidy(model)
    assert _ops(model) == ["ReduceMean", "MatMul", "Relu"]
    assert [d if isinstance(d, int) else d.value for d in _first(model, "MatMul").outputs[0].shape.dims] == ["N", 5]
    _check_same(proto, model)


def test_a_flatten_to_one_channel_cancels_like_any_flatten():
    """A Dense on a map of one channel: tf2onnx flattens (N, 4, 4) to
    (-1, 1), which both merges and adds the trailing unit axis; the
    reshape pass splits it (the unit axis first, then the merge) and the
    flatten and its restore cancel around the MatMul."""
    proto = _model(
        [
            helper.make_node("Relu", ["x"], ["h"]),
            helper.make_node("Reshape", ["h", "flat"], ["r"]),
            helper.make_node("MatMul", ["r", "W"], ["m"]),
            helper.make_node("Reshape", ["m", "back"], ["y"]),
        ],
        [("x", ["N", 4, 4])],
        [("y", ["N", 4, 4, 1])],
        [("W", _w(1, 1)), ("flat", np.array([-1, 1], np.int64)),
         ("back", np.array([-1, 4, 4, 1], np.int64))],
    )
    model = _apply(proto, passes=[reshapes.run, canonical._tidy])
    assert _ops(model) == ["Relu", "Reshape", "MatMul"]
    dims = [d if isinstance(d, int) else d.value for d in _first(model, "MatMul").outputs[0].shape.dims]
    assert dims == ["N", 4, 4, 1]
    _check_same(proto, model)
    # A Reshape that only adds unit axes is not split.
    assert reshapes._split(["N"], ["N", 1, 1, 1]) is None
    assert reshapes._split(["N", 4, 4], ["d7_11", 1]) == ["N", 4, 4, 1]
    assert reshapes._split(["d7_11", 1], ["N", 4, 4]) == ["N", 4, 4, 1]


@pytest.mark.parametrize("unit_at", [1, 2])
def test_a_reduction_runs_without_the_unit_axes_it_does_not_reduce(unit_at):
    """A mean over tokens of one channel, taken as (N, 3, 1) or (N, 1, 3):
    both are the mean of (N, 3) over its tokens, then the unit axis."""
    shape = [-1, 3, 1] if unit_at == 2 else [-1, 1, 3]
    proto = _model(
        [
            helper.make_node("Relu", ["x"], ["h"]),
            helper.make_node("Reshape", ["h", "shape"], ["r"]),
            helper.make_node("ReduceMean", ["r"], ["y"], axes=[3 - unit_at], keepdims=0),
        ],
        [("x", ["N", 3])],
        [("y", ["N", 1])],
        [("shape", np.array(shape, np.int64))],
    )
    model = _apply(proto, passes=[reshapes.run, canonical._tidy])
    assert _ops(model) == ["Relu", "ReduceMean", "Reshape"]
    assert list(_first(model, "ReduceMean").attributes["axes"].as_ints()) == [1]
    _check_same(proto, model)


def test_an_unsqueeze_and_the_reshape_that_undoes_it_both_go():
    """Free dims that one Reshape cannot shift (an Unsqueeze in front of
    three of them): the op that restores the input's shape undoes it."""
    proto = _model(
        [
            helper.make_node("Unsqueeze", ["x", "zero"], ["u"]),
            helper.make_node("Shape", ["u"], ["s"], start=1),
            helper.make_node("Reshape", ["u", "s"], ["r"]),
            helper.make_node("Relu", ["r"], ["h"]),
            helper.make_node("Unsqueeze", ["h", "zero"], ["v"]),
            helper.make_node("Squeeze", ["v", "zero"], ["y"]),
        ],
        [("x", ["N", "H", "W", 1])],
        [("y", ["N", "H", "W", 1])],
        [("zero", np.array([0], np.int64))],
    )
    model = _apply(proto, passes=[reshapes.run, canonical._tidy])
    # The Relu runs without its unit axis, as everywhere.
    assert _ops(model) == ["Reshape", "Relu", "Reshape"]
    _check_same(proto, model)


def test_a_chain_of_reshaping_ops_is_one_reshape_whatever_it_spells():
    """An exporter may leave a chain of ops that only reshape where one
    would do (tf2onnx does or does not, by its node names): any chain
    between the same two shapes gets the one spelling, even when no single
    Reshape could write a link of it (an Unsqueeze shifting free dims)."""
    one = _model(
        [
            helper.make_node("Relu", ["x"], ["h"]),
            helper.make_node("Reshape", ["h", "target"], ["y"]),
        ],
        [("x", ["N", "H", "W"])],
        [("y", ["N", "H", "W", 1])],
        [("target", np.array([0, 0, 0, 1], np.int64))],
    )
    chain = _model(
        [
            helper.make_node("Relu", ["x"], ["h"]),
            helper.make_node("Unsqueeze", ["h", "one"], ["a"]),          # N 1 H W
            helper.make_node("Unsqueeze", ["a", "zero"], ["b"]),         # 1 N 1 H W
            helper.make_node("Reshape", ["b", "shifted"], ["c"]),        # 1 1 N H W 1
            helper.make_node("Squeeze", ["c", "zero"], ["d"]),           # 1 N H W 1
            helper.make_node("Shape", ["d"], ["s"], start=1),
            helper.make_node("Reshape", ["d", "s"], ["y"]),              # N H W 1
        ],
        [("x", ["N", "H", "W"])],
        [("y", ["N", "H", "W", 1])],
        [
            ("zero", np.array([0], np.int64)),
            ("one", np.array([1], np.int64)),
            ("shifted", np.array([1, 1, -1, 0, 0, 1], np.int64)),
        ],
    )
    model = _apply(chain, passes=[reshapes.run, canonical._tidy])
    assert _ops(model) == ["Relu", "Reshape"]
    _check_same(chain, model)
    assert converters.fingerprint(chain) == converters.fingerprint(one)


def test_the_layout_pass_places_transposes_where_an_op_needs_them():
    # NHWC in; tf2onnx-style transposes around every op; a Conv in the middle.
    proto = _model(
        [
            helper.make_node("Transpose", ["x"], ["a"], perm=[0, 3, 1, 2]),
            helper.make_node("Relu", ["a"], ["b"]),
            helper.make_node("Transpose", ["b"], ["c"], perm=[0, 2, 3, 1]),
            helper.make_node("Add", ["c", "bias"], ["d"]),
            helper.make_node("Softmax", ["d"], ["e"], axis=3),
            helper.make_node("ReduceMax", ["e"], ["f"], axes=[3], keepdims=1),
            helper.make_node("Transpose", ["f"], ["g"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["g", "W"], ["y"], kernel_shape=[1, 1]),
        ],
        [("x", ["N", 4, 4, 3])],
        [("y", ["N", 2, 4, 4])],
        [("bias", _w(3)), ("W", _w(2, 1, 1, 1))],
    )
    model = _apply(proto, passes=[layout.run])
    # Every op ran on the input as it came; one Transpose (a free Reshape,
    # here: only a unit axis moves) where the Conv needs channels first.
    assert _ops(model) == ["Relu", "Add", "Softmax", "ReduceMax", "Reshape", "Conv"]
    assert _first(model, "Softmax").attributes["axis"].as_int() == 3
    _check_same(proto, model)


def test_a_per_token_scale_runs_in_the_layout_of_the_tokens_it_meets():
    """A LayerNorm's per-token factor (a reduction without keepdims, given
    its unit axis back, times the per-channel gamma) meets tokens stored
    channels first: it is computed there (its unit axis moves, a Reshape),
    not computed channels last and transposed."""
    gamma = np.arange(1, 5, dtype="float32")
    proto = _model(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),  # N S C, stored N C S
            helper.make_node("ReduceMean", ["t"], ["m"], axes=[2], keepdims=0),
            helper.make_node("Reshape", ["m", "unit"], ["m1"]),  # N S 1
            helper.make_node("Mul", ["m1", "gamma"], ["scale"]),  # N S C
            helper.make_node("Mul", ["t", "scale"], ["y0"]),
            helper.make_node("Transpose", ["y0"], ["y"], perm=[0, 2, 1]),
        ],
        [("x", ["N", 4, "S"])],
        [("y", ["N", 4, "S"])],
        [("unit", np.array([0, 0, 1], np.int64)), ("gamma", gamma)],
        opset=13,
    )
    model = _apply(proto, passes=[layout.run, canonical._tidy])
    assert "Transpose" not in _ops(model)
    _check_same(proto, model)



@pytest.mark.parametrize("op", ["Concat", "Slice", "Pad", "Resize"])
def test_the_layout_pass_renumbers_the_axes_of(op):
    perm_in, perm_out = [0, 3, 1, 2], [0, 2, 3, 1]
    extra, inits, out = [], [], ["N", 4, 4, 3]
    if op == "Concat":
        node = helper.make_node("Concat", ["a", "a"], ["b"], axis=3)
        out = ["N", 4, 4, 6]
    elif op == "Slice":
        node = helper.make_node("Slice", ["a", "s", "e", "ax"], ["b"])
        inits = [("s", np.array([1], np.int64)), ("e", np.array([3], np.int64)), ("ax", np.array([1], np.int64))]
        out = ["N", 4, 2, 3]
    elif op == "Pad":
        node = helper.make_node("Pad", ["a", "p"], ["b"])
        inits = [("p", np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64))]
        out = ["N", 4, 5, 5]
    else:
        node = helper.make_node("Resize", ["a", "", "sc"], ["b"], mode="nearest")
        inits = [("sc", np.array([1, 1, 2, 1], np.float32))]
        out = ["N", 4, 8, 6]
    # a = the NHWC input as NCHW; b back to NHWC at the end.
    out_nchw = [out[0], out[3], out[1], out[2]]
    proto = _model(
        [helper.make_node("Transpose", ["x"], ["a"], perm=perm_in), node, *extra,
         helper.make_node("Transpose", ["b"], ["y"], perm=perm_out)],
        [("x", ["N", 4, 4, 3])],
        [("y", [out_nchw[0], out_nchw[2], out_nchw[3], out_nchw[1]])],
        inits,
    )
    model = _apply(proto, passes=[layout.run])
    assert _ops(model) == [op]  # both transposes are gone
    _check_same(proto, model)


def test_the_negative_side_every_real_difference_changes_the_fingerprint():
    def graph(op="Relu", axis=1, weight=None, swap=False, pads=(0, 0, 0, 0)):
        weight = _w(3, 3, 3, 3) if weight is None else weight
        a, b = ("r", "x") if swap else ("x", "r")
        return _model(
            [
                helper.make_node("Conv", ["x", "W"], ["c"], pads=list(pads)),
                helper.make_node(op, ["c"], ["r"]),
                helper.make_node("Sub", [a, b], ["s"]),
                helper.make_node("Softmax", ["s"], ["y"], axis=axis),
            ],
            [("x", ["N", 3, 4, 4])],
            [("y", ["N", 3, 4, 4])],
            [("W", weight)],
        )

    weight = _w(3, 3, 3, 3)
    base = converters.fingerprint(graph(weight=weight, pads=(1, 1, 1, 1)))
    assert converters.fingerprint(graph(weight=weight, pads=(1, 1, 1, 1))) == base
    nudged = weight.copy()
    nudged[0, 0, 0, 0] += 1e-3
    others = {
        "a weight": graph(weight=nudged, pads=(1, 1, 1, 1)),
        "an op": graph(op="Sigmoid", weight=weight, pads=(1, 1, 1, 1)),
        "an attribute": graph(axis=2, weight=weight, pads=(1, 1, 1, 1)),
        "the wiring": graph(swap=True, weight=weight, pads=(1, 1, 1, 1)),
    }
    for what, proto in others.items():
        assert converters.fingerprint(proto) != base, what
    diff = converters.graph_diff(graph(weight=weight, pads=(1, 1, 1, 1)), others["an op"])
    assert "first difference at node Relu vs Sigmoid" in diff
    diff = converters.graph_diff(graph(weight=weight, pads=(1, 1, 1, 1)), others["a weight"])
    assert "differs in 1 of 81 entries" in diff


def test_a_product_of_rows_flattened_otherwise_runs_where_its_rows_are_restored():
    """Heads of 4 gated by a tensor of tokens cut into rows of 4 (a gated
    norm), merged into rows of 16 for a pointwise product and restored to
    tokens after it (tf2onnx at a fixed length), against the same rows
    merged straight into tokens (the conv form): one graph, the MatMul on
    the tokens."""
    weight = _w(16, 8)

    def spelled(merged):
        nodes = [
            helper.make_node("Reshape", ["x", "rows"], ["r"]),
            helper.make_node("Reshape", ["gate", "rows"], ["q"]),
            helper.make_node("Mul", ["r", "q"], ["n"]),
            helper.make_node("Reshape", ["n", "merged"], ["m"]),
            helper.make_node("MatMul", ["m", "w"], ["p"]),
        ]
        consts = [("rows", np.array([-1, 4], np.int64)), ("w", weight)]
        if merged == "rows":
            nodes.append(helper.make_node("Reshape", ["p", "tokens"], ["y"]))
            consts += [("merged", np.array([-1, 16], np.int64)), ("tokens", np.array([-1, 5, 8], np.int64))]
        else:
            nodes[-1].output[0] = "y"
            consts.append(("merged", np.array([-1, 5, 16], np.int64)))
        return _model(
            nodes, [("x", ["N", 5, 4, 4]), ("gate", ["N", 5, 16])], [("y", ["N", 5, 8])], consts)

    by_rows, by_tokens = spelled("rows"), spelled("tokens")
    model = _apply(by_rows, passes=[reshapes.run, canonical._tidy])
    assert _ops(model).count("Reshape") == 3 and _ops(model)[-1] == "MatMul"
    assert edit.dims(_first(model, "MatMul").inputs[0]) == ["N", 5, 16]
    _check_same(by_rows, model)
    assert converters.fingerprint(by_rows) == converters.fingerprint(by_tokens)


@pytest.mark.parametrize("unit_at", [1, 2])
def test_a_pad_runs_without_the_unit_axes_it_does_not_pad(unit_at):
    """A gate of one head padded along its positions, carried with its unit
    head axis before or after them: the Pad runs on the positions alone, in
    one graph whichever axis the exporter kept."""
    shape = [-1, 1, 8] if unit_at == 1 else [-1, 8, 1]
    pads = [0, 0, 0, 0, 0, 0]
    pads[6 - unit_at] = 56  # the end of the positions' axis
    proto = _model(
        [
            helper.make_node("Sigmoid", ["x"], ["g"]),
            helper.make_node("Reshape", ["g", "shape"], ["r"]),
            helper.make_node("Pad", ["r", "pads"], ["p"]),
            helper.make_node("Reshape", ["p", "flat"], ["y"]),
        ],
        [("x", ["N", 8])],
        [("y", ["N", 64])],
        [("shape", np.array(shape, np.int64)), ("pads", np.array(pads, np.int64)),
         ("flat", np.array([-1, 64], np.int64))],
    )
    model = _apply(proto, passes=[reshapes.run, canonical._tidy])
    assert _ops(model) == ["Sigmoid", "Pad"]
    _check_same(proto, model)


def test_a_pad_of_a_unit_axis_keeps_it():
    proto = _model(
        [
            helper.make_node("Reshape", ["x", "shape"], ["r"]),
            helper.make_node("Pad", ["r", "pads"], ["y"]),
        ],
        [("x", ["N", 8])],
        [("y", ["N", 3, 8])],
        [("shape", np.array([-1, 1, 8], np.int64)), ("pads", np.array([0, 1, 0, 0, 1, 0], np.int64))],
    )
    model = _apply(proto, passes=[reshapes.run, canonical._tidy])
    assert _ops(model) == ["Reshape", "Pad"]
    _check_same(proto, model)


@pytest.mark.parametrize("through", [[-1, 1], [-1, 16, 1]])
def test_a_product_of_single_entries_restored_to_rows_is_one_graph(through):
    """Attention with one key per window: a product of `(N*16, 1, 1)`
    entries, restored to rows of 16 for a pointwise product, through either
    unit-axis spelling an exporter writes. One fixed point: the Reshape
    from `(N*16, 1)` to `(N, 16)` splits the merged axis first whichever
    unit axes either side carries (it used to merge on one side and split
    on the other, and the two spellings settled apart)."""
    nodes = [
        helper.make_node("Sigmoid", ["x"], ["s"]),
        helper.make_node("Reshape", ["s", "single"], ["a"]),
        helper.make_node("Reshape", ["x", "single"], ["b"]),
        helper.make_node("MatMul", ["a", "b"], ["p"]),
        helper.make_node("Reshape", ["p", "through"], ["t"]),
        helper.make_node("Reshape", ["t", "rows"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"]),
    ]
    consts = [("single", np.array([-1, 1, 1], np.int64)), ("through", np.array(through, np.int64)),
              ("rows", np.array([-1, 16], np.int64)), ("w", _w(16, 8))]
    proto = _model(nodes, [("x", ["N", 16])], [("y", ["N", 8])], consts)
    _check_same(proto, canonical.canonical_ir(proto))
    other = [-1, 16, 1] if through == [-1, 1] else [-1, 1]
    consts[1] = ("through", np.array(other, np.int64))
    assert converters.fingerprint(proto) == converters.fingerprint(
        _model(nodes, [("x", ["N", 16])], [("y", ["N", 8])], consts))
