"""What people do at the station: accounts (`accounts`), the audit log and verdict overrides
(`audit.Operations`, the command API the console and the CLI share), approvals of model promotions and
controller proposals (`approvals`). Who may do what is a domain rule: `inspection.domain.permissions`.
"""
