"""Zero trust on the line: safe model loading, model signatures, input checks (see docs/security.md).

Each concern is one module: `model_files` (no model file is deserialized in a way that can run code),
`signing` (Ed25519 signatures of model files and the trust store), `inputs` (names, paths, CSV cells).
"""
