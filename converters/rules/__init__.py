"""onnxscript pattern rules that rewrite pointwise ops to one canonical form."""
