"""The baseline poster: a raw SigV4-signed ``POST @connections/{id}`` on a keep-alive connection pool.

This is the least a sender can do per message and still talk to API Gateway: sign the request
with botocore's SigV4 signer (no client, no request machinery) and send it on a urllib3 pool that
keeps connections open. The messenger's cost per post is compared with this.
"""
from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

POOL_SIZE = 16
TIMEOUT_S = 5.0


class RawPoster:
    """Posts to ``{endpoint}/@connections/{id}``; ``post`` returns the HTTP status."""

    def __init__(self, endpoint: str, *, region: str = "us-east-1", pool_size: int = POOL_SIZE) -> None:
        """``pool_size``: keep-alive connections (as many as the threads that post concurrently)."""
        import urllib3
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        parts = urlsplit(endpoint)
        self._base = endpoint.rstrip("/")
        self._stage_path = parts.path.rstrip("/")
        self._signer = SigV4Auth(
            Credentials(os.environ.get("AWS_ACCESS_KEY_ID", "bench"), os.environ.get("AWS_SECRET_ACCESS_KEY", "bench")),
            "execute-api",
            region,
        )
        pool_class = urllib3.HTTPSConnectionPool if parts.scheme == "https" else urllib3.HTTPConnectionPool
        self._pool = pool_class(parts.hostname, parts.port, maxsize=pool_size, block=True,
                                timeout=urllib3.Timeout(total=TIMEOUT_S), retries=False)

    def post(self, connection_id: str, payload: bytes) -> int:
        """Sign and send one post; return the status code."""
        from botocore.awsrequest import AWSRequest

        path = f"{self._stage_path}/@connections/{quote(connection_id, safe='')}"
        request = AWSRequest(method="POST", url=f"{self._base}/@connections/{quote(connection_id, safe='')}",
                             data=payload)
        self._signer.add_auth(request)
        response = self._pool.urlopen("POST", path, body=payload, headers=dict(request.headers),
                                      preload_content=True, release_conn=True)
        return response.status

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()
