"""Log-in dialog (user + PIN/password) and the admin's account list. Checks happen in inspection.domain.permissions."""

from __future__ import annotations

from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspection.domain.permissions import Role, User
from inspection.errors import StationError
from inspection.people.accounts import Accounts

__all__ = ["LoginDialog", "UsersDialog"]


class LoginDialog(QDialog):
    def __init__(self, accounts: Accounts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accounts = accounts
        self.user: User | None = None
        self.setWindowTitle(self.tr("Log in"))
        form = QFormLayout(self)
        self.first_run = accounts.count() == 0
        if self.first_run:
            form.addRow(QLabel(self.tr("No accounts yet: create the first one (it becomes the admin).")))
        self.username = QLineEdit()
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = QLabel("")
        self.message.setStyleSheet("color: #e53935;")
        form.addRow(self.tr("User"), self.username)
        form.addRow(self.tr("PIN / password"), self.secret)
        form.addRow(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.try_login)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def try_login(self) -> bool:
        try:
            if self.first_run:
                self.user = self.accounts.create(self.username.text().strip(), Role.ADMIN, self.secret.text())
            else:
                self.user = self.accounts.authenticate(self.username.text().strip(), self.secret.text())
        except StationError as exc:
            self.message.setText(str(exc))
            self.secret.clear()
            return False
        self.accept()
        return True


class UsersDialog(QDialog):
    """List accounts; an admin adds one (the core refuses anyone else)."""

    def __init__(self, accounts: Accounts, admin: User | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accounts, self.admin = accounts, admin
        self.setWindowTitle(self.tr("Accounts"))
        self.list = QListWidget()
        self.username = QLineEdit()
        self.role = QComboBox()
        self.role.addItems([r.value for r in Role])
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = QLabel("")
        add = QPushButton(self.tr("Add account"))
        add.clicked.connect(self.add)
        form = QFormLayout()
        form.addRow(self.tr("User"), self.username)
        form.addRow(self.tr("Role"), self.role)
        form.addRow(self.tr("PIN / password"), self.secret)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(form)
        layout.addWidget(add)
        layout.addWidget(self.message)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        self.list.addItems([f"{u.username} ({u.role})" for u in self.accounts.users()])

    def add(self) -> bool:
        try:
            self.accounts.create(self.username.text().strip(), self.role.currentText(), self.secret.text(),
                                 by=self.admin)
        except StationError as exc:
            self.message.setText(str(exc))
            return False
        self.message.setText(f"added {self.username.text().strip()}")
        self.username.clear()
        self.secret.clear()
        self.refresh()
        return True
