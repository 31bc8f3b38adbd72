"""A 405 names in `Allow` exactly the methods the OpenAPI document lists for the path (Starlette
named only the first matching route's: GET for /experiments/{id}, which also takes DELETE)."""

from __future__ import annotations

import re

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_every_405_carries_the_methods_of_its_path(client):
    paths = client.get("/openapi.json").json()["paths"]
    patterns = {t: re.compile(re.sub(r"\{[^}]+\}", "[^/]+", t) + "$") for t in paths}
    checked = 0
    for template, operations in paths.items():
        listed = {method.upper() for method in operations}
        path = re.sub(r"\{[^}]+\}", "1", template)
        # /experiments/validate is also /experiments/{id}: its other methods are that path's.
        for other, pattern in patterns.items():
            if other != template and pattern.match(path):
                listed |= {method.upper() for method in paths[other]}
        for method in sorted(METHODS - listed):
            response = client.request(method, path)
            assert response.status_code == 405, (method, path, response.status_code)
            allow = set(response.headers["Allow"].split(", "))
            assert allow == listed, (method, path, allow, listed)
            checked += 1
    assert checked > 50
