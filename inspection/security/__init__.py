"""Zero trust on the line (see docs/security.md), one concern per module:

- `model_files`: no model file is deserialized in a way that can run code (allow-list check, weights-only).
- `signing`: Ed25519 signatures of model files and the station's trust store.
- `audit_chain`: the hash-chained, append-only audit log and its verification.
- `session`: who is at the command line (token, environment or prompt; never a typed name).
- `opcua`: encrypted, authenticated OPC UA servers and clients with per-request role checks.
- `inputs`: names, confined paths, CSV cells, bounded YAML.
- `cli`: `station audit …` and `station users …`.
"""
