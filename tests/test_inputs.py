"""The inputs a check draws: what each model input feeds, read from one
symbolic trace (tables it indexes, masks, free lengths within position
tables), and a one-line error when the model fails on them anyway."""

import keras
import numpy as np
import pytest

from keras_1x1 import UserInputError, converters
from keras_1x1.converters.keras import signature
from keras_1x1.numeric import FREE_DIM, InputSpec
from model_zoo import randomize

L = keras.layers


class _Positions(L.Layer):
    """Adds the rows ``range(length)`` of a position table (an Embedding)."""

    def __init__(self, rows, **kwargs):
        super().__init__(**kwargs)
        self.table = L.Embedding(rows, 8, name="table")

    def call(self, x):
        return x + self.table(keras.ops.arange(keras.ops.shape(x)[1]))


def _text_model(rows=12):
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    kinds = keras.Input((None,), dtype="int32", name="kinds")
    mask = keras.Input((None,), dtype="int32", name="mask")
    keep = keras.Input((None,), dtype="bool", name="keep")
    x = L.Embedding(20, 8, name="words")(tokens) + L.Embedding(3, 8, name="kind_table")(kinds)
    x = _Positions(rows, name="positions")(x)
    x = x * keras.ops.expand_dims(keras.ops.cast(mask, "float32"), -1)
    x = keras.ops.where(keras.ops.expand_dims(keep, -1), x, 0.0)
    return randomize(keras.Model([tokens, kinds, mask, keep], L.Dense(4, name="proj")(x)))


def test_each_input_is_drawn_from_what_it_feeds():
    specs = {s.name: s for s in signature.input_specs(_text_model())}
    assert (specs["tokens"].low, specs["tokens"].high) == (0, 20)
    assert "indexes the table 'words/embeddings' of 20 rows" in specs["tokens"].why
    assert (specs["kinds"].low, specs["kinds"].high) == (0, 3)
    assert (specs["mask"].low, specs["mask"].high) == (1, 2)
    assert "a mask of ones" in specs["mask"].why
    assert all(s.free == 12 and "the table 'positions/table/embeddings' has 12 positions" in s.why
               for s in specs.values())
    drawn = signature.sample_inputs(_text_model())
    assert [a.shape for a in drawn] == [(2, 12)] * 4
    assert drawn[3].dtype == bool and drawn[3].all() and (drawn[2] == 1).all()
    assert drawn[0].max() < 20 and drawn[1].max() < 3 and len(np.unique(drawn[0])) > 3


def test_a_long_enough_table_leaves_the_free_length_alone():
    specs = signature.input_specs(_text_model(rows=64))
    assert {s.free for s in specs} == {None}
    assert {s.concrete_shape()[1] for s in specs} == {FREE_DIM}


def test_the_report_says_what_was_drawn():
    dense = converters.conv_to_dense(_text_model())
    drawn = dense.conversion_report.inputs
    assert drawn[0] == (
        "tokens 2x12 int32 in [0, 20) (indexes the table 'words/embeddings' of 20 rows; "
        "free dims 12: the table 'positions/table/embeddings' has 12 positions)"
    )
    assert drawn[3].startswith("keep 2x12 bool = True (indexes no table: a mask of ones")
    assert any(line.startswith("drawn: mask 2x12 int32 = 1") for line in str(dense.conversion_report).splitlines())


def test_a_bool_spec_with_a_value_is_that_constant():
    rng = np.random.default_rng(0)
    assert InputSpec("m", (None, 3), "bool", 1, 2).draw(rng).all()
    assert not InputSpec("m", (None, 3), "bool", 0, 1).draw(rng).any()
    assert InputSpec("m", (None, 3), "bool", 1, 2).describe() == "m 2x3 bool = True"
    assert InputSpec("m", (None, 3), "bool").describe() == "m 2x3 bool"


class _ShortTable(L.Layer):
    """Adds the first rows of a constant 16-row table: longer inputs fail
    (a limit no table variable shows)."""

    def call(self, x):
        table = keras.ops.convert_to_tensor(np.ones((16, 8), "float32"))
        return x + keras.ops.slice(table, (0, 0), (keras.ops.shape(x)[1], 8))


def test_a_model_that_fails_on_the_first_draw_is_drawn_again_shorter():
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = _ShortTable(name="short")(L.Embedding(20, 8, name="embed")(tokens))
    model = randomize(keras.Model(tokens, L.Dense(4, name="proj")(x)))
    conv = converters.dense_to_conv(model)
    (drawn,) = conv.conversion_report.inputs
    assert "the model refuses the first draw" in drawn and conv.conversion_report.verified
    ok = converters.dense_to_conv(model, verify={"tokens": np.full((2, 10), 3, "int32")})
    assert ok.conversion_report.verified and ok.conversion_report.inputs == []


def _framed_audio():
    # Audio samples cut into frames of 256, a Dense per frame: the model
    # runs only on a multiple of 256 samples, longer than any short length.
    samples = keras.Input((None, 1), name="samples")
    frames = L.Reshape((-1, 256), name="frames")(samples)
    h = L.Dense(8, activation="relu", name="embed")(frames)
    return randomize(keras.Model(samples, L.Dense(4, name="proj")(h)))


def _strided_front_end():
    # Strided convs over audio samples, a speech encoder's front end. On a
    # short input TensorFlow computes a result of no meaning without
    # complaint; onnxruntime refuses the input.
    samples = keras.Input((None, 1), name="samples")
    h = L.Conv1D(8, 100, strides=50, activation="relu", name="stem")(samples)
    h = L.Conv1D(8, 5, activation="relu", name="second")(h)
    return randomize(keras.Model(samples, L.Dense(4, name="proj")(h)))


def test_a_model_that_needs_long_inputs_is_drawn_long():
    model = _framed_audio()
    specs, inputs, outputs = signature.accepted(model)
    assert keras.tree.flatten(inputs)[0].shape[1] == 256
    assert "the model refuses the first draw" in specs[0].why
    conv = converters.dense_to_conv(model)
    assert conv.conversion_report.verified
    assert converters.compare(model, converters.export_onnx(conv)).ok


def test_the_export_check_runs_the_graph_on_a_length_the_model_takes():
    model = _strided_front_end()
    first = signature.sample_inputs(model)
    assert keras.tree.flatten(first)[0].shape[1] < 100  # onnxruntime refuses this one
    proto = converters.export_onnx(model)
    x = np.random.default_rng(0).normal(size=(2, 1024, 1)).astype("float32")
    assert converters.compare(model, proto, inputs={"samples": x}).ok


def test_long_lengths_are_not_drawn_for_inputs_that_would_be_large():
    images = keras.Input((None, None, 3), name="images")
    model = keras.Model(images, L.Conv2D(4, 1, name="pw")(images))
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    text = keras.Model(tokens, L.Dense(4, name="proj")(L.Embedding(20, 8)(tokens)))
    # 1024 x 1024 x 3 entries a row is past the limit; a sequence of 4096 is not.
    assert 1024 not in signature.free_lengths(model) and 256 in signature.free_lengths(model)
    assert 4096 in signature.free_lengths(text)
