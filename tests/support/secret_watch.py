"""No secret in any log: every secret the suite makes is known, every log line is read.

Known secrets:

* everything ccari draws from ``secrets.token_urlsafe`` (admin tokens and web keys it
  generates, ARI/AMI passwords, tenant API tokens, agent SIP and web passwords, browser
  phone passwords, CSRF tokens, customer session ids), recorded as they are drawn;
* the signed agent session cookies and customer tokens, recorded as they are signed;
* the secrets of every config a runtime or a ccari process is started with (admin token,
  web secret key, ARI/AMI passwords, the database password, the lines of its TLS keys).

Logs read: every log record of the test (the ``ccari`` loggers at DEBUG, everything else at
its own level), with its traceback, and the log files of the ccari processes the test
started (:meth:`SecretWatch.watch_file`).  A test whose logs hold a known secret fails at
teardown, naming the logger or file and the secret's first characters only.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ccari.config import Config

MIN_LENGTH = 12  # shorter values (test literals such as "pw") would match at random


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class SecretWatch:
    def __init__(self) -> None:
        self.known: set[str] = set()
        self._files: list[tuple[Path, int]] = []
        self._handler = _Collect()
        self._format = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self._undo: list[Callable[[], None]] = []

    # ---- what is secret ------------------------------------------------------------------
    def add(self, *values: object) -> None:
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_LENGTH:
                self.known.add(value)

    def add_config(self, cfg: Config) -> None:
        password = make_url(cfg.database.url).password
        self.add(cfg.admin_token, cfg.web.secret_key, cfg.pbx.ari_password, cfg.pbx.ami_secret,
                 str(password) if password else None)
        for key in (cfg.web.tls_key, cfg.pbx.sip_tls_key):  # TLS private keys, line by line
            if key and Path(key).is_file():
                self.add(*(line for line in Path(key).read_text().splitlines()
                           if not line.startswith("-----")))

    def watch_file(self, path: Path) -> None:
        """A log file this test's ccari process writes (read from its current end)."""
        self._files.append((path, path.stat().st_size if path.exists() else 0))

    # ---- installing ----------------------------------------------------------------------
    def install(self) -> None:
        self._wrap(secrets, "token_urlsafe", lambda made: self.add(made))
        from ccari.public.tokens import CustomerTokens
        from ccari.web.security import SessionSigner

        self._wrap(SessionSigner, "dump", lambda made: self.add(made))
        self._wrap(CustomerTokens, "issue", lambda made: self.add(made[0]))
        import ccari.app

        runtime = ccari.app.runtime

        def watched_runtime(cfg: Config, *args: Any, **kwargs: Any) -> Any:
            self.add_config(cfg)
            return runtime(cfg, *args, **kwargs)

        ccari.app.runtime = watched_runtime  # type: ignore[assignment]
        self._undo.append(lambda: setattr(ccari.app, "runtime", runtime))
        logging.getLogger().addHandler(self._handler)
        ccari_log = logging.getLogger("ccari")
        level = ccari_log.level
        ccari_log.setLevel(logging.DEBUG)
        self._undo.append(lambda: ccari_log.setLevel(level))
        self._undo.append(lambda: logging.getLogger().removeHandler(self._handler))

    def _wrap(self, owner: Any, name: str, record: Callable[[Any], None]) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            made = original(*args, **kwargs)
            record(made)
            return made

        setattr(owner, name, wrapper)
        self._undo.append(lambda: setattr(owner, name, original))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    # ---- per test ------------------------------------------------------------------------
    def start_test(self) -> None:
        self._handler.records.clear()
        self._files.clear()

    def texts(self) -> Iterable[tuple[str, str]]:
        for record in self._handler.records:
            try:
                yield record.name, self._format.format(record)
            except Exception:  # a record whose args do not format: its raw parts
                yield record.name, f"{record.msg} {record.args}"
        for path, start in self._files:
            if path.exists():
                with path.open("rb") as fh:
                    fh.seek(start)
                    yield str(path), fh.read().decode("utf-8", "replace")

    def leaks(self) -> list[str]:
        """Where a known secret was logged by this test ("logger: abcd…")."""
        texts = list(self.texts())
        everything = "\n".join(text for _, text in texts)
        found = set()
        for secret in self.known:
            if secret in everything:  # then where (rare: the slow path)
                found.update(f"{where}: {secret[:4]}… ({len(secret)} characters)"
                             for where, text in texts if secret in text)
        return sorted(found)


WATCH = SecretWatch()
