"""What an ONNX graph's inputs accept, read from the graph (`limits`), and
the probes of the canonical form chosen within it: integer inputs drawn
below the tables they index, masks of ones, lengths within the position
tables they size; the conv and dense forms of models with short position
tables get one fingerprint. Graphs built for each rule, then real exports."""

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from keras_1x1.converters.onnx import canonical, check, limits, runtime
from keras_1x1.converters.onnx.passes import shapes
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _int_input(name, dims=("N", "L")):
    return helper.make_tensor_value_info(name, TensorProto.INT64, list(dims))


def _out(name, dims=None):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _table(name, rows, width=4, seed=0):
    array = np.random.default_rng(seed).normal(size=(rows, width)).astype("float32")
    return numpy_helper.from_array(array, name)


def _ints(name, values):
    return numpy_helper.from_array(np.asarray(values, "int64"), name)


def lookups():
    """ids -> (negative ids wrapped: ids + 7 where ids < 0) -> a 7-row table;
    segments -> Cast -> Unsqueeze -> Squeeze -> a 2-row and a 3-row table;
    mask -> Cast(float) -> Mul (indexes nothing); a Gather of a Shape (no table)."""
    nodes = [
        helper.make_node("Less", ["ids", "zero"], ["negative"]),
        helper.make_node("Add", ["ids", "rows"], ["wrapped"]),
        helper.make_node("Where", ["negative", "wrapped", "ids"], ["index"]),
        helper.make_node("Gather", ["tokens", "index"], ["embedded"]),
        helper.make_node("Cast", ["segments"], ["segments32"], to=TensorProto.INT32),
        helper.make_node("Unsqueeze", ["segments32", "axis0"], ["lifted"]),
        helper.make_node("Squeeze", ["lifted", "axis0"], ["segment_index"]),
        helper.make_node("Gather", ["kinds", "segment_index"], ["kind"]),
        helper.make_node("Gather", ["more_kinds", "segments"], ["more_kind"]),
        helper.make_node("Add", ["embedded", "kind"], ["sum0"]),
        helper.make_node("Add", ["sum0", "more_kind"], ["sum1"]),
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last"], ["mask3"]),
        helper.make_node("Mul", ["sum1", "mask3"], ["y"]),
        helper.make_node("Shape", ["mask"], ["mask_shape"]),
        helper.make_node("Gather", ["mask_shape", "zero"], ["batch"]),
    ]
    return _model(
        nodes,
        [_int_input("ids"), _int_input("segments"), _int_input("mask")],
        [_out("y"), helper.make_tensor_value_info("batch", TensorProto.INT64, [])],
        [
            _table("tokens", 7),
            _table("kinds", 2, seed=1),
            _table("more_kinds", 3, seed=2),
            _ints("zero", 0),
            _ints("rows", 7),
            _ints("axis0", [0]),
            _ints("last", [-1]),
        ],
    )


def test_integer_inputs_are_bounded_by_the_smallest_table_they_index():
    assert limits.index_tables(lookups()) == {"ids": 7, "segments": 2}


def test_a_cast_to_float_ends_the_indices():
    # The mask's values reach only a float Mul; cast back to an integer after
    # that they are not indices any more.
    model = lookups()
    model.graph.node.extend(
        [
            helper.make_node("Cast", ["y"], ["yi"], to=TensorProto.INT64),
            helper.make_node("Gather", ["tokens", "yi"], ["again"]),
        ]
    )
    model.graph.output.append(_out("again"))
    assert "mask" not in limits.index_tables(model)


def test_drawn_inputs_stay_within_the_tables_and_masks_are_ones():
    model = lookups()
    specs = {s.name: s for s in limits.input_specs(model)}
    assert (specs["ids"].low, specs["ids"].high) == (0, 7)
    assert (specs["segments"].low, specs["segments"].high) == (0, 2)
    assert (specs["mask"].low, specs["mask"].high) == (1, 2)
    assert "indexes a table of 2 rows" in specs["segments"].describe()
    assert "mask of ones" in specs["mask"].describe()
    # Before: the plain specs draw segment ids past the 2-row table.
    plain = check.InputSpec("segments", ("N", "L"), "int64")
    assert check.draw_inputs([plain])["segments"].max() >= 2
    drawn = check.draw_inputs(list(specs.values()))
    assert drawn["segments"].max() < 2 and drawn["ids"].max() < 7
    assert (drawn["mask"] == 1).all()
    session = runtime.make_session(model)
    runtime.run(session, drawn)


def positions(rows=4, width=4):
    """ids -> a token table, plus a position table of `rows` rows sliced to
    the length of ids (Shape -> Slice -> Concat -> Slice, tf2onnx's way), and
    a mask of the same length that scales the sum."""
    nodes = [
        helper.make_node("Gather", ["tokens", "ids"], ["embedded"]),
        helper.make_node("Shape", ["embedded"], ["shape"]),
        helper.make_node("Slice", ["shape", "one", "two"], ["length"]),
        helper.make_node("Concat", ["length", "all"], ["size"], axis=0),
        helper.make_node("Add", ["begin", "size"], ["end"]),
        helper.make_node("Slice", ["positions", "begin", "end"], ["placed"]),
        helper.make_node("Add", ["embedded", "placed"], ["summed"]),
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last"], ["mask3"]),
        helper.make_node("Mul", ["summed", "mask3"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "flat"], ["y"]),
    ]
    return _model(
        nodes,
        [_int_input("ids", ("B", "L")), _int_input("mask", ("M", "T"))],
        [_out("y")],
        [
            _table("tokens", 9, width),
            _table("positions", rows, width, seed=3),
            _ints("one", [1]),
            _ints("two", [2]),
            _ints("all", [width]),
            _ints("begin", [0, 0]),
            _ints("last", [-1]),
            _ints("flat", [0, -1]),
        ],
    )


def test_a_length_is_bounded_by_the_position_table_it_slices():
    model = ir.serde.deserialize_model(positions(rows=4))
    found = limits.dim_limits(model)
    assert found == {("ids", 1): limits.DimLimit(high=4, why=found[("ids", 1)].why)}
    assert "table of 4 rows" in found[("ids", 1)].why


def test_every_input_of_a_bounded_axis_is_drawn_within_it():
    model = positions(rows=4)
    specs = {s.name: s for s in limits.input_specs(model)}
    assert specs["ids"].concrete_shape() == (2, 4) == specs["mask"].concrete_shape()
    assert specs["ids"].high == 9 and specs["mask"].low == 1
    runtime.run(runtime.make_session(model), check.draw_inputs(list(specs.values())))


def test_a_length_a_constant_fixes_is_read():
    # Add(embedded[B, L, 4], table[6, 4]): the model takes one length, 6.
    nodes = [
        helper.make_node("Gather", ["tokens", "ids"], ["embedded"]),
        helper.make_node("Add", ["embedded", "positions"], ["y"]),
    ]
    model = _model(
        nodes, [_int_input("ids", ("B", "L"))], [_out("y")],
        [_table("tokens", 9), _table("positions", 6, seed=3)],
    )
    found = limits.dim_limits(ir.serde.deserialize_model(model))
    assert found[("ids", 1)].equal == 6
    (spec,) = limits.input_specs(model)
    assert spec.concrete_shape() == (2, 6)


@pytest.mark.parametrize("rows", [2, 3, 4, 6, 12])
def test_probes_fit_a_position_table_shorter_than_the_fixed_probes(rows):
    # The fixed probe sizes are 5 and 13 at the smallest: a position table of
    # fewer rows gets no shapes from them.
    model = ir.serde.deserialize_model(positions(rows=rows, width=16))
    free = shapes._free_dims(model.graph)
    first = next(shapes._families(model, free))
    lengths = {sizes[free[(0, 1)]] for sizes in first}
    assert len(lengths) == (2 if rows > 2 else 1) and max(lengths) <= rows
    assert {sizes[free[(1, 1)]] for sizes in first} == lengths  # one length per axis
    assert not lengths & {16, 9, *shapes.BATCH_PROBES}  # no coincidence with other dims
    shapes.resolve(model)
    assert all(v.shape is not None for node in model.graph for v in node.outputs)


def test_a_short_position_table_canonicalizes_like_a_long_one():
    # Shapes from probes within the table: every value of the canonical
    # graph has one, and the graph is the one a long table gets.
    short, long = (canonical.canonical_ir(positions(rows=rows)) for rows in (4, 40))
    assert all(v.shape is not None for node in short.graph for v in node.outputs)
    assert [n.op_type for n in short.graph] == [n.op_type for n in long.graph]


def test_a_uniform_constant_operand_is_one_scalar():
    from keras_1x1.converters.onnx import rules
    from keras_1x1.converters.onnx.rules import uniform_constant

    def bias_of(values):
        proto = _model(
            [
                helper.make_node("MatMul", ["x", "W"], ["m"]),
                helper.make_node("Add", ["m", "b"], ["y"]),
            ],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
            [_out("y", ["N", 4])],
            [_table("W", 8), numpy_helper.from_array(np.asarray(values, "float32"), "b")],
        )
        model = canonical.to_ir(proto)
        canonical._prepare(model)
        rules.apply(model, [uniform_constant.UniformConstant()])
        return proto, model, next(n for n in model.graph if n.op_type == "Add").inputs[1].const_value.numpy()

    row, scalar = bias_of([1.0, 1.0, 1.0, 1.0]), bias_of(1.0)
    assert row[2].shape == () == scalar[2].shape and row[2] == scalar[2] == 1.0
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    for proto, model, _ in (row, scalar):
        after = ir.serde.serialize_model(model)
        (want,), (got,) = (runtime.run(runtime.make_session(p), {"x": x}).values() for p in (proto, after))
        np.testing.assert_array_equal(got, want)
    # A row that varies, or one the other operand does not cover, stays.
    assert bias_of([1.0, 2.0, 1.0, 1.0])[2].shape == (4,)
    widened = _model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [_out("y", ["N", 4])],
        [numpy_helper.from_array(np.ones(4, "float32"), "b")],
    )
    model = canonical.to_ir(widened)
    canonical._prepare(model)
    assert uniform_constant.UniformConstant().check(next(iter(model.graph)), None)


@pytest.mark.parametrize("layout", [[2, 1, 4], [2, 4, 1]])
def test_a_reduction_over_unit_axes_is_a_reshape(layout):
    from keras_1x1.converters.onnx import rules
    from keras_1x1.converters.onnx.rules import reduce_unit_axes

    axis = layout.index(1)
    proto = _model(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[axis], keepdims=0)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, layout)],
        [_out("y", [2, 4])],
        [],
    )
    model = canonical.to_ir(proto)
    canonical._prepare(model)
    assert rules.apply(model, [reduce_unit_axes.ReduceUnitAxes()]) == 1
    assert [n.op_type for n in model.graph] == ["Reshape"]
    x = np.random.default_rng(0).normal(size=layout).astype("float32")
    after = ir.serde.serialize_model(model)
    (want,), (got,) = (runtime.run(runtime.make_session(p), {"x": x}).values() for p in (proto, after))
    np.testing.assert_array_equal(got, want)
    # A reduction over an axis longer than one stays.
    longer = _model(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [_out("y", [2, 4])],
        [],
    )
    model = canonical.to_ir(longer)
    canonical._prepare(model)
    assert rules.apply(model, [reduce_unit_axes.ReduceUnitAxes()]) == 0


# -- real exports ----------------------------------------------------------------------


def _bert(length):
    keras = pytest.importorskip("keras")
    keras_hub = pytest.importorskip("keras_hub")  # keras-hub needs Python >= 3.11

    keras.utils.set_random_seed(0)
    return keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=length,
    )


def test_two_onnx_files_of_a_text_backbone_compare_on_inputs_the_graph_accepts(tmp_path):
    # segment_ids index a 2-row table, token_ids a 50-row one; the length is
    # bounded by the 12-row position table (the default length is 32).
    from keras_1x1 import converters

    model = _bert(12)
    a, b = tmp_path / "dense.onnx", tmp_path / "conv.onnx"
    converters.export_onnx(model, a)
    converters.export_onnx(converters.dense_to_conv(model), b)
    result = converters.compare(a, b)
    assert result.ok and result.same_graph, result.summary()
    assert result.inputs["segment_ids"].max() < 2 and result.inputs["segment_ids"].shape == (2, 12)
    assert result.inputs["token_ids"].max() < 50 and (result.inputs["padding_mask"] == 1).all()
    assert "segment_ids 2x12 int32 in [0, 2) (indexes a table of 2 rows" in result.summary()


@pytest.mark.parametrize("length", [5, 6, 12])
def test_short_position_tables_give_the_two_forms_one_fingerprint(length):
    from keras_1x1 import converters

    model = _bert(length)
    conv = converters.dense_to_conv(model)
    raw = [converters.export_onnx(m) for m in (model, conv)]
    assert raw[0].SerializeToString() != raw[1].SerializeToString()
    assert converters.fingerprint(raw[0]) == converters.fingerprint(raw[1])


def _dense_and_conv(build):
    keras = pytest.importorskip("keras")
    from keras_1x1 import converters

    keras.utils.set_random_seed(0)
    model = build(keras)
    conv = converters.dense_to_conv(model)
    dense = converters.conv_to_dense(conv)
    return [converters.export_onnx(m) for m in (model, conv, dense)]


def _uniform_bias(keras):
    x = keras.Input((None, 8), name="tokens")
    return keras.Model(x, keras.layers.Dense(4, bias_initializer="ones")(x))


def _patches(keras):
    x = keras.Input((None, 9, 8), name="patches")  # (batch, patch, pixel, channels)
    return keras.Model(x, keras.layers.Dense(4)(x))


def _token_mean(keras):
    x = keras.Input((None, 8), name="tokens")
    h = keras.layers.Dense(4, bias_initializer="ones")(x)
    return keras.Model(x, keras.ops.mean(h, axis=1))


def _one_token(keras):
    # tf2onnx folds the uniform bias of the dense form to one number.
    x = keras.Input((1, 8), name="tokens")
    h = keras.layers.Dense(4, bias_initializer="ones")(x)
    return keras.Model(x, [h, keras.ops.mean(h, axis=1)])


@pytest.mark.parametrize("build", [_uniform_bias, _patches, _token_mean, _one_token])
def test_pointwise_dense_on_tokens_and_patches_one_fingerprint(build):
    from keras_1x1 import converters

    original, conv, dense = _dense_and_conv(build)
    assert {n.op_type for n in conv.graph.node} != {n.op_type for n in original.graph.node}
    prints = {converters.fingerprint(p) for p in (original, conv, dense)}
    assert len(prints) == 1


# -- coinciding and unit dims -----------------------------------------------------------


def _one_channel(keras):
    # A map of one channel: tf2onnx flattens it to (-1, 1), a unit axis and
    # a merge in one Reshape.
    x = keras.Input((4, 4, 1), name="image")
    h = keras.layers.Dense(1, activation="relu")(x)
    return keras.Model(x, keras.layers.Dense(1)(h))


def _unit_attention(keras):
    # One head of dim 1 on a hidden width of 1: every channel axis is a unit axis.
    x = keras.Input((4, 1), name="tokens")
    h = x + keras.layers.MultiHeadAttention(1, 1)(x, x)
    return keras.Model(x, keras.layers.Dense(1)(keras.layers.LayerNormalization()(h)))


def _one_pixel(keras):
    x = keras.Input((1, 1, 8), name="image")
    h = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(x, keras.layers.Dense(4)(h))


def _two_by_two(keras):
    x = keras.Input((2, 2, 2), name="image")
    h = keras.layers.Dense(2, activation="relu")(x)
    return keras.Model(x, keras.layers.Dense(2)(h))


def _tokens_as_wide_as_hidden(keras):
    x = keras.Input((8, 8), name="tokens")
    h = x + keras.layers.MultiHeadAttention(2, 4)(x, x)
    return keras.Model(x, keras.layers.Dense(8)(h))


def _head_dim_one(keras):
    x = keras.Input((None, 4), name="tokens")
    h = x + keras.layers.MultiHeadAttention(4, 1)(x, x)
    return keras.Model(x, keras.layers.Dense(4)(h))


def _mean_of_one_channel(keras):
    # The dense form takes the mean of (N, 3, 1), the conv form of (N, 1, 3).
    x = keras.Input((3, 1), name="tokens")
    h = keras.ops.mean(keras.layers.Dense(1)(x), axis=1)
    return keras.Model(x, keras.layers.Dense(1)(h))


def _free_map_of_one_channel(keras):
    # tf2onnx writes the conv form between an Unsqueeze and a Squeeze no
    # Reshape spells (with biases: without, its last Reshape is of rank 5,
    # which onnxruntime's optimizer hides and the canonical form shows).
    x = keras.Input((None, None, 1), name="image")
    h = keras.layers.Dense(1, activation="relu", bias_initializer="random_normal")(x)
    return keras.Model(x, keras.layers.Dense(1, bias_initializer="random_normal")(h))


def _one_query_prepended(keras):
    # One learned query token, projected, put before the text tokens (as
    # BLIP-2 feeds its language model): in the conv form the projection
    # is a conv of one position, stored channels first.
    query = keras.Input((1, 6), name="query")
    tokens = keras.Input((None, 4), name="tokens")
    h = keras.layers.Concatenate(axis=1)([keras.layers.Dense(4)(query), tokens])
    return keras.Model([query, tokens], keras.layers.Dense(4)(h))


COINCIDENCES = [
    _one_channel, _unit_attention, _one_pixel, _two_by_two, _tokens_as_wide_as_hidden,
    _head_dim_one, _mean_of_one_channel, _free_map_of_one_channel, _one_query_prepended,
]


@pytest.mark.parametrize("build", COINCIDENCES)
def test_unit_and_coinciding_dims_give_both_forms_one_fingerprint(build):
    from keras_1x1 import converters

    original, conv, dense = _dense_and_conv(build)
    assert original.SerializeToString() != conv.SerializeToString()
    prints = {converters.fingerprint(p) for p in (original, conv, dense)}
    assert len(prints) == 1


def test_one_channel_maps_still_tell_a_changed_weight():
    from keras_1x1 import converters

    original, conv, _ = _dense_and_conv(_one_channel)
    assert converters.fingerprint(conv) == converters.fingerprint(original)
    changed = onnx.ModelProto()
    changed.CopyFrom(conv)
    weights = [t for t in changed.graph.initializer if t.dims == [1, 1, 1, 1]]
    array = numpy_helper.to_array(weights[-1])
    weights[-1].CopyFrom(numpy_helper.from_array(array + np.float32(0.5), weights[-1].name))
    assert converters.fingerprint(changed) != converters.fingerprint(original)
    assert "weight" in converters.graph_diff(original, changed)


def test_a_graph_with_more_free_dims_than_the_probe_lists_is_canonicalized():
    from keras_1x1 import converters

    count = 9  # more free dims than any probe family lists
    inputs = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, ["batch", f"n{i}", 4])
              for i in range(count)]
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    nodes = [helper.make_node("MatMul", [f"x{i}", "w"], [f"y{i}"]) for i in range(count)]
    outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(count)]
    graph = helper.make_graph(nodes, "many_free_dims", inputs, outputs, [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    first = converters.fingerprint(model)
    model.graph.initializer[0].float_data[0] = 0.25
    assert converters.fingerprint(model) != first  # and it still tells weights apart


# -- a length computed at run time, sliced by tf2onnx's masked strided slice ---------


def _rotary(keras):
    """A layer that multiplies (batch, length, heads, 2) by cos of the
    positions, built to the length with Range and sliced to it (keras-hub's
    rotary embeddings): no table bounds the length, and tf2onnx writes the
    slice's end as ``Where(And(...), MIN, end)``."""
    from keras import ops

    class Rotary(keras.layers.Layer):
        def call(self, x):
            t = ops.arange(ops.shape(x)[1], dtype=x.dtype)[:, None]
            cos = ops.cos(ops.concatenate([t, t], axis=-1))[None, :, None, :]
            return x * cos[:, : ops.shape(x)[1], :, :]

    return Rotary()


def _rotary_heads(heads, key_dim):
    def build(keras):
        x = keras.Input((None, 4), name="tokens")
        h = keras.layers.Dense(heads * key_dim)(x)
        h = keras.layers.Reshape((-1, heads, key_dim))(h)
        h = _rotary(keras)(h) if key_dim == 2 else h
        h = keras.layers.Dense(4)(keras.layers.Reshape((-1, heads * key_dim))(h))
        h = h + keras.layers.MultiHeadAttention(heads, key_dim)(h, h)
        return keras.Model(x, keras.layers.Dense(4)(h))

    build.__name__ = f"rotary_heads_{heads}x{key_dim}"
    return build


def _one_head(key_dim):
    def build(keras):
        x = keras.Input((None, 4), name="tokens")
        h = x + keras.layers.MultiHeadAttention(1, key_dim)(x, x)
        return keras.Model(x, keras.layers.Dense(4)(h))

    build.__name__ = f"one_head_{key_dim}"
    return build


@pytest.mark.parametrize(
    "build", [_rotary_heads(1, 2), _rotary_heads(1, 4), _one_head(2), _one_head(4)],
    ids=lambda b: b.__name__,
)
def test_one_head_with_a_computed_length_gives_both_forms_one_fingerprint(build):
    # One head leaves a unit axis where the rotary table meets the heads:
    # broadcasting cannot say that product's shape, only the slice's end
    # (the mask logic tf2onnx writes, evaluated at the probes) can.
    from keras_1x1 import converters

    original, conv, dense = _dense_and_conv(build)
    assert original.SerializeToString() != conv.SerializeToString()
    prints = {converters.fingerprint(p) for p in (original, conv, dense)}
    assert len(prints) == 1


def test_one_rotary_head_still_tells_a_changed_weight():
    from keras_1x1 import converters

    original, conv, _ = _dense_and_conv(_rotary_heads(1, 2))
    assert converters.fingerprint(conv) == converters.fingerprint(original)
    changed = onnx.ModelProto()
    changed.CopyFrom(conv)
    weight = max(changed.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    array = numpy_helper.to_array(weight)
    weight.CopyFrom(numpy_helper.from_array(array + np.float32(0.5), weight.name))
    assert converters.fingerprint(changed) != converters.fingerprint(original)
    assert "weight" in converters.graph_diff(original, changed)


# -- a shift computed at run time: tf2onnx's Roll --------------------------------------


def _rolled_tokens(keras):
    """Windows shifted by a roll (Swin's shifted windows): tf2onnx wraps the
    shift with ``Mod`` by the axis' length, read with Shape; the Dense on
    the tokens after it is a Conv on an unsqueezed map in the conv form,
    read as pointwise only once that Mod is evaluated at the probes."""
    from keras import ops

    x = keras.Input((4, 4, 8), name="pixels")
    h = ops.roll(keras.layers.Dense(8)(x), shift=-1, axis=1)
    h = keras.layers.Reshape((16, 8))(h)
    return keras.Model(x, keras.layers.Dense(4)(h))


def test_a_roll_gives_both_forms_one_fingerprint():
    from keras_1x1 import converters

    original, conv, dense = _dense_and_conv(_rolled_tokens)
    assert "Mod" in {n.op_type for n in conv.graph.node}
    assert original.SerializeToString() != conv.SerializeToString()
    prints = {converters.fingerprint(p) for p in (original, conv, dense)}
    assert len(prints) == 1
    changed = onnx.ModelProto()
    changed.CopyFrom(conv)
    weight = max(changed.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    array = numpy_helper.to_array(weight)
    weight.CopyFrom(numpy_helper.from_array(array + np.float32(0.5), weight.name))
    assert converters.fingerprint(changed) != converters.fingerprint(original)
    assert "weight" in converters.graph_diff(original, changed)


# -- maps halved and doubled again ------------------------------------------------------


def _pyramid(keras):
    # A feature pyramid: each level's 1x1 lateral conv plus the level above
    # it upsampled. It runs only on sizes that halve exactly; prime probes
    # break the sums, and the deepest maps of small probes are 1x1 and 2x2.
    x = keras.Input((None, None, 3), name="image")
    levels, h = [], x
    for width in (8, 8, 8):
        h = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(h)
        levels.append(h)
    top = keras.layers.Conv2D(4, 1)(levels[-1])
    for level in reversed(levels[:-1]):
        top = keras.layers.Add()([keras.layers.UpSampling2D(2)(top), keras.layers.Conv2D(4, 1)(level)])
    return keras.Model(x, keras.layers.Conv2D(4, 3, padding="same")(top))


def test_a_feature_pyramid_on_free_sizes_gives_both_forms_one_fingerprint():
    keras = pytest.importorskip("keras")
    from keras_1x1 import converters

    keras.utils.set_random_seed(0)
    model = _pyramid(keras)
    dense = converters.conv_to_dense(model)
    exports = [converters.export_onnx(m) for m in (model, dense)]
    assert {n.op_type for n in exports[0].graph.node} != {n.op_type for n in exports[1].graph.node}
    assert converters.fingerprint(exports[0]) == converters.fingerprint(exports[1])
    # The sizes stay free: no probe size was read as a static dim.
    graph = converters.canonicalize(exports[1]).graph
    weights = {w.name for w in graph.initializer}
    maps = [v.type.tensor_type.shape.dim for v in list(graph.value_info) + list(graph.output)
            if v.name not in weights and len(v.type.tensor_type.shape.dim) == 4]
    assert maps and all(sum(d.HasField("dim_value") for d in dims) == 1 for dims in maps)


def test_shape_plumbing_that_would_make_a_large_tensor_is_not_evaluated():
    # A mask over long probes ((batch, heads, length, length) at lengths of
    # a thousand) is left to the graph, not made in memory by the probes.
    from keras_1x1.converters.onnx.passes import plumbing

    assert plumbing._too_large("ConstantOfShape", [np.array([11, 8, 1696, 1696])])
    assert plumbing._too_large("Tile", [np.ones((2, 2)), np.array([100, 100])])
    assert plumbing._too_large("Expand", [np.ones((1, 1, 1, 1696)), np.array([11, 8, 1696, 1])])
    assert not plumbing._too_large("Expand", [np.ones((1, 4)), np.array([3, 1])])
    consts = {"shape": np.array([11, 8, 1696, 1696], dtype=np.int64)}
    node = helper.make_node("ConstantOfShape", ["shape"], ["mask"])
    assert not plumbing.evaluate([node], {}, consts) and "mask" not in consts


def test_an_expand_to_the_shape_a_tensor_has_is_no_op():
    # CLIP's text embeddings are broadcast to the shape they already have,
    # the shape read at run time; the conv form of the canonical graph must
    # canonicalize back to it.
    keras = pytest.importorskip("keras")
    from keras_1x1 import converters

    class Broadcast(keras.layers.Layer):
        def call(self, x, y):
            return keras.ops.broadcast_to(x, keras.ops.shape(y))

    keras.utils.set_random_seed(0)
    x = keras.Input((None, 4), name="tokens")
    h = keras.layers.Dense(6)(x)
    h = Broadcast()(h + 1.0, h)
    model = keras.Model(x, keras.layers.Dense(4)(h))
    raw = converters.export_onnx(model)
    assert "Expand" in {n.op_type for n in raw.graph.node}
    assert "Expand" not in {n.op_type for n in converters.canonicalize(raw).graph.node}
    conv = canonical.to_form(raw, "conv")
    assert converters.fingerprint(conv) == converters.fingerprint(raw)


def _speech_front_end(keras):
    # Audio samples through three strided convs (a speech encoder's front
    # end): only inputs of a thousand samples and more get through, longer
    # than any probe but the last family's.
    samples = keras.Input((None, 1), name="samples")
    h = keras.layers.Conv1D(8, 127, strides=64, activation="tanh")(samples)
    h = keras.layers.Conv1D(8, 7, strides=3, activation="gelu")(h)
    h = keras.layers.Conv1D(8, 3, strides=2, activation="gelu")(h)
    h = keras.layers.Dense(8, activation="relu")(h)
    return keras.Model(samples, keras.layers.Dense(4)(h))


def test_a_speech_front_end_is_probed_long_enough_for_one_fingerprint():
    keras = pytest.importorskip("keras")
    from keras_1x1 import converters

    keras.utils.set_random_seed(0)
    model = _speech_front_end(keras)
    # Verified on samples it takes (on a draw shorter than its window,
    # TensorFlow computes something of no meaning without complaint).
    samples = np.random.default_rng(0).normal(size=(2, 2048, 1)).astype("float32")
    conv = converters.dense_to_conv(model, verify=samples)
    dense = converters.conv_to_dense(conv, verify=samples)
    original, conv, dense = (converters.export_onnx(m) for m in (model, conv, dense))
    assert {n.op_type for n in conv.graph.node} != {n.op_type for n in original.graph.node}
    assert len({converters.fingerprint(p) for p in (original, conv, dense)}) == 1
    # Every shape was worked out: no shape plumbing is left.
    assert "Shape" not in {n.op_type for n in converters.canonicalize(original).graph.node}
