"""Reading ONNX attributes: as Python values, and their schema defaults."""

from __future__ import annotations

import onnx

_DEFAULTS = {}


def schema_default(domain, op_type, name, version):
    key = (domain, op_type, name, version)
    if key not in _DEFAULTS:
        value = None
        try:
            schema = onnx.defs.get_schema(op_type, version, domain)
            attr = schema.attributes.get(name)
            if attr is not None and attr.default_value.type:
                value = onnx.helper.get_attribute_value(attr.default_value)
        except Exception:  # noqa: BLE001 - unknown op or domain
            value = None
        _DEFAULTS[key] = value
    return _DEFAULTS[key]


def attr_python(attr):
    import onnx_ir as ir

    kind = attr.type
    if kind == ir.AttributeType.INT:
        return attr.as_int()
    if kind == ir.AttributeType.FLOAT:
        return attr.as_float()
    if kind == ir.AttributeType.STRING:
        return attr.as_string()
    if kind == ir.AttributeType.INTS:
        return list(attr.as_ints())
    if kind == ir.AttributeType.FLOATS:
        return list(attr.as_floats())
    return None
