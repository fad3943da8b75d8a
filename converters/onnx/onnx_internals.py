"""Every private attribute of onnx that keras-1x1 reads, in one place.

- ``onnx.external_data_helper._get_all_tensors``: every tensor of a model,
  initializers and attribute tensors of every (sub)graph, to find external
  data before it is read. onnx has no public function for it.

Read directly; a release that renames it raises `OnnxInternalsChanged`.
"""

import functools


class OnnxInternalsChanged(RuntimeError):
    """This onnx no longer has an attribute keras-1x1 reads."""


def all_tensors(model):
    """Every TensorProto of `model` (initializers and attributes, subgraphs too)."""
    from onnx import external_data_helper

    try:
        function = external_data_helper._get_all_tensors
    except AttributeError as error:
        import onnx

        raise OnnxInternalsChanged(
            f"onnx {onnx.__version__} has no external_data_helper._get_all_tensors "
            f"({error}); keras-1x1 needs an update"
        ) from None
    return function(model)


@functools.lru_cache(maxsize=None)
def check():
    import onnx

    all_tensors(onnx.ModelProto())
    return True
